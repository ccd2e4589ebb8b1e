import { AppError } from './errors'

/**
 * The instants a client may send (a task's due date, the `since` and `until` of a list): ISO-8601
 * text with a four-digit year, 1000-01-01 to 9999-12-31 (UTC). Outside that range the two
 * backends part ways: JavaScript writes year 0, negative years and years past 9999 in forms
 * PostgreSQL refuses (`0000-…`, `-000001-…`, `+010000-…`: a 500), and JavaScript reads
 * PostgreSQL's years below 100 (`0001-01-01 00:00:00+00`) as 2001 or 19xx. SQLite, which keeps
 * milliseconds, took them all. Stored instants are refused outside the range (422); a filter is
 * clamped to it, which selects the same rows, as nothing stored lies outside.
 */
export const MIN_INSTANT_MS = Date.UTC(1000, 0, 1)
export const MAX_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
export const INSTANT_RANGE = 'between the years 1000 and 9999'

/**
 * Milliseconds of an ISO-8601 text, or null when it is not one: a full date, year-month-day, with
 * a four-digit year (or a signed six-digit one, which the range then refuses or a filter clamps),
 * then optionally a time to the minute, second or fraction with an optional offset (`Z` or
 * `±HH:MM`; `t`, `z`, a space for `T`, and `±HHMM`). A year alone (`2027`) or a year and month
 * (`2027-06`) is not an instant: read as the start of that period, it made a token's `expiresAt`
 * or an audit `until` mean something else than the text seemed to say (422). Every part
 * in its range: February 30, April 31 or a month 13 are refused, where Date.parse alone rolled
 * them over (2026-02-30 became March 2) and also took text such as `Dec 25 2026` or `2026-1-5`.
 * Without an offset a time is the server's local time, as in JavaScript (UTC in the Docker image).
 */
/**
 * A date alone (`2026-12-01`, or with a signed six-digit year as parseInstant reads it), no time:
 * where the API reads a limit, the whole of that day, UTC.
 */
export const DATE_ONLY = /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}$/

export function parseInstant(text: string): number | null {
  const m = ISO_INSTANT.exec(text)
  if (m === null) return null
  const [, year, month, day, hour, minute, second, zoneHour, zoneMinute] = m
  if (Number(month) < 1 || Number(month) > 12) return null
  if (Number(day) < 1 || Number(day) > daysInMonth(Number(year), Number(month))) return null
  if (hour !== undefined && (Number(hour) > 24 || Number(minute) > 59 || Number(second ?? 0) > 59)) return null
  if (zoneHour !== undefined && (Number(zoneHour) > 23 || Number(zoneMinute) > 59)) return null
  // What is left to Date.parse is in range; it still refuses 24:30 (24:00 is the next midnight).
  const ms = Date.parse(text)
  return Number.isNaN(ms) ? null : ms
}

const ISO_INSTANT = /^(\d{4}|[+-]\d{6})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:[Zz]|[+-](\d{2}):?(\d{2}))?)?$/

/**
 * The text parseInstant reads, as a JSON Schema `pattern` (for the OpenAPI document): the syntax
 * only; the ranges of each part (no February 30) and of the year are said in words.
 */
export const ISO_INSTANT_PATTERN = ISO_INSTANT.source

/** Days in `month` (1-12) of `year`, by the Gregorian calendar (years 0-99 are read as 1900-1999). */
export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate()
}

export function inInstantRange(ms: number): boolean {
  return ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS
}

/** A filter's instant, moved into the range (the rows it selects do not change). */
export function clampInstant(ms: number): number {
  return Math.min(Math.max(ms, MIN_INSTANT_MS), MAX_INSTANT_MS)
}

/**
 * A list filter's instant (`since`, `until`): its milliseconds, clamped to the range; undefined
 * when it was not sent; 422 naming the field when it is not ISO-8601.
 */
export function filterInstant(field: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const ms = parseInstant(value)
  if (ms === null) {
    throw new AppError('validation_failed', `Validation failed: ${field} must be an ISO-8601 date-time`, { details: [{ field, message: `${field} must be an ISO-8601 date-time` }] })
  }
  return clampInstant(ms)
}

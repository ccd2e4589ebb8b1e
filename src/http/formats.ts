import { FormatRegistry } from '@sinclair/typebox'
// Elysia registers its formats when it is loaded: first, so that the ones below replace or wrap them.
import 'elysia'
import { daysInMonth } from '../instants'

/**
 * Numeric strings are decimal. Elysia declares `t.Integer()` as "an integer, or a string of one"
 * (so that form fields and TeamDay's `"expiresInDays": "90"` pass) and checks the string with
 * `Number.isInteger(+value)`, which also took `"0x5A"`, `"0b1011010"`, `"1e2"`, `" 90"` and
 * `"90.0"` for 90 or 100. Here the string must be written as a JSON number would be: digits with
 * an optional minus sign (an integer within the exact range of a double), or for `numeric` a
 * decimal with an optional fraction and exponent. Replaces Elysia's two formats when app.ts is
 * loaded (TypeBox looks formats up when it checks, so the compiled validators use these).
 */
const INTEGER = /^-?(0|[1-9]\d*)$/
const NUMERIC = /^-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?$/

FormatRegistry.Set('integer', (value) => INTEGER.test(value) && Number.isSafeInteger(Number(value)))
FormatRegistry.Set('numeric', (value) => NUMERIC.test(value) && Number.isFinite(Number(value)))

/**
 * RFC 3339's date-time, the form toISOString writes and OpenAPI's `date-time` means:
 * `2026-12-04T16:21:53.093Z`, or with an offset (`+01:00`), the seconds' fraction optional; one
 * pass over the characters, with the calendar's ranges (leap years; no leap second, which a Date
 * cannot hold). Everything it takes, Elysia's own check takes too.
 */
export function isDateTime(v: string): boolean {
  const n = v.length
  if (n < 20 || n > 40) return false
  const year = digits(v, 0, 4)
  const month = digits(v, 5, 2)
  const day = digits(v, 8, 2)
  const c10 = v.charCodeAt(10)
  if (year < 0 || month < 1 || month > 12 || day < 1 || v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || (c10 !== 84 && c10 !== 116)) return false
  if (day > 28 && day > daysInMonth(year, month)) return false
  const hour = digits(v, 11, 2)
  const minute = digits(v, 14, 2)
  const second = digits(v, 17, 2)
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || v.charCodeAt(13) !== 58 || v.charCodeAt(16) !== 58) return false
  let i = 19
  if (v.charCodeAt(i) === 46) {
    i++
    const start = i
    while (i < n && isDigit(v.charCodeAt(i))) i++
    if (i === start) return false
  }
  const z = v.charCodeAt(i)
  if (z === 90 || z === 122) return i + 1 === n
  if (z !== 43 && z !== 45) return false
  const offH = digits(v, i + 1, 2)
  const offM = digits(v, i + 4, 2)
  return i + 6 === n && v.charCodeAt(i + 3) === 58 && offH >= 0 && offH <= 23 && offM >= 0 && offM <= 59
}

const isDigit = (c: number) => c >= 48 && c <= 57

/** The number written by the `count` ASCII digits at `at`; -1 when one of them is not a digit. */
function digits(v: string, at: number, count: number): number {
  let x = 0
  for (let i = at; i < at + count; i++) {
    const c = v.charCodeAt(i)
    if (!isDigit(c)) return -1
    x = x * 10 + (c - 48)
  }
  return x
}

/**
 * The `date-time` check: isDateTime first, then Elysia's own. Elysia checks every response
 * against its schema, and every time of every row a response carries (a token's four, a member's
 * two) is in toISOString's form: Elysia's check alone tried three unanchored regular expressions
 * and then parsed a Date, ~0.9 µs a value alone and ~2 µs in a running server, 7–9 % of a token's
 * GET in a profile; isDateTime answers those in ~0.15 µs. What it refuses goes on to Elysia's
 * check, which inputs rely on (a task's dueDate may be a date alone or use a space for the T:
 * test/input-limits.test.ts), so what is accepted is exactly what was (but a string of more than
 * MAX_ELYSIA_DATE_TIME characters, below).
 */
const registered = FormatRegistry.Get('date-time')
if (registered === undefined) throw new Error("Elysia registered no 'date-time' format")
/** Elysia's own check, as Elysia registered it. */
export const elysiaDateTime: (v: string) => boolean = registered

/**
 * The longest string given to Elysia's check. Two of its expressions are unanchored and backtrack
 * in time quadratic in the length: /(?:Sun|Mon|…)\s…GMT(?:\+|-)\d{4}\s\([^)]+\)/ (the form Date's
 * toString writes, its zone's name in parentheses) tries each start of that form, each to the end
 * of the string when no `)` follows: 144 KB of `Tue Dec 00 0000 00:00:00 GMT+0000 (D` repeated took
 * 340 ms, and a 1 MiB body would take seconds (recheck reports it; test/regex-safety.test.ts lists
 * it among the dependencies' expressions). No request schema declares `date-time` today
 * (test/date-time-format.test.ts holds them to that), but one that did would hand it the client's
 * string. Every form it takes is far shorter than this (toString's, the longest, is 60-100
 * characters); a longer string is refused without it.
 */
export const MAX_ELYSIA_DATE_TIME = 256
export const checkDateTime = (v: string): boolean => isDateTime(v) || (v.length <= MAX_ELYSIA_DATE_TIME && elysiaDateTime(v))
FormatRegistry.Set('date-time', checkDateTime)

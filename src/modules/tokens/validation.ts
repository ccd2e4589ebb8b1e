import { SCOPES } from '../../auth/roles'
import { holdsSecret } from '../../auth/tokens'
import { AppError } from '../../errors'
import { DATE_ONLY, parseInstant } from '../../instants'
import { cleanName, cutText, nameTrouble } from '../../text'

export interface CreateTokenInput {
  name: string
  expiresInDays?: number
  expiresAt?: string
  /** Default ["*"]: everything the user's role allows. Always bounded by the role at request time. */
  scopes?: string[]
}

export const DAY_MS = 86_400_000
export const MIN_EXPIRY_DAYS = 7
export const MAX_EXPIRY_DAYS = 365
export const DEFAULT_EXPIRY_DAYS = 90
/**
 * Clock skew allowed on an explicit `expiresAt` at the edges of the 7–365 day range: an instant
 * up to this far outside is accepted and stored on the edge it missed (never outside the range).
 */
const EXPIRES_AT_SLACK_MS = 5 * 60_000
export const MAX_NAME_LENGTH = 100

/**
 * Resolves `expiresInDays` / `expiresAt` to an expiry instant within 7–365 days. `ceiling`: the
 * maker's limit (withinMakerLimit), when a token or a sign-in makes the token; when that is under
 * 7 days away, an `expiresAt` at it (the 422's `latestExpiresAt`), or within the slack before it,
 * is accepted as it: the shortest lifetime is then the maker's own.
 */
export function resolveExpiry(input: Pick<CreateTokenInput, 'expiresInDays' | 'expiresAt'>, now: number, ceiling = Infinity): Date {
  const range = `between ${MIN_EXPIRY_DAYS} and ${MAX_EXPIRY_DAYS} days`
  if (input.expiresInDays !== undefined && input.expiresAt !== undefined) {
    throw new AppError('validation_failed', 'Validation failed: send either expiresInDays or expiresAt, not both', {
      details: [{ field: 'expiresAt', message: 'expiresAt and expiresInDays are mutually exclusive' }],
    })
  }
  if (input.expiresAt !== undefined) {
    const given = parseInstant(input.expiresAt)
    // A date alone is the end of that day, UTC (its midnight was refused as 6.6 days ahead where
    // the console's custom date took the same day). The day 365 days ahead, the last one the
    // console offers, ends up to a day past the longest lifetime: that day means the limit. A
    // later one is refused with the range, never silently cut to it.
    const limit = now + MAX_EXPIRY_DAYS * DAY_MS
    const end = given !== null && DATE_ONLY.test(input.expiresAt) ? given + DAY_MS - 1 : null
    const at = end === null ? given : end > limit && end - limit < DAY_MS ? limit : end
    if (at === null) {
      throw new AppError('validation_failed', 'Validation failed: expiresAt must be an ISO-8601 date-time', {
        details: [{ field: 'expiresAt', message: 'must be an ISO-8601 date-time' }],
      })
    }
    const floor = Math.min(now + MIN_EXPIRY_DAYS * DAY_MS, ceiling)
    const short = at < floor - EXPIRES_AT_SLACK_MS
    if (short || at > now + MAX_EXPIRY_DAYS * DAY_MS + EXPIRES_AT_SLACK_MS) {
      // Rounded away from the range, so the figure never looks like an allowed value ("got 7.0 days").
      const days = ((short ? Math.floor : Math.ceil)(((at - now) / DAY_MS) * 100) / 100).toFixed(2)
      throw new AppError('validation_failed', `Validation failed: expiresAt must be ${range} from now (got ${days} days)`, {
        details: [{ field: 'expiresAt', message: `must be ${range} from now` }],
      })
    }
    // Within the slack (clock skew between the client and this server), the instant is moved
    // onto the range's edge: no token lives longer than 365 days or is made for less than 7
    // (or, when its maker ends sooner, for less than its maker has left).
    return new Date(Math.min(Math.max(at, floor), limit))
  }
  const d = input.expiresInDays ?? DEFAULT_EXPIRY_DAYS
  if (!Number.isInteger(d) || d < MIN_EXPIRY_DAYS || d > MAX_EXPIRY_DAYS) {
    throw new AppError('validation_failed', `Validation failed: expiresInDays must be an integer ${range} (default ${DEFAULT_EXPIRY_DAYS})`, {
      details: [{ field: 'expiresInDays', message: `must be an integer ${range}` }],
    })
  }
  return new Date(now + d * DAY_MS)
}

export function validateTokenName(name: string): string {
  const n = cleanName(name)
  if (n.length === 0 || n.length > MAX_NAME_LENGTH) {
    throw new AppError('validation_failed', `Validation failed: name must be 1-${MAX_NAME_LENGTH} characters`, {
      details: [{ field: 'name', message: `must be 1-${MAX_NAME_LENGTH} characters, not only spaces` }],
    })
  }
  // Shown to the organization's admins beside its owner: nothing that hides or reorders it.
  const trouble = nameTrouble(n)
  if (trouble) throw new AppError('validation_failed', `Validation failed: name ${trouble}`, { details: [{ field: 'name', message: trouble }] })
  // A secret pasted as a name (to remember which token is which) would be stored and listed to
  // the organization's admins in clear: refused, as GitHub's push protection refuses one in code.
  if (holdsSecret(n)) {
    const message = 'must not contain a token or another secret: a name is stored and shown in token lists; say what the token is for'
    throw new AppError('validation_failed', `Validation failed: name ${message}`, { details: [{ field: 'name', message }] })
  }
  return n
}

/**
 * Known scopes only, at least one, deduplicated. Any scope may be given whatever the creator's
 * role: a request needs both the token's scope and the user's current role, so a token never
 * exceeds its user (a viewer's `agents:write` token still cannot write).
 */
export function validateScopes(scopes: string[] | undefined): string[] {
  if (scopes === undefined) return ['*']
  const valid = SCOPES as readonly string[]
  const unknown = scopes.filter((s) => !valid.includes(s))
  if (scopes.length === 0 || unknown.length > 0) {
    const what = scopes.length === 0 ? 'must not be empty' : `has unknown scope(s) ${unknown.map((s) => JSON.stringify(cutText(s, 50))).join(', ')}`
    const message = `scopes ${what}; valid scopes: ${valid.join(', ')}`
    throw new AppError('validation_failed', `Validation failed: ${message}`, { details: [{ field: 'scopes', message, validScopes: valid }] })
  }
  return scopes.includes('*') ? ['*'] : [...new Set(scopes)]
}


/**
 * The latest a token made by another credential may expire, and why: a token (or a terminal's
 * sign-in) never makes one that outlives it, so that a leaked 7-day token is not a year of access.
 */
export interface MakerLimit {
  at: Date
  /** creator: the calling token's expiry or own limit; sign-in: the end of the calling terminal's sign-in; rotated: the limit the rotated token was made with (expires_limit_at). */
  source: 'creator' | 'sign-in' | 'rotated'
}

const LIMIT_REASON: Record<MakerLimit['source'], string> = {
  creator: 'when the token this request authenticated with expires, or the limit it was made with: a token cannot create a token that outlives it',
  'sign-in': "when this terminal's sign-in (teamday login) ends: it cannot create a token that outlives it",
  rotated: 'the limit of the token rotated, set when another token or a sign-in made or rotated it: rotating renews the secret, not the lifetime',
}

/** The earliest of some limits (null: none). */
export function earliestLimit(...limits: (MakerLimit | null | undefined)[]): MakerLimit | null {
  let first: MakerLimit | null = null
  for (const l of limits) if (l && (!first || l.at.getTime() < first.at.getTime())) first = l
  return first
}

/**
 * `expiresAt` within the maker's limit. An `expiresAt` past it, an instant the caller named, is
 * refused (422 naming the limit), never silently moved, as resolveExpiry refuses one past 365
 * days. A lifetime in days (`expiresInDays`) or the default ends with the maker instead, even
 * sooner than the 7 days an asked one needs: TeamDay's CLI sends `expiresInDays: 90` with every
 * `auth create-token` unless told otherwise, and a 90-day token made a moment before asks a few
 * seconds past itself, so refusing it failed that command's plain use (the answer's `expiresAt`
 * says when the token ends, and the CLI prints it).
 */
export function withinMakerLimit(expiresAt: Date, limit: MakerLimit | null, asked: 'expiresInDays' | 'expiresAt' | null): Date {
  if (!limit || expiresAt.getTime() <= limit.at.getTime()) return expiresAt
  if (asked !== 'expiresAt') return limit.at
  const message = `must not be later than ${limit.at.toISOString()}, ${LIMIT_REASON[limit.source]} (leave ${asked} out for a token that expires then; a person signed in to the console may create a longer-lived one)`
  throw new AppError('validation_failed', `Validation failed: ${asked} ${message}`, {
    details: [{ field: asked, message, latestExpiresAt: limit.at.toISOString() }],
  })
}

/** Which expiry field a request asked for, if any. */
export function askedExpiry(input: Pick<CreateTokenInput, 'expiresInDays' | 'expiresAt'>): 'expiresInDays' | 'expiresAt' | null {
  return input.expiresAt !== undefined ? 'expiresAt' : input.expiresInDays !== undefined ? 'expiresInDays' : null
}

/**
 * The expiry of a token made at `now` within its maker's limit (null: a person's, none): the one
 * asked for (resolveExpiry up to the limit, withinMakerLimit past it), else `fallback` (90 days,
 * or a rotation's old lifetime), ending with the maker if that is sooner.
 */
export function expiryWithin(input: Pick<CreateTokenInput, 'expiresInDays' | 'expiresAt'>, now: number, limit: MakerLimit | null, fallbackMs = DEFAULT_EXPIRY_DAYS * DAY_MS): Date {
  const asked = askedExpiry(input)
  const expiresAt = asked === null ? new Date(now + fallbackMs) : resolveExpiry(input, now, limit?.at.getTime())
  return withinMakerLimit(expiresAt, limit, asked)
}

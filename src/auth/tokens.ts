import { randomBase62 } from './random'
import { checksum, checksumMatchesAt, TOKEN_BODY_LENGTH, TOKEN_RANDOM_LENGTH } from './token-text'

/**
 * Personal access token format: `td_` + 43 characters =
 *   37 random base62 characters (37 × log2(62) ≈ 220.3 bits from the OS CSPRNG)
 * + 6 base62 characters of the CRC32 of those 37 (zero-padded).
 * We only emit [A-Za-z0-9]; the parser accepts the documented shape td_[A-Za-z0-9_-]{43}
 * and then rejects anything whose checksum does not match, before any database lookup.
 */
export const TOKEN_PREFIX = 'td_'
/**
 * Browser sign-in for command-line tools (src/modules/cli-auth) uses the same shape with its
 * own prefixes, so scanners and logs never take one for a PAT (GitHub: `gho_`/`ghr_` beside
 * `ghp_`): access tokens (15 minutes), refresh tokens (90 days), and login codes (300 s).
 */
export const ACCESS_TOKEN_PREFIX = 'tdo_'
export const REFRESH_TOKEN_PREFIX = 'tdr_'
export const LOGIN_CODE_PREFIX = 'tdc_'
export type SecretPrefix = typeof TOKEN_PREFIX | typeof ACCESS_TOKEN_PREFIX | typeof REFRESH_TOKEN_PREFIX | typeof LOGIN_CODE_PREFIX
export { TOKEN_BODY_LENGTH, TOKEN_RANDOM_LENGTH, TOKEN_CHECKSUM_LENGTH } from './token-text'
export const TOKEN_LENGTH = TOKEN_PREFIX.length + TOKEN_BODY_LENGTH
/** What secret scanners can match on: prefix, then 37 + 6 base62 characters. */
export const TOKEN_SCAN_REGEX = /\btd_[A-Za-z0-9]{43}\b/
const SHAPE = /^td_[A-Za-z0-9_-]{43}$/
const OTHER_SHAPE = /^[A-Za-z0-9]{43}$/

export function generateToken(prefix: SecretPrefix = TOKEN_PREFIX): string {
  const random = randomBase62(TOKEN_RANDOM_LENGTH)
  return prefix + random + checksum(random)
}

export type TokenFormatProblem =
  | 'missing_prefix'
  | 'wrong_length'
  | 'invalid_characters'
  | 'checksum_mismatch'

/** Checks format and checksum. Returns null when the token is well-formed. */
export function checkTokenFormat(token: string, prefix: SecretPrefix = TOKEN_PREFIX): TokenFormatProblem | null {
  if (prefix === TOKEN_PREFIX ? !SHAPE.test(token) : !(token.startsWith(prefix) && OTHER_SHAPE.test(token.slice(prefix.length)))) {
    if (!token.startsWith(prefix)) return 'missing_prefix'
    if (token.length !== prefix.length + TOKEN_BODY_LENGTH) return 'wrong_length'
    return 'invalid_characters'
  }
  // The shape holds: 43 characters after the prefix, the checksum's the last 6.
  return checksumMatchesAt(token, prefix.length) ? null : 'checksum_mismatch'
}

/** SHA-256 of the whole token (prefix included), lower-case hex. */
export function hashToken(token: string): string {
  return Bun.CryptoHasher.hash('sha256', token, 'hex')
}

/** The display hint stored beside the hash: first 4 and last 4 characters of the body. */
export function tokenHint(token: string): string {
  const body = token.slice(TOKEN_PREFIX.length)
  return `${body.slice(0, 4)}${body.slice(-4)}`
}

/** `td_AbCd…yZ01` from the stored hint. */
export function maskFromHint(hint: string): string {
  return `${TOKEN_PREFIX}${hint.slice(0, 4)}…${hint.slice(4)}`
}

export { ISSUED_SECRET, redactTokens } from './redact'
export { checksum, holdsSecret, holdsTokenBody, nearMissAt, redactPrefixed, redactSecrets, withoutSecrets } from './token-text'

/**
 * When a token stops working: its expiry, or the end of a rotation's grace period when that comes
 * first (a rotated token is revoked at a future instant, and works until then). What the API's
 * `expiresAt` and the Teamday-Token-Expiration header say, so a script warned ahead of time is
 * warned of the real end. Any other revocation is in force once committed, whatever its time
 * (src/auth/revoked.ts): one stamped ahead of this clock by another instance is no end to come.
 * 'rotated' is revoked.ts's ROTATED_GRACE, spelt out (the logger and the client import this file,
 * not the database's): a rotation without grace ('rotated_now') is in force, no end to come either.
 */
export function stopsAt(row: { expiresAt: Date; revokedAt: Date | null; revokedReason: string | null }, now: number): Date {
  const r = row.revokedAt
  return r !== null && row.revokedReason === 'rotated' && r.getTime() > now && r.getTime() < row.expiresAt.getTime() ? r : row.expiresAt
}

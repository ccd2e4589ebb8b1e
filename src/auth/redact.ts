import { mapStrings } from '../text'

// The redaction of token-shaped text, apart from src/auth/tokens.ts (which makes and checks
// tokens, with node:crypto): src/auth/token-text.ts builds the whole redaction on it (near misses,
// bodies without their prefix), which the command line's error output uses too.

const TOKEN_LIKE = /td[cor]?_[A-Za-z0-9_-]{16,}/g
const MAYBE_TOKEN = /td[cor]?_/
/** A secret as issued (a token, access or refresh token, login code): its prefix and 43 base62 characters. */
export const ISSUED_SECRET = /td[cor]?_[A-Za-z0-9]{43}/
const REDACTED = '…[redacted]'
const MAX_DEPTH = 64

/**
 * The one redaction of token-shaped text (`td_` and 16+ token characters → `td_…[redacted]`;
 * the same for `tdo_`, `tdr_` and `tdc_`: CLI access and refresh tokens and login codes),
 * applied where client input can come back out: the whole error body (src/app.ts), every log
 * line (src/logger.ts) and audit details. Takes a string, or an array or plain object whose
 * strings (keys included, 64 levels deep) are redacted in a copy; other values pass unchanged.
 * So a token pasted into the wrong field or path is never repeated back or written down.
 */
export function redactTokens<T>(value: T): T {
  return mapStrings(value, redactString, MAX_DEPTH)
}

function redactString(s: string): string {
  return MAYBE_TOKEN.test(s) ? s.replace(TOKEN_LIKE, redacted) : s
}

/** Keeps the prefix (`td_`, `tdo_`, …) so a redacted line still says what kind of secret it was. */
function redacted(match: string): string {
  return match.slice(0, match.indexOf('_') + 1) + REDACTED
}

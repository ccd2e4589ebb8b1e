import { mapStrings } from '../text'
import { BASE62, randomBase62 } from './random'
import { redactTokens } from './redact'

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
export const TOKEN_BODY_LENGTH = 43
export const TOKEN_RANDOM_LENGTH = 37
export const TOKEN_CHECKSUM_LENGTH = 6
export const TOKEN_LENGTH = TOKEN_PREFIX.length + TOKEN_BODY_LENGTH
/** What secret scanners can match on: prefix, then 37 + 6 base62 characters. */
export const TOKEN_SCAN_REGEX = /\btd_[A-Za-z0-9]{43}\b/
const SHAPE = /^td_[A-Za-z0-9_-]{43}$/
const OTHER_SHAPE = /^[A-Za-z0-9]{43}$/

export function checksum(randomPart: string): string {
  let n = Bun.hash.crc32(randomPart) >>> 0
  let out = ''
  for (let i = 0; i < TOKEN_CHECKSUM_LENGTH; i++) {
    out = BASE62[n % 62] + out
    n = Math.floor(n / 62)
  }
  return out
}

export function generateToken(prefix: SecretPrefix = TOKEN_PREFIX): string {
  const random = randomBase62(TOKEN_RANDOM_LENGTH)
  return prefix + random + checksum(random)
}

/**
 * Whether `s` holds a secret's 43 characters without its prefix (a token's body: 37 base62 then
 * their checksum), anywhere in a run of base62 characters. A random string of that shape passes
 * the checksum once in 62⁶ (5.7·10¹⁰), so what passes is a secret cut off its `td_`.
 *
 * One pass, whatever the length: the CRC32 of the 37 characters before each position is rolled
 * (the next character added, the one 37 back taken out, as CRC is linear), and the 6 characters
 * after it are compared as a base62 number. Every field of every request body is looked at
 * (src/http/secret-fields.ts): a CRC computed afresh at each offset took 80 ms for 64 KiB of
 * base62 (a task's metadata at its limit) and 0.25-0.5 s for 1 MiB (a body at its limit); this
 * takes about 0.4 ms and 40 ms (test/secrets-in-fields.test.ts bounds it).
 */
export function holdsTokenBody(s: string): boolean {
  return tokenBodyAt(s) >= 0
}

/** Where the first token body (holdsTokenBody) starts in `s`, or -1. */
function tokenBodyAt(s: string): number {
  const n = s.length
  if (n < TOKEN_BODY_LENGTH) return -1
  const { table, drop, windowInit } = (crc ??= rollingCrc())
  let run = 0
  let reg = 0
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (DIGIT[c & 0x7f]! < 0 || c > 0x7f) {
      run = 0
      reg = 0
      continue
    }
    reg = table[(reg ^ c) & 0xff]! ^ (reg >>> 8)
    if (++run > TOKEN_RANDOM_LENGTH) reg ^= drop[s.charCodeAt(i - TOKEN_RANDOM_LENGTH)]!
    if (run < TOKEN_RANDOM_LENGTH || i + TOKEN_CHECKSUM_LENGTH >= n) continue
    // The checksum's first digit is at most 4 (2³² < 5·62⁵): most positions end here.
    const first = base62Digit(s.charCodeAt(i + 1))
    if (first < 0 || first > 4) continue
    if (base62Number(s, i + 1) === ((reg ^ windowInit) ^ 0xffffffff) >>> 0) return i + 1 - TOKEN_RANDOM_LENGTH
  }
  return -1
}

/** The value of a base62 digit's character code, or -1. */
function base62Digit(c: number): number {
  return c > 0x7f ? -1 : DIGIT[c]!
}

/** The 6 base62 digits at `at` as a number; -1 when one is not a base62 digit. */
function base62Number(s: string, at: number): number {
  let v = 0
  for (let k = 0; k < TOKEN_CHECKSUM_LENGTH; k++) {
    const d = base62Digit(s.charCodeAt(at + k))
    if (d < 0) return -1
    v = v * 62 + d
  }
  return v
}

const DIGIT = new Int8Array(128).fill(-1)
for (let d = 0; d < 62; d++) DIGIT[BASE62.charCodeAt(d)] = d
/** The rolling CRC's tables (tokenBodyAt), computed on first use: a start answers no body before its first request needs them. */
let crc: { table: Uint32Array; drop: Uint32Array; windowInit: number } | undefined

function rollingCrc(): { table: Uint32Array; drop: Uint32Array; windowInit: number } {
  /** CRC-32 (IEEE, reflected, as Bun.hash.crc32): the register's step for each byte. */
  const table = new Uint32Array(256)
  for (let b = 0; b < 256; b++) {
    let c = b
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    table[b] = c >>> 0
  }
  const step = (reg: number, byte: number) => (table[(reg ^ byte) & 0xff]! ^ (reg >>> 8)) >>> 0
  /** What a byte leaves in the register (from 0) after it and 37 zero bytes: taken out when it leaves the window. */
  const drop = new Uint32Array(128)
  for (let b = 0; b < 128; b++) {
    let reg = step(0, b)
    for (let k = 0; k < TOKEN_RANDOM_LENGTH; k++) reg = step(reg, 0)
    drop[b] = reg
  }
  /** The register after 37 zero bytes from CRC-32's initial value: the window's CRC is the rolled register xor this, inverted. */
  let windowInit = 0xffffffff
  for (let k = 0; k < TOKEN_RANDOM_LENGTH; k++) windowInit = step(windowInit, 0)
  return { table, drop, windowInit }
}

/**
 * Whether `text` holds an issued secret: with its prefix (`td_…`, `tdo_…`, …) and at least its 37
 * random characters, the characters that follow them (up to 6) being the start of their checksum
 * (a copy cut short is still the secret: the 37 rebuild it), or its 43 characters alone. What is
 * stored and shown to others refuses it: names (src/modules/tokens/validation.ts,
 * src/modules/members/service.ts) and every field of a request body (src/http/secret-fields.ts).
 * A near miss (`td_` and 42 characters whose last 5 are not the checksum's) is not one.
 */
export function holdsSecret(text: string): boolean {
  return prefixedSecretAt(text) || tokenBodyAt(text) >= 0
}

function prefixedSecretAt(text: string): boolean {
  if (!text.includes('td')) return false
  PREFIXED.lastIndex = 0
  for (let m = PREFIXED.exec(text); m !== null; m = PREFIXED.exec(text)) {
    const rest = m[1]!
    const random = rest.slice(0, TOKEN_RANDOM_LENGTH)
    const shown = rest.slice(TOKEN_RANDOM_LENGTH, TOKEN_BODY_LENGTH)
    if (checksum(random).startsWith(shown)) return true
    // Not this one: a secret may still start later in the same run (`td_td_…` is two matches).
    PREFIXED.lastIndex = m.index + 1
  }
  return false
}
const PREFIXED = new RegExp(`td[cor]?_([A-Za-z0-9]{${TOKEN_RANDOM_LENGTH},})`, 'g')

/**
 * `text` with every secret it holds replaced by `…[redacted]`: those with their prefix
 * (redactTokens) and a token's 43 characters without it (holdsTokenBody). For what a client sends
 * outside a body that is stored and shown back (a User-Agent: a token's last use, a session's
 * device, audit events), where the body reader's refusal (src/http/secret-fields.ts) does not reach.
 */
export function withoutSecrets(text: string): string {
  let out = redactTokens(text)
  // Most text has no run of 43 base62 characters: one native test, not the rolling CRC's loop.
  if (!BODY_RUN.test(out)) return out
  for (let at = tokenBodyAt(out); at >= 0; at = tokenBodyAt(out)) out = `${out.slice(0, at)}…[redacted]${out.slice(at + TOKEN_BODY_LENGTH)}`
  return out
}
const BODY_RUN = /[A-Za-z0-9]{43}/

/**
 * redactTokens, and a token's 43 characters without their prefix too (withoutSecrets), in a
 * string, or in the strings (keys included) of an array or plain object, 64 levels deep, copied
 * on write. What the server writes of client input where others may read it goes through this:
 * error bodies (src/http/errors.ts), log lines (src/logger.ts), audit details (src/audit/log.ts),
 * the paths and targets it logs and stores (src/http/observe.ts). The prefix is the same for every
 * token, so the 43 characters alone are the whole secret: with redactTokens alone, a path holding
 * them (`GET /api/v1/agents/<43 characters>`) was quoted in the 404, written in the access log and
 * kept in a scope denial's audit event. Cost: one native regex test for text without such a run.
 */
export function redactSecrets<T>(value: T): T {
  return mapStrings(value, withoutSecrets, 64)
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
  const body = token.slice(prefix.length)
  const random = body.slice(0, TOKEN_RANDOM_LENGTH)
  if (checksum(random) !== body.slice(TOKEN_RANDOM_LENGTH)) return 'checksum_mismatch'
  return null
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

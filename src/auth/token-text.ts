import { mapStrings } from '../text'
import { redactTokens } from './redact'

/**
 * A token as text: its alphabet, lengths and checksum, and the search for secrets in text (whole,
 * cut short, a near miss, or without their prefix) with the redaction built on it. No node:
 * module and nothing of the server: the command line's error output redacts with this too
 * (src/cli/run.ts), as the server's errors, logs and audit details do. Making and checking
 * tokens: src/auth/tokens.ts.
 */

/** The alphabet of every random identifier and secret (src/auth/random.ts draws from it). */
export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
export const TOKEN_BODY_LENGTH = 43
export const TOKEN_RANDOM_LENGTH = 37
export const TOKEN_CHECKSUM_LENGTH = 6

export function checksum(randomPart: string): string {
  return checksumOf(Bun.hash.crc32(randomPart) >>> 0)
}

/**
 * Whether the TOKEN_CHECKSUM_LENGTH characters of `s` after the TOKEN_RANDOM_LENGTH from `start`
 * are those characters' checksum: `checksum(random) === given`, compared character by character
 * from the last (no string built: the check of every authenticated request).
 */
export function checksumMatchesAt(s: string, start: number): boolean {
  let n = Bun.hash.crc32(s.slice(start, start + TOKEN_RANDOM_LENGTH)) >>> 0
  for (let i = start + TOKEN_RANDOM_LENGTH + TOKEN_CHECKSUM_LENGTH - 1; i >= start + TOKEN_RANDOM_LENGTH; i--) {
    if (s.charCodeAt(i) !== BASE62.charCodeAt(n % 62)) return false
    n = Math.floor(n / 62)
  }
  return true
}

/** The checksum's 6 base62 characters for a CRC32 value. */
function checksumOf(crc32: number): string {
  let n = crc32
  let out = ''
  for (let i = 0; i < TOKEN_CHECKSUM_LENGTH; i++) {
    out = BASE62[n % 62] + out
    n = Math.floor(n / 62)
  }
  return out
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

/** Where the first token body (holdsTokenBody) at or after `from` starts in `s`, or -1. */
function tokenBodyAt(s: string, from = 0): number {
  const n = s.length
  if (n - from < TOKEN_BODY_LENGTH) return -1
  const { table, drop, windowInit } = (crc ??= rollingCrc())
  let run = 0
  let reg = 0
  for (let i = from; i < n; i++) {
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

/** The 6 (or `count`) base62 digits at `at` as a number; -1 when one is not a base62 digit. */
function base62Number(s: string, at: number, count = TOKEN_CHECKSUM_LENGTH): number {
  let v = 0
  for (let k = 0; k < count; k++) {
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
 * A prefixed near miss counts too (nearMissAt: one character wrong, or two swapped, in its 43 or
 * 42 characters): whoever reads it rebuilds the secret offline with the checksum. A look-alike
 * does not: `td_` and 43 characters more than one edit from any checksum, or a bare 43 characters
 * whose checksum fails (nearMissAt says why a bare near miss is not looked for).
 */
export function holdsSecret(text: string): boolean {
  return prefixedSecretAt(text) || nearMissAt(text, 0) !== null || tokenBodyAt(text) >= 0
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
 * A near miss: a secret's prefix (`td_`, `tdo_`, `tdr_`, `tdc_`) followed by its 43 characters
 * with ONE of them wrong (any character in its place, base62 or not) or two adjacent ones swapped,
 * or by its first 42 (base62) with one such edit (a copy cut at the last character, or whose last
 * one was replaced by punctuation). It is no issued secret, but whoever reads it rebuilds the
 * secret offline: 43 × 61 substitutions and 42 swaps, each checked against the checksum, no server
 * contact needed. So it counts as the secret does: refused where stored (holdsSecret), redacted
 * where quoted (redactPrefixed, withoutSecrets, redactSecrets).
 *
 * Cheap, tries without trying: CRC-32 is affine (for strings of one length, crc(x ⊕ e) = crc(x) ⊕
 * crc(e) ⊕ crc(0…0)), so what a substitution of byte difference d at position j changes in the 37
 * random characters' CRC is a constant (nearTables: 37 × 127 of them, computed on first use). The
 * CRC the checksum shown asks for, xored with the one of the characters as sent, is looked up
 * among them (a Map: one lookup; 62 for a 42-character copy, whose 5 checksum characters leave
 * 62 values), and a swap at j is one xor of two constants. One CRC per prefixed candidate, as an
 * exact secret's check already costs; text without `td` pays one native `includes`. A random
 * prefixed look-alike passes by chance about once in 2·10⁷ (43 characters: ~2,300 edits, each
 * matching the 6 checksum characters once in 62⁶) to once in 4·10⁵ (42: only 5 of them to match).
 *
 * Not covered, on purpose:
 * - A bare near miss (43 base62 characters one edit from a token body, no prefix). Any run of 43
 *   base62 characters is within one edit of ~2,300 strings, each passing the checksum by chance
 *   once in 62⁶: one window in ~2·10⁷ matches, so a 1 MiB run of base62 (~10⁶ windows: a hash
 *   list, an encoded file: legitimate content) would be refused about once in twenty, and every
 *   position of every long run would pay the lookups. The prefix is what says "a token was meant here"; without it
 *   only an exact checksum (1 in 62⁶) is evidence enough.
 * - Two or more edits, a deleted or an inserted character, a non-base62 character in a copy cut
 *   at 42, and a copy cut shorter than 42 with an edit: each multiplies the tries (a deletion:
 *   43 × 62 insertions, each shifting the checksum) or leaves too few checksum characters to tell
 *   a rebuilt secret from chance. A copy cut at 37 to 41 characters without an edit is still the
 *   secret (holdsSecret).
 *
 * Returns where the first near miss at or after `from` starts (its prefix) and ends, or null.
 */
export function nearMissAt(text: string, from: number): { start: number; end: number } | null {
  if (text.indexOf('td', from) < 0) return null
  PREFIX.lastIndex = from
  for (let m = PREFIX.exec(text); m !== null; m = PREFIX.exec(text)) {
    const end = nearMissEnd(text, m.index + m[0].length)
    if (end >= 0) return { start: m.index, end }
    PREFIX.lastIndex = m.index + 1
  }
  return null
}
const PREFIX = /td[cor]?_/g

/**
 * Where the near miss starting at `at` (just after a prefix) ends, or -1 when it is none. A
 * character outside the BMP (an emoji) is two UTF-16 code units but one character wrong all the
 * same: it is looked at as one (U+FFFD in its place), the end moved past both units when it lies
 * after it. Read as two, `td_` + 3 characters + 😀 + the rest was no near miss, neither refused
 * where stored nor redacted where quoted, though one lookup per position rebuilds the secret.
 */
function nearMissEnd(s: string, at: number): number {
  const stop = Math.min(s.length - 1, at + TOKEN_BODY_LENGTH)
  for (let i = at; i < stop; i++) {
    if ((s.charCodeAt(i) & 0xfc00) !== 0xd800 || (s.charCodeAt(i + 1) & 0xfc00) !== 0xdc00) continue
    const one = `${s.slice(at, i)}\ufffd${s.slice(i + 2, at + TOKEN_BODY_LENGTH + 1)}`
    const end = bmpNearMissEnd(one, 0)
    return end < 0 ? -1 : at + end + (end > i - at ? 1 : 0)
  }
  return bmpNearMissEnd(s, at)
}

/** nearMissEnd for text with no surrogate pair among the 43 code units at `at`. */
function bmpNearMissEnd(s: string, at: number): number {
  const len = Math.min(s.length - at, TOKEN_BODY_LENGTH)
  if (len < TOKEN_BODY_LENGTH - 1) return -1
  let odd = -1
  for (let i = 0; i < len; i++) {
    if (base62Digit(s.charCodeAt(at + i)) >= 0) continue
    if (odd >= 0) return -1
    odd = i
  }
  const random = s.slice(at, at + TOKEN_RANDOM_LENGTH)
  // 42 characters (cut there, or the 43rd is not base62): 5 checksum characters, one edit away.
  if (len === TOKEN_BODY_LENGTH - 1 || odd === TOKEN_BODY_LENGTH - 1) {
    if (odd >= 0 && odd < TOKEN_BODY_LENGTH - 1) return -1
    return shortNearMiss(random, s.slice(at + TOKEN_RANDOM_LENGTH, at + TOKEN_BODY_LENGTH - 1)) ? at + TOKEN_BODY_LENGTH - 1 : -1
  }
  const shown = s.slice(at + TOKEN_RANDOM_LENGTH, at + TOKEN_BODY_LENGTH)
  return fullNearMiss(random, shown, odd) ? at + TOKEN_BODY_LENGTH : -1
}

/** 37 random characters and 6 checksum characters, at most one of them (`odd`, or -1) not base62. */
function fullNearMiss(random: string, shown: string, odd: number): boolean {
  const { diff } = (near ??= nearTables())
  if (odd >= TOKEN_RANDOM_LENGTH) return oneEditApart(checksum(random), shown, odd - TOKEN_RANDOM_LENGTH)
  const want = base62Number(shown, 0)
  if (want < 0 || want > 0xffffffff) {
    // Not a checksum as shown: an edit of the checksum, or a swap across the boundary (random's last, checksum's first).
    return odd < 0 && (oneEditApart(checksum(random), shown, -1) || swappedAcross(random, shown))
  }
  if (odd >= 0) {
    // One character not base62 in the random part: which base62 one stood there?
    const x = (Bun.hash.crc32(random.slice(0, odd) + '0' + random.slice(odd + 1)) ^ want) >>> 0
    for (let b = 0; b < 62; b++) {
      const d = 0x30 ^ BASE62.charCodeAt(b)
      if (d === 0 ? x === 0 : diff[odd * 128 + d] === x) return true
    }
    return false
  }
  const crc32 = Bun.hash.crc32(random) >>> 0
  return oneEditApart(checksumOf(crc32), shown, -1) || randomEdited(random, crc32, want, want + 1) || swappedAcross(random, shown)
}

/** 37 random characters and the first 5 of a checksum, all base62, one edit from a secret cut there. */
function shortNearMiss(random: string, shown: string): boolean {
  const crc32 = Bun.hash.crc32(random) >>> 0
  if (oneEditApart(checksumOf(crc32).slice(0, shown.length), shown, -1)) return true
  const lo = base62Number(shown, 0, shown.length) * 62
  if (lo <= 0xffffffff && randomEdited(random, crc32, lo, Math.min(lo + 62, 0x100000000))) return true
  return checksum(random.slice(0, -1) + shown[0]).startsWith(random.at(-1)! + shown.slice(1))
}

/** Whether one substitution or one adjacent swap in `random` (whose CRC is `crc32`) gives a CRC in [lo, hi). */
function randomEdited(random: string, crc32: number, lo: number, hi: number): boolean {
  const { diff, at } = (near ??= nearTables())
  for (let want = lo; want < hi; want++) {
    for (const k of at.get((crc32 ^ want) >>> 0) ?? []) {
      if (base62Digit(random.charCodeAt(k >> 7) ^ (k & 127)) >= 0) return true
    }
  }
  for (let j = 0; j + 1 < TOKEN_RANDOM_LENGTH; j++) {
    const d = random.charCodeAt(j) ^ random.charCodeAt(j + 1)
    if (d === 0) continue
    const v = (crc32 ^ diff[j * 128 + d]! ^ diff[(j + 1) * 128 + d]!) >>> 0
    if (v >= lo && v < hi) return true
  }
  return false
}

/** The random part's last character and the checksum's first swapped back: an exact secret? */
function swappedAcross(random: string, shown: string): boolean {
  return random.at(-1) !== shown[0] && checksum(random.slice(0, -1) + shown[0]) === random.at(-1)! + shown.slice(1)
}

/**
 * `a` and `b` (same length) equal, one character apart, or two adjacent ones swapped; `skip`: a
 * position not compared (the one not base62: then the rest must be equal), -1 for none.
 */
function oneEditApart(a: string, b: string, skip: number): boolean {
  let first = -1
  let count = 0
  for (let i = 0; i < a.length; i++) {
    if (i === skip || a.charCodeAt(i) === b.charCodeAt(i)) continue
    if (++count > 2) return false
    if (first < 0) first = i
  }
  if (skip >= 0) return count === 0
  if (count < 2) return true
  return first + 1 < a.length && a[first] === b[first + 1] && a[first + 1] === b[first] && a.slice(first + 2) === b.slice(first + 2)
}

/**
 * CRC-32 is affine: for strings of one length, crc(x ⊕ e) = crc(x) ⊕ crc(e) ⊕ crc(0…0). diff[j·128
 * + d]: what xoring `d` into the random part's j-th character changes in its CRC; at: each such
 * change's (j·128 + d), to look one up (a change can have more than one).
 */
let near: { diff: Uint32Array; at: Map<number, number[]> } | undefined

function nearTables(): { diff: Uint32Array; at: Map<number, number[]> } {
  const e = new Uint8Array(TOKEN_RANDOM_LENGTH)
  const zero = Bun.hash.crc32(e) >>> 0
  const diff = new Uint32Array(TOKEN_RANDOM_LENGTH * 128)
  const at = new Map<number, number[]>()
  for (let j = 0; j < TOKEN_RANDOM_LENGTH; j++) {
    for (let d = 1; d < 128; d++) {
      e[j] = d
      const v = (Bun.hash.crc32(e) ^ zero) >>> 0
      diff[j * 128 + d] = v
      const list = at.get(v)
      if (list) list.push(j * 128 + d)
      else at.set(v, [j * 128 + d])
    }
    e[j] = 0
  }
  return { diff, at }
}

/**
 * `text` with every secret it holds with its prefix redacted: the near misses (nearMissAt: the
 * prefix kept, its 42 or 43 characters `…[redacted]`), then redactTokens (any prefix and 16+ token
 * characters). redactTokens alone left a near miss whose wrong character is punctuation early on
 * (`td_AbCd.…`: under 16 characters before it) verbatim.
 */
export function redactPrefixed(text: string): string {
  let out = ''
  let done = 0
  // One pass: each near miss's characters are skipped, the text between them copied once.
  for (let hit = nearMissAt(text, 0); hit !== null; hit = nearMissAt(text, hit.end)) {
    out += `${text.slice(done, hit.start)}${text.slice(hit.start, text.indexOf('_', hit.start) + 1)}…[redacted]`
    done = hit.end
  }
  return redactTokens(done === 0 ? text : out + text.slice(done))
}

/**
 * `text` with every secret it holds replaced by `…[redacted]`: those with their prefix
 * (redactPrefixed: near misses too) and a token's 43 characters without it (holdsTokenBody). For what a client sends
 * outside a body that is stored and shown back (a User-Agent: a token's last use, a session's
 * device, audit events), where the body reader's refusal (src/http/secret-fields.ts) does not reach.
 */
export function withoutSecrets(text: string): string {
  const prefixed = redactPrefixed(text)
  // Most text has no run of 43 base62 characters: one native test, not the rolling CRC's loop.
  if (!BODY_RUN.test(prefixed)) return prefixed
  // One pass: each search resumes after the body before it (restarting at 0 after each one was
  // quadratic: 4,000 bodies in 176 KB took 0.37 s, a 1 MiB line of them 13-20 s).
  let out = ''
  let done = 0
  for (let at = tokenBodyAt(prefixed); at >= 0; at = tokenBodyAt(prefixed, done)) {
    out += `${prefixed.slice(done, at)}…[redacted]`
    done = at + TOKEN_BODY_LENGTH
  }
  return out + prefixed.slice(done)
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

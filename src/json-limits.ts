/** Limits on JSON sent by clients; pure functions, used by the HTTP layer and the services. */

/** JSON nesting allowed in a request body: the body object itself is level 1. */
export const MAX_JSON_DEPTH = 32

/**
 * True when `text` nests arrays/objects deeper than `max`, counting only brackets outside
 * strings. One pass over the characters (stopping at the first level too deep), no recursion,
 * no allocation: it runs before JSON.parse (0.3 s for 1 MiB of `[`) and long before validation,
 * where TypeBox and Elysia's error mapping recurse (a deep value overflows the stack or, in
 * Elysia's development mode, takes seconds).
 */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) inString = false
    } else if (c === 34) inString = true
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) return true
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--
  }
  return false
}

/**
 * True when JSON `text` holds the NUL character (the escape `\u0000`, in a string or a key: raw
 * control characters are invalid JSON anyway). PostgreSQL's text and jsonb cannot store it, so
 * both backends refuse it at the door rather than one failing on it later (a SQLite database
 * holding one could not be moved to PostgreSQL). `\\u0000`, a backslash and then `u0000`, is
 * not one: an escape is preceded by an odd number of backslashes.
 */
export function jsonHasNul(text: string): boolean {
  for (let i = text.indexOf('\\u0000'); i >= 0; i = text.indexOf('\\u0000', i + 1)) {
    let backslashes = 1
    while (i - backslashes >= 0 && text.charCodeAt(i - backslashes) === 92 /* \ */) backslashes++
    if (backslashes % 2 === 1) return true
  }
  return false
}

/**
 * True when JSON `text` may hold a lone surrogate: an escape of a UTF-16 surrogate (`\ud800` to
 * `\udfff`) that is not half of a pair. A quick look at the text (a pair matches too, and so may
 * an escaped backslash before `ud800`); `hasLoneSurrogate` then decides on the parsed value.
 * PostgreSQL's jsonb refuses such an escape (and its text keeps U+FFFD in its place), so both
 * backends refuse it at the door, as they do NUL.
 */
export function jsonMayHaveSurrogate(text: string): boolean {
  return SURROGATE_ESCAPE.test(text)
}
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/

/** True when a string or key in `value` (parsed JSON) holds a lone surrogate. */
export function hasLoneSurrogate(value: unknown): boolean {
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const v = stack.pop()
    if (typeof v === 'string') {
      if (!v.isWellFormed()) return true
    } else if (Array.isArray(v)) {
      for (const item of v) stack.push(item)
    } else if (v !== null && typeof v === 'object') {
      for (const [k, item] of Object.entries(v)) {
        if (!k.isWellFormed()) return true
        stack.push(item)
      }
    }
  }
  return false
}

/** Serialized size limit of a free-form JSON field (e.g. a task's `metadata`). */
export const MAX_FREE_FORM_JSON_BYTES = 64 * 1024

/**
 * Bytes of `value` as UTF-8 JSON, each number counted written out in full: PostgreSQL's jsonb
 * stores a number as a decimal and writes it back without an exponent, so `1e308` (6 bytes sent)
 * is 309 digits on every read there, and 9,000 of them in 54 KB of metadata made each task of a
 * list 2.8 MB to read. Both backends count the same, so what one accepts the other does.
 */
export function jsonBytes(value: unknown): number {
  let extra = 0
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number' && Number.isFinite(v)) {
      const written = String(v)
      if (written.includes('e')) extra += decimalLength(written) - written.length
    }
    return v
  })
  return Buffer.byteLength(text ?? '') + extra
}

/** Characters of a number written with an exponent (`-1.5e-7`) when written out without one (`-0.00000015`). */
export function decimalLength(written: string): number {
  const sign = written.startsWith('-') ? 1 : 0
  const e = written.indexOf('e')
  const mantissa = written.slice(sign, e)
  const point = mantissa.indexOf('.')
  const digits = point < 0 ? mantissa.length : mantissa.length - 1
  // Digits before the decimal point once the exponent is applied.
  const whole = (point < 0 ? mantissa.length : point) + Number(written.slice(e + 1))
  if (whole >= digits) return sign + whole // digits, then zeros
  if (whole > 0) return sign + digits + 1 // a point among the digits
  return sign + 2 + -whole + digits // "0.", zeros, digits
}

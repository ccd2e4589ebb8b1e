/** Limits on JSON sent by clients; pure functions, used by the HTTP layer and the services. */
import { clipped } from './text'

/** JSON nesting allowed in a request body: the body object itself is level 1. */
export const MAX_JSON_DEPTH = 32

/**
 * The longest list a top-level array field of a request body may hold where its schema declares
 * no `maxItems` (those that do are held to theirs): checked on the parsed body before validation
 * (src/http/body.ts), since describing what is wrong with a long list walked all of it in
 * TypeBox's error iterator, interpreted, holding the event loop (0.2-0.5 s for 1 MiB of `keys`,
 * `scopes` or `credentials`). The largest declared one is `credentials`' 1000.
 */
export const MAX_LIST_ITEMS = 1000

/**
 * The most object members (keys, counted in every object of a JSON body) or fields (of a form)
 * a request body may hold: counted before it is parsed (src/http/body.ts), since parsing and
 * copying an object of many keys is slow (70,000 unknown fields in 1 MiB held the event loop
 * 0.15-0.3 s as JSON, 0.4-0.55 s as a form, against ~20 ms for 1 MiB in one field). Far above
 * what any route takes: a task's metadata (64 KiB) holds at most ~13,000, a secrets object 100.
 */
export const MAX_BODY_MEMBERS = 20_000

/** What scanJson found: nothing (0), or these flags. */
export const JSON_TOO_DEEP = 1
/** A number literal whose value JSON.parse cannot give back as written: see `exactLiteral`. */
export const JSON_INEXACT_NUMBER = 2

/**
 * One pass over JSON `text`, outside strings, no recursion, no allocation but for a suspect
 * number: nesting of arrays/objects deeper than `max` (JSON_TOO_DEEP, stopping there) and a
 * number literal that does not survive parsing (JSON_INEXACT_NUMBER). Depth runs before
 * JSON.parse (0.3 s for 1 MiB of `[`) and long before validation, where TypeBox and Elysia's
 * error mapping recurse (a deep value overflows the stack or, in Elysia's development mode,
 * takes seconds). A literal is parsed here only when it has an exponent or a run of 16 digits
 * (the shortest integer beyond 2^53 - 1 has 16): only those can be infinite or an unsafe integer.
 */
export function scanJson(text: string, max = MAX_JSON_DEPTH, counted?: { members: number }): number {
  return scan(text, max, undefined, counted)
}

/**
 * scanJson's pass; `inexact` is told each literal that is not exact (parsed) and stops the pass
 * when it answers true (firstInexactLiteral: one reading of what a literal is, for both).
 */
function scan(text: string, max: number, inexact?: (n: number) => boolean, counted?: { members: number }): number {
  let depth = 0
  // The object members written: colons outside strings, one per member (see parsedMemberCount).
  let members = 0
  let inString = false
  let found = 0
  // The number literal being read: where it starts (-1: none), its longest run of digits, an
  // exponent, a fraction.
  let start = -1
  let run = 0
  let longest = 0
  let exponent = false
  let fraction = false
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32
    if (inString) {
      if (c === 92 /* \ */) i++
      else if (c === 34 /* " */) inString = false
      continue
    }
    if (c === 58 /* : */) members++
    if (c >= 48 && c <= 57 /* 0-9 */) {
      if (start < 0) start = i
      if (++run > longest) longest = run
      continue
    }
    if (start >= 0) {
      if (c === 101 || c === 69 /* e E */) exponent = true
      else if (c === 46 /* . */) fraction = true
      if (c === 101 || c === 69 || c === 46 || c === 43 /* + */ || c === 45 /* - */) {
        run = 0
        continue
      }
      if (exponent || longest >= 16) {
        const n = Number(text.slice(start, i))
        if (!exactLiteral(n, !exponent && !fraction)) {
          found |= JSON_INEXACT_NUMBER
          if (inexact?.(n)) return found
        }
      }
      start = -1
      run = longest = 0
      exponent = fraction = false
    }
    if (c === 45 /* - */) start = i
    else if (c === 34) inString = true
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) return found | JSON_TOO_DEEP
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--
  }
  if (counted) counted.members = members
  return found
}

/**
 * Whether a number literal is one every reader gets back as sent: finite (JSON.parse reads
 * `1e309` as Infinity, which JSON.stringify writes as null) and, when written as an integer
 * (digits only: `integer`), within ±(2^53 - 1) (`9007199254740993` reads as ...992; I-JSON, RFC
 * 7493 §2.2). A literal with a fraction or an exponent is a double as written (`1e20`, `0.1`):
 * it keeps a double's ~16 significant digits, as every JSON reader in JavaScript has them.
 */
function exactLiteral(n: number, integer: boolean): boolean {
  return Number.isFinite(n) && (!integer || Number.isSafeInteger(n))
}

/** The first number literal of JSON `text` (outside strings) that is not exact (scanJson), parsed; undefined when none. */
export function firstInexactLiteral(text: string): number | undefined {
  let first: number | undefined
  scan(text, Infinity, (n) => {
    first = n
    return true
  })
  return first
}

/**
 * Where number `target` (firstInexactLiteral's) is in parsed JSON `value`: its path
 * (`metadata.ids[2]`), the first place it is; null when it is nowhere. Iterative; run only on a
 * body being refused.
 */
export function numberPath(value: unknown, target: number): { path: string; value: number } | null {
  return firstInJson(value, (v, path) => (typeof v === 'number' && Object.is(v, target) ? { path, value: v } : undefined))
}

/** What a `firstInJson` visitor returns to leave a value's contents unvisited. */
export const SKIP_CONTENTS: unique symbol = Symbol('skip contents')

/**
 * Visits parsed JSON `value` depth first, in document order, iteratively (no recursion, whatever
 * the depth), and returns the first answer `visit` gives other than undefined (or SKIP_CONTENTS,
 * which leaves that value's elements and members unvisited); null when none. `visit` gets each
 * value with its field path (`metadata.ids[2]`, '' for the whole value; a key longer than 64
 * characters shortened) and its segments (keys and indexes, as given).
 */
export function firstInJson<R>(value: unknown, visit: (v: unknown, path: string, at: readonly string[]) => R | undefined | typeof SKIP_CONTENTS): R | null {
  type Node = { v: unknown; path: string; at: readonly string[] }
  const stack: Node[] = [{ v: value, path: '', at: [] }]
  while (stack.length > 0) {
    const { v, path, at } = stack.pop()!
    const answer = visit(v, path, at)
    if (answer === SKIP_CONTENTS) continue
    if (answer !== undefined) return answer
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}[${i}]`, at: [...at, String(i)] })
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v)
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i]!
        const shown = clipped(k, 64, '…')
        stack.push({ v: (v as Record<string, unknown>)[k], path: path === '' ? shown : `${path}.${shown}`, at: [...at, k] })
      }
    }
  }
  return null
}

/**
 * Where in parsed JSON `value` the first text (a string, or an object's key) that `bad` holds
 * is, in document order: the string's field path, or for a key the path of its object ('' for
 * the body's own keys); null when none.
 */
export function firstBadText(value: unknown, bad: (text: string) => boolean): { path: string; key: boolean } | null {
  return firstInJson(value, (v, path) => {
    if (typeof v === 'string') return bad(v) ? { path, key: false } : undefined
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) for (const k of Object.keys(v)) if (bad(k)) return { path, key: true }
    return undefined
  })
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

/**
 * The number of own keys of every object in a parsed JSON value (nested no deeper than
 * MAX_JSON_DEPTH, which scanJson checked). Compared with the members scanJson counted in its
 * text (`counted`), a difference means a key given twice in one object, which JSON.parse folds
 * into its last value.
 */
export function parsedMemberCount(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0
  let n = 0
  if (Array.isArray(v)) {
    for (const x of v) n += parsedMemberCount(x)
    return n
  }
  for (const k in v) {
    if (!Object.prototype.hasOwnProperty.call(v, k)) continue
    n += 1 + parsedMemberCount((v as Record<string, unknown>)[k])
  }
  // JSON.parse keeps `__proto__` as an own key, which for…in also lists; nothing else is skipped.
  return n
}

/**
 * The first key that an object of valid JSON `text` holds twice, with the path of that object
 * (`metadata.items[2]`, '' for the body itself), or null. Read only when the member counts
 * differ: a pass that remembers every key of the objects it is in.
 */
export function firstDuplicateKey(text: string): { key: string; path: string } | null {
  type Frame = { keys: Set<string> | null; key: string; index: number; path: string }
  const stack: Frame[] = []
  let expectKey = false
  const childPath = (top: Frame | undefined): string => (top === undefined ? '' : top.keys ? (top.path ? `${top.path}.${top.key}` : top.key) : `${top.path}[${top.index}]`)
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34 /* " */) {
      let j = i + 1
      let escaped = false
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j)
        if (d === 92) {
          escaped = true
          j++
        } else if (d === 34) break
      }
      const top = stack.at(-1)
      if (expectKey && top?.keys) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j)
        if (top.keys.has(key)) return { key, path: top.path }
        top.keys.add(key)
        top.key = key
        expectKey = false
      }
      i = j
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      const path = childPath(stack.at(-1))
      stack.push({ keys: c === 123 ? new Set() : null, key: '', index: 0, path })
      expectKey = c === 123
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      stack.pop()
      expectKey = false
    } else if (c === 44 /* , */) {
      const top = stack.at(-1)
      if (top?.keys) expectKey = true
      else if (top) top.index++
    }
  }
  return null
}

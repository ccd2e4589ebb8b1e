/**
 * JSON text of a value that may hold a long string more than once: an execution's answer is its
 * `result` and the content of its last message, and the end of a streamed execute (its `result`
 * event) holds it four times, since its body also carries the execution. JSON.stringify escapes
 * each copy again: a 4 MiB answer cost 40-90 ms of the event loop in one piece (a `result`
 * event, 16 MiB of JSON), where escaping it once and copying the escaped text costs a fraction.
 */

/** Strings this long or longer are escaped once per value, however often the value holds them. */
export const SHARED_FROM_CHARS = 64 * 1024

/** The values looked at for repeated long strings before giving up (a long list is serialized as it is). */
const LOOK_AT_MOST = 4096

/** What stands for a long string in the JSON first written (a random key of the process's: no text a client sends holds it). */
const MARK = `\u0000json-text-${crypto.randomUUID()}-`
/** Each mark as the frame holds it: a JSON string of its own (quotes and the escaped U+0000 included). */
export const MARKED = new RegExp(`${escapeRegExp(JSON.stringify(MARK).slice(0, -1))}(\\d+)"`, 'g')

/**
 * The long strings (SHARED_FROM_CHARS or more) that `value` holds more than once, each once; null
 * when there are none (or when `value` holds more than LOOK_AT_MOST values: not looked at).
 * Plain objects and arrays are looked into, as JSON.stringify writes them; anything else (a Date,
 * an object with toJSON) is a leaf.
 */
function repeatedLongStrings(value: unknown): string[] | null {
  const seen: string[] = []
  const repeated: string[] = []
  const stack: unknown[] = [value]
  for (let looked = 0; stack.length > 0; looked++) {
    if (looked > LOOK_AT_MOST) return null
    const v = stack.pop()
    if (typeof v === 'string') {
      if (v.length < SHARED_FROM_CHARS) continue
      // Few long strings in one value: compared by length first, then (equal lengths) by content.
      const same = seen.find((s) => s.length === v.length && s === v)
      if (same === undefined) seen.push(v)
      else if (!repeated.includes(same)) repeated.push(same)
      continue
    }
    if (v === null || typeof v !== 'object') continue
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i])
      continue
    }
    const proto = Object.getPrototypeOf(v)
    if (proto !== Object.prototype && proto !== null) continue
    for (const k in v) stack.push((v as Record<string, unknown>)[k])
  }
  return repeated.length > 0 ? repeated : null
}

/**
 * The JSON of `value` as JSON.stringify writes it, in parts: concatenated, they are that text.
 * Each long string the value holds more than once (SHARED_FROM_CHARS or more) is escaped once and
 * is its own part wherever it appears (the same string each time); everything else is written by
 * JSON.stringify. A value without such strings is one part.
 */
export function jsonParts(value: unknown): string[] {
  const long = repeatedLongStrings(value)
  if (long === null) return [JSON.stringify(value)]
  const frame = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'string' || v.length < SHARED_FROM_CHARS) return v
    const i = long.findIndex((s) => s.length === v.length && s === v)
    return i < 0 ? v : `${MARK}${i}`
  })
  const escaped = long.map((s) => JSON.stringify(s))
  const parts: string[] = []
  let at = 0
  for (const m of frame.matchAll(MARKED)) {
    parts.push(frame.slice(at, m.index), escaped[Number(m[1])]!)
    at = m.index + m[0].length
  }
  parts.push(frame.slice(at))
  return parts.filter((p) => p !== '')
}

/** The JSON of `value`, exactly as JSON.stringify writes it, with its repeated long strings escaped once (jsonParts). */
export function jsonText(value: unknown): string {
  const parts = jsonParts(value)
  return parts.length === 1 ? parts[0]! : parts.join('')
}

/**
 * The JSON of `value` as a response sends it: its text (as jsonText gives it) when that is one
 * part or was kept (jsonTextKept), else its UTF-8 bytes, each repeated long string escaped and
 * encoded once and its bytes copied wherever it appears. The end of a run with a 4 MiB answer
 * (16 MiB of JSON) joined its parts into one string and had it encoded again: 28 ms of the event
 * loop of the 40-106 ms that end held it.
 */
export function jsonBody(value: unknown): string | Uint8Array<ArrayBuffer> {
  if (typeof value === 'object' && value !== null) {
    const kept = written.get(value)
    if (kept !== undefined) {
      written.delete(value)
      return kept
    }
  }
  const parts = jsonParts(value)
  if (parts.length === 1) return parts[0]!
  const chunks = utf8Parts(parts)
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0))
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}

const utf8 = new TextEncoder()

/**
 * Each of `parts` as UTF-8: a part that appears more than once (jsonParts gives a repeated long
 * string as the same string each time) is encoded once, its bytes shared (nothing may change them).
 */
export function utf8Parts(parts: readonly string[]): Uint8Array[] {
  // By identity first: === on two distinct strings of MiBs compares them, a Map would hash them.
  const encoded: [string, Uint8Array][] = []
  return parts.map((part) => {
    let bytes = encoded.find(([p]) => p === part)?.[1]
    if (bytes === undefined) encoded.push([part, (bytes = utf8.encode(part))])
    return bytes
  })
}

/** JSON texts made by jsonTextKept, each until the next jsonBody of its value. */
const written = new WeakMap<object, string>()

/**
 * jsonText, also kept for the next jsonBody of the same value: a response body that the
 * idempotency layer stores (src/idempotency/service.ts) is serialized again, unchanged, by the
 * adapter that sends it (src/http/compression.ts). MiBs of an execute's answer were written out
 * twice. Only for a value nothing changes between the two.
 */
export function jsonTextKept(value: object): string {
  const text = jsonText(value)
  written.set(value, text)
  return text
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

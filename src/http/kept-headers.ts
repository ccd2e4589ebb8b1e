/**
 * A Response's headers from a plain object, through a Headers object kept between responses.
 *
 * `new Response(body, { headers: object })` builds a header map and converts each of the object's
 * properties into it, in native code: for the cached agent list's ten headers this was the
 * largest single part of a request (about 3 µs of ~20 in process; the same Response without
 * headers ~0.4 µs). Most of those headers are the same from one answer to the next (the content
 * type, nosniff, no-store, the rate-limit policy and limit); the request id, the token's expiry
 * and the rate-limit counts change. So a Headers is kept per set of header names (in their
 * order), only the values that changed since its last use are set on it, and the Response is
 * made from it: Bun copies a Headers it is given (a copy of the map, not a conversion), so the
 * kept one can be changed for the next answer at once. Same headers, same order, same values as
 * from the object (a value is set as `String(value)`, which is what the conversion does).
 *
 * A few sets of names are kept (an answer compressed or not, a stop's `connection: close`);
 * another set replaces the one used least recently.
 */
const SLOTS = 4

interface Kept {
  names: string[]
  values: unknown[]
  headers: Headers
}

export class KeptHeaders {
  private readonly kept: Kept[] = []

  /** A Headers holding exactly `object`'s properties, valid until the next call (hand it to a Response at once). */
  of(object: Record<string, unknown>): Headers {
    const kept = this.kept
    for (let s = 0; s < kept.length; s++) {
      const k = kept[s]!
      if (!updated(k, object)) continue
      if (s > 0) {
        kept.splice(s, 1)
        kept.unshift(k)
      }
      return k.headers
    }
    const names = Object.keys(object)
    const headers = new Headers(object as Record<string, string>)
    // Names in lower case only: `Content-Type` and `content-type` in one object are two values
    // of one header when converted, where a set would keep the last one.
    for (const n of names) if (n !== n.toLowerCase()) return headers
    kept.unshift({ names, values: names.map((n) => object[n]), headers })
    if (kept.length > SLOTS) kept.pop()
    return headers
  }
}

/** Whether `object` has `k`'s names in `k`'s order; `k`'s changed values set on the way (left consistent either way). */
function updated(k: Kept, object: Record<string, unknown>): boolean {
  const { names, values, headers } = k
  let i = 0
  for (const name in object) {
    if (i === names.length || names[i] !== name) return false
    const v = object[name]
    if (values[i] !== v) {
      headers.set(name, String(v))
      values[i] = v
    }
    i++
  }
  return i === names.length
}

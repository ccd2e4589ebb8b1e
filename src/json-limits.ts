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

/** Serialized size limit of a free-form JSON field (e.g. a task's `metadata`). */
export const MAX_FREE_FORM_JSON_BYTES = 64 * 1024

/** Bytes of `value` as UTF-8 JSON. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '')
}

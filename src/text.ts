/**
 * `value` with `fn` applied to every string in it, object keys included. Arrays and plain
 * objects are walked, to `maxDepth` levels (deeper ones are kept as they are); anything else
 * (numbers, dates, class instances) is kept. Copy on write: what nothing changed in comes back
 * as it is, and the input is never mutated. The one walk of token redaction
 * (src/auth/tokens.ts) and of the engine's NUL replacement (src/engine/store.ts).
 */
export function mapStrings<T>(value: T, fn: (s: string) => string, maxDepth = Infinity): T {
  return walk(value, fn, maxDepth, 0) as T
}

function walk(value: unknown, fn: (s: string) => string, maxDepth: number, depth: number): unknown {
  if (typeof value === 'string') return fn(value)
  if (value === null || typeof value !== 'object' || depth > maxDepth) return value
  if (Array.isArray(value)) {
    let out: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const y = walk(value[i], fn, maxDepth, depth + 1)
      if (y !== value[i]) (out ??= [...value])[i] = y
    }
    return out ?? value
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  let changed = false
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    const key = fn(k)
    const y = walk(v, fn, maxDepth, depth + 1)
    if (key !== k || y !== v) changed = true
    out[key] = y
  }
  return changed ? out : value
}

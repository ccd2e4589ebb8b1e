/**
 * Serialized responses kept in memory, least recently used first out, bounded by entry count
 * and total bytes. Keys embed the data version they were built from (src/db/versions.ts):
 * invalidation is bumping that version, never touching this cache.
 */
export class ResponseCache {
  private readonly entries = new Map<string, Uint8Array>()
  private bytes = 0

  constructor(
    private readonly maxEntries = 2000,
    private readonly maxBytes = 32 * 1024 * 1024,
  ) {}

  get(key: string): Uint8Array | undefined {
    const hit = this.entries.get(key)
    if (hit !== undefined) {
      // Move to the most recently used end.
      this.entries.delete(key)
      this.entries.set(key, hit)
    }
    return hit
  }

  set(key: string, value: Uint8Array): void {
    if (value.byteLength > this.maxBytes / 4) return
    const old = this.entries.get(key)
    if (old) {
      this.bytes -= old.byteLength
      this.entries.delete(key)
    }
    this.entries.set(key, value)
    this.bytes += value.byteLength
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [k, v] = this.entries.entries().next().value!
      this.entries.delete(k)
      this.bytes -= v.byteLength
    }
  }

  get size(): number {
    return this.entries.size
  }
}

const encoder = new TextEncoder()

/** The JSON response for `key`, built by `build()` on a miss. */
export function cachedJson(cache: ResponseCache, key: string, build: () => unknown): Response {
  let bytes = cache.get(key)
  if (bytes === undefined) {
    bytes = encoder.encode(JSON.stringify(build()))
    cache.set(key, bytes)
  }
  return new Response(bytes, { headers: { 'content-type': 'application/json;charset=utf-8' } })
}

import { noteBodySize } from '../http/observe'
/**
 * Serialized responses kept in memory, least recently used first out, bounded by entry count
 * and total bytes. Keys embed the data version they were built from (src/db/versions.ts):
 * invalidation is bumping that version, never touching this cache.
 */
export class ResponseCache {
  private readonly entries = new Map<string, Blob>()
  private bytes = 0

  constructor(
    private readonly maxEntries = 2000,
    private readonly maxBytes = 8 * 1024 * 1024,
  ) {}

  get(key: string): Blob | undefined {
    const hit = this.entries.get(key)
    if (hit !== undefined) {
      // Move to the most recently used end.
      this.entries.delete(key)
      this.entries.set(key, hit)
    }
    return hit
  }

  set(key: string, value: Blob): void {
    if (value.size > this.maxBytes / 4) return
    const old = this.entries.get(key)
    if (old) {
      this.bytes -= old.size
      this.entries.delete(key)
    }
    this.entries.set(key, value)
    this.bytes += value.size
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [k, v] = this.entries.entries().next().value!
      this.entries.delete(k)
      this.bytes -= v.size
    }
  }

  get size(): number {
    return this.entries.size
  }
}


/**
 * The JSON response for `key`, built by `build()` on a miss. The bytes are kept as a Blob (sent
 * without a copy), and the headers gathered so far (request id, rate limit, …) move onto the
 * Response itself: with nothing left in `set`, Elysia sends it as it is instead of re-wrapping
 * its body in a stream to merge headers.
 */
export async function cachedJson(cache: ResponseCache, key: string, set: { headers: Record<string, unknown> }, build: () => Promise<unknown>): Promise<Response> {
  let body = cache.get(key)
  if (body === undefined) {
    body = new Blob([JSON.stringify(await build())], { type: 'application/json;charset=utf-8' })
    cache.set(key, body)
  }
  const headers = set.headers as Record<string, string>
  headers['content-type'] = 'application/json;charset=utf-8'
  // One conversion of the plain object, cheaper than a Headers.set per header.
  const res = new Response(body, { headers })
  set.headers = {}
  return noteBodySize(res, body.size)
}

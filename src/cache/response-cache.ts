import { compress, JSON_TYPE, negotiate } from '../http/compression'
import { noteBodySize } from '../http/observe'
import { noteSentBytes } from '../http/listen'
/**
 * Serialized responses kept in memory, least recently used first out, bounded by entry count
 * and total bytes. Keys embed the data version they were built from (src/db/versions.ts):
 * invalidation is bumping that version, never touching this cache.
 */
export class ResponseCache {
  private readonly entries = new Map<string, Blob>()
  private bytes = 0
  /**
   * The builds under way, by key (cachedJson): a request that misses a key another request is
   * building waits for those bytes instead of reading and serializing the same page again.
   * Each settles with the bytes, or undefined when its build gave a Response or failed.
   */
  readonly building = new Map<string, Promise<Blob | undefined>>()

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
 * its body in a stream to merge headers. With `compression` on and a request that accepts a
 * coding (src/http/compression.ts), the compressed bytes are kept too, under their own key, so a
 * cached list is compressed once per data version. A Response that `build()` gives (a large page,
 * sent as it is read: src/http/streamed-json.ts) is answered as it is and not kept: Elysia adds
 * the headers gathered in `set` to it. Concurrent misses of one key build once (ResponseCache.
 * building): right after a write every request in flight for the list missed, and each read and
 * serialized the same page; the others now wait for the first one's bytes (and build their own
 * only when it gave none).
 */
export async function cachedJson(
  cache: ResponseCache,
  key: string,
  request: Request,
  set: { headers: Record<string, unknown> },
  compression: boolean,
  build: () => Promise<unknown>,
): Promise<Response> {
  let json: string | undefined
  let body = cache.get(key)
  if (body === undefined) {
    const pending = cache.building.get(key)
    if (pending !== undefined) body = await pending
  }
  if (body === undefined) {
    let settle!: (bytes: Blob | undefined) => void
    const building = new Promise<Blob | undefined>((resolve) => (settle = resolve))
    cache.building.set(key, building)
    try {
      const value = await build()
      if (value instanceof Response) return value
      json = JSON.stringify(value)
      body = new Blob([json], { type: JSON_TYPE })
      cache.set(key, body)
    } finally {
      if (cache.building.get(key) === building) cache.building.delete(key)
      settle(body)
    }
  }
  const headers = set.headers as Record<string, string>
  headers['content-type'] = JSON_TYPE
  const coding = compression ? negotiate(request, body.size, headers) : null
  let sent = body
  if (coding !== null) {
    const packedKey = `${coding}\n${key}`
    let compressed = cache.get(packedKey)
    if (compressed === undefined) {
      compressed = new Blob([compress(json ?? (await body.text()), coding)])
      cache.set(packedKey, compressed)
    }
    headers['content-encoding'] = coding
    sent = compressed
  }
  // One conversion of the plain object, cheaper than a Headers.set per header.
  const res = noteSentBytes(new Response(sent, { headers }), sent.size)
  set.headers = {}
  // The access log notes the JSON's size, as for every other response.
  return noteBodySize(res, body.size)
}

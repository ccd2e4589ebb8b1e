import { compress, JSON_TYPE, negotiate } from '../http/compression'
import { noteBodySize } from '../http/observe'
import { KeptHeaders } from '../http/kept-headers'
import { noteSentBody, wholeNow } from '../http/listen'
/**
 * A serialized response body as the cache keeps it: its bytes (UTF-8), never changed once kept,
 * and a Blob of them. A Response is made from the Blob (Bun takes a Blob's bytes without a copy:
 * 2.6 µs for a Response with ten headers against 3.75 from a Uint8Array); the bytes go out when
 * the Response was ready only after the event loop turned (every one on PostgreSQL), as one chunk
 * of a stream (src/http/listen.ts, noteSentBody), without reading the Response's body back.
 */
export interface CachedBody {
  blob: Blob
  bytes: Uint8Array<ArrayBuffer>
}

export function cachedBody(bytes: Uint8Array<ArrayBuffer>): CachedBody {
  return { blob: new Blob([bytes]), bytes }
}

/** What an entry holds in memory: its bytes twice (the array and the Blob's copy). */
const weight = (b: CachedBody) => 2 * b.bytes.byteLength

/**
 * Serialized responses kept in memory, least recently used first out, bounded by entry count
 * and total bytes. Keys embed the data version they were built from (src/db/versions.ts):
 * invalidation is bumping that version, never touching this cache.
 */
export class ResponseCache {
  private readonly entries = new Map<string, CachedBody>()
  private bytes = 0
  /**
   * The builds under way, by key (cachedJson): a request that misses a key another request is
   * building waits for those bytes instead of reading and serializing the same page again.
   * Each settles with the bytes, or undefined when its build gave a Response or failed.
   */
  readonly building = new Map<string, Promise<CachedBody | undefined>>()
  /** The answers' headers, converted through kept Headers objects (src/http/kept-headers.ts). */
  readonly headers = new KeptHeaders()

  constructor(
    private readonly maxEntries = 2000,
    private readonly maxBytes = 8 * 1024 * 1024,
  ) {}

  get(key: string): CachedBody | undefined {
    const hit = this.entries.get(key)
    if (hit !== undefined) {
      // Move to the most recently used end.
      this.entries.delete(key)
      this.entries.set(key, hit)
    }
    return hit
  }

  set(key: string, value: CachedBody): void {
    if (weight(value) > this.maxBytes / 4) return
    const old = this.entries.get(key)
    if (old) {
      this.bytes -= weight(old)
      this.entries.delete(key)
    }
    this.entries.set(key, value)
    this.bytes += weight(value)
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [k, v] = this.entries.entries().next().value!
      this.entries.delete(k)
      this.bytes -= weight(v)
    }
  }

  get size(): number {
    return this.entries.size
  }
}

/**
 * The JSON response for `key`, built by `build()` on a miss. The bytes are kept (CachedBody), and
 * the headers gathered so far (request id, rate limit, …) move onto the Response itself: with
 * nothing left in `set`, Elysia sends it as it is instead of re-wrapping its body in a stream to
 * merge headers. With `compression` on and a request that accepts a
 * coding (src/http/compression.ts), the compressed bytes are kept too, under their own key, so a
 * cached list is compressed once per data version. A Response that `build()` gives (a large page,
 * sent as it is read: src/http/streamed-json.ts) is answered as it is and not kept: Elysia adds
 * the headers gathered in `set` to it. Concurrent misses of one key build once (ResponseCache.
 * building): right after a write every request in flight for the list missed, and each read and
 * serialized the same page; the others now wait for the first one's bytes (and build their own
 * only when it gave none).
 */
const encoder = new TextEncoder()

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
    let settle!: (bytes: CachedBody | undefined) => void
    const building = new Promise<CachedBody | undefined>((resolve) => (settle = resolve))
    cache.building.set(key, building)
    try {
      const value = await build()
      if (value instanceof Response) return value
      json = JSON.stringify(value)
      body = cachedBody(encoder.encode(json))
      cache.set(key, body)
    } finally {
      if (cache.building.get(key) === building) cache.building.delete(key)
      settle(body)
    }
  }
  const headers = set.headers as Record<string, string>
  headers['content-type'] = JSON_TYPE
  const coding = compression ? negotiate(request, body.bytes.byteLength, headers) : null
  let sent = body
  if (coding !== null) {
    const packedKey = `${coding}\n${key}`
    let compressed = cache.get(packedKey)
    if (compressed === undefined) {
      compressed = cachedBody(compress(json ?? body.bytes, coding) as Uint8Array<ArrayBuffer>)
      cache.set(packedKey, compressed)
    }
    headers['content-encoding'] = coding
    sent = compressed
  }
  // The headers through a Headers kept by the cache, only the values that changed set on it
  // (src/http/kept-headers.ts). The bytes noted with the response: sent after a turn
  // (PostgreSQL), they go out from these (src/http/listen.ts).
  const res = wholeNow(request, sent.bytes, headers, cache.headers) ?? noteSentBody(new Response(sent.blob, { headers: cache.headers.of(headers) }), sent.bytes)
  set.headers = {}
  // The access log notes the JSON's size, as for every other response.
  return noteBodySize(res, body.bytes.byteLength)
}

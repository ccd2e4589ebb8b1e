import { JSON_TYPE, MIN_COMPRESSED_BYTES, negotiate, type Coding } from './compression'
import { sentAsItComes } from './listen'

/**
 * A JSON array sent as it is produced: each batch that `rest` yields, one batch a pull of the
 * body, after a turn of the event loop. So a list page of large items (executions
 * holding a model's whole answer) holds the loop for a batch at a time, never for the whole page,
 * and the page is never in memory as one string. The bytes are those JSON.stringify writes for
 * the whole array. Compressed as it goes when `compression` is on and the request accepts a
 * coding (compressor); without Content-Length (chunked). A failure midway ends the body
 * early: the client sees invalid JSON, and the server's log the error.
 */
export async function streamedJsonArray<T>(request: Request, rest: AsyncGenerator<T[]>, compression: boolean): Promise<Response> {
  const encoder = new TextEncoder()
  let items = 0
  const write = (batch: T[]) => {
    let text = ''
    for (const item of batch) text += (items++ === 0 ? '' : ',') + JSON.stringify(item)
    return text
  }
  const json = new ReadableStream<Uint8Array>({
    start(out) {
      out.enqueue(encoder.encode('['))
    },
    async pull(out) {
      // Let other requests in before the next batch: its read and its JSON are this pull's work.
      await new Promise((resolve) => setImmediate(resolve))
      const next = await rest.next()
      if (next.done) {
        out.enqueue(encoder.encode(']'))
        out.close()
      } else out.enqueue(encoder.encode(write(next.value)))
    },
    async cancel() {
      await rest.return(undefined)
    },
  })
  const headers: Record<string, string> = { 'content-type': JSON_TYPE }
  const coding = compression ? negotiate(request, MIN_COMPRESSED_BYTES, headers) : null
  if (coding !== null) headers['content-encoding'] = coding
  const body = coding === null ? json : json.pipeThrough(await compressor(coding))
  // Sent as it comes: never read whole first (src/http/listen.ts, sentWhole).
  return sentAsItComes(new Response(body, { headers }))
}

/**
 * A stream compressor: zstd by CompressionStream (its default level: fast), gzip by node:zlib at
 * level 1, the level of a body compressed at once (src/http/compression.ts). CompressionStream's
 * gzip takes no level and spent 2.7 times the CPU (1.1 s against 0.41 s for 80 MB of text).
 */
async function compressor(coding: Coding): Promise<ReadableWritablePair<Uint8Array, Uint8Array>> {
  if (coding === 'zstd') return new CompressionStream('zstd') as unknown as ReadableWritablePair<Uint8Array, Uint8Array>
  // Loaded when first needed, as compressedFile does: not on every start of the server.
  const [{ createGzip }, { Readable }] = await Promise.all([import('node:zlib'), import('node:stream')])
  const gzip = createGzip({ level: 1 })
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) => new Promise<void>((done, fail) => gzip.write(chunk, (e) => (e ? fail(e) : done()))),
    close: () => new Promise<void>((done) => gzip.end(done)),
    abort: (reason) => void gzip.destroy(reason instanceof Error ? reason : undefined),
  })
  return { writable, readable: Readable.toWeb(gzip) as unknown as ReadableStream<Uint8Array> }
}

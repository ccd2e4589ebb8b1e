import { JSON_TYPE, MIN_COMPRESSED_BYTES, negotiate } from './compression'
import { sentAsItComes } from './listen'

/**
 * A JSON array sent as it is produced: each batch that `rest` yields, one batch a pull of the
 * body, after a turn of the event loop. So a list page of large items (executions
 * holding a model's whole answer) holds the loop for a batch at a time, never for the whole page,
 * and the page is never in memory as one string. The bytes are those JSON.stringify writes for
 * the whole array. Compressed as it goes (CompressionStream) when `compression` is on and the
 * request accepts a coding; without Content-Length (chunked). A failure midway ends the body
 * early: the client sees invalid JSON, and the server's log the error.
 */
export function streamedJsonArray<T>(request: Request, rest: AsyncGenerator<T[]>, compression: boolean): Response {
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
  const body = coding === null ? json : json.pipeThrough(new CompressionStream(coding) as unknown as ReadableWritablePair<Uint8Array, Uint8Array>)
  // Sent as it comes: never read whole first (src/http/listen.ts, sentWhole).
  return sentAsItComes(new Response(body, { headers }))
}

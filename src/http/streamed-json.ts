import { JSON_TYPE, MIN_COMPRESSED_BYTES, negotiate, type Coding } from './compression'
import { idleTimeoutOf, sentAsItComes } from './listen'
import { bodyMeter } from './observe'
import { errorMessage } from '../errors'

/**
 * The items of a JSON array read as they are sent (a large list page: src/db/paging.ts,
 * largePage), a batch at a time; each call of `batches` reads them again.
 */
export class StreamedArray<T = unknown> {
  constructor(readonly batches: () => AsyncGenerator<T[]>) {}
}

/**
 * Why a large page's request may no longer be answered, seen while its body is sent: its token
 * revoked, its user removed from the organization, or their role changed (the page's rows were
 * chosen for the role they had: src/app.ts watchToken).
 */
export type StopReason = 'token_revoked' | 'membership_revoked' | 'access_changed'

const STOPPED: Record<StopReason, string> = {
  token_revoked: 'the token of this request was revoked while its answer was sent',
  membership_revoked: 'the user of this request was removed from the organization while its answer was sent',
  access_changed: "the role of this request's user changed while its answer was sent (its rows were chosen for the role it had)",
}

/**
 * Watches the request while its answer is sent (RevocationWatch.watch for the request's
 * principal): `onStop` once it may no longer be answered; the function returned stops watching.
 */
export type WatchToken = (onStop: (why: StopReason) => void) => () => void

/**
 * JSON sent as it is produced: `value` is a StreamedArray, or an object some of whose fields are
 * (the other fields are written as JSON.stringify writes them). Each batch of an array is read
 * and written when the body is pulled, after a turn of the event loop, and the body is pulled
 * only when the socket has taken what came before (no read-ahead: a high-water mark of 0). So a
 * list page of large items (executions holding a model's whole answer, tasks with large
 * metadata) holds the loop for a batch at a time, never for the whole page, is never in memory
 * as one string, and a client that stops reading (or never starts) leaves about one batch
 * waiting in the server, not the page, until the idle timeout closes its connection
 * (src/http/listen.ts). The bytes are those JSON.stringify writes for the whole value, with the
 * arrays' items in place. Compressed as it goes when `compression` is on and the request
 * accepts a coding (compressor); without Content-Length (chunked). A failure midway (a batch's
 * read fails) ends the body as a failed transfer: the stream errors, and Bun then resets the
 * connection without the last chunk (no `0\r\n\r\n`; compressed or not, HTTP/1.1 or 1.0), so
 * fetch rejects and curl exits non-zero (56) rather than hand over a prefix that might parse
 * (test/streamed-json-failures.test.ts); the server logs why (`answer_ended_early`: src/http/observe.ts).
 * With `watch`, so does the request's loss of its right to the answer meanwhile (its token revoked,
 * its user removed or their role changed; seen within about a second: src/auth/revocation-watch.ts):
 * nothing read after it is sent. And so does a client that stopped reading, once `server` (the
 * one serving `request`) closed its connection for it (its idle timeout: idleTimeoutOf), where a
 * client that closes its connection itself ends the body without a word, as a complete one does.
 */
export async function streamedJson(request: Request, value: StreamedArray | Record<string, unknown>, compression: boolean, watch?: WatchToken, server?: object | null): Promise<Response> {
  const encoder = new TextEncoder()
  const text = jsonText(value instanceof StreamedArray ? [value] : objectParts(value))
  // The access log's bytes: the JSON's, before compression, as for every JSON answer.
  const meter = bodyMeter(request)
  // Its token revoked (or its user's access lost) while the body is sent (a slow reader takes
  // minutes for a page of tens of MB): no batch is read for it after that; the body ends early,
  // as on a failure midway.
  let stopped: StopReason | null = null
  let unwatch = watch?.((why) => (stopped = why)) ?? (() => {})
  /** The body ended: `failed`, why it ended early (the server's log says it). */
  const end = (failed?: string) => {
    meter.end(failed)
    unwatch()
    unwatch = () => {}
  }
  // Since when the last piece has waited for the socket to take it (null while a piece is made).
  let waitingSince: number | null = null
  const json = new ReadableStream<Uint8Array>(
    {
      async pull(out) {
        waitingSince = null
        // Let other requests in before the next batch: its read and its JSON are this pull's work.
        await new Promise((resolve) => setImmediate(resolve))
        let next: IteratorResult<string>
        try {
          if (stopped !== null) {
            const why = stopped
            await text.return(undefined)
            throw new StoppedError(why)
          }
          next = await text.next()
        } catch (e) {
          end(e instanceof StoppedError ? `${e.reason}: ${e.message}` : `error: ${errorMessage(e)}`)
          throw e
        }
        if (next.done) {
          out.close()
          end()
          return
        }
        const bytes = encoder.encode(next.value)
        out.enqueue(bytes)
        meter.sent(bytes.byteLength)
        waitingSince = performance.now()
      },
      async cancel() {
        // The connection closed: by the client, or by the server's idle timeout once the client
        // had taken nothing for that long (its buffers full: it stopped reading).
        const timeout = idleTimeoutOf(server)
        const waited = waitingSince === null ? 0 : (performance.now() - waitingSince) / 1000
        end(timeout !== null && waited >= timeout.closesAfter ? `client_stopped_reading: it took nothing for ${Math.round(waited)} s, and the idle timeout (${timeout.idle} s) closed its connection` : undefined)
        await text.return(undefined)
      },
    },
    { highWaterMark: 0 },
  )
  const headers: Record<string, string> = { 'content-type': JSON_TYPE }
  const coding = compression ? negotiate(request, MIN_COMPRESSED_BYTES, headers) : null
  if (coding !== null) headers['content-encoding'] = coding
  const body = coding === null ? json : json.pipeThrough(await compressor(coding))
  // Sent as it comes: never read whole first (src/http/listen.ts, sentWhole).
  return sentAsItComes(new Response(body, { headers }))
}

/** The end of a body whose request may no longer be answered (WatchToken). */
class StoppedError extends Error {
  constructor(readonly reason: StopReason) {
    super(STOPPED[reason])
  }
}

/**
 * An object's JSON as parts: text, and the arrays read as they are sent, in the object's key
 * order; fields JSON.stringify leaves out (undefined, functions, symbols) are left out too.
 */
function objectParts(value: Record<string, unknown>): (string | StreamedArray)[] {
  const parts: (string | StreamedArray)[] = []
  let text = '{'
  for (const [key, v] of Object.entries(value)) {
    const streamed = v instanceof StreamedArray
    const json = streamed ? '' : (JSON.stringify(v) as string | undefined)
    if (json === undefined) continue
    text += `${text === '{' && parts.length === 0 ? '' : ','}${JSON.stringify(key)}:`
    if (streamed) {
      parts.push(text, v)
      text = ''
    } else text += json
  }
  parts.push(`${text}}`)
  return parts
}

/** The JSON text of `parts`, one piece per batch of an array (text before or after it joins the nearest batch). */
async function* jsonText(parts: (string | StreamedArray)[]): AsyncGenerator<string> {
  let pending = ''
  for (const part of parts) {
    if (typeof part === 'string') {
      pending += part
      continue
    }
    pending += '['
    let items = 0
    for await (const batch of part.batches()) {
      let text = pending
      pending = ''
      for (const item of batch) text += (items++ === 0 ? '' : ',') + JSON.stringify(item)
      yield text
    }
    pending += ']'
  }
  yield pending
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

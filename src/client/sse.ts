export interface SseEvent {
  event: string
  data: string
}

/**
 * The most text one event may hold before its blank line, in characters (UTF-16 code units, as
 * decoded): 64 Mi. A teamday server's largest event, the `result` of an answer at its limit
 * (2,097,152 characters, README: Executions), holds the answer four times: 48 Mi characters with every
 * character escaped. Without a bound, a server or proxy that never ended an event (a line
 * without end, lines without a blank one) had the client keep all of it, until memory ran out.
 */
export const MAX_SSE_EVENT_CHARS = 64 * 1024 * 1024

/** A stream event past `limit` characters: the stream is not read on (readSse). */
export class SseEventTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`one stream event passed ${limit.toLocaleString('en-US')} characters without ending`)
  }
}

/**
 * Server-Sent Events from a response body, as they arrive (comments and heartbeats skipped).
 * `onChunk`: called on every chunk read, heartbeats included (a stream's idle timer).
 * Throws SseEventTooLarge once the text since the last event's end passes `maxEventChars`.
 */
export async function* readSse(body: ReadableStream<Uint8Array>, onChunk?: () => void, maxEventChars = MAX_SSE_EVENT_CHARS): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder()
  // The text since the last event's end, in pieces: joined only when a chunk brings a blank line.
  // Appended to one string and searched from its start on every chunk, a large event (an
  // execution's result of some MB, cut by a proxy into 4 KB chunks) cost time in the square of its
  // size: 8 MB took 2.7 s, 32 MB most of a minute (each chunk scanned, and flattened, all before it).
  let pending: string[] = []
  let endsWithLf = false
  // The last chunk ended with a CR: a LF that begins the next is the same line end (CRLF), not a
  // second one. Each chunk's line ends were made LF on their own, so a CRLF that a proxy or the
  // server's chunking cut in two was read as two line ends, an empty line that ended the event
  // early (its event name, or its first data lines, became an event of its own).
  let cr = false
  /** The length of the text in `pending`. */
  let pendingChars = 0
  for await (const chunk of body) {
    onChunk?.()
    let text = decoder.decode(chunk, { stream: true })
    if (text === '') continue
    if (cr && text.charCodeAt(0) === 10) text = text.slice(1)
    cr = text.charCodeAt(text.length - 1) === 13
    text = text.replace(/\r\n?/g, '\n')
    if (text === '') continue
    const blank = (endsWithLf && text.charCodeAt(0) === 10) || text.indexOf('\n\n') >= 0
    pending.push(text)
    pendingChars += text.length
    endsWithLf = text.charCodeAt(text.length - 1) === 10
    if (!blank) {
      if (pendingChars > maxEventChars) throw new SseEventTooLarge(maxEventChars)
      continue
    }
    let buf = pending.length === 1 ? text : pending.join('')
    pending = []
    pendingChars = 0
    let end: number
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end)
      buf = buf.slice(end + 2)
      const ev = parseBlock(block)
      if (ev) yield ev
    }
    if (buf !== '') {
      // A chunk may end one event and bring more than the limit of the next.
      if (buf.length > maxEventChars) throw new SseEventTooLarge(maxEventChars)
      pending.push(buf)
      pendingChars = buf.length
    }
  }
  const ev = parseBlock(pending.join(''))
  if (ev) yield ev
}

/**
 * readSse, with a failure to read the body (the connection reset, a server that stopped sending)
 * turned into `broken(e)`: a stream that breaks off is a network failure with the run's id, not a
 * raw runtime error. What the consumer's own loop throws is not caught here.
 */
export async function* readSseOrFail(body: ReadableStream<Uint8Array>, broken: (e: unknown) => Error, onChunk?: () => void): AsyncGenerator<SseEvent> {
  try {
    yield* readSse(body, onChunk)
  } catch (e) {
    throw broken(e)
  }
}

function parseBlock(block: string): SseEvent | null {
  let event = 'message'
  const data: string[] = []
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue
    const i = line.indexOf(':')
    const field = i < 0 ? line : line.slice(0, i)
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '')
    if (field === 'event') event = value
    else if (field === 'data') data.push(value)
  }
  return data.length ? { event, data: data.join('\n') } : null
}

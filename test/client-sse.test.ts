import { describe, expect, test } from 'bun:test'
import { MAX_SSE_EVENT_CHARS, readSse, SseEventTooLarge, type SseEvent } from '../src/client/sse'

// The client's text/event-stream parser (`agents execute --stream`) against a stream cut into
// network chunks anywhere: the SSE spec allows LF, CRLF and CR line ends, and a CRLF cut between
// two chunks (a proxy's, or a server's chunking at an unlucky byte) is still one line end.

const EXPECTED: SseEvent[] = [
  { event: 'meta', data: '{"executionId":"exec_1"}' },
  { event: 'message', data: 'first line\nsecond line' },
  { event: 'delta', data: 'naïve — 日本語 🙂' },
  { event: 'message', data: '' },
  { event: 'done', data: '{"status":"completed"}' },
]

/** The same events written with `eol` as every line end (a comment and a heartbeat between them). */
function stream(eol: string): Uint8Array {
  const lines = [
    ': heartbeat', '',
    'event: meta', 'data: {"executionId":"exec_1"}', '',
    'data: first line', 'data:second line', '',
    ': comment inside', 'event: delta', 'data: naïve — 日本語 🙂', '',
    'data', '',
    'event: done', 'data: {"status":"completed"}', '', '',
  ]
  return new TextEncoder().encode(lines.join(eol))
}

function body(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const chunk of chunks) c.enqueue(chunk)
      c.close()
    },
  })
}

async function events(chunks: Uint8Array[]): Promise<SseEvent[]> {
  const out: SseEvent[] = []
  for await (const ev of readSse(body(chunks))) out.push(ev)
  return out
}

describe('readSse', () => {
  for (const [name, eol] of [['LF', '\n'], ['CRLF', '\r\n'], ['CR', '\r']] as const) {
    test(`${name}: the same events whole, split at every byte offset, and one byte a chunk`, async () => {
      const bytes = stream(eol)
      expect(await events([bytes])).toEqual(EXPECTED)
      const wrong: number[] = []
      for (let i = 1; i < bytes.length; i++) {
        const got = await events([bytes.slice(0, i), bytes.slice(i)])
        if (!Bun.deepEquals(got, EXPECTED)) wrong.push(i)
      }
      expect(wrong).toEqual([])
      expect(await events(Array.from(bytes, (b) => Uint8Array.of(b)))).toEqual(EXPECTED)
    })
  }

  test('a large event in small chunks takes time in proportion to its size (it was the square: 8 MB 2.7 s)', async () => {
    // 24 MB of one data line in 4 KB chunks, as a proxy may pass an execution's large result on:
    // each chunk searched and flattened everything before it (24 MB: 48 s measured); now ~0.1 s.
    const enc = new TextEncoder()
    const piece = enc.encode('x'.repeat(4096))
    const n = 6 * 1024
    let i = -1
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i < 0) c.enqueue(enc.encode('event: result\r\ndata: '))
        else if (i < n) c.enqueue(piece)
        else {
          c.enqueue(enc.encode('\r\n\r\nevent: done\r\ndata: {}\r\n\r\n'))
          c.close()
        }
        i++
      },
    })
    const started = performance.now()
    const got: SseEvent[] = []
    for await (const ev of readSse(body)) got.push(ev)
    const ms = performance.now() - started
    expect(got.map((e) => [e.event, e.data.length])).toEqual([['result', n * 4096], ['done', 2]])
    // An order of magnitude: tens of seconds before, well under a second now.
    expect(ms).toBeLessThan(5_000)
  })

  test('a CRLF cut between chunks, with an empty chunk between the halves, is one line end', async () => {
    const enc = new TextEncoder()
    const got = await events([enc.encode('event: delta\r'), new Uint8Array(0), enc.encode('\ndata: x\r'), enc.encode('\n\r\n')])
    expect(got).toEqual([{ event: 'delta', data: 'x' }])
  })
})

describe('one event is bounded (a server or proxy that never ends one)', () => {
  const enc = new TextEncoder()
  /** The events of `chunks` read with a limit of `limit` characters, and the error that ended them, if any. */
  async function bounded(chunks: string[], limit: number) {
    const out: SseEvent[] = []
    try {
      for await (const ev of readSse(body(chunks.map((c) => enc.encode(c))), undefined, limit)) out.push(ev)
      return { out, error: undefined }
    } catch (e) {
      return { out, error: e }
    }
  }
  test('a line without end, lines without a blank one, or a chunk that ends an event and brings more of the next: SseEventTooLarge past the limit', async () => {
    for (const chunks of [['data: ', 'x'.repeat(60), 'x'.repeat(60)], ['data: a\n'.repeat(10), 'data: b\n'.repeat(10)], [': c\n'.repeat(30)], ['data: 1\n\ndata: ' + 'y'.repeat(120)]]) {
      const r = await bounded(chunks, 100)
      expect(r.error).toBeInstanceOf(SseEventTooLarge)
      expect((r.error as Error).message).toBe('one stream event passed 100 characters without ending')
    }
    // The event before the large one was read.
    expect((await bounded(['data: 1\n\ndata: ' + 'y'.repeat(120)], 100)).out).toEqual([{ event: 'message', data: '1' }])
  })
  test('events up to the limit, however many, pass', async () => {
    const ev = `data: ${'z'.repeat(92)}\n\n`
    expect(ev.length).toBe(100)
    const r = await bounded([ev.repeat(50), ev.slice(0, 40), ev.slice(40)], 100)
    expect(r.error).toBeUndefined()
    expect(r.out.length).toBe(51)
  })
  test("a client's limit is README's: 64 Mi characters", () => {
    expect(MAX_SSE_EVENT_CHARS).toBe(67_108_864)
  })
})

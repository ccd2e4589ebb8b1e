/**
 * A list page read over a raw socket, as a client that stops reading reads it (the large pages
 * sent as they are read: src/http/streamed-json.ts): test/streamed-json-failures.test.ts and
 * test/lists-large-page.test.ts. fetch cannot stop reading at the socket (it buffers what comes),
 * nor show how a body ended (its last chunk, a reset).
 */
import net from 'node:net'

export interface RawGet {
  socket: net.Socket
  /** Every piece received, in order. */
  received: Buffer[]
  /** The first bytes came (the server has answered); the socket is paused when `pause` was asked. */
  answered: Promise<void>
  /** How the connection ended: 'reset' (ECONNRESET), 'end' (the server's FIN), or `error <message>`. */
  ended: Promise<string>
}

/**
 * GET `path` from 127.0.0.1:`port` over a new connection (HTTP/1.1, Connection: close, the bearer
 * `token`, `headers`). `pause`: the client reads nothing after the first bytes (the server can
 * send no more than the kernel buffers) until `socket.resume()`.
 */
export function rawGet(port: number, path: string, token: string, o: { headers?: Record<string, string>; pause?: boolean } = {}): RawGet {
  const extra = Object.entries(o.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  const socket = net.createConnection({ host: '127.0.0.1', port })
  const received: Buffer[] = []
  const ended = new Promise<string>((ok) => {
    socket.once('error', (e) => ok((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? 'reset' : `error ${e.message}`))
    socket.once('end', () => ok('end'))
  })
  const answered = new Promise<void>((ok) =>
    socket.on('data', (d) => {
      received.push(d as Buffer)
      if (received.length > 1) return
      if (o.pause) socket.pause()
      ok()
    }),
  )
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n${extra}\r\n`)
  return { socket, received, answered, ended }
}

export interface PausedRead {
  /** How the connection ended (RawGet.ended), or 'still open after 30 s'. */
  how: string
  raw: Buffer
  /** Whether the chunked body ended with its last chunk, as a complete answer does. */
  terminated: boolean
}

/**
 * GET `path` as a client that pauses once the first bytes came: `meanwhile` runs, then it reads
 * to the end (30 s at most).
 */
export async function readPaused(port: number, path: string, token: string, o: { headers?: Record<string, string>; meanwhile?: () => Promise<unknown> } = {}): Promise<PausedRead> {
  const r = rawGet(port, path, token, { headers: o.headers, pause: true })
  try {
    await r.answered
    await o.meanwhile?.()
    r.socket.resume()
    const how = await Promise.race([r.ended, Bun.sleep(30_000).then(() => 'still open after 30 s')])
    const raw = Buffer.concat(r.received)
    return { how, raw, terminated: raw.subarray(-5).toString('latin1') === '0\r\n\r\n' }
  } finally {
    r.socket.destroy()
  }
}

/** The body of a whole HTTP/1.1 200 response (chunked, or of a Content-Length). */
export function bodyOf(raw: Buffer): Buffer {
  let at = raw.indexOf('\r\n\r\n') + 4
  const head = raw.subarray(0, at).toString()
  if (!head.startsWith('HTTP/1.1 200')) throw new Error(`not a 200: ${head.slice(0, 200)}`)
  if (!head.toLowerCase().includes('transfer-encoding: chunked')) return raw.subarray(at)
  const parts: Buffer[] = []
  for (;;) {
    const eol = raw.indexOf('\r\n', at)
    const size = parseInt(raw.subarray(at, eol).toString(), 16)
    if (size === 0) return Buffer.concat(parts)
    parts.push(raw.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
}

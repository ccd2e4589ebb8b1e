import { AppError } from '../errors'

/**
 * The bytes of request bodies still arriving, held in memory, bounded per sender and in all.
 *
 * A body larger than 64 KiB is read a chunk at a time and may take as long as it keeps coming
 * (src/http/body.ts, src/http/listen.ts): a byte every 29 s keeps its connection. Its chunks are
 * held until it ends. Unbounded, one token (a viewer's will do) held ~1 MiB per connection for
 * hours: 200 connections that sent all but the last 4 KiB of a 1 MiB task and then a byte every
 * 20 s took the binary from 81 to 309 MB RSS (docs/performance.md), and nothing but the
 * descriptor limit stopped more. So each sender (an authenticated request's user, else its
 * client address) may hold at most `perSender` bytes of bodies still coming in, all senders
 * together `totalBytes`, and one sender may have at most `streamsPerSender` such bodies arriving
 * at once. A chunk past any bound is refused, 429 `rate_limited` (the sender's: its other uploads
 * end first) or 503 `service_unavailable` (the server's), and the body is left unread. Bodies that
 * arrive at a normal pace are held a moment each and never meet a bound.
 */
export const BODY_BYTES_PER_SENDER = 16 * 1024 * 1024
export const BODY_BYTES_TOTAL = 128 * 1024 * 1024
/**
 * Bodies read a chunk at a time that one sender may have arriving at once. The bytes alone do not
 * bound the connections: a body sent a byte every 29 s holds a connection (a descriptor and Bun's
 * buffers) while holding almost no bytes, and a token's rate limit lets it open thousands.
 */
export const BODY_STREAMS_PER_SENDER = 32

interface Held {
  sender: string
  bytes: number
  /** Whether a chunk of it came (it counts among its sender's bodies arriving). */
  streaming: boolean
}

export class IncomingBodies {
  private readonly bySender = new Map<string, number>()
  private readonly streamsBySender = new Map<string, number>()
  private total = 0
  private readonly held = new WeakMap<Request, Held>()

  constructor(
    readonly perSender = BODY_BYTES_PER_SENDER,
    readonly totalBytes = BODY_BYTES_TOTAL,
    readonly streamsPerSender = BODY_STREAMS_PER_SENDER,
  ) {}

  /** The request's body starts counting for `sender`; the function returned gives back what it held (call it once the body is read or refused). */
  begin(request: Request, sender: string): () => void {
    const h: Held = { sender, bytes: 0, streaming: false }
    this.held.set(request, h)
    return () => {
      if (this.held.get(request) !== h) return
      this.held.delete(request)
      this.release(h)
    }
  }

  /** `n` more bytes of `request`'s body arrived and are kept: throws (AppError) when its sender or the server holds too much. */
  arrived(request: Request, n: number): void {
    const h = this.held.get(request)
    if (h === undefined) return
    if (!h.streaming) {
      const streams = (this.streamsBySender.get(h.sender) ?? 0) + 1
      if (streams > this.streamsPerSender) throw senderRefused(`more than ${this.streamsPerSender} request bodies from this sender are still arriving`)
      this.streamsBySender.set(h.sender, streams)
      h.streaming = true
    }
    const mine = (this.bySender.get(h.sender) ?? 0) + n
    if (mine > this.perSender) {
      throw senderRefused(`request bodies from this sender still arriving hold more than ${this.perSender} bytes of the server's memory`)
    }
    if (this.total + n > this.totalBytes) {
      throw new AppError('service_unavailable', 'Service unavailable: too many request bodies are arriving at once; retry in a few seconds', { headers: { 'retry-after': '5', connection: 'close' } })
    }
    this.bySender.set(h.sender, mine)
    this.total += n
    h.bytes += n
  }

  /** Bytes held in all, and by `sender` (0 when none). */
  holding(sender?: string): number {
    return sender === undefined ? this.total : (this.bySender.get(sender) ?? 0)
  }

  /** How many senders have bodies arriving now (an entry exists only while one of theirs is). */
  get senders(): number {
    return Math.max(this.bySender.size, this.streamsBySender.size)
  }

  /** Bodies of `sender` arriving a chunk at a time now. */
  streams(sender: string): number {
    return this.streamsBySender.get(sender) ?? 0
  }

  private release(h: Held): void {
    if (h.streaming) {
      h.streaming = false
      const left = (this.streamsBySender.get(h.sender) ?? 0) - 1
      if (left <= 0) this.streamsBySender.delete(h.sender)
      else this.streamsBySender.set(h.sender, left)
    }
    if (h.bytes === 0) return
    this.total -= h.bytes
    const left = (this.bySender.get(h.sender) ?? 0) - h.bytes
    if (left <= 0) this.bySender.delete(h.sender)
    else this.bySender.set(h.sender, left)
    h.bytes = 0
  }
}

function senderRefused(why: string): AppError {
  // Connection: close: the refused body is never read, and a client still sending it kept its
  // connection (Bun reads and drops the rest) for as long as it went on.
  return new AppError('rate_limited', `Rate limit exceeded: ${why}; wait for your other uploads to finish (send bodies at a steady pace), then retry`, { headers: { 'retry-after': '5', connection: 'close' } })
}

/** The app's IncomingBodies, per request (set by begin's caller in src/app.ts), for the readers that see chunks. */
const owners = new WeakMap<Request, IncomingBodies>()

/** Counts `request`'s body against `bodies` (sender: a user id or a client address) until the function returned is called. */
export function countBody(bodies: IncomingBodies, request: Request, sender: string): () => void {
  owners.set(request, bodies)
  const end = bodies.begin(request, sender)
  return () => {
    owners.delete(request)
    end()
  }
}

/**
 * A chunk of `n` bytes of `request`'s body, read by `reader`, is kept (src/http/body.ts,
 * src/http/guards.ts): past a bound (IncomingBodies.arrived) the reader is cancelled, not awaited
 * (the client may never send the rest; its connection is let go with the answer), and it throws.
 */
export function bodyChunkKept(request: Request, n: number, reader: { cancel(): Promise<void> }): void {
  try {
    owners.get(request)?.arrived(request, n)
  } catch (e) {
    reader.cancel().catch(() => {})
    throw e
  }
}

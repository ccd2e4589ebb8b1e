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
 * client address) may hold at most `perSender` bytes of bodies still coming in, and all senders
 * together `total`: a chunk past either is refused, 429 `rate_limited` (the sender's share: its
 * own other uploads end first) or 503 `service_unavailable` (the server's), and the body's
 * connection is let go. Bodies that arrive at a normal pace are held a moment each and never meet
 * either bound.
 */
export const BODY_BYTES_PER_SENDER = 16 * 1024 * 1024
export const BODY_BYTES_TOTAL = 128 * 1024 * 1024

interface Held {
  sender: string
  bytes: number
}

export class IncomingBodies {
  private readonly bySender = new Map<string, number>()
  private total = 0
  private readonly held = new WeakMap<Request, Held>()

  constructor(
    readonly perSender = BODY_BYTES_PER_SENDER,
    readonly totalBytes = BODY_BYTES_TOTAL,
  ) {}

  /** The request's body starts counting for `sender`; the function returned gives back what it held (call it once the body is read or refused). */
  begin(request: Request, sender: string): () => void {
    const h: Held = { sender, bytes: 0 }
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
    const mine = (this.bySender.get(h.sender) ?? 0) + n
    if (mine > this.perSender) {
      throw new AppError(
        'rate_limited',
        `Rate limit exceeded: request bodies from this sender still arriving hold more than ${this.perSender} bytes of the server's memory; wait for your other uploads to finish (send bodies at a steady pace), then retry`,
        { headers: { 'retry-after': '5' } },
      )
    }
    if (this.total + n > this.totalBytes) {
      throw new AppError('service_unavailable', 'Service unavailable: too many request bodies are arriving at once; retry in a few seconds')
    }
    this.bySender.set(h.sender, mine)
    this.total += n
    h.bytes += n
  }

  /** Bytes held in all, and by `sender` (0 when none). */
  holding(sender?: string): number {
    return sender === undefined ? this.total : (this.bySender.get(sender) ?? 0)
  }

  /** How many senders hold bytes now (an entry exists only while a body of theirs is arriving). */
  get senders(): number {
    return this.bySender.size
  }

  private release(h: Held): void {
    if (h.bytes === 0) return
    this.total -= h.bytes
    const left = (this.bySender.get(h.sender) ?? 0) - h.bytes
    if (left <= 0) this.bySender.delete(h.sender)
    else this.bySender.set(h.sender, left)
    h.bytes = 0
  }
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

/** A chunk of `n` bytes of `request`'s body is kept (src/http/body.ts, src/http/guards.ts): throws past a bound (IncomingBodies.arrived). */
export function bodyChunkKept(request: Request, n: number): void {
  owners.get(request)?.arrived(request, n)
}

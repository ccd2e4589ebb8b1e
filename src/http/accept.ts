/**
 * Whether an Accept header asks for Server-Sent Events over JSON (RFC 9110 §12.5.1): media types
 * compared without case, each with its weight (`q`, 1 when absent). `text/event-stream` must be
 * named (a wildcard is a client that takes JSON) with q > 0, and weigh at least as much as JSON
 * does (`application/json`, `application/*` or the wildcard of all types); on a tie the named stream wins, as a client
 * that lists both asked for it. `text/event-stream;q=0` is a refusal, not a request.
 */
export function prefersEventStream(accept: string | null): boolean {
  if (!accept) return false
  let stream = -1
  let json = -1
  for (const part of accept.split(',')) {
    const semi = part.indexOf(';')
    const type = (semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase()
    if (type !== 'text/event-stream' && type !== 'application/json' && type !== 'application/*' && type !== '*/*') continue
    let q = 1
    if (semi >= 0) {
      const m = /(?:^|;)\s*q\s*=\s*([0-9.]+)\s*(?:;|$)/i.exec(part.slice(semi))
      if (m) q = Number(m[1])
      if (!Number.isFinite(q)) q = 0
    }
    if (type === 'text/event-stream') stream = Math.max(stream, q)
    else json = Math.max(json, q)
  }
  return stream > 0 && stream >= json
}

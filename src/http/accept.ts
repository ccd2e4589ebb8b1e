/**
 * Calls `each` with every entry of an Accept-style header (Accept, Accept-Encoding; RFC 9110
 * §12.4.2), in the order sent: its name lower-cased and its weight, `q` (1 when absent or not
 * written with digits, which is ignored; 0 for digits that make no number, `1.2.3`). No array is
 * built: Accept-Encoding is read on every compressible response.
 */
export function eachWeighted(header: string, each: (name: string, q: number) => void): void {
  for (const part of header.split(',')) {
    const semi = part.indexOf(';')
    const name = (semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase()
    if (name === '') continue
    let q = 1
    if (semi >= 0) {
      const m = /(?:^|;)\s*q\s*=\s*([^;]*)/i.exec(part.slice(semi))
      if (m && /^\s*[0-9.]+\s*$/.test(m[1]!)) q = Number(m[1])
      if (!Number.isFinite(q)) q = 0
    }
    each(name, q)
  }
}

/**
 * Whether an Accept header asks for Server-Sent Events over JSON (RFC 9110 §12.5.1): media types
 * compared without case, each with its weight. `text/event-stream` must be named (a wildcard is a
 * client that takes JSON) with q > 0, and weigh at least as much as JSON does (`application/json`,
 * `application/*` or the wildcard of all types); on a tie the named stream wins, as a client that
 * lists both asked for it. `text/event-stream;q=0` is a refusal, not a request.
 */
export function prefersEventStream(accept: string | null): boolean {
  if (!accept) return false
  let stream = -1
  let json = -1
  eachWeighted(accept, (name, q) => {
    if (name === 'text/event-stream') stream = Math.max(stream, q)
    else if (name === 'application/json' || name === 'application/*' || name === '*/*') json = Math.max(json, q)
  })
  return stream > 0 && stream >= json
}

/**
 * Whether an Accept header asks for an HTML page over JSON: `text/html` (or
 * `application/xhtml+xml`) named with q > 0 and weighing more than JSON does (`application/json`,
 * `application/*` or the wildcard of all types). A browser's navigation (`text/html,…,*\/*;q=0.8`)
 * does; no Accept, `*\/*`, or a client that names JSON as high as HTML keeps JSON, the API's answer.
 */
export function prefersHtml(accept: string | null): boolean {
  if (!accept) return false
  let html = -1
  let json = -1
  eachWeighted(accept, (name, q) => {
    if (name === 'text/html' || name === 'application/xhtml+xml') html = Math.max(html, q)
    else if (name === 'application/json' || name === 'application/*' || name === '*/*') json = Math.max(json, q)
  })
  return html > 0 && html > json
}

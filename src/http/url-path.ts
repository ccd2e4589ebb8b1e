/**
 * Where the path of a request URL starts: after `scheme://host[:port]`, or at 0 for a relative
 * URL (`/api/health`: Bun's for a request without a usable Host, until src/http/listen.ts gives it
 * an origin); -1 when it has none.
 */
export function pathStart(url: string): number {
  if (url.charCodeAt(0) === 47) return 0
  return url.indexOf('/', url.indexOf('//') + 2)
}

/**
 * A percent-escape of an unreserved character (RFC 3986 §2.3: A-Z a-z 0-9 - _ ~), but for `.`:
 * decoding `%2E` could make a `.` or `..` segment of one that was none.
 */
const UNRESERVED_ESCAPE = /%(?:3[0-9]|[46][1-9A-Fa-f]|[57][0-9Aa]|2[Dd]|5[Ff]|7[Ee])/g

/**
 * `url` with the escapes of unreserved characters in its path decoded (RFC 3986 §6.2.2.2: such
 * URIs are equivalent, and normalizers should decode them). The router matches fixed segments as
 * sent, and decodes parameters: `/api/v1/tokens/%73elf` was the token with the id "self" (404
 * "Token self not found") where `/api/v1/tokens/self` is the caller's token, and
 * `/api/v1/%74okens` no route at all. Other escapes stay (`%2F` is no separator: a parameter
 * holding it names nothing, 404), and so does the query. The same string when there is nothing
 * to decode (one indexOf for a path without `%`).
 */
export function unreservedDecoded(url: string): string {
  const start = pathStart(url)
  if (start < 0) return url
  const percent = url.indexOf('%', start)
  if (percent < 0) return url
  const query = url.indexOf('?', start)
  const end = query < 0 ? url.length : query
  if (percent > end) return url
  const path = url.slice(start, end).replace(UNRESERVED_ESCAPE, (e) => String.fromCharCode(parseInt(e.slice(1), 16)))
  return url.slice(0, start) + path + url.slice(end)
}

/** Routes `request` by its path with unreserved characters decoded (unreservedDecoded); the same request object. */
export function routeByDecodedPath(request: Request): void {
  const url = request.url
  const decoded = unreservedDecoded(url)
  if (decoded !== url) Object.defineProperty(request, 'url', { value: decoded, configurable: true })
}

/**
 * The first `name=value` pair of a query or a form body (`&`-separated) whose name or value is
 * not valid percent-encoding (`%ZZ`, a lone `%`, a cut UTF-8 sequence): its name as sent, and
 * decoded (`+` a space; null when the name itself is what does not decode). Null when every pair
 * decodes.
 */
export function firstUndecodablePair(text: string): { name: string; decodedName: string | null } | null {
  for (const pair of text.split('&')) {
    if (!pair.includes('%')) continue
    const eq = pair.indexOf('=')
    const name = eq < 0 ? pair : pair.slice(0, eq)
    const decodedName = decodedOrNull(name)
    if (decodedName === null || decodedOrNull(eq < 0 ? '' : pair.slice(eq + 1)) === null) return { name, decodedName }
  }
  return null
}

function decodedOrNull(text: string): string | null {
  try {
    return decodeURIComponent(text.replaceAll('+', ' '))
  } catch {
    return null
  }
}

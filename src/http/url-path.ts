/**
 * Where the path of a request URL starts: after `scheme://host[:port]`, or at 0 for a relative
 * URL (`/api/health`: Bun's for a request without a usable Host, until src/http/listen.ts gives it
 * an origin); -1 when it has none.
 */
export function pathStart(url: string): number {
  if (url.charCodeAt(0) === 47) return 0
  return url.indexOf('/', url.indexOf('//') + 2)
}

import { parseIp } from './ip'

const NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$/
/** A last label the URL parser reads as a number (decimal, or 0x hex): the name is then an IPv4 address or nothing. */
const NUMERIC_LABEL = /(?:^|\.)(?:\d+|0x[0-9a-f]*)\.?$/i

/**
 * Whether a Host header (or X-Forwarded-Host) is a host as RFC 9110 §7.2 has it, `host[:port]`:
 * a DNS name (letters, digits, `-`, `_`, dots; a trailing dot allowed), a dotted-quad IPv4
 * address, or an IPv6 address in brackets; a port of 1-5 digits up to 65535. Not a path, a
 * user, a list (two Host headers arrive joined, `a, b`), percent-escapes, an empty value, or
 * a name ending in a number that is no IPv4 address (`1.2.3.4.5`). This is what the server
 * builds links from (the console's, the CLI sign-in URL, Swagger's `servers`); RFC 9112 §3.2
 * has any other value refused with 400, as nginx does.
 */
export function validHost(value: string): boolean {
  if (value.length === 0 || value.length > 261) return false
  let name = value
  let port: string | null = null
  if (value.startsWith('[')) {
    const end = value.indexOf(']')
    if (end < 0) return false
    name = value.slice(0, end + 1)
    const rest = value.slice(end + 1)
    if (rest !== '') {
      if (!rest.startsWith(':')) return false
      port = rest.slice(1)
    }
    const inner = name.slice(1, -1)
    if (!inner.includes(':') || inner.includes('%') || parseIp(inner) === null) return false
  } else {
    const colon = value.lastIndexOf(':')
    if (colon >= 0) {
      name = value.slice(0, colon)
      port = value.slice(colon + 1)
    }
    if (name.length > 253 || !NAME.test(name)) return false
    if (NUMERIC_LABEL.test(name) && parseIp(name.endsWith('.') ? name.slice(0, -1) : name) === null) return false
  }
  return port === null || (/^\d{1,5}$/.test(port) && Number(port) <= 65535)
}

/**
 * Where a browser reaches this server, for links (the console's, the CLI sign-in's authUrl):
 * TEAMDAY_PUBLIC_URL when set, else the scheme the client used (`https` also when a trusted
 * proxy says so in X-Forwarded-Proto: `isHttps`) and the Host it sent (checked by the request
 * guard: src/http/guards.ts), or the request URL's host without one (HTTP/1.0).
 */
export function browserBase(publicUrl: string | undefined, isHttps: (request: Request) => boolean, request: Request): string {
  return publicUrl ?? `${isHttps(request) ? 'https' : 'http'}://${request.headers.get('host') ?? new URL(request.url).host}`
}

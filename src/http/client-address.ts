import { cidrContains, formatIp, parseCidr, parseForwardedIp, parseIp, type Cidr } from './ip'

/** Names for common ranges in TEAMDAY_TRUSTED_PROXIES. */
const NAMED: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
}

/**
 * Parses the trusted proxy list (addresses, CIDRs, `loopback`, `private`), or names the first
 * entry that is none of those.
 */
export function compileTrustedProxies(list: readonly string[]): { ranges: Cidr[] } | { invalid: string } {
  const ranges: Cidr[] = []
  for (const raw of list) {
    const entry = raw.trim()
    for (const s of NAMED[entry.toLowerCase()] ?? [entry]) {
      const c = parseCidr(s)
      if (!c) return { invalid: entry }
      ranges.push(c)
    }
  }
  return { ranges }
}

export interface ProxyTrust {
  /** The nearest N hops (the socket peer is the first) are proxies, whatever their address. */
  trustedProxyHops: number
  /** Hops whose address is in one of these ranges are proxies. */
  trustedProxies: readonly string[]
}

/** The socket peer's address of a request (Bun's server.requestIP; injected in-process). */
export type PeerAddress = (request: Request) => string | null

/**
 * The client address of a request: the socket peer's, unless the peer is a trusted proxy; then
 * X-Forwarded-For is read from the right (each proxy appends the address it received from) and
 * the first hop that is not a trusted proxy is the client. Entries left of it were written by
 * the client or by hosts nobody vouches for, so they are never read. When every hop is trusted,
 * the leftmost is taken; an entry that is not an IP address ends the walk at the hop that
 * passed it on. X-Real-IP is not read (a proxy that only sets it cannot be told from a client
 * that sends it). Addresses come back canonical (IPv4-mapped IPv6 as IPv4).
 */
export function clientAddressResolver(trust: ProxyTrust, peerAddress: PeerAddress): (request: Request) => string | null {
  const compiled = compileTrustedProxies(trust.trustedProxies)
  if ('invalid' in compiled) throw new Error(`invalid trusted proxy "${compiled.invalid}"`)
  const { ranges } = compiled
  const hops = trust.trustedProxyHops
  const trusted = (hop: number, ip: Uint8Array) => hop < hops || ranges.some((c) => cidrContains(c, ip))
  const resolve = (request: Request): string | null => {
    const raw = peerAddress(request)
    const peer = raw ? parsePeer(raw) : null
    if (!peer) return null
    if (!trusted(0, peer.bytes)) return peer.text
    const xff = request.headers.get('x-forwarded-for')
    if (!xff) return peer.text
    const entries = xff.split(',')
    let last = peer.bytes
    for (let i = entries.length - 1, hop = 1; i >= 0; i--, hop++) {
      const ip = parseForwardedIp(entries[i]!)
      if (!ip) break
      if (!trusted(hop, ip)) return formatIp(ip)
      last = ip
    }
    return formatIp(last)
  }
  // Once per request: the access log, the rate limiter, the audit trail and the auth-failure
  // line all ask, and asking the socket is a system call (getpeername) on Bun.
  return (request) => {
    const noted = (request as Memo)[ADDRESS]
    if (noted !== undefined) return noted
    return ((request as Memo)[ADDRESS] = resolve(request))
  }
}

const ADDRESS = Symbol('teamday.clientAddress')
type Memo = Request & { [ADDRESS]?: string | null }

/**
 * Socket peers come back as the same few strings (a proxy, a handful of clients): each is
 * parsed and printed once. Bounded: past PEERS_MAX distinct peers the table starts over.
 */
const PEERS_MAX = 4096
const peers = new Map<string, { bytes: Uint8Array; text: string } | null>()
function parsePeer(raw: string): { bytes: Uint8Array; text: string } | null {
  let p = peers.get(raw)
  if (p === undefined) {
    const bytes = parseIp(raw)
    p = bytes ? { bytes, text: formatIp(bytes) } : null
    if (peers.size >= PEERS_MAX) peers.clear()
    peers.set(raw, p)
  }
  return p
}

/**
 * Whether a request came over HTTPS: directly (the request URL is https), or through a trusted
 * proxy (the socket peer is one, by address or hop count) that says so in X-Forwarded-Proto
 * (its first entry: the proxy nearest the client writes it). A client's own X-Forwarded-Proto
 * is never read.
 */
export function httpsResolver(trust: ProxyTrust, peerAddress: PeerAddress): (request: Request) => boolean {
  const compiled = compileTrustedProxies(trust.trustedProxies)
  if ('invalid' in compiled) throw new Error(`invalid trusted proxy "${compiled.invalid}"`)
  const { ranges } = compiled
  return (request) => {
    if (request.url.startsWith('https:')) return true
    const proto = request.headers.get('x-forwarded-proto')
    if (!proto) return false
    const raw = peerAddress(request)
    const peer = raw ? parseIp(raw) : null
    if (!peer || !(trust.trustedProxyHops > 0 || ranges.some((c) => cidrContains(c, peer)))) return false
    return proto.split(',')[0]!.trim().toLowerCase() === 'https'
  }
}

/** 127.0.0.0/8, ::1 (and IPv4-mapped loopback). */
export function isLoopback(address: string | null): boolean {
  const ip = address ? parseIp(address) : null
  if (!ip) return false
  return ip.length === 4 ? ip[0] === 127 : ip.every((b, i) => b === (i === 15 ? 1 : 0))
}

const LOCAL_NETWORK = [...NAMED.loopback!, ...NAMED.private!].map((c) => parseCidr(c)!)

/** Loopback or a private range (10/8, 172.16/12, 192.168/16, fc00::/7): an address of this machine or its own network. */
export function isLocalNetwork(address: string | null): boolean {
  const ip = address ? parseForwardedIp(address) : null
  return ip !== null && LOCAL_NETWORK.some((c) => cidrContains(c, ip))
}

/**
 * Every client address the request's forwarding headers name (X-Forwarded-For's entries,
 * Forwarded's `for=`, X-Real-IP, True-Client-IP, CF-Connecting-IP), as sent; `'unknown'` for one
 * that is not an address (`for=unknown`, an obfuscated `_hidden`). Empty when none names one.
 */
export function forwardedAddresses(request: Request): string[] {
  const out: string[] = []
  for (const name of ['x-forwarded-for', 'x-real-ip', 'true-client-ip', 'cf-connecting-ip']) {
    const v = request.headers.get(name)
    if (v !== null) for (const e of v.split(',')) out.push(parseForwardedIp(e) ? e.trim() : 'unknown')
  }
  const fwd = request.headers.get('forwarded')
  if (fwd !== null) {
    for (const m of fwd.matchAll(/(?:^|[;,\s])for\s*=\s*("[^"]*"|[^;,\s]*)/gi)) {
      const e = m[1]!.replace(/^"|"$/g, '')
      out.push(parseForwardedIp(e) ? e : 'unknown')
    }
  }
  return out
}

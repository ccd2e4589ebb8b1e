/**
 * IP addresses and CIDR ranges, for deciding which hops of X-Forwarded-For to trust. Addresses
 * are parsed to bytes (4 for IPv4, 16 for IPv6); an IPv4-mapped IPv6 address (::ffff:a.b.c.d,
 * what a dual-stack socket reports for an IPv4 peer) is treated as the IPv4 address it maps,
 * so `10.0.0.0/8` matches `::ffff:10.1.2.3` and both print as `10.1.2.3`.
 */

export interface Cidr {
  /** The network address, 4 or 16 bytes, host bits cleared. */
  bytes: Uint8Array
  prefix: number
}

const V4_PART = /^(0|[1-9][0-9]{0,2})$/
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/

function parseV4(s: string): Uint8Array | null {
  const parts = s.split('.')
  if (parts.length !== 4) return null
  const out = new Uint8Array(4)
  for (let i = 0; i < 4; i++) {
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    if (!V4_PART.test(parts[i]!)) return null
    const n = Number(parts[i])
    if (n > 255) return null
    out[i] = n
  }
  return out
}

function parseV6(s: string): Uint8Array | null {
  const zone = s.indexOf('%')
  if (zone !== -1) s = s.slice(0, zone) // fe80::1%eth0: the zone names an interface, not a host
  const halves = s.split('::')
  if (halves.length > 2) return null
  const groups = (h: string) => (h === '' ? [] : h.split(':'))
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  const words: number[] = []
  // An embedded IPv4 address may end the address (::ffff:1.2.3.4, 64:ff9b::1.2.3.4).
  const last = halves.length === 2 ? tail : head
  let v4: Uint8Array | null = null
  if (last.length > 0 && last[last.length - 1]!.includes('.')) {
    v4 = parseV4(last.pop()!)
    if (!v4) return null
  }
  for (const g of [...head, ...tail]) if (!V6_GROUP.test(g)) return null
  const given = head.length + tail.length + (v4 ? 2 : 0)
  if (halves.length === 1 ? given !== 8 : given > 7) return null
  for (const g of head) words.push(parseInt(g, 16))
  for (let i = given; i < 8; i++) words.push(0)
  for (const g of tail) words.push(parseInt(g, 16))
  const out = new Uint8Array(16)
  words.forEach((w, i) => {
    out[2 * i] = w >> 8
    out[2 * i + 1] = w & 0xff
  })
  if (v4) out.set(v4, 12)
  return out
}

/** An IPv4-mapped IPv6 address (::ffff:0:0/96) as its IPv4 address; anything else unchanged. */
export function unmapV4(b: Uint8Array): Uint8Array {
  if (b.length !== 16 || b[10] !== 0xff || b[11] !== 0xff) return b
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return b
  return b.slice(12)
}

/** Parses an IPv4 or IPv6 address (no port, no brackets); null when it is not one. */
export function parseIp(s: string): Uint8Array | null {
  if (s.length === 0 || s.length > 64) return null
  const b = s.includes(':') ? parseV6(s) : parseV4(s)
  return b && unmapV4(b)
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, the longest zero run as ::). */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return b.join('.')
  const words: number[] = []
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!)
  let best = -1
  let bestLen = 1 // a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLen) [best, bestLen] = [i, j - i]
    i = j
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':')
  if (best === -1) return hex(words)
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`
}

/** An address as it may appear in X-Forwarded-For: bare, `1.2.3.4:port` or `[v6]:port`. */
export function parseForwardedIp(entry: string): Uint8Array | null {
  let s = entry.trim()
  if (s.startsWith('[')) {
    const end = s.indexOf(']')
    if (end === -1) return null
    s = s.slice(1, end)
  } else if (s.indexOf(':') !== -1 && s.indexOf(':') === s.lastIndexOf(':') && s.includes('.')) {
    s = s.slice(0, s.indexOf(':')) // IPv4 with a port
  }
  return parseIp(s)
}

/** `10.0.0.0/8`, `2001:db8::/32`, or a single address (a /32 or /128). Null when invalid. */
export function parseCidr(s: string): Cidr | null {
  const slash = s.indexOf('/')
  const addr = slash === -1 ? s : s.slice(0, slash)
  const raw = addr.includes(':') ? parseV6(addr) : parseV4(addr)
  if (!raw) return null
  const bits = raw.length * 8
  let prefix = bits
  if (slash !== -1) {
    const p = s.slice(slash + 1)
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > bits) return null
    prefix = Number(p)
  }
  let bytes = raw
  // ::ffff:10.0.0.0/104 is 10.0.0.0/8: compare IPv4 peers however the socket reports them.
  const mapped = unmapV4(raw)
  if (mapped !== raw && prefix >= 96) {
    bytes = mapped
    prefix -= 96
  }
  return { bytes: mask(bytes, prefix), prefix }
}

function mask(b: Uint8Array, prefix: number): Uint8Array {
  const out = b.slice()
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i))
    out[i]! &= (0xff << (8 - keep)) & 0xff
  }
  return out
}

/** Whether the (already unmapped) address lies in the range. IPv4 never matches an IPv6 range. */
export function cidrContains(c: Cidr, ip: Uint8Array): boolean {
  if (c.bytes.length !== ip.length) return false
  let left = c.prefix
  for (let i = 0; left > 0; i++, left -= 8) {
    const m = left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff
    if ((ip[i]! & m) !== c.bytes[i]) return false
  }
  return true
}

/**
 * What a per-address limit counts an address as: an IPv4 address itself (a mapped one too), an
 * IPv6 address by its /64 (the prefix one subscriber gets: a single host may use any of its 2^64
 * addresses, and counting each apart let one client past every per-IP limit); anything
 * unparseable as it is.
 */
export function ipBucket(ip: string): string {
  const b = parseIp(ip)
  if (b === null) return ip
  if (b.length === 4) return formatIp(b)
  const prefix = new Uint8Array(16)
  prefix.set(b.subarray(0, 8))
  return `${formatIp(prefix)}/64`
}

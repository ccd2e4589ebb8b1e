import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../src/app'
import { ConfigError, loadConfig } from '../src/config'
import { clientAddressResolver, httpsResolver, isLoopback, type ProxyTrust } from '../src/http/client-address'
import { cidrContains, formatIp, parseCidr, parseForwardedIp, parseIp } from '../src/http/ip'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { atRestApp, readAtRest } from './helpers/at-rest'

const MIN = 60_000
const BAD_TOKEN = `td_${'x'.repeat(43)}`

/** lastUsedIp of a token as the API reports it (read with another token of an admin). */
async function lastUsedIp(t: TestApp, adminToken: string, tokenId: string): Promise<string | null> {
  return (await t.req('GET', `/api/v1/tokens/${tokenId}`, { token: adminToken })).body.token?.lastUsedIp ?? null
}

describe('IP addresses and CIDR ranges', () => {
  test('IPv4, IPv6 and IPv4-mapped IPv6 parse to canonical text; junk does not parse', () => {
    const canon: [string, string][] = [
      ['192.0.2.1', '192.0.2.1'],
      ['::ffff:192.0.2.1', '192.0.2.1'],
      ['::FFFF:c000:0201', '192.0.2.1'],
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8::0001', '2001:db8::1'],
      ['2001:db8:1:1:1:1:1:0', '2001:db8:1:1:1:1:1:0'],
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::1%eth0', 'fe80::1'],
      ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
    ]
    for (const [input, out] of canon) expect([input, formatIp(parseIp(input)!)]).toEqual([input, out])
    for (const bad of ['', 'unknown', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4 ', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', ':1', '1.2.3.4::', 'g::1', '::1.2.3', '[::1]', 'x'.repeat(100)]) {
      expect([bad, parseIp(bad)]).toEqual([bad, null])
    }
    // As X-Forwarded-For entries: with a port or brackets too.
    expect(formatIp(parseForwardedIp(' 192.0.2.1:8080 ')!)).toBe('192.0.2.1')
    expect(formatIp(parseForwardedIp('[2001:db8::1]:443')!)).toBe('2001:db8::1')
    expect(parseForwardedIp('[2001:db8::1')).toBeNull()
  })

  test('CIDR matching for IPv4, IPv6 and IPv4-mapped IPv6, on both sides', () => {
    const inRange = (cidr: string, ip: string) => cidrContains(parseCidr(cidr)!, parseIp(ip)!)
    expect(inRange('10.0.0.0/8', '10.255.1.2')).toBe(true)
    expect(inRange('10.0.0.0/8', '11.0.0.1')).toBe(false)
    expect(inRange('10.0.0.0/8', '::ffff:10.1.2.3')).toBe(true)
    expect(inRange('::ffff:10.0.0.0/104', '10.1.2.3')).toBe(true)
    expect(inRange('::ffff:10.0.0.0/104', '11.1.2.3')).toBe(false)
    expect(inRange('172.16.0.0/12', '172.31.255.255')).toBe(true)
    expect(inRange('172.16.0.0/12', '172.32.0.0')).toBe(false)
    expect(inRange('192.0.2.7', '192.0.2.7')).toBe(true)
    expect(inRange('192.0.2.7', '192.0.2.8')).toBe(false)
    expect(inRange('192.0.2.7/31', '192.0.2.6')).toBe(true)
    expect(inRange('0.0.0.0/0', '203.0.113.1')).toBe(true)
    expect(inRange('2001:db8::/32', '2001:db8:ffff::1')).toBe(true)
    expect(inRange('2001:db8::/32', '2001:db9::1')).toBe(false)
    expect(inRange('2001:db8::/33', '2001:db8:8000::1')).toBe(false)
    expect(inRange('fc00::/7', 'fd12::1')).toBe(true)
    expect(inRange('::/0', '10.0.0.1')).toBe(false) // an IPv4 address is not in an IPv6 range
    expect(inRange('10.0.0.0/8', '::a00:1')).toBe(false) // IPv4-compatible is not IPv4-mapped
    for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', '::/129', 'banana', '10.0.0.0/08x']) expect([bad, parseCidr(bad)]).toEqual([bad, null])
  })
  test('edge forms other software writes: one group compressed, /32 and /128 ranges, host bits set, the whole mapped block', () => {
    // `::` standing for a single zero group (RFC 5952 says not to write it, but it is valid).
    expect(formatIp(parseIp('2001:db8:1:1:1:1::1')!)).toBe('2001:db8:1:1:1:1:0:1')
    expect(formatIp(parseIp('1::2:3:4:5:6:7')!)).toBe('1:0:2:3:4:5:6:7')
    // An embedded IPv4 address without `::`; too many groups with `::`.
    expect(formatIp(parseIp('0:0:0:0:0:ffff:192.0.2.1')!)).toBe('192.0.2.1')
    expect(parseIp('1:2:3:4::5:6:7:8')).toBeNull()
    // Only ::ffff:0:0/96 is IPv4: addresses that merely contain ffff (or ff) near the end stay IPv6,
    // so an IPv6 client cannot pass for an IPv4 proxy.
    for (const v6 of ['::ff:102:304', '::ff00:102:304', '::ffff:ffff:102:304', '2001:db8::ffff:c000:201', '1::ffff:c000:201']) {
      expect([v6, formatIp(parseIp(v6)!)]).toEqual([v6, v6])
    }
    const inRange = (cidr: string, ip: string) => cidrContains(parseCidr(cidr)!, parseIp(ip)!)
    // A full-length prefix is one address.
    expect(inRange('192.0.2.7/32', '192.0.2.7')).toBe(true)
    expect(inRange('192.0.2.7/32', '192.0.2.6')).toBe(false)
    expect(inRange('2001:db8::1/128', '2001:db8::1')).toBe(true)
    expect(inRange('2001:db8::1/128', '2001:db8::2')).toBe(false)
    // Host bits written into a range are ignored: 172.20.1.1/12 is 172.16.0.0/12.
    expect(inRange('172.20.1.1/12', '172.31.0.1')).toBe(true)
    expect(inRange('172.20.1.1/12', '172.32.0.1')).toBe(false)
    expect(inRange('2001:db8:ffff::1/33', '2001:db8:8000::5')).toBe(true)
    expect(inRange('2001:db8:ffff::1/33', '2001:db8:7fff::5')).toBe(false)
    // ::ffff:0:0/96 is every IPv4 address, however the peer is reported.
    expect(inRange('::ffff:0.0.0.0/96', '203.0.113.1')).toBe(true)
    expect(inRange('::ffff:0.0.0.0/96', '::ffff:203.0.113.1')).toBe(true)
    expect(inRange('::ffff:0.0.0.0/96', '2001:db8::1')).toBe(false)
    // A range wider than the mapped block is an IPv6 range, and IPv4 addresses are in none (as with ::/0).
    expect(inRange('::ffff:0.0.0.0/80', '10.0.0.1')).toBe(false)
  })

  test('an address of up to 64 characters parses (a long zone id); a longer one does not', () => {
    const at = (n: number) => `fe80::1%${'z'.repeat(n - 'fe80::1%'.length)}`
    expect(at(64)).toHaveLength(64)
    expect(formatIp(parseIp(at(64))!)).toBe('fe80::1')
    expect(parseIp(at(65))).toBeNull()
  })
})

describe('asking the socket once', () => {
  test('the peer is asked once per request however often its address is wanted; each request asks for itself', () => {
    const asked: Request[] = []
    const peers = ['::ffff:198.51.100.7', '2001:DB8:0:0:0:0:0:1', 'not an address']
    let next = 0
    const r = clientAddressResolver({ trustedProxyHops: 0, trustedProxies: [] }, (req) => {
      asked.push(req)
      return peers[next++ % peers.length]!
    })
    const a = new Request('http://localhost/a')
    const b = new Request('http://localhost/b')
    const c = new Request('http://localhost/c')
    expect([r(a), r(a), r(b), r(a), r(b), r(c), r(c)]).toEqual(['198.51.100.7', '198.51.100.7', '2001:db8::1', '198.51.100.7', '2001:db8::1', null, null])
    expect(asked).toEqual([a, b, c])
    // The same peer text on a later request: the same canonical address (parsed once, kept).
    const again = clientAddressResolver({ trustedProxyHops: 0, trustedProxies: [] }, () => '::ffff:198.51.100.7')
    expect(again(new Request('http://localhost/'))).toBe('198.51.100.7')
  })
})

describe('asking the socket once (continued)', () => {
  test('the table of parsed peers is bounded: past 4096 distinct peers it starts over, and answers stay right', () => {
    const r = clientAddressResolver({ trustedProxyHops: 0, trustedProxies: [] }, (req) => new URL(req.url).searchParams.get('peer'))
    // Which maps of parsed peers ({ bytes, text }) are emptied, at what size.
    const cleared: number[] = []
    const clear = Map.prototype.clear
    Map.prototype.clear = function (this: Map<unknown, unknown>) {
      const first = this.values().next().value as { bytes?: unknown; text?: unknown } | undefined
      if (first && first.bytes instanceof Uint8Array && typeof first.text === 'string') cleared.push(this.size)
      return clear.call(this)
    }
    try {
      // 4097 peers never seen before: whatever the table held, it fills up at least once.
      for (let i = 0; i < 4097; i++) {
        const peer = `2001:db8:ffff::${(i + 1).toString(16)}`
        expect(r(new Request(`http://localhost/?peer=${peer}`))).toBe(peer)
      }
    } finally {
      Map.prototype.clear = clear
    }
    expect(cleared.length).toBeGreaterThanOrEqual(1)
    for (const size of cleared) expect(size).toBe(4096)
  })
})

describe('HTTPS through a trusted proxy (httpsResolver) and loopback (isLoopback)', () => {
  const https = (trust: Partial<ProxyTrust>, peer: string | null, proto?: string, url = 'http://localhost/') =>
    httpsResolver({ trustedProxyHops: 0, trustedProxies: [], ...trust }, () => peer)(
      new Request(url, { headers: proto === undefined ? {} : { 'x-forwarded-proto': proto } }),
    )

  test('an https URL is HTTPS whoever the peer; plain HTTP without X-Forwarded-Proto is not', () => {
    expect(https({}, null, undefined, 'https://localhost/')).toBe(true)
    expect(https({}, '203.0.113.9', 'http', 'https://localhost/')).toBe(true)
    expect(https({ trustedProxyHops: 1 }, '10.0.0.2')).toBe(false)
    expect(https({ trustedProxies: ['10.0.0.0/8'] }, '10.0.0.2')).toBe(false)
  })

  test('X-Forwarded-Proto is read only from a peer that is a trusted proxy (by hop count or by address)', () => {
    // No proxy trusted: a client's own header is ignored, loopback included.
    expect(https({}, '203.0.113.9', 'https')).toBe(false)
    expect(https({}, '127.0.0.1', 'https')).toBe(false)
    expect(https({ trustedProxyHops: 1 }, '203.0.113.9', 'https')).toBe(true)
    expect(https({ trustedProxies: ['10.0.0.0/8'] }, '10.0.0.2', 'https')).toBe(true)
    expect(https({ trustedProxies: ['10.0.0.0/8'] }, '::ffff:10.0.0.2', 'https')).toBe(true)
    expect(https({ trustedProxies: ['10.0.0.0/8', 'loopback'] }, '11.0.0.1', 'https')).toBe(false)
    // No peer, or one that is not an address: nobody vouches for the header.
    expect(https({ trustedProxyHops: 1 }, null, 'https')).toBe(false)
    expect(https({ trustedProxyHops: 1 }, 'not an address', 'https')).toBe(false)
  })

  test('the first entry decides, trimmed, in any case', () => {
    const proxy = { trustedProxyHops: 1 }
    expect(https(proxy, '10.0.0.2', ' HTTPS , http')).toBe(true)
    expect(https(proxy, '10.0.0.2', 'HttpS')).toBe(true)
    expect(https(proxy, '10.0.0.2', 'http, https')).toBe(false)
    expect(https(proxy, '10.0.0.2', 'httpsx')).toBe(false)
    expect(https(proxy, '10.0.0.2', 'http')).toBe(false)
  })

  test('an invalid trusted-proxy list is refused when the resolvers are built', () => {
    const bad = { trustedProxyHops: 0, trustedProxies: ['10.0.0.0/8', 'nope'] }
    expect(() => httpsResolver(bad, () => null)).toThrow('invalid trusted proxy "nope"')
    expect(() => clientAddressResolver(bad, () => null)).toThrow('invalid trusted proxy "nope"')
  })

  test('loopback is 127.0.0.0/8 and ::1, IPv4-mapped included; nothing else, and no address is not loopback', () => {
    for (const a of ['127.0.0.1', '127.255.3.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect([a, isLoopback(a)]).toEqual([a, true])
    for (const a of ['128.0.0.1', '126.0.0.1', '0.0.0.1', '::', '::2', '::100', '1::1', '100::1', 'fe80::1', '::ffff:10.0.0.1', 'localhost', '']) {
      expect([a, isLoopback(a)]).toEqual([a, false])
    }
    expect(isLoopback(null)).toBe(false)
  })
})

describe('which X-Forwarded-For hop is the client', () => {
  const resolve = (trust: Partial<ProxyTrust>, peer: string | null, xff?: string) => {
    const r = clientAddressResolver({ trustedProxyHops: 0, trustedProxies: [], ...trust }, () => peer)
    return r(new Request('http://localhost/', { headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }))
  }

  test('no proxy trusted (the default): always the socket peer', () => {
    expect(resolve({}, '198.51.100.7', '6.6.6.6')).toBe('198.51.100.7')
    expect(resolve({}, '::ffff:198.51.100.7', '6.6.6.6, 127.0.0.1')).toBe('198.51.100.7')
    expect(resolve({}, null, '6.6.6.6')).toBeNull()
  })

  test('a trusted hop count: the entries the client wrote on the left are never read', () => {
    expect(resolve({ trustedProxyHops: 1 }, '10.0.0.2', '6.6.6.6, 203.0.113.50')).toBe('203.0.113.50')
    expect(resolve({ trustedProxyHops: 1 }, '10.0.0.2', '203.0.113.50')).toBe('203.0.113.50')
    expect(resolve({ trustedProxyHops: 2 }, '10.0.0.2', '6.6.6.6, 203.0.113.50, 10.0.0.3')).toBe('203.0.113.50')
    // Fewer entries than trusted hops: all of them come from trusted proxies; the leftmost.
    expect(resolve({ trustedProxyHops: 3 }, '10.0.0.2', '203.0.113.50')).toBe('203.0.113.50')
    // The proxy sent no header: the peer is all we know.
    expect(resolve({ trustedProxyHops: 1 }, '10.0.0.2')).toBe('10.0.0.2')
    // Junk where the client should be (a misconfigured hop count) ends at the hop that passed it.
    expect(resolve({ trustedProxyHops: 2 }, '10.0.0.2', 'unknown, 10.0.0.3')).toBe('10.0.0.3')
  })

  test('trusted addresses: the first hop from the right that is not one; the peer must be one', () => {
    const trust = { trustedProxies: ['10.0.0.0/8', 'loopback'] }
    expect(resolve(trust, '10.0.0.2', '6.6.6.6, 203.0.113.50, 10.0.0.3, 127.0.0.1')).toBe('203.0.113.50')
    expect(resolve(trust, '::ffff:10.0.0.2', '[2001:DB8::1]:5555')).toBe('2001:db8::1')
    expect(resolve(trust, '::1', '203.0.113.50')).toBe('203.0.113.50')
    // A client that is not a trusted proxy cannot choose its address with the header.
    expect(resolve(trust, '203.0.113.9', '10.0.0.5, 127.0.0.1')).toBe('203.0.113.9')
    // Every hop trusted: the leftmost.
    expect(resolve(trust, '10.0.0.2', '10.9.9.9, 10.0.0.3')).toBe('10.9.9.9')
    // Several X-Forwarded-For headers read as one list, in order.
    const headers = new Headers()
    headers.append('x-forwarded-for', '6.6.6.6')
    headers.append('x-forwarded-for', '203.0.113.50')
    const r = clientAddressResolver({ trustedProxyHops: 0, ...trust }, () => '10.0.0.2')
    expect(r(new Request('http://localhost/', { headers }))).toBe('203.0.113.50')
  })

  test('`private` names the RFC 1918 ranges and fc00::/7; `loopback` and `private` in any case', () => {
    for (const proxy of ['10.1.2.3', '172.16.0.1', '172.31.255.254', '192.168.1.1', 'fd00::1', '::ffff:192.168.0.9']) {
      expect([proxy, resolve({ trustedProxies: ['private'] }, proxy, '203.0.113.50')]).toEqual([proxy, '203.0.113.50'])
    }
    for (const outside of ['172.32.0.1', '192.169.0.1', '11.0.0.1', 'fe80::1', '127.0.0.1']) {
      expect([outside, resolve({ trustedProxies: ['private'] }, outside, '203.0.113.50')]).toEqual([outside, outside])
    }
    expect(resolve({ trustedProxies: ['Private'] }, '10.0.0.2', '203.0.113.50')).toBe('203.0.113.50')
    expect(resolve({ trustedProxies: ['LOOPBACK'] }, '127.0.0.1', '203.0.113.50')).toBe('203.0.113.50')
  })

  test('an X-Forwarded-For entry written as IPv4-mapped IPv6 (a dual-stack proxy) is that IPv4 client', () => {
    expect(resolve({ trustedProxyHops: 1 }, '10.0.0.2', '::ffff:203.0.113.50')).toBe('203.0.113.50')
    // …and a mapped proxy address is recognised as the trusted range it maps to.
    expect(resolve({ trustedProxies: ['10.0.0.0/8'] }, '10.0.0.2', '203.0.113.50, ::ffff:10.0.0.3')).toBe('203.0.113.50')
  })
})

describe('configuration', () => {
  test('TEAMDAY_TRUSTED_PROXY_HOPS and TEAMDAY_TRUSTED_PROXIES; default trusts none', () => {
    expect(loadConfig({})).toMatchObject({ trustedProxyHops: 0, trustedProxies: [] })
    expect(loadConfig({ TEAMDAY_TRUSTED_PROXY_HOPS: '2', TEAMDAY_TRUSTED_PROXIES: ' 10.0.0.0/8, fd00::/8 ,loopback,private,192.0.2.1' })).toMatchObject({
      trustedProxyHops: 2,
      trustedProxies: ['10.0.0.0/8', 'fd00::/8', 'loopback', 'private', '192.0.2.1'],
    })
    expect(() => loadConfig({ TEAMDAY_TRUSTED_PROXY_HOPS: '-1' })).toThrow(ConfigError)
    expect(() => loadConfig({ TEAMDAY_TRUSTED_PROXY_HOPS: 'one' })).toThrow(ConfigError)
    expect(() => loadConfig({ TEAMDAY_TRUSTED_PROXIES: '10.0.0.0/8,nginx' })).toThrow('(got "nginx")')
  })

  test('TEAMDAY_TRUST_PROXY=true stops the start and names the settings to use; false is the default', () => {
    for (const v of ['true', '1', 'yes', 'TRUE']) {
      expect(() => loadConfig({ TEAMDAY_TRUST_PROXY: v })).toThrow(ConfigError)
      expect(() => loadConfig({ TEAMDAY_TRUST_PROXY: v })).toThrow(/TEAMDAY_TRUSTED_PROXY_HOPS=1.*TEAMDAY_TRUSTED_PROXIES=/)
    }
    for (const v of ['', 'false', '0', 'no']) expect(loadConfig({ TEAMDAY_TRUST_PROXY: v }).trustedProxyHops).toBe(0)
  })
})

describe('X-Forwarded-For through the app (in-process, with injected peer addresses)', () => {
  test('without a trusted proxy the header is ignored: failed logins from one peer are throttled however it varies', async () => {
    const t = await makeTestApp({ config: { authFailureLimit: { limit: 3, windowMs: MIN } } })
    const codes: number[] = []
    for (let i = 0; i < 6; i++) {
      codes.push((await t.req('GET', '/api/v1/tokens', { token: BAD_TOKEN, ip: '198.51.100.7', headers: { 'x-forwarded-for': `10.0.0.${i}, 127.0.0.1` } })).status)
    }
    expect(codes).toEqual([401, 401, 401, 429, 429, 429])
    // Another peer has its own budget.
    expect((await t.req('GET', '/api/v1/tokens', { token: BAD_TOKEN, ip: '198.51.100.8' })).status).toBe(401)
    expect(t.logs.filter((l) => l.includes('"auth_failed"')).every((l) => JSON.parse(l).ip.startsWith('198.51.100.'))).toBe(true)
  })

  test('without a trusted proxy, leak reports are limited per peer, and lastUsedIp is the peer', async () => {
    const t = await makeTestApp()
    const statuses: number[] = []
    for (let i = 0; i < 12; i++) {
      const r = await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: ['x'] }, ip: '198.51.100.9', headers: { 'x-forwarded-for': `10.0.0.${i}` } })
      statuses.push(r.status)
    }
    expect(statuses.slice(0, 10).every((s) => s === 202)).toBe(true)
    expect(statuses.slice(10)).toEqual([429, 429])
    expect((await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: ['x'] }, ip: '198.51.100.10' })).status).toBe(202)

    const admin = await makeActor(t, { role: 'admin' })
    const m = await makeActor(t)
    await t.req('GET', '/api/v1/tokens/self', { token: m.token, ip: '198.51.100.11', headers: { 'x-forwarded-for': '6.6.6.6' } })
    expect(await lastUsedIp(t, admin.token, m.tokenId)).toBe('198.51.100.11')
  })

  test('behind one trusted hop: the spoofed leftmost entries are ignored, the proxy-appended address counts', async () => {
    const t = await makeTestApp({ config: { trustedProxyHops: 1, authFailureLimit: { limit: 3, windowMs: MIN } } })
    const viaProxy = (spoof: string) => ({ ip: '10.0.0.2', headers: { 'x-forwarded-for': `${spoof}, 203.0.113.50` } })
    const codes: number[] = []
    for (let i = 0; i < 5; i++) codes.push((await t.req('GET', '/api/v1/tokens', { token: BAD_TOKEN, ...viaProxy(`10.0.0.${i}, 127.0.0.1`) })).status)
    expect(codes).toEqual([401, 401, 401, 429, 429])
    // Another client behind the same proxy is not throttled.
    expect((await t.req('GET', '/api/v1/tokens', { token: BAD_TOKEN, ip: '10.0.0.2', headers: { 'x-forwarded-for': '203.0.113.51' } })).status).toBe(401)

    const admin = await makeActor(t, { role: 'admin' })
    const m = await makeActor(t)
    await t.req('GET', '/api/v1/tokens/self', { token: m.token, ...viaProxy('6.6.6.6') })
    expect(await lastUsedIp(t, admin.token, m.tokenId)).toBe('203.0.113.50')
  })

  test('trusted proxy addresses: leak reports are limited per real client, not per spoofed entry', async () => {
    const t = await makeTestApp({ config: { trustedProxies: ['10.0.0.0/8'] } })
    const send = (xff: string, ip = '10.0.0.2') => t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: ['x'] }, ip, headers: { 'x-forwarded-for': xff } })
    const statuses: number[] = []
    for (let i = 0; i < 12; i++) statuses.push((await send(`6.6.6.${i}, 203.0.113.60, 10.0.0.3`)).status)
    expect(statuses.filter((s) => s === 429)).toHaveLength(2)
    expect((await send('203.0.113.61, 10.0.0.3')).status).toBe(202)
    // From a peer outside the trusted ranges the header is not read: its own address counts.
    for (let i = 0; i < 10; i++) expect((await send(`203.0.113.${100 + i}`, '198.51.100.20')).status).toBe(202)
    expect((await send('203.0.113.200', '198.51.100.20')).status).toBe(429)
  })
})

describe('a listening server reads the peer from the socket (the default, not injected)', () => {
  test('loopback peer; X-Forwarded-For only when loopback is a trusted proxy', async () => {
    for (const [trustedProxies, expected] of [[[], '127.0.0.1'], [['loopback'], '203.0.113.77']] as const) {
      const base = await makeTestApp({ config: { trustedProxies: [...trustedProxies] } })
      const app = createApp(base.rt)
      app.listen({ hostname: '127.0.0.1', port: 0 })
      try {
        const res = await fetch(`http://127.0.0.1:${app.server!.port}/api/v1/tokens`, { headers: { authorization: `Bearer ${BAD_TOKEN}`, 'x-forwarded-for': '203.0.113.77' } })
        expect(res.status).toBe(401)
      } finally {
        await app.stop(true)
      }
      const line = base.logs.find((l) => l.includes('"auth_failed"'))!
      expect(JSON.parse(line).ip).toBe(expected)
    }
  })
})

describe('the database file holds no plaintext client address', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-ip-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('after token use with a client IP and user agent: lastUsedIp and the audit rows are sealed', async () => {
    const t = await atRestApp(dir)
    const admin = await makeActor(t, { role: 'admin' })
    const m = await makeActor(t)
    const ip = '203.0.113.231'
    const ua = 'UniqueAgentForIpScan/3.1'
    for (const token of [m.token, admin.token]) {
      expect((await t.req('GET', '/api/v1/tokens/self', { token, ip, headers: { 'user-agent': ua } })).status).toBe(200)
    }
    // The address was recorded (or the scan below would prove nothing).
    expect(await lastUsedIp(t, admin.token, m.tokenId)).toBe(ip)
    const haystacks: string[] = []
    if (t.pg) {
      // PostgreSQL: what a backup of the app's schema holds.
      haystacks.push((await readAtRest(t, dir)).files)
    } else {
      const files = () => readdirSync(dir).map((f) => join(dir, f))
      expect(files().some((f) => f.endsWith('-wal'))).toBe(true)
      // While the database is open its files are read by another process: closing a descriptor
      // of them in this one would drop SQLite's locks (see DESIGN.md).
      haystacks.push(Bun.spawnSync(['cat', ...files()]).stdout.toString('latin1'))
      t.db.$client.exec('PRAGMA wal_checkpoint(TRUNCATE)')
      t.rt.close()
      haystacks.push(Buffer.concat(files().map((f) => readFileSync(f))).toString('latin1'))
    }
    // SQLite: before a checkpoint (the rows are in the -wal) and after it (in the main file).
    for (const haystack of haystacks) {
      // (booleans: a failure would otherwise print the whole file)
      expect(haystack.includes(ip)).toBe(false)
      expect(haystack.includes(ua)).toBe(false)
      expect(haystack.includes(m.email)).toBe(true) // sanity: the scan reads the database
    }
  }, 30_000)
})

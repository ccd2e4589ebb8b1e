import { describe, expect, test } from 'bun:test'
import { validHost } from '../src/http/host'
import { requestGuards } from '../src/http/guards'

// RFC 9110 §7.2 / RFC 3986 §3.2.2: what the request guard takes as a Host (src/http/guards.ts);
// the raw-socket answers are in test/listen.test.ts.
describe('validHost', () => {
  test.each([
    'localhost', 'localhost:3000', 'LOCALHOST.:3000', 'teamday.example.com', 'teamday.example.com.', 'teamday_app:3000', 'xn--bcher-kva.example',
    '127.0.0.1', '127.0.0.1.:3443', '10.0.0.1:65535', '[::1]', '[::1]:3000', '[2001:db8::1]:443', '[::ffff:10.1.2.3]', 'a:0', 'a:00080',
  ])('%p is a host', (host) => expect(validHost(host)).toBe(true))

  test.each([
    '', ':3000', 'a/b', 'a b', 'a,b', 'a, b', 'user@a', 'a:b', 'a:', 'a:65536', 'a:123456', 'a:80:80', 'a..b', '.a', '%41.example', 'é.example',
    '1.2.3.4.5', '999.1.1.1', '127.1', '0x7f.1', '010.0.0.1', '[::1', '[::1]x', '[::1]:', '[1:2]', '[fe80::1%25eth0]', '[127.0.0.1]', '[zz::1]', `${'a'.repeat(254)}`,
  ])('%p is not', (host) => expect(validHost(host)).toBe(false))
})

describe('the request guard', () => {
  // It remembers the last Host it found valid, so a steady Host costs one comparison; that memo
  // began as '', and an empty Host sent before any valid one was let through (a CLI sign-in URL
  // `http:///cli/authorize/…`).
  test('an empty Host is refused as the first request, and after a valid one', () => {
    const guards = requestGuards({ maxBodyBytes: 1 << 20, hstsMaxAge: 0, tlsCert: undefined, publicUrl: undefined })
    const limits = (host: string) => () => guards.limits({ request: new Request('http://127.0.0.1/api/health', { headers: { host } }), set: { headers: {} } })
    expect(limits('')).toThrow('Host header')
    expect(limits('example.com')).not.toThrow()
    expect(limits('example.com')).not.toThrow()
    expect(limits('')).toThrow('Host header')
    expect(limits('a b')).toThrow('Host header')
  })
})

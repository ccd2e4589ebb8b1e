// Security headers beyond the CSP: Cross-Origin-Opener-Policy on the console's pages and Swagger
// UI, and Strict-Transport-Security only where the site is HTTPS for good (TEAMDAY_HSTS_MAX_AGE).
import { afterAll, describe, expect, test } from 'bun:test'
import { makeTestApp, type TestApp } from './helpers/app'
import { loadConfig } from '../src/config'

const apps: TestApp[] = []
const app = async (config: Parameters<typeof makeTestApp>[0] = {}) => {
  const t = await makeTestApp(config)
  apps.push(t)
  return t
}
afterAll(() => apps.forEach((t) => t.rt.close()))

describe('Cross-Origin-Opener-Policy', () => {
  test('same-origin on console pages, redirects and Swagger UI', async () => {
    const t = await app()
    for (const path of ['/login', '/settings/profile', '/cli/authorize/BCDF-GHJK', '/swagger', '/']) {
      const res = await t.req('GET', path, { ip: '127.0.0.1' })
      expect({ path, coop: res.headers.get('cross-origin-opener-policy') }).toEqual({ path, coop: 'same-origin' })
    }
  })
})

describe('Strict-Transport-Security', () => {
  const hsts = async (t: TestApp, host: string, path = '/login') => (await t.req('GET', path, { ip: '127.0.0.1', headers: { host } })).headers.get('strict-transport-security')

  test('behind an https TEAMDAY_PUBLIC_URL: sent to its host only (console and API), one day by default, no includeSubDomains or preload', async () => {
    const t = await app({ config: { publicUrl: 'https://teamday.example.com', hstsMaxAge: 86_400 } })
    expect(await hsts(t, 'teamday.example.com')).toBe('max-age=86400')
    expect(await hsts(t, 'TeamDay.Example.com', '/api/health')).toBe('max-age=86400')
    // The same server reached over plain HTTP by another name (its address and port), or on loopback: none.
    expect(await hsts(t, '192.0.2.10:3000')).toBeNull()
    expect(await hsts(t, 'teamday.example.com:3000')).toBeNull()
    expect(await hsts(t, 'localhost:3000')).toBeNull()
  })

  test('an http TEAMDAY_PUBLIC_URL, or none, without TLS: never sent', async () => {
    for (const publicUrl of ['http://teamday.example.com', undefined]) {
      const t = await app({ config: { publicUrl, hstsMaxAge: 86_400 } })
      expect(await hsts(t, 'teamday.example.com')).toBeNull()
    }
  })

  test('TLS served by teamday itself: sent to any name but a loopback one', async () => {
    const t = await app({ config: { tlsCert: '/etc/teamday/cert.pem', tlsKey: '/etc/teamday/key.pem', hstsMaxAge: 600 } })
    expect(await hsts(t, 'teamday.example.com')).toBe('max-age=600')
    expect(await hsts(t, '192.0.2.10:3443', '/api/health')).toBe('max-age=600')
    for (const host of ['localhost:3443', '127.0.0.1:3443', '[::1]:3443', 'app.localhost', 'localhost.', 'LocalHost.:3443', 'app.localhost.', '127.0.0.1.:3443']) expect({ host, hsts: await hsts(t, host) }).toEqual({ host, hsts: null })
  })

  test('TEAMDAY_HSTS_MAX_AGE=off sends none; 0 tells a browser to forget it', async () => {
    const off = await app({ config: { publicUrl: 'https://teamday.example.com', hstsMaxAge: null } })
    expect(await hsts(off, 'teamday.example.com')).toBeNull()
    const zero = await app({ config: { publicUrl: 'https://teamday.example.com', hstsMaxAge: 0 } })
    expect(await hsts(zero, 'teamday.example.com')).toBe('max-age=0')
  })

  test('the setting: one day by default, off, seconds up to two years', () => {
    expect(loadConfig({}).hstsMaxAge).toBe(86_400)
    expect(loadConfig({ TEAMDAY_HSTS_MAX_AGE: 'off' }).hstsMaxAge).toBeNull()
    expect(loadConfig({ TEAMDAY_HSTS_MAX_AGE: '31536000' }).hstsMaxAge).toBe(31_536_000)
    expect(() => loadConfig({ TEAMDAY_HSTS_MAX_AGE: '1y' })).toThrow('TEAMDAY_HSTS_MAX_AGE must be an integer 0-63072000')
  })
})

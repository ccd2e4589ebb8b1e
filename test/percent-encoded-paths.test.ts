/**
 * A path with percent-escapes of unreserved characters (RFC 3986 §2.3: letters, digits, - _ ~)
 * means the same path decoded (§6.2.2.2), for every route (src/http/url-path.ts). The router
 * matched fixed segments as sent and decoded parameters: `/api/v1/tokens/%73elf` was the token
 * with the id "self" (404 "Token self not found") where `/api/v1/tokens/self` is the caller's,
 * `DELETE /api/v1/tokens/%73elf` revoked nothing while `DELETE …/self` revokes, and
 * `/api/v1/%74okens` was no route at all. Escapes of anything else stay escaped.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { unreservedDecoded } from '../src/http/url-path'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { signedInPerson } from './helpers/console'

const t: TestApp = await makeTestApp()
const admin: Actor = await makeActor(t, { role: 'admin' })
/** Every character of `s` percent-encoded. */
const encoded = (s: string) => [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')

describe('an escaped unreserved character in the path is that character', () => {
  test('GET /api/v1/tokens/%73elf is the caller\'s token, as /self is; with a trailing slash and upper-case hex too', async () => {
    const self = await t.req('GET', '/api/v1/tokens/self', { token: admin.token })
    expect([self.status, self.body.token.id]).toEqual([200, admin.tokenId])
    for (const path of ['/api/v1/tokens/%73elf', '/api/v1/tokens/%73elf/', '/api/v1/tokens/%73%65%6C%66', '/api/v1/tokens/%73%65%6c%66']) {
      const res = await t.req('GET', path, { token: admin.token })
      expect([path, res.status, res.body.token?.id]).toEqual([path, 200, admin.tokenId])
    }
  })

  test('DELETE /api/v1/tokens/%73elf revokes the calling token, as DELETE /self does (it was a 404 that revoked nothing)', async () => {
    const other = await makeToken(t, admin)
    const res = await t.req('DELETE', '/api/v1/tokens/%73elf', { token: other.token })
    expect([res.status, res.body.token?.id, typeof res.body.token?.revokedAt]).toEqual([200, other.id, 'string'])
    expect((await t.req('GET', '/api/v1/tokens/self', { token: other.token })).body.code).toBe('token_revoked')
  })

  test('fixed segments match escaped: the resource, the sub-resource, the health check', async () => {
    const space = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Escaped' } })).body.space
    for (const [path, status] of [
      ['/api/v1/%74okens', 200],
      ['/api/v1/%74okens/self', 200],
      ['/%61pi/v1/tokens', 200],
      [`/api/v1/spaces/${space.id}/secret%73`, 200],
      [`/api/v1/organizations/${admin.organizationId}/member%73`, 200],
      ['/api/health/%72eady', 200],
    ] as const) {
      const res = await t.req('GET', path, { token: admin.token })
      expect([path, res.status]).toEqual([path, status])
    }
    // Another method on a path known once decoded: 405 with its Allow, not 404.
    const post = await t.req('POST', '/api/v1/tokens/%73elf', { token: admin.token, body: {} })
    expect([post.status, post.body.code, post.headers.get('allow')]).toEqual([405, 'method_not_allowed', 'GET, HEAD, DELETE'])
  })

  test('ids and slugs escaped name the same object (as before)', async () => {
    const agent = (await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Deploy bot', role: 'r', systemPrompt: 'p' } })).body
    for (const ref of [agent.id, agent.slug]) {
      const res = await t.req('GET', `/api/v1/agents/${encoded(ref)}`, { token: admin.token })
      expect([ref, res.status, (res.body.agent ?? res.body).id]).toEqual([ref, 200, agent.id])
    }
  })
})

describe('other escapes are no separators and no way around a route', () => {
  test('%2F inside a parameter names nothing: 404 not_found, never the route the slash would make', async () => {
    for (const path of [`/api/v1/tokens/${admin.tokenId}%2Frotate`, `/api/v1/tokens/${admin.tokenId}%2F`, '/api/v1/tokens/%2F', '/api/v1/tokens/..%2Fself', '/api/v1/tokens/%252Fself']) {
      const res = await t.req('GET', path, { token: admin.token })
      expect([path, res.status, res.body.code]).toEqual([path, 404, 'not_found'])
      expect(res.text).not.toContain(admin.token)
    }
    const slash = await t.req('GET', '/api%2Fv1/tokens', { token: admin.token })
    expect([slash.status, slash.body.code]).toEqual([404, 'route_not_found'])
  })

  test('%25 stays a percent sign: /tokens/%2573elf is the token "%73elf", none', async () => {
    const res = await t.req('GET', '/api/v1/tokens/%2573elf', { token: admin.token })
    expect([res.status, res.body.code]).toEqual([404, 'not_found'])
  })

  test('unreservedDecoded: letters, digits, - _ ~ decoded in the path only; ., /, %, others and the query left as sent', () => {
    expect(unreservedDecoded('http://h:3000/api/v1/tokens/%73elf?q=%73')).toBe('http://h:3000/api/v1/tokens/self?q=%73')
    expect(unreservedDecoded('http://h:3000/a/%41%5a%61%7A%30%39%2D%5F%7E%5f%7e%2d')).toBe('http://h:3000/a/AZaz09-_~_~-')
    expect(unreservedDecoded('http://h:3000/a/%2E%2e%2F%2f%25%20%C3%A9%40%3A%40%60%5B%7B%2F')).toBe('http://h:3000/a/%2E%2e%2F%2f%25%20%C3%A9%40%3A%40%60%5B%7B%2F')
    expect(unreservedDecoded('http://h:3000/a/%2541')).toBe('http://h:3000/a/%2541')
    expect(unreservedDecoded('http://h:3000/a/%4')).toBe('http://h:3000/a/%4')
    const plain = 'http://h:3000/api/v1/tokens/self?x=%41'
    expect(unreservedDecoded(plain)).toBe(plain)
    expect(unreservedDecoded('/%61pi')).toBe('/api')
  })
})

describe('the console and a real socket', () => {
  test('a console page escaped is the page', async () => {
    const { c } = await signedInPerson(t, { role: 'admin' })
    const plain = await c.get('/settings/profile')
    const escaped = await c.get('/settings/%70rofile')
    expect([plain.status, escaped.status]).toEqual([200, 200])
    expect(escaped.text).toContain('id="personal-access-tokens"')
    const moved = await c.get('/settings/%74okens')
    expect([moved.status, moved.headers.get('location')]).toEqual([303, '/settings/profile#personal-access-tokens'])
  })

  const served = t.app as unknown as { listen(o: object): unknown; stop(): Promise<unknown>; server: { port: number } | null }
  afterAll(() => served.server && served.stop())

  test('over a socket: GET /api/v1/tokens/%73elf is the caller\'s token', async () => {
    served.listen({ hostname: '127.0.0.1', port: 0 })
    const port = served.server!.port
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () =>
        socket.write(`GET /api/v1/%74okens/%73elf HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${admin.token}\r\nConnection: close\r\n\r\n`),
      )
      let got = ''
      socket.on('data', (chunk) => (got += chunk.toString('latin1')))
      socket.on('close', () => resolve(got))
      socket.on('error', reject)
    })
    expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 200 OK')
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).token.id).toBe(admin.tokenId)
  })
})

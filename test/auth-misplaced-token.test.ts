import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { signedInPerson } from './helpers/console'

/**
 * TeamDay's docs, "Token not working in requests": "Use `Authorization: Bearer` header (not just
 * `Authorization`)". A token sent another way (an X-API-Key header, `?access_token=` in the URL)
 * or a console sign-in sent to the API was answered "Authentication required: no token was
 * sent", which is not what happened: the 401 now says where the token was and that it is not
 * read there, never echoing it. The code stays `missing_token` (no credential was presented).
 */
let t: TestApp
let a: Actor
beforeAll(async () => {
  t = await makeTestApp()
  a = await makeActor(t, { role: 'member' })
})
afterAll(() => t.rt.close())

describe('a token sent where the API does not read it', () => {
  test('in another header (X-API-Key, Token): 401 missing_token naming that header, not "no token was sent"; the token never in the answer', async () => {
    for (const name of ['X-API-Key', 'Token']) {
      const r = await t.req('GET', '/api/v1/agents', { headers: { [name]: a.token } })
      expect(r.status).toBe(401)
      expect(r.body.code).toBe('missing_token')
      expect(r.body.message).toStartWith(`Authentication required: no Authorization header was sent; the token in the ${name.toLowerCase()} header is not read there.`)
      expect(r.body.message).toContain('send it as "Authorization: Bearer td_…"')
      expect(r.text).not.toContain(a.token.slice(3))
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="teamday"')
    }
  })

  test('in the URL (?access_token=…): named, with why a URL is no place for it', async () => {
    const r = await t.req('GET', `/api/v1/agents?access_token=${a.token}`)
    expect(r.status).toBe(401)
    expect(r.body.code).toBe('missing_token')
    expect(r.body.message).toStartWith('Authentication required: no Authorization header was sent; the token in the URL (query parameter access_token) is not read there.')
    expect(r.body.message).toContain('logs')
    expect(r.text).not.toContain(a.token.slice(3))
  })

  test('a console sign-in sent to the API: said that it does not authenticate the API', async () => {
    const { c } = await signedInPerson(t, { org: 'cookie-org' })
    const r = await t.req('GET', '/api/v1/agents', { headers: { cookie: c.cookie! } })
    expect(r.status).toBe(401)
    expect(r.body.code).toBe('missing_token')
    expect(r.body.message).toStartWith('Authentication required: no token was sent; a console sign-in does not authenticate the API.')
  })

  test('nothing at all, or a header without a token: the message as before', async () => {
    for (const headers of [{}, { 'x-api-key': 'not a token' }] as Record<string, string>[]) {
      const r = await t.req('GET', '/api/v1/agents', { headers })
      expect(r.body.message).toStartWith('Authentication required: no token was sent. Create a new token')
    }
    // With the Authorization header right, another header holding a token changes nothing.
    expect((await t.req('GET', '/api/v1/agents', { token: a.token, headers: { 'x-api-key': a.token } })).status).toBe(200)
  })
})

// `Teamday-Token-Expiration` on the response whose request rotates or revokes the very token it
// was sent with: set when the request authenticated, it said the token's old expiry; it now says
// when the token stops (a rotation's grace period's end), or is left out once it has stopped.
import { describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, makeToken } from './helpers/app'

const HEADER = 'teamday-token-expiration'

describe('Teamday-Token-Expiration when a request changes its own token', () => {
  test('rotating itself with a grace period: the end of that period (previousTokenRevokedAt)', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    for (const path of ['/api/v1/tokens/self/rotate', 'id']) {
      const tok = await makeToken(t, a, { name: 'ci', expiresInDays: 90 })
      const res = await t.req('POST', path === 'id' ? `/api/v1/tokens/${tok.id}/rotate` : path, { token: tok.token, body: { gracePeriodSeconds: 3600 } })
      expect([path, res.status]).toEqual([path, 201])
      expect([path, res.headers.get(HEADER)]).toEqual([path, res.body.previousTokenRevokedAt])
      expect(res.body.previousTokenRevokedAt).toBe(new Date(t.clock.now() + 3600_000).toISOString())
      // The next request with it says the same.
      expect((await t.req('GET', '/api/v1/tokens/self', { token: tok.token })).headers.get(HEADER)).toBe(res.body.previousTokenRevokedAt)
    }
    await t.rt.close()
  })

  test('rotating itself without a grace period: no header (it has stopped)', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    for (const path of ['/api/v1/tokens/self/rotate', 'id']) {
      const tok = await makeToken(t, a, { name: 'ci' })
      const res = await t.req('POST', path === 'id' ? `/api/v1/tokens/${tok.id}/rotate` : path, { token: tok.token, body: { gracePeriodSeconds: 0 } })
      expect([path, res.status, res.headers.get(HEADER)]).toEqual([path, 201, null])
    }
    await t.rt.close()
  })

  test('revoking itself (DELETE /tokens/self, DELETE /tokens/{own id}, the CLI alias): no header', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    for (const [method, path] of [
      ['DELETE', '/api/v1/tokens/self'],
      ['DELETE', '/api/v1/tokens/{id}'],
      ['POST', '/api/tokens/{id}/revoke'],
    ] as const) {
      const tok = await makeToken(t, a, { name: 'ci' })
      const res = await t.req(method, path.replace('{id}', tok.id), { token: tok.token })
      expect([path, res.status, res.headers.get(HEADER)]).toEqual([path, 200, null])
    }
    // A token in a rotation's grace period revoking itself: it stops now.
    const tok = await makeToken(t, a, { name: 'ci' })
    expect((await t.req('POST', `/api/v1/tokens/${tok.id}/rotate`, { token: tok.token, body: { gracePeriodSeconds: 3600 } })).status).toBe(201)
    const res = await t.req('DELETE', '/api/v1/tokens/self', { token: tok.token })
    expect([res.status, res.headers.get(HEADER)]).toEqual([200, null])
    await t.rt.close()
  })

  test('a successor rotating its rotated predecessor again: 409 invalid_state, nothing revoked, the header as before', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const old = await makeToken(t, a, { name: 'ci' })
    const successor = await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: old.token, body: {} })
    expect(successor.status).toBe(201)
    const before = (await t.req('GET', '/api/v1/tokens/self', { token: successor.body.token })).headers.get(HEADER)
    t.clock.advance(2 * 60_000)
    const again = await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: successor.body.token, body: {} })
    expect([again.status, again.body.code, again.headers.get(HEADER)]).toEqual([409, 'invalid_state', before])
    expect((await t.req('GET', '/api/v1/tokens/self', { token: successor.body.token })).status).toBe(200)
    await t.rt.close()
  })

  test("another token's rotation or revocation leaves the calling token's expiry", async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const mine = (await t.req('GET', '/api/v1/tokens/self', { token: a.token })).headers.get(HEADER)
    expect(mine).not.toBeNull()
    const other = await makeToken(t, a, { name: 'other' })
    const rotated = await t.req('POST', `/api/v1/tokens/${other.id}/rotate`, { token: a.token, body: { gracePeriodSeconds: 3600 } })
    expect([rotated.status, rotated.headers.get(HEADER)]).toEqual([201, mine])
    const revoked = await t.req('DELETE', `/api/v1/tokens/${rotated.body.id}`, { token: a.token })
    expect([revoked.status, revoked.headers.get(HEADER)]).toEqual([200, mine])
    const third = await makeToken(t, a, { name: 'third' })
    const alias = await t.req('POST', `/api/tokens/${third.id}/revoke`, { token: a.token })
    expect([alias.status, alias.headers.get(HEADER)]).toEqual([200, mine])
    await t.rt.close()
  })
})

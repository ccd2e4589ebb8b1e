import { afterAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, makeToken } from './helpers/app'
import { signedInPerson } from './helpers/console'

/**
 * Rotating a token that is no longer active, by a caller that is not that token (a console session
 * on a stale Settings page, another of the owner's tokens): the caller never presented the old
 * secret, so nothing says it leaked. 409 invalid_state naming the successor, and nothing revoked,
 * however long after the rotation or the revocation it comes. Reuse detection used to run for any
 * such caller past a minute: the whole rotation family (the successor already in CI), the tokens
 * its members created and their runs went, with a "secret leaked" event.
 */
const t = await makeTestApp()
afterAll(() => t.rt.close())
const DE = { 'accept-language': 'de-DE,de;q=0.9' }
const keyOf = (html: string, action: string) => new RegExp(`action="${action}"[^>]*>\\s*<input type="hidden" name="formKey" value="([0-9a-f-]{36})"`).exec(html)![1]!
const tokenOf = (html: string) => /id="new-token"[^>]*>\s*(td_[A-Za-z0-9]{43})\s*</.exec(html)?.[1]
const self = (token: string) => t.req('GET', '/api/v1/tokens/self', { token })
const familyEvents = async (admin: string) => (await t.req('GET', '/api/v1/audit-events?type=token.family_revoked', { token: admin })).body.total

describe('a stale rotation', () => {
  test('two tabs of Settings: the second Rotate, minutes after the first, is 409 naming the successor (English and German); the successor and what the old token made keep working', async () => {
    const { a, c } = await signedInPerson(t, { role: 'admin' })
    const old = await makeToken(t, a, { name: 'ci' })
    const made = (await t.req('POST', '/api/v1/tokens', { token: old.token, body: { name: 'made by ci', scopes: ['*'] } })).body
    const page = (await c.get('/settings/profile')).text
    const tab1 = keyOf(page, `/settings/tokens/${old.id}/rotate`)
    const tab2 = keyOf((await c.get('/settings/profile')).text, `/settings/tokens/${old.id}/rotate`)
    const rotated = await c.post(`/settings/tokens/${old.id}/rotate`, { formKey: tab1, grace: '0' })
    expect(rotated.status).toBe(201)
    const successor = tokenOf(rotated.text)!
    const successorId = (await self(successor)).body.token.id as string
    t.clock.advance(5 * 60_000)
    const stale = await c.post(`/settings/tokens/${old.id}/rotate`, { formKey: tab2, grace: '0' })
    expect(stale.status).toBe(409)
    expect(tokenOf(stale.text)).toBeUndefined()
    expect(stale.text).toContain(`rotate its successor ${successorId} instead`)
    expect(stale.text).not.toContain('reuse')
    const de = await c.post(`/settings/tokens/${old.id}/rotate`, { grace: '0' }, DE)
    expect(de.status).toBe(409)
    expect(de.text).toContain(`rotieren Sie stattdessen seinen Nachfolger ${successorId}`)
    expect((await self(successor)).status).toBe(200)
    expect((await self(made.token)).status).toBe(200)
    expect(await familyEvents(a.token)).toBe(0)
  })

  test('Rotate on a page shown before the token was trashed: 409 "already revoked", no leak event, the tokens it made stay', async () => {
    const { a, c } = await signedInPerson(t, { role: 'admin' })
    const old = await makeToken(t, a, { name: 'trashed' })
    const made = (await t.req('POST', '/api/v1/tokens', { token: old.token, body: { name: 'made by trashed', scopes: ['*'] } })).body
    const key = keyOf((await c.get('/settings/profile')).text, `/settings/tokens/${old.id}/rotate`)
    expect((await c.post(`/settings/tokens/${old.id}/revoke`, {})).status).toBe(303)
    t.clock.advance(5 * 60_000)
    const stale = await c.post(`/settings/tokens/${old.id}/rotate`, { formKey: key, grace: '0' })
    expect(stale.status).toBe(409)
    expect(stale.text).toContain('was already revoked and cannot be rotated; create a new token')
    const de = await c.post(`/settings/tokens/${old.id}/rotate`, { grace: '0' }, DE)
    expect(de.text).toContain('Dieses Token wurde schon widerrufen und kann nicht rotiert werden')
    expect((await self(made.token)).status).toBe(200)
    expect(await familyEvents(a.token)).toBe(0)
  })

  test("through the API with another of the owner's tokens, however late: 409 invalid_state naming the successor, nothing revoked", async () => {
    const a = await makeActor(t, { role: 'admin' })
    const old = await makeToken(t, a, { name: 'job' })
    const next = (await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: old.token, body: {} })).body
    const child = (await t.req('POST', '/api/v1/tokens', { token: next.token, body: { name: 'child', scopes: ['*'] } })).body
    t.clock.advance(60 * 60_000)
    for (const token of [a.token, next.token]) {
      const r = await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token, body: {} })
      expect([r.status, r.body.code]).toEqual([409, 'invalid_state'])
      expect(r.body.message).toContain(`rotate its successor ${next.id} instead`)
    }
    for (const tok of [next.token, child.token]) expect((await self(tok)).status).toBe(200)
    expect(await familyEvents(a.token)).toBe(0)
  })
})

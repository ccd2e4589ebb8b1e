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
  // A -> B -> C: the 409 named A's direct successor B, itself rotated, whose rotation was 409 again.
  test('a chain of rotations: the 409 names the active token at its end (English and German), and "create a new token" once none is active', async () => {
    const { a, c } = await signedInPerson(t, { role: 'admin' })
    const A = await makeToken(t, a, { name: 'chain' })
    const B = (await t.req('POST', `/api/v1/tokens/${A.id}/rotate`, { token: A.token, body: {} })).body
    const C = (await t.req('POST', `/api/v1/tokens/${B.id}/rotate`, { token: B.token, body: {} })).body
    expect([B.id, C.id].every(Boolean)).toBe(true)
    t.clock.advance(5 * 60_000)
    for (const id of [A.id, B.id]) {
      const r = await t.req('POST', `/api/v1/tokens/${id}/rotate`, { token: a.token, body: {} })
      expect([r.status, r.body.code, r.body.message]).toEqual([409, 'invalid_state', `Token ${id} was already rotated or revoked; rotate its successor ${C.id} instead (list your tokens).`])
    }
    const en = await c.post(`/settings/tokens/${A.id}/rotate`, { grace: '0' })
    expect([en.status, en.text.includes(`rotate its successor ${C.id} instead`)]).toEqual([409, true])
    const de = await c.post(`/settings/tokens/${A.id}/rotate`, { grace: '0' }, DE)
    expect([de.status, de.text.includes(`rotieren Sie stattdessen seinen Nachfolger ${C.id}`)]).toEqual([409, true])
    // The end of the chain trashed: nothing in the family to rotate.
    expect((await t.req('DELETE', `/api/v1/tokens/${C.id}`, { token: a.token })).status).toBeLessThan(300)
    for (const id of [A.id, B.id]) {
      const r = await t.req('POST', `/api/v1/tokens/${id}/rotate`, { token: a.token, body: {} })
      expect([r.status, r.body.message]).toEqual([409, `Token ${id} was already revoked and cannot be rotated; create a new token.`])
    }
    const gone = await c.post(`/settings/tokens/${A.id}/rotate`, { grace: '0' }, DE)
    expect([gone.status, gone.text.includes('Dieses Token wurde schon widerrufen und kann nicht rotiert werden')]).toEqual([409, true])
    expect(await familyEvents(a.token)).toBe(0)
  })

  test('a token in its grace period whose successor was rotated in turn: the 409 names the active token at the end of the chain, and "create a new token" once none is active', async () => {
    const { a, c } = await signedInPerson(t, { role: 'admin' })
    const A = await makeToken(t, a, { name: 'graceful' })
    const B = (await t.req('POST', `/api/v1/tokens/${A.id}/rotate`, { token: A.token, body: { gracePeriodSeconds: 3600 } })).body
    const C = (await t.req('POST', `/api/v1/tokens/${B.id}/rotate`, { token: B.token, body: {} })).body
    const r = await t.req('POST', `/api/v1/tokens/${A.id}/rotate`, { token: a.token, body: {} })
    expect([r.status, r.body.code]).toEqual([409, 'invalid_state'])
    expect(r.body.message).toStartWith(`Token ${A.id} was already rotated (its successor is ${C.id}) and stops working at `)
    // The token in its grace period is refused on tokens (403), and told the same token to use.
    const made = await t.req('POST', '/api/v1/tokens', { token: A.token, body: { name: 'from the old one' } })
    expect([made.status, made.body.message.includes(`(its successor is ${C.id})`)]).toEqual([403, true])
    expect((await t.req('DELETE', `/api/v1/tokens/${C.id}`, { token: a.token })).status).toBeLessThan(300)
    const none = await t.req('POST', `/api/v1/tokens/${A.id}/rotate`, { token: a.token, body: {} })
    expect([none.status, none.body.code]).toEqual([409, 'invalid_state'])
    expect(none.body.message).toMatch(new RegExp(`^Token ${A.id} was already rotated and stops working at \\S+, and no token of its rotation family is active any more; create a new token\\.$`))
    const de = await c.post(`/settings/tokens/${A.id}/rotate`, { grace: '0' }, DE)
    expect([de.status, de.text.includes('kein Token seiner Rotationsfolge ist mehr aktiv; generieren Sie ein neues')]).toEqual([409, true])
    expect((await self(A.token)).status).toBe(200)
  })
})

import { afterAll, expect, test } from 'bun:test'
import { makeTestApp, makeToken } from './helpers/app'
import { PASSWORD, signedInPerson } from './helpers/console'
import { SESSION_IDLE_MS } from '../src/console/session'

/**
 * A form that shows a secret once (a new token, a rotation) is sent at most once for as long as
 * the session that showed it lasts (src/console/form-once.tsx): its key was kept 24 hours, the
 * API's Idempotency-Key period, while a session lasts up to 7 days. The page left open in a tab
 * of a browser used every day, reloaded (or its tab restored and the form re-sent) two days
 * later, made a second token nobody asked for and showed it.
 */
const t = await makeTestApp()
afterAll(() => t.rt.close())

const keyOf = (html: string, action: string) => new RegExp(`action="${action}"[^>]*>\\s*<input type="hidden" name="formKey" value="([0-9a-f-]{36})"`).exec(html)![1]!
const tokenOf = (html: string) => /id="new-token"[^>]*>\s*(td_[A-Za-z0-9]{43})\s*</.exec(html)?.[1]

/** Two days and a half on, the session kept alive by a page view within each idle period. */
async function daysLater(c: { get(p: string): Promise<{ status: number }> }) {
  for (let i = 0; i < 6; i++) {
    t.clock.advance(SESSION_IDLE_MS - 60 * 60_000)
    expect((await c.get('/settings/profile')).status).toBe(200)
  }
}

test('the create form re-sent days later in the same session: named as already sent, no second token', async () => {
  const { a, c } = await signedInPerson(t, { role: 'member' })
  // The create form's key: the page's first (its other forms are the rows' rotations).
  const key = /name="formKey" value="([0-9a-f-]{36})"/.exec((await c.get('/settings/profile')).text)![1]!
  const form = { formKey: key, name: 'Left open in a tab', expires: '30', scope: '*' }
  expect((await c.post('/settings/tokens', form)).status).toBe(201)
  await daysLater(c)
  const again = await c.post('/settings/tokens', form)
  expect(again.status).toBe(409)
  expect(again.text).toContain('This form was already sent')
  expect(tokenOf(again.text)).toBeUndefined()
  const mine = (await t.req('GET', '/api/v1/tokens?limit=100', { token: a.token })).body.tokens.filter((x: any) => x.name === 'Left open in a tab')
  expect(mine).toHaveLength(1)
})

test('the rotate form re-sent days later in the same session: the token it made keeps working, nothing rotated again', async () => {
  const { a, c } = await signedInPerson(t, { role: 'member' })
  const old = await makeToken(t, a, { name: 'Rotated, left open' })
  const key = keyOf((await c.get('/settings/profile')).text, `/settings/tokens/${old.id}/rotate`)
  const rotated = await c.post(`/settings/tokens/${old.id}/rotate`, { formKey: key, grace: '0' })
  expect(rotated.status).toBe(201)
  const successor = tokenOf(rotated.text)!
  await daysLater(c)
  const again = await c.post(`/settings/tokens/${old.id}/rotate`, { formKey: key, grace: '0' })
  expect(again.status).toBe(409)
  expect(tokenOf(again.text)).toBeUndefined()
  expect((await t.req('GET', '/api/v1/tokens/self', { token: successor })).status).toBe(200)
})

test('the create form re-sent after a password change (which gives the browser a new session id): named as already sent, no second token', async () => {
  const { a, c } = await signedInPerson(t, { role: 'member' })
  const key = /name="formKey" value="([0-9a-f-]{36})"/.exec((await c.get('/settings/profile')).text)![1]!
  const form = { formKey: key, name: 'Sent before a password change', expires: '30', scope: '*' }
  expect((await c.post('/settings/tokens', form)).status).toBe(201)
  // Another tab changes the password: the browser goes on under a new session id.
  const changed = await c.post('/settings/password', { current: PASSWORD, password: 'a password changed meanwhile', confirm: 'a password changed meanwhile' })
  expect(changed.status).toBe(303)
  expect((await c.get('/settings/profile')).status).toBe(200)
  // The first tab's page reloaded: its form sent again, under the new session.
  const again = await c.post('/settings/tokens', form)
  expect(again.status).toBe(409)
  expect(again.text).toContain('This form was already sent')
  expect(tokenOf(again.text)).toBeUndefined()
  const mine = (await t.req('GET', '/api/v1/tokens?limit=100', { token: a.token })).body.tokens.filter((x: any) => x.name === 'Sent before a password change')
  expect(mine).toHaveLength(1)
})

import { describe, expect, test } from 'bun:test'
import { makeTestApp } from './helpers/app'
import { consoleClient, PASSWORD, signedInPerson } from './helpers/console'

/**
 * What a person's removal from an organization ends, followed through what was bound to them
 * there and what a later re-add must not bring back (README: "Personal Access Tokens", Leaving an
 * organization; members.test.ts holds the tokens' and sessions' part).
 */
describe('removed, then added again', () => {
  test('a set-password link made for the first membership stops with the removal and stays dead after a re-add (API and console)', async () => {
    const t = await makeTestApp()
    const { a, c } = await signedInPerson(t, { role: 'admin' })
    const members = `/api/v1/organizations/${a.organizationId}/members`
    for (const [email, remove] of [
      ['api@example.com', (uid: string) => t.req('DELETE', `${members}/${uid}`, { token: a.token })],
      ['console@example.com', (uid: string) => c.post(`/org/members/${uid}/remove`)],
    ] as const) {
      const added = await c.post('/org/members', { email, role: 'member' })
      const secret = /\/set-password\/([0-9A-Za-z]{43})/.exec(added.text)![1]!
      const uid = (await t.req('GET', members, { token: a.token })).body.members.find((m: { email: string }) => m.email === email).userId
      const holder = consoleClient(t)
      expect([email, (await holder.get(`/set-password/${secret}`)).status]).toEqual([email, 200])
      expect([email, (await remove(uid)).status]).toEqual([email, email.startsWith('api') ? 200 : 303])
      // Gone with the membership: the page no longer opens (it showed the form and the address).
      expect([email, (await holder.get(`/set-password/${secret}`)).status]).toEqual([email, 404])
      expect((await t.req('POST', members, { token: a.token, body: { email, role: 'member' } })).status).toBe(201)
      // Added again without a new link: the old one does not come back, nor sets a password.
      expect([email, (await holder.get(`/set-password/${secret}`)).status]).toEqual([email, 404])
      expect([email, (await holder.post(`/set-password/${secret}`, { password: PASSWORD, confirm: PASSWORD })).status]).toEqual([email, 404])
      expect([email, (await consoleClient(t).signIn(email)).status]).not.toEqual([email, 303])
      // A link made for the new membership works.
      const again = await c.post(`/org/members/${uid}/link`)
      const fresh = /\/set-password\/([0-9A-Za-z]{43})/.exec(again.text)?.[1]
      expect(fresh).toBeDefined()
      expect([email, (await holder.post(`/set-password/${fresh!}`, { password: PASSWORD, confirm: PASSWORD })).status]).toEqual([email, 303])
    }
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { users } from '../src/db/schema'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { PASSWORD, signedInPerson } from './helpers/console'

/**
 * One e-mail address chosen by several people at the same moment: two people changing theirs to
 * it (Settings → Profile), and an admin adding a member with it. One gets it; the others are
 * told it is taken (the profile page's 409; the API's 409 `already_member`, the person who took
 * it being a member here), and nobody gets a 500. The profile change asked whether the address
 * was free before its transaction, and on PostgreSQL both changes passed: the second write broke
 * the users' unique index (a "Server error" page, in most rounds). SQLite ran them one after the
 * other here; the check is in the write's transaction now on both.
 */

let t: TestApp
let admin: Actor
beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
})
afterAll(() => t.rt.close())

const ROUNDS = 12

describe('one new e-mail address chosen twice at once', () => {
  test('two profile changes and a member added with it: one has it, the others are refused with a clear answer, no 500', async () => {
    const wrong: string[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const p1 = await signedInPerson(t, { role: 'member' })
      const p2 = await signedInPerson(t, { role: 'member' })
      const email = `chosen${i}@example.com`
      const [r1, r2, added] = await Promise.all([
        p1.c.post('/settings/profile', { name: 'One', email, current: PASSWORD }),
        p2.c.post('/settings/profile', { name: 'Two', email, current: PASSWORD }),
        // Every other round the admin's add joins in.
        ...(i % 2 ? [t.req('POST', `/api/v1/organizations/${admin.organizationId}/members`, { token: admin.token, body: { email, role: 'member' } })] : []),
      ])
      const holders = await t.db.select({ id: users.id }).from(users).where(eq(users.email, email)).all()
      const profiles = [r1!, r2!]
      const saved = profiles.filter((r) => r.status === 303).length + (added?.status === 201 ? 1 : 0)
      const said = `round ${i}: ${profiles.map((r) => r.status).join(', ')}${added ? `, add ${added.status} ${added.body?.code ?? ''}` : ''}`
      if (profiles.some((r) => r.status !== 303 && r.status !== 409)) wrong.push(said)
      if (added && added.status !== 201 && !(added.status === 409 && added.body?.code === 'already_member')) wrong.push(said)
      if (saved !== 1 || holders.length !== 1) wrong.push(`${said}: ${saved} saved, ${holders.length} holding it`)
      // The refused page says why, on the field.
      for (const r of profiles.filter((r) => r.status === 409)) if (!r.text.includes('belongs to another user')) wrong.push(`${said}: the 409 page does not say why`)
    }
    expect(wrong).toEqual([])
  }, 120_000)
})

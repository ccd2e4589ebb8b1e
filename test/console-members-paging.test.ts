import { expect, test } from 'bun:test'
import { seedAudit, seedMembers } from '../bench/seed'
import { makeTestApp } from './helpers/app'
import { signedInPerson } from './helpers/console'

/**
 * Organization → Members shows every member, a page at a time. It read the member list 200 at a
 * time until it had 2,000 and showed those: in a larger organization the others (the oldest
 * members) were on no page, so an admin could neither see nor remove them there, and nothing said
 * the list was cut.
 */
test('the Members page pages through every member, 2,100 of them, each once, by its "More members" link', async () => {
  const t = await makeTestApp()
  const { a, c } = await signedInPerson(t, { role: 'admin' })
  const seeded = await seedMembers(t.db as never, { organizationId: a.organizationId, userId: a.userId }, 2_100, { now: t.clock.now() - 60_000, step: 7 })
  expect(seeded.length).toBe(2_100)
  const shown: string[] = []
  let path: string | null = '/org/members'
  let pages = 0
  while (path !== null) {
    const r = await c.get(path)
    expect(r.status).toBe(200)
    pages++
    shown.push(...[...r.text.matchAll(/<td>(member-\d+-[a-z0-9]+@example\.com)<\/td>/g)].map((m) => m[1]!))
    const more = /<a href="(\/org\/members\?cursor=[^"]+)">More members<\/a>/.exec(r.text)
    path = more ? more[1]!.replaceAll('&amp;', '&') : null
    expect(pages).toBeLessThan(50)
  }
  expect(new Set(shown).size).toBe(shown.length)
  expect(shown.length).toBe(2_100)
  expect(pages).toBeGreaterThan(1)
})

test('a Members page cursor that is not one is a 400 page saying so, not a 500', async () => {
  const t = await makeTestApp()
  const { c } = await signedInPerson(t, { role: 'admin' })
  const r = await c.get('/org/members?cursor=bm90LWEtY3Vyc29y')
  expect(r.status).toBe(400)
  expect(r.text).toContain('Invalid cursor')
})

test('the audit log names an older member of such an organization by e-mail, and its person filter can hold them', async () => {
  const t = await makeTestApp()
  const { a, c } = await signedInPerson(t, { role: 'admin' })
  const seeded = await seedMembers(t.db as never, { organizationId: a.organizationId, userId: a.userId }, 2_100, { now: t.clock.now() - 60_000, step: 7 })
  // The oldest member (the first seeded), past the 2,000 newest.
  const oldest = seeded[0]!
  await seedAudit(t.db as never, { organizationId: a.organizationId, userId: oldest }, 1, { now: t.clock.now() - 1_000 })
  const email = /member-0-[a-z0-9]+@example\.com/
  const log = await c.get('/org/audit')
  expect(log.status).toBe(200)
  expect(log.text).toMatch(new RegExp(`<td>${email.source}</td>`))
  expect(log.text).not.toContain(`<td>${oldest}</td>`)
  const filtered = await c.get(`/org/audit?person=${oldest}`)
  expect(filtered.status).toBe(200)
  expect(filtered.text).toMatch(new RegExp(`<option value="${oldest}" selected[^>]*>${email.source}</option>`))
})

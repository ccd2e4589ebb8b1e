import { describe, expect, test } from 'bun:test'
import { seedAudit, seedMembers } from '../bench/seed'
import { makeTestApp } from './helpers/app'
import { signedInPerson } from './helpers/console'
import { mostValuesBound } from './helpers/bound-values'
import { MEMBERS_PAGE, PEOPLE_CHOICES } from '../src/console/members-adapter'

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
  let bound = 0
  while (path !== null) {
    const r = await (async () => {
      let res!: Awaited<ReturnType<typeof c.get>>
      bound = Math.max(bound, await mostValuesBound(t, async () => (res = await c.get(path!))))
      return res
    })()
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
  // Whom a password link may go to is asked of each page's 200 people (all 2,100 are without a
  // password), not of the whole organization: its statements bind a page's ids, not every member's
  // (O(organization) a page, and an error past PostgreSQL's 65,535 parameters).
  expect(bound).toBeGreaterThan(MEMBERS_PAGE)
  expect(bound).toBeLessThan(MEMBERS_PAGE + 20)
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
  // Named by e-mail, a link to the log filtered on them (the filter's choices are the newest members only).
  expect(log.text).toMatch(new RegExp(`<td><a href="/org/audit\\?person=${oldest}">${email.source}</a></td>`))
  expect(log.text).not.toContain(`<td>${oldest}</td>`)
  const filtered = await c.get(`/org/audit?person=${oldest}`)
  expect(filtered.status).toBe(200)
  expect(filtered.text).toMatch(new RegExp(`<option value="${oldest}" selected[^>]*>${email.source}</option>`))
  // The person filter offers the newest PEOPLE_CHOICES members, this page's actor and the person
  // filtered on: it offered the newest 2,000, 150 KB of options on every page of the log.
  for (const page of [log, filtered]) {
    const people = /<select name="person">([^]*?)<\/select>/.exec(page.text)![1]!
    const options = [...people.matchAll(/<option value="(user_[^"]+)"/g)].map((m) => m[1]!)
    expect(options.length).toBe(PEOPLE_CHOICES + 1)
    expect(options).toContain(oldest)
    expect(page.text.length).toBeLessThan(40_000)
  }
})

/**
 * An action on a later page of Organization → Members (a role change, a removal, a password link,
 * a refused change) comes back to that page: it came back to the first, and an admin working
 * through page 2 of a large organization lost their place at each change. A page its members have
 * left (its last member removed) shows the first page, not an empty table.
 */
describe('an action on a later Members page returns to that page', () => {
  /** The admin's client on page 2 of Members (200 a page): 200 + `extra` members, the oldest on page 2. */
  async function onPage2(extra: number) {
    const t = await makeTestApp()
    const { a, c } = await signedInPerson(t, { role: 'admin' })
    const seeded = await seedMembers(t.db as never, { organizationId: a.organizationId, userId: a.userId }, 199 + extra, { now: t.clock.now() - 60_000, step: 7 })
    const first = await c.get('/org/members')
    const more = /<a href="(\/org\/members\?cursor=[^"]+)">More members<\/a>/.exec(first.text)
    expect(more).not.toBeNull()
    const path = more![1]!.replaceAll('&amp;', '&')
    const page2 = await c.get(path)
    expect(page2.status).toBe(200)
    // The oldest member, on page 2 only.
    const oldest = seeded[0]!
    expect(page2.text).toContain(`action="/org/members/${oldest}/role`)
    expect(first.text).not.toContain(`/org/members/${oldest}/role`)
    const actionOf = (what: string, text = page2.text) => new RegExp(`action="(/org/members/${oldest}/${what}[^"]*)"`).exec(text)![1]!.replaceAll('&amp;', '&')
    return { t, a, c, oldest, path, page2, actionOf, org: { pageOrganization: a.organizationId } }
  }
  const emails = (text: string) => [...text.matchAll(/<td>([^<]+@example\.com)<\/td>/g)].map((m) => m[1]!)

  test('a role change: back to page 2, with the notice and the new role', async () => {
    const { a, c, oldest, page2, actionOf, org } = await onPage2(3)
    const r = await c.post(actionOf('role'), { role: 'viewer', ...org })
    expect(r.status).toBe(303)
    const back = await c.get(r.headers.get('location')!)
    expect(back.status).toBe(200)
    expect(back.text).toContain('Role changed')
    expect(emails(back.text)).toEqual(emails(page2.text))
    expect(back.text).not.toContain(`<td>${a.email}</td>`)
    expect(back.text).toMatch(new RegExp(`action="/org/members/${oldest}/role\\?cursor=[^"]+"[^]*?<option value="viewer" selected`))
  })

  test('a removal: back to page 2, without the member', async () => {
    const { c, oldest, page2, actionOf, org } = await onPage2(3)
    const r = await c.post(actionOf('remove'), org)
    expect(r.status).toBe(303)
    const back = await c.get(r.headers.get('location')!)
    expect(back.status).toBe(200)
    expect(back.text).toContain('Member removed')
    expect(back.text).not.toContain(`/org/members/${oldest}/`)
    expect(emails(back.text).length).toBe(emails(page2.text).length - 1)
    expect(emails(back.text).length).toBeGreaterThan(0)
  })

  test('the removal of a page\'s only member: the first page, with the notice, not an empty table', async () => {
    const { a, c, page2, actionOf, org } = await onPage2(1)
    expect(emails(page2.text).length).toBe(1)
    const r = await c.post(actionOf('remove'), org)
    expect(r.status).toBe(303)
    const back = await c.get(r.headers.get('location')!)
    expect(back.status).toBe(200)
    expect(back.text).toContain('Member removed')
    expect(back.text).toContain(`<td>${a.email}</td>`)
    expect(emails(back.text).length).toBe(200)
    // That page's actions name no page (they are the first's).
    expect(back.text).not.toContain('/role?cursor=')
  })

  test('a refused change and a password link show page 2 again', async () => {
    const { c, oldest, page2, actionOf, org } = await onPage2(3)
    const refused = await c.post(actionOf('role'), { role: 'owner', ...org })
    expect(refused.status).toBe(422)
    expect(emails(refused.text)).toEqual(emails(page2.text))
    expect(refused.text).toContain(`action="/org/members/${oldest}/role?cursor=`)
    const link = await c.post(actionOf('link'), org)
    expect(link.status).toBe(200)
    expect(link.text).toContain('id="member-link"')
    expect(emails(link.text)).toEqual(emails(page2.text))
  })
})

import { afterAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, makeToken } from './helpers/app'
import { consoleClient, givePassword, signedInPerson } from './helpers/console'

/**
 * Settings → Profile → Personal Access Tokens as a list: its pages (every token reachable, the
 * view kept), what the create form makes of its scope boxes, and what each row says of when the
 * token stops or stopped.
 */
const t = await makeTestApp()
afterAll(() => t.rt.close())

const DE = { 'accept-language': 'de-DE,de;q=0.9' }
/** The ids of the tokens a page lists (each has its revoke form). */
const idsOn = (html: string) => [...html.matchAll(/action="\/settings\/tokens\/(pat_[A-Za-z0-9]+)\/revoke"/g)].map((m) => m[1]!)
/** The hidden view fields of a page's revoke forms (all=1, inactive=1, page=N). */
const viewFieldsOf = (html: string, id: string) => {
  const form = new RegExp(`action="/settings/tokens/${id}/revoke"[^>]*>([\\s\\S]*?)</form>`).exec(html)![1]!
  return Object.fromEntries([...form.matchAll(/<input type="hidden" name="(all|inactive|page)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]))
}
const hrefs = (html: string) => [...html.matchAll(/href="(\/settings\/profile[^"]*)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'))

describe('the token list in pages', () => {
  test('past 1,000 tokens (a total that says "more than"), a page past the end is still the last page', async () => {
    const big = await makeTestApp({ config: { maxTokensPerUser: 2000 } })
    try {
      const { a: admin, c } = await signedInPerson(big, { role: 'admin', org: 'many' })
      // 1 token of makeActor's; 1,076 more: 1,077 in all, the last page (11) holds 77.
      for (let i = 0; i < 1076; i++) {
        big.clock.advance(1000)
        await makeToken(big, admin, { name: `many ${i}` })
      }
      // The statements a request runs (the metrics' hook on the connection, every backend).
      const statementsOf = async (path: string) => {
        const conn = big.rt.connection
        const before = conn.onQuery
        let n = 0
        conn.onQuery = (s) => {
          n++
          before?.(s)
        }
        try {
          return { r: await c.get(path), n }
        } finally {
          conn.onQuery = before
        }
      }
      const last = await statementsOf('/settings/profile?all=1&page=11')
      expect(last.r.text).toContain('Tokens 1001-1077 of 1077')
      for (const page of ['12', '50', '10000', '1000000']) {
        const { r, n } = await statementsOf(`/settings/profile?all=1&page=${page}`)
        expect([page, r.text.includes('Tokens 1001-1077 of 1077')]).toEqual([page, true])
        // The page asked, one count up to it, the last page: two statements more than the last
        // page itself (give or take a count). Halving between the capped total (1,000) and the
        // page asked read up to 17 pages more (page=1000000: 20 statements more).
        expect([page, n - last.n <= 3]).toEqual([page, true])
      }
    } finally {
      await big.rt.close()
    }
  }, 60_000)

  test('219 active tokens of an organization: every one reachable through next/previous pages that keep ?all=1 and ?inactive=1, with how many there are', async () => {
    const { a: admin, c } = await signedInPerson(t, { role: 'admin', org: 'paged' })
    const members = [await makeActor(t, { org: 'paged' }), await makeActor(t, { org: 'paged' })]
    // 3 tokens from makeActor; 216 more, one a second, spread over the three people (each under its cap).
    for (let i = 0; i < 216; i++) {
      t.clock.advance(1000)
      await makeToken(t, [admin, ...members][i % 3]!, { name: `paged ${i}` })
    }
    const every = new Set<string>()
    let cursor: string | null = ''
    while (cursor !== null) {
      const r = await t.req('GET', `/api/v1/tokens?all=true&limit=200&cursor=${cursor}`, { token: admin.token })
      for (const tk of r.body.tokens) every.add(tk.id)
      cursor = r.body.nextCursor
    }
    expect(every.size).toBe(219)

    const first = await c.get('/settings/profile?all=1')
    expect(first.status).toBe(200)
    expect(first.text).toContain('Tokens 1-100 of 219')
    expect(hrefs(first.text)).toContain('/settings/profile?all=1&page=2#personal-access-tokens')
    expect(first.text).not.toContain('rel="prev"')
    const seen = new Set(idsOn(first.text))
    expect(seen.size).toBe(100)
    const second = await c.get('/settings/profile?all=1&page=2')
    expect(second.text).toContain('Tokens 101-200 of 219')
    expect(hrefs(second.text)).toEqual(expect.arrayContaining(['/settings/profile?all=1#personal-access-tokens', '/settings/profile?all=1&page=3#personal-access-tokens']))
    for (const id of idsOn(second.text)) seen.add(id)
    const third = await c.get('/settings/profile?all=1&page=3')
    expect(third.text).toContain('Tokens 201-219 of 219')
    expect(third.text).not.toContain('rel="next"')
    expect(hrefs(third.text)).toContain('/settings/profile?all=1&page=2#personal-access-tokens')
    for (const id of idsOn(third.text)) seen.add(id)
    expect(seen).toEqual(every)

    // The oldest token (the last one of page 3) is revoked from the console; its form brings the
    // list back as it was: every token, page 3.
    const oldest = idsOn(third.text).at(-1)!
    expect(viewFieldsOf(third.text, oldest)).toEqual({ all: '1', page: '3' })
    const revoked = await c.post(`/settings/tokens/${oldest}/revoke`, viewFieldsOf(third.text, oldest))
    expect(revoked.status).toBe(303)
    expect(revoked.headers.get('location')).toBe('/settings/profile?all=1&page=3&revoked=1#personal-access-tokens')
    const after = await c.get(revoked.headers.get('location')!)
    expect(after.text).toContain('Tokens 201-218 of 218')
    expect(idsOn(after.text)).not.toContain(oldest)

    // Revoked and expired ones too: 219 again, in pages that keep both choices.
    const inactive = await c.get('/settings/profile?all=1&inactive=1')
    expect(inactive.text).toContain('Tokens 1-100 of 219')
    expect(hrefs(inactive.text)).toContain('/settings/profile?all=1&inactive=1&page=2#personal-access-tokens')
    const inactive3 = await c.get('/settings/profile?all=1&inactive=1&page=3')
    expect(inactive3.text).toContain('Tokens 201-219 of 219')
    expect(inactive3.text).toContain('class="status-revoked"')
    // The view's switches start again at the first page of the other list.
    expect(hrefs(inactive3.text)).toEqual(expect.arrayContaining(['/settings/profile?all=1#personal-access-tokens', '/settings/profile?inactive=1#personal-access-tokens']))

    // A page past the end (typed in, or its last token just revoked) shows the last page; nonsense is the first.
    expect((await c.get('/settings/profile?all=1&page=9')).text).toContain('Tokens 201-218 of 218')
    for (const page of ['0', '-1', 'x', '1e3', '2.5']) expect([page, (await c.get(`/settings/profile?all=1&page=${page}`)).text.includes('Tokens 1-100 of 218')]).toEqual([page, true])

    // A form refused on page 2 shows page 2 again; a token made from page 2 is found on page 1.
    const refused = await c.post('/settings/tokens', { name: '  ', expires: '90', scope: '*', all: '1', page: '2' })
    expect(refused.status).toBe(422)
    expect(refused.text).toContain('Tokens 101-200 of 218')
    const made = await c.post('/settings/tokens', { name: 'made on page 2', expires: '90', scope: '*', all: '1', page: '2' })
    expect(made.status).toBe(201)
    expect(hrefs(made.text)).toContain('/settings/profile?all=1#personal-access-tokens')

    // A member's own list of one page has no page links.
    const mine = await consoleClient(t)
    await givePassword(t, members[0]!.userId)
    await mine.signIn(members[0]!.email)
    const own = await mine.get('/settings/profile')
    // 73, or 72 when the oldest token revoked above was this member's.
    const n = idsOn(own.text).length
    expect([72, 73]).toContain(n)
    expect(own.text).toContain(`Tokens 1-${n} of ${n}`)
    expect(own.text).not.toContain('rel="next"')
    expect(own.text).not.toContain('Page 1')
  })

  test('in German', async () => {
    const { a } = await signedInPerson(t, { role: 'admin', org: 'seiten' })
    await makeActor(t, { org: 'seiten' })
    for (let i = 0; i < 99; i++) await makeToken(t, a, { name: `seite ${i}` })
    const c = consoleClient(t, { headers: DE })
    await c.signIn(a.email)
    const page = await c.get('/settings/profile?all=1&page=2')
    expect(page.text).toContain('Tokens 101-101 von 101')
    expect(page.text).toContain('← Vorherige Seite')
    expect(page.text).toContain('Seite 2')
    expect((await c.get('/settings/profile?all=1')).text).toContain('Nächste Seite →')
  })
})

describe('the create form\'s scopes', () => {
  /** The form as the page sends it: its empty `scope` first, then the boxes ticked. */
  const sentForm = async (c: ReturnType<typeof consoleClient>, fields: Record<string, string | string[]>) => {
    const page = (await c.get('/settings/profile')).text
    const key = /name="formKey" value="([0-9a-f-]{36})"/.exec(page)![1]!
    expect(page).toContain('<input type="hidden" name="scope" value=""/>')
    return c.post('/settings/tokens', { formKey: key, ...fields })
  }
  const names = async (token: string) => (await t.req('GET', '/api/v1/tokens', { token })).body.tokens.map((x: any) => `${x.name}: ${x.scopes.join(' ')}`)

  test('full access unticked and no scope ticked is refused with the form\'s error (English and German), nothing made; the default box gives *', async () => {
    const { a, c } = await signedInPerson(t, { role: 'member', org: 'scoped' })
    const none = await sentForm(c, { name: 'No scope', expires: '30', scope: [''] })
    expect(none.status).toBe(422)
    expect(none.text).toContain('<p class="error" role="alert" id="token-error" tabindex="-1" autofocus>Validation failed: no scope chosen. Tick full access, or at least one scope of a resource.</p>')
    expect(none.text).not.toMatch(/td_[A-Za-z0-9]{43}/)
    // The form comes back as sent: the name kept, full access unticked.
    expect(none.text).toContain('value="No scope"')
    expect(none.text).not.toMatch(/name="scope" value="\*" checked/)
    const de = consoleClient(t, { headers: DE })
    await de.signIn(a.email)
    const deNone = await sentForm(de, { name: 'Keine', expires: '30', scope: '' })
    expect(deNone.status).toBe(422)
    expect(deNone.text).toContain('Ungültige Eingabe: Keine Berechtigung gewählt. Kreuzen Sie Vollzugriff an oder mindestens eine Berechtigung einer Ressource.')
    expect(await names(a.token)).not.toEqual(expect.arrayContaining([expect.stringMatching(/^(No scope|Keine):/)]))
    // The default (full access ticked) is *, a box of a resource is that scope.
    const full = await sentForm(c, { name: 'Full', expires: '30', scope: ['', '*'] })
    expect(full.status).toBe(201)
    const read = await sentForm(c, { name: 'Read', expires: '30', scope: ['', 'agents:read'] })
    expect(read.status).toBe(201)
    expect(await names(a.token)).toEqual(expect.arrayContaining(['Full: *', 'Read: agents:read']))
  })
})

describe('a token pasted as a new token\'s name', () => {
  test('is refused with the form\'s error on the name field, and the form comes back without it (redacted, or empty without its td_)', async () => {
    const { a, c } = await signedInPerson(t, { role: 'member', org: 'pasted' })
    const body = a.token.slice(3)
    for (const [name, shown] of [[`old ${a.token}`, 'value="old td_…[redacted]"'], [body, 'value=""']] as const) {
      const page = (await c.get('/settings/profile')).text
      const key = /name="formKey" value="([0-9a-f-]{36})"/.exec(page)![1]!
      const res = await c.post('/settings/tokens', { formKey: key, name, expires: '30', scope: ['', '*'] })
      expect(res.status).toBe(422)
      expect(res.text).toContain('must not contain a token')
      expect(res.text).toContain(shown)
      expect(res.text).toMatch(/<input[^>]*name="name"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*name="name"/)
      expect(res.text).not.toContain(body)
    }
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens).toHaveLength(1)
  })
})

describe('when a token stops, in the list', () => {
  /** The Expires cell of the row of the token with this name (the older one, a rotated token's, when its successor has the name too). */
  const expiresCell = (html: string, name: string) => [...html.matchAll(new RegExp(`<tr><td>${name}</td><td>.*?</td><td>.*?</td><td>(.*?)</td>`, 'g'))].at(-1)![1]!
  const text = (cell: string) => cell.replace(/<time[^>]*>[^<]*<\/time>/g, '<time>').replace(/<[^t/][^>]*>|<\/(?!time)[^>]*>/g, ' ').replace(/\s+/g, ' ').trim()

  /** Clients of the person signed in now, in English and German (a session ends after some hours: the tests move the clock by days). */
  const clients = async (email: string) => {
    const en = consoleClient(t)
    const de = consoleClient(t, { headers: DE })
    expect((await en.signIn(email)).status).toBe(303)
    expect((await de.signIn(email)).status).toBe(303)
    return { en: async (path: string) => (await en.get(path)).text, de: async (path: string) => (await de.get(path)).text, c: en }
  }

  test('a rotated token in its grace period says how many minutes or hours it has left, in English and German', async () => {
    const a = await makeActor(t, { org: 'grace' })
    await givePassword(t, a.userId)
    const { en, de, c } = await clients(a.email)
    const hour = await makeToken(t, a, { name: 'grace hour' })
    const day = await makeToken(t, a, { name: 'grace day' })
    // The successors are newer than the rotated tokens (listed first, the rotated ones after them).
    t.clock.advance(1000)
    expect((await c.post(`/settings/tokens/${hour.id}/rotate`, { grace: '3600' })).status).toBe(201)
    expect((await c.post(`/settings/tokens/${day.id}/rotate`, { grace: '86400' })).status).toBe(201)
    t.clock.advance(8 * 60_000)
    expect(text(expiresCell(await en('/settings/profile'), 'grace hour'))).toBe('<time> stops in 52 minutes')
    expect(text(expiresCell(await en('/settings/profile'), 'grace day'))).toBe('<time> stops in 23 hours 52 minutes')
    expect(text(expiresCell(await de('/settings/profile'), 'grace hour'))).toBe('<time> endet in 52 Minuten')
    expect(text(expiresCell(await de('/settings/profile'), 'grace day'))).toBe('<time> endet in 23 Stunden 52 Minuten')
    t.clock.advance(51 * 60_000 + 30_000)
    expect(text(expiresCell(await en('/settings/profile'), 'grace hour'))).toBe('<time> stops in 1 minute')
    expect(text(expiresCell(await de('/settings/profile'), 'grace hour'))).toBe('<time> endet in 1 Minute')
  })

  test('a token with less than a day left says its hours; one with more, its days', async () => {
    const a = await makeActor(t, { org: 'soon' })
    await givePassword(t, a.userId)
    await makeToken(t, a, { name: 'week', expiresInDays: 7 })
    t.clock.advance(6 * 86_400_000 + 19 * 3_600_000)
    await makeToken(t, a, { name: 'month', expiresInDays: 30 })
    t.clock.advance(60_000)
    const { en, de } = await clients(a.email)
    expect(text(expiresCell(await en('/settings/profile'), 'week'))).toBe('<time> expires in 4 hours 59 minutes')
    expect(text(expiresCell(await de('/settings/profile'), 'week'))).toBe('<time> läuft in 4 Stunden 59 Minuten ab')
    t.clock.advance(59 * 60_000)
    expect(text(expiresCell(await en('/settings/profile'), 'week'))).toBe('<time> expires in 4 hours')
    expect(text(expiresCell(await de('/settings/profile'), 'week'))).toBe('<time> läuft in 4 Stunden ab')
    expect(text(expiresCell(await en('/settings/profile'), 'month'))).toBe('<time> expires in 30 days')
    expect(text(expiresCell(await de('/settings/profile'), 'month'))).toBe('<time> läuft in 30 Tagen ab')
  })

  test('"Show revoked and expired tokens": a revoked token says when it was revoked, an expired one when it expired, never a future expiry', async () => {
    const a = await makeActor(t, { org: 'history' })
    await givePassword(t, a.userId)
    const gone = await makeToken(t, a, { name: 'revoked one', expiresInDays: 90 })
    const old = await makeToken(t, a, { name: 'expired one', expiresInDays: 7 })
    t.clock.advance(3_600_000)
    const revokedAt = new Date(t.clock.now()).toISOString()
    expect((await (await clients(a.email)).c.post(`/settings/tokens/${gone.id}/revoke`, { inactive: '1' })).status).toBe(303)
    t.clock.advance(7 * 86_400_000)
    const { en, de } = await clients(a.email)
    const page = await en('/settings/profile?inactive=1')
    expect(expiresCell(page, 'revoked one')).toStartWith(`revoked <time datetime="${revokedAt}"`)
    expect(text(expiresCell(page, 'revoked one'))).toBe('revoked <time>')
    expect(expiresCell(page, 'expired one')).toContain(`<time datetime="${(await t.req('GET', `/api/v1/tokens/${old.id}`, { token: a.token })).body.token.expiresAt}"`)
    expect(text(expiresCell(page, 'expired one'))).toBe('expired <time>')
    expect(page).not.toContain('expires in 90 days')
    const dePage = await de('/settings/profile?inactive=1')
    expect(text(expiresCell(dePage, 'revoked one'))).toBe('widerrufen am <time>')
    expect(text(expiresCell(dePage, 'expired one'))).toBe('abgelaufen am <time>')
  })
})

// The rotate form's grace select had two names: a hidden label ("Grace period for X") and an
// aria-label ("Old token keeps working for (rotating X)"), which screen readers read instead.
describe('the rotate form\'s grace select', () => {
  test('has one accessible name, its label: what the choice is and for which token (English and German)', async () => {
    const { a, c } = await signedInPerson(t, { role: 'member', org: 'grace-name' })
    await makeToken(t, a, { name: 'deploy key' })
    for (const [headers, name] of [[{}, 'Old token keeps working for (rotating deploy key)'], [DE, 'Übergangsfrist des alten Tokens (Rotation von deploy key)']] as const) {
      const html = (await c.get('/settings/profile', headers)).text
      const labels = [...html.matchAll(/<label>((?:(?!<\/label>)[\s\S])*?<select name="grace"[^>]*>)/g)].map((m) => m[1]!)
      expect(labels.length).toBeGreaterThan(0)
      const mine = labels.find((l) => l.includes('deploy key'))!
      // The select itself names nothing: no aria-label or aria-labelledby beside its label.
      expect(/<select name="grace"[^>]*>/.exec(mine)![0]).not.toMatch(/aria-label/)
      expect(mine.replace(/<select[\s\S]*$/, '').replace(/<[^>]+>/g, '')).toBe(name)
      expect(html).not.toContain('Grace period for')
      expect(html).not.toContain('Übergangsfrist für')
    }
  })
})

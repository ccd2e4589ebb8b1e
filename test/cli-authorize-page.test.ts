// The console's approval page of a CLI sign-in (authUrl) and the CLI sessions page, over HTTP
// with a console session: sign-in first and back through `next`, what the page shows, Approve
// and Deny as CSRF-checked POSTs, the organization picker, revoke from the console → 401.
import { describe, expect, test } from 'bun:test'
import { generateToken } from '../src/auth/tokens'
import { createUser } from '../src/modules/users/service'
import { describeLoginRequest } from '../src/modules/cli-auth/service'
import { SecretBox } from '../src/crypto/secretbox'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { consoleClient, givePassword, shownApproval } from './helpers/console'

const UA = 'teamday-cli/0.1.0 (test)'

async function setup() {
  const t = await makeTestApp()
  const alice = await makeActor(t, { role: 'member' })
  await givePassword(t, alice.userId)
  return { t, alice }
}

async function initiate(t: TestApp, ua = UA) {
  const res = await t.req('POST', '/api/auth/cli/initiate', { headers: { 'content-type': 'application/json', 'user-agent': ua }, ip: '198.51.100.23' })
  return res.body as { code: string; authUrl: string; shortCode: string }
}
const path = (authUrl: string) => new URL(authUrl).pathname
const DE = { 'accept-language': 'de-DE,de;q=0.9' }
/** The organization the approval form's picker holds. */
const picked = (html: string) => /<select name="organizationId" required[^>]*>.*?<option value="(org_\w+)" selected/.exec(html.replace(/<option value="org_\w+">/g, ''))?.[1]

async function signedIn(t: TestApp, who: Actor) {
  const c = consoleClient(t)
  expect((await c.signIn(who.email)).status).toBe(303)
  return c
}

describe('the approval page', () => {
  test('not signed in: to the sign-in page, then back to the approval page through next', async () => {
    const { t, alice } = await setup()
    const { authUrl } = await initiate(t)
    const c = consoleClient(t)
    const first = await c.get(path(authUrl))
    expect(first.status).toBe(303)
    const login = first.headers.get('location')!
    expect(login).toBe(`/login?next=${encodeURIComponent(path(authUrl))}`)
    const form = await c.get(login)
    expect(form.text).toContain(`name="next" value="${path(authUrl)}"`)
    const back = await c.post('/login', { email: alice.email, password: 'correct horse battery staple', next: path(authUrl) })
    expect(back.status).toBe(303)
    expect(back.headers.get('location')).toBe(path(authUrl))
  })

  test('shows the code and its short form, the requesting address, program and time; no-referrer, no-store', async () => {
    const { t, alice } = await setup()
    const { authUrl, code, shortCode } = await initiate(t)
    const c = await signedIn(t, alice)
    const res = await c.get(path(authUrl))
    expect(res.status).toBe(200)
    expect(res.headers.get('referrer-policy')).toBe('no-referrer')
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.text).toContain(shortCode)
    expect(res.text).toContain(code)
    expect(res.text).toContain('198.51.100.23')
    expect(res.text).toContain(UA)
    expect(res.text).toContain(new Date(t.clock.now()).toISOString())
    expect(res.text).toContain('value="approve"')
    expect(res.text).toContain('value="deny"')
    // One organization: no picker.
    expect(res.text).not.toContain('<select name="organizationId"')
  })

  test('Approve (a same-origin POST) lets the poll take the tokens; the page then says to return to the terminal', async () => {
    const { t, alice } = await setup()
    const { authUrl, code } = await initiate(t)
    const c = await signedIn(t, alice)
    const res = await c.post(path(authUrl), { ...(await shownApproval(t, c, path(authUrl))), organizationId: alice.organizationId })
    expect(res.status).toBe(303)
    const after = await c.get(path(authUrl))
    expect(after.text).toContain('Return to your terminal')
    expect(after.text).not.toContain('198.51.100.23')
    const poll = await t.req('GET', `/api/auth/cli/poll?code=${code}`)
    expect(poll.body).toMatchObject({ status: 'authorized', userId: alice.userId, organizationId: alice.organizationId })
    expect((await t.req('GET', '/api/v1/agents', { token: poll.body.accessToken })).status).toBe(200)
  })

  test('a cross-site POST is refused and changes nothing', async () => {
    const { t, alice } = await setup()
    const { authUrl, code } = await initiate(t)
    const c = await signedIn(t, alice)
    const res = await c.post(path(authUrl), { decision: 'approve' }, { 'sec-fetch-site': 'cross-site' })
    expect(res.status).toBe(403)
    const foreign = await c.post(path(authUrl), { decision: 'approve' }, { 'sec-fetch-site': '', origin: 'https://evil.example' })
    expect(foreign.status).toBe(403)
    expect((await t.req('GET', `/api/auth/cli/poll?code=${code}`)).body.status).toBe('pending')
  })

  // Double-clickjacking: another site sends the victim's tab here at the first click of a
  // double-click, and the second lands on Approve. console.js holds such a click back only once it
  // has run (deferred; none without JavaScript): the server refuses an Approve sent less than a
  // second after the page it came from was rendered, or from no page it rendered.
  test('an Approve sent within a second of its page, or with no stamp, a forged one or another login\'s, is refused (422, the page says so); a second on, it goes', async () => {
    const { t, alice } = await setup()
    const { authUrl, code } = await initiate(t)
    const other = await initiate(t)
    const c = await signedIn(t, alice)
    const shown = await c.get(path(authUrl))
    const stamp = /name="shownAt" value="([^"]+)"/.exec(shown.text)![1]!
    const otherStamp = /name="shownAt" value="([^"]+)"/.exec((await c.get(path(other.authUrl))).text)![1]!
    const [at] = stamp.split('.')
    for (const shownAt of [stamp, undefined, `${Number(at) - 5000}.${stamp.split('.')[1]}`, `${at}.forged`, otherStamp, '', 'x.y']) {
      if (shownAt !== stamp) t.clock.advance(1000)
      const res = await c.post(path(authUrl), { decision: 'approve', organizationId: alice.organizationId, ...(shownAt === undefined ? {} : { shownAt }) })
      expect({ shownAt, status: res.status }).toEqual({ shownAt, status: 422 })
      expect(res.text).toContain('press Approve again')
      // The page shown again carries a stamp of its own.
      expect(res.text).toMatch(/name="shownAt" value="\d+\.[\w-]+"/)
      expect((await describeLoginRequest(t.ctx, code))!.state).toBe('pending')
    }
    // Deny needs no wait.
    expect((await c.post(path(other.authUrl), { decision: 'deny' })).status).toBe(303)
    // The first page's stamp, a second after it was rendered (the clock has moved on): Approve goes.
    expect((await c.post(path(authUrl), { decision: 'approve', organizationId: alice.organizationId, shownAt: stamp })).status).toBe(303)
    expect((await t.req('GET', `/api/auth/cli/poll?code=${code}`)).body.status).toBe('authorized')
  })

  test('a page shown before a key rotation (its stamp signed by a key now previous in the ring) still approves; a stamp of a key not in the ring does not', async () => {
    const before = crypto.getRandomValues(new Uint8Array(32))
    const t = await makeTestApp({ key: crypto.getRandomValues(new Uint8Array(32)), previousKeys: [before] })
    const alice = await makeActor(t, { role: 'member' })
    await givePassword(t, alice.userId)
    const { authUrl, code } = await initiate(t)
    const c = await signedIn(t, alice)
    const at = t.clock.now()
    const stampBy = (key: Uint8Array) => `${at}.${new SecretBox(key).digest(`${code}\u0000${at}`, 'cli-approve-shown')}`
    t.clock.advance(1000)
    const stranger = await c.post(path(authUrl), { decision: 'approve', organizationId: alice.organizationId, shownAt: stampBy(crypto.getRandomValues(new Uint8Array(32))) })
    expect(stranger.status).toBe(422)
    expect((await c.post(path(authUrl), { decision: 'approve', organizationId: alice.organizationId, shownAt: stampBy(before) })).status).toBe(303)
    expect((await describeLoginRequest(t.ctx, code))!.state).toBe('approved')
  })

  test('a decision sent twice with different values is no decision: 422, the request stays pending', async () => {
    const { t, alice } = await setup()
    const { authUrl, code } = await initiate(t)
    const c = await signedIn(t, alice)
    for (const decision of [['deny', 'approve'], ['approve', 'deny']]) {
      expect((await c.post(path(authUrl), { decision })).status).toBe(422)
    }
    expect((await t.req('GET', `/api/auth/cli/poll?code=${code}`)).body.status).toBe('pending')
    // The same value twice is that value.
    expect((await c.post(path(authUrl), { decision: ['deny', 'deny'] })).status).toBe(303)
    expect((await t.req('GET', `/api/auth/cli/poll?code=${code}`)).body.code).toBe('login_denied')
  })

  test('Deny: the poll is refused; the page says TeamDay\'s CLI keeps waiting (Ctrl-C); a second decision is refused', async () => {
    const { t, alice } = await setup()
    const { authUrl, code } = await initiate(t)
    const c = await signedIn(t, alice)
    expect((await c.post(path(authUrl), { decision: 'deny' })).status).toBe(303)
    const after = await c.get(path(authUrl))
    expect(after.text).toContain('Denied')
    expect(after.text).toContain('Ctrl-C')
    expect((await t.req('GET', `/api/auth/cli/poll?code=${code}`)).body.code).toBe('login_denied')
    const again = await c.post(path(authUrl), { decision: 'approve' })
    expect(again.status).toBe(409)
    expect((await t.req('GET', `/api/auth/cli/poll?code=${code}`)).body.code).toBe('login_denied')
  })

  test('several organizations: a picker; the chosen one is the session\'s; another person\'s organization is refused', async () => {
    const { t, alice } = await setup()
    const other = await createUser(t.ctx, { email: alice.email, orgSlug: 'second', role: 'viewer' })
    const stranger = await makeActor(t, { org: 'third' })
    const { authUrl, code } = await initiate(t)
    const c = await signedIn(t, alice)
    const page = await c.get(path(authUrl))
    expect(page.text).toContain('<select name="organizationId"')
    expect(page.text).toContain(`value="${other.organization.id}"`)
    expect(page.text).not.toContain(stranger.organizationId)
    const bad = await c.post(path(authUrl), { ...(await shownApproval(t, c, path(authUrl))), organizationId: stranger.organizationId })
    expect(bad.status).toBe(422)
    expect((await c.post(path(authUrl), { ...(await shownApproval(t, c, path(authUrl))), organizationId: other.organization.id })).status).toBe(303)
    const poll = await t.req('GET', `/api/auth/cli/poll?code=${code}`)
    expect(poll.body.organizationId).toBe(other.organization.id)
    // The viewer role of that organization applies.
    expect((await t.req('POST', '/api/v1/agents', { token: poll.body.accessToken, body: { name: 'x' } })).status).toBe(403)
  })

  // The approval form shown again after a refusal had the console's organization picked, not the
  // one chosen: the next Approve signed the terminal in there.
  test('several organizations: the one chosen stays picked when the page is shown again, and the approval from it is that organization\'s', async () => {
    const { t, alice } = await setup()
    const other = await createUser(t.ctx, { email: alice.email, orgSlug: 'second', role: 'admin' })
    const { authUrl, code } = await initiate(t)
    const c = await signedIn(t, alice)
    expect(picked((await c.get(path(authUrl))).text)).toBe(alice.organizationId)
    // No decision; a token pasted into a field: each page shown again keeps the choice.
    const undecided = await c.post(path(authUrl), { organizationId: other.organization.id })
    expect(undecided.status).toBe(422)
    expect(picked(undecided.text)).toBe(other.organization.id)
    const pasted = await c.post(path(authUrl), { organizationId: other.organization.id, note: `td_${'a'.repeat(43)}` })
    expect(pasted.status).toBe(422)
    expect(picked(pasted.text)).toBe(other.organization.id)
    // One not among the person's is not shown as picked.
    expect(picked((await c.post(path(authUrl), { organizationId: 'org_someoneelse' })).text)).toBe(alice.organizationId)
    // Approve as the page shown again sends it.
    expect((await c.post(path(authUrl), { ...(await shownApproval(t, c, path(authUrl))), organizationId: picked(undecided.text)! })).status).toBe(303)
    const poll = await t.req('GET', `/api/auth/cli/poll?code=${code}`)
    expect(poll.body).toMatchObject({ status: 'authorized', organizationId: other.organization.id })
    const self = await t.req('GET', '/api/v1/tokens/self', { token: poll.body.accessToken })
    expect(self.body.token).toMatchObject({ organizationId: other.organization.id, organizationSlug: 'second', role: 'admin' })
  })

  // The header's organization switcher led to Settings → Profile: the approval page was lost, and
  // the person had to find the terminal's link again.
  test('the header\'s organization switcher comes back to the approval page, whose picker then holds the organization switched to (English and German)', async () => {
    const { t, alice } = await setup()
    const other = await createUser(t.ctx, { email: alice.email, orgSlug: 'second', role: 'admin' })
    const { authUrl, code } = await initiate(t)
    const c = await signedIn(t, alice)
    const first = await c.get(path(authUrl))
    const switcher = /<form method="post" action="\/org\/switch"[^>]*>(.*?)<\/form>/s.exec(first.text)![1]!
    expect(switcher).toContain(`<input type="hidden" name="next" value="${path(authUrl)}"/>`)
    const to = await c.post('/org/switch', { organizationId: other.organization.id, next: path(authUrl) })
    expect(to.status).toBe(303)
    expect(to.headers.get('location')).toBe(path(authUrl))
    const back = await c.get(path(authUrl))
    expect(picked(back.text)).toBe(other.organization.id)
    // In German: the same way back, the page in German.
    const de = await c.post('/org/switch', { organizationId: alice.organizationId, next: path(authUrl) }, DE)
    expect(de.headers.get('location')).toBe(path(authUrl))
    const deBack = await c.get(path(authUrl), DE)
    expect(deBack.text).toContain('<html lang="de">')
    expect(picked(deBack.text)).toBe(alice.organizationId)
    expect(/<form method="post" action="\/org\/switch"[^>]*>(.*?)<\/form>/s.exec(deBack.text)![1]).toContain(`name="next" value="${path(authUrl)}"`)
    // The approval from there is for the organization switched to.
    await c.post('/org/switch', { organizationId: other.organization.id, next: path(authUrl) })
    expect((await c.post(path(authUrl), { ...(await shownApproval(t, c, path(authUrl))), organizationId: picked((await c.get(path(authUrl))).text)! })).status).toBe(303)
    expect((await t.req('GET', `/api/auth/cli/poll?code=${code}`)).body.organizationId).toBe(other.organization.id)
  })

  test('the switcher\'s return path is a same-origin path only; anything else (another site, a secret but the approval page\'s code) leads to Settings → Profile', async () => {
    const { t, alice } = await setup()
    const other = await createUser(t.ctx, { email: alice.email, orgSlug: 'second', role: 'viewer' })
    const c = await signedIn(t, alice)
    // Pages with nothing to come back to send none: Settings → Profile, as before (Agents and
    // Spaces come back to their lists: test/console-pages.test.ts).
    const profile = await c.get('/settings/profile')
    expect(/<form method="post" action="\/org\/switch"[^>]*>(.*?)<\/form>/s.exec(profile.text)![1]).not.toContain('name="next"')
    const cases: [string | undefined, string][] = [
      [undefined, '/settings/profile'],
      ['', '/settings/profile'],
      ['/spaces', '/spaces'],
      ['//evil.example/x', '/settings/profile'],
      ['https://evil.example/', '/settings/profile'],
      ['/\\evil.example', '/settings/profile'],
      ['/.//evil.example', '/settings/profile'],
      ['javascript:alert(1)', '/settings/profile'],
      [`/settings/profile?k=${generateToken()}`, '/settings/profile'],
      [`/cli/authorize/${generateToken('tdc_')}/more`, '/settings/profile'],
      ['/x'.repeat(300), '/settings/profile'],
    ]
    for (const [next, want] of cases) {
      const res = await c.post('/org/switch', { organizationId: other.organization.id, ...(next === undefined ? {} : { next }) })
      expect({ next, status: res.status, location: res.headers.get('location') }).toEqual({ next, status: 303, location: want })
    }
    // The approval page's own path, its code in it, is one.
    const code = generateToken('tdc_')
    expect((await c.post('/org/switch', { organizationId: alice.organizationId, next: `/cli/authorize/${code}` })).headers.get('location')).toBe(`/cli/authorize/${code}`)
  })

  // The page after Approve said "Return to your terminal" but not where the terminal was signed in.
  test('after Approve the page says which organization the terminal was signed in to, with which role, to the person who approved it (English and German)', async () => {
    const { t, alice } = await setup()
    const other = await createUser(t.ctx, { email: alice.email, orgSlug: 'second-org', role: 'admin' })
    const { authUrl, code } = await initiate(t)
    const c = await signedIn(t, alice)
    expect((await c.post(path(authUrl), { ...(await shownApproval(t, c, path(authUrl))), organizationId: other.organization.id })).status).toBe(303)
    const en = (await c.get(path(authUrl))).text
    expect(en).toContain('Return to your terminal')
    expect(en).toContain('This sign-in is for the organization second-org, with your role there: admin.')
    const de = (await c.get(path(authUrl), DE)).text
    expect(de).toContain('Diese Anmeldung gilt für die Organisation second-org, mit Ihrer Rolle dort: Administrator.')
    // Once the terminal has its tokens: the same.
    expect((await t.req('GET', `/api/auth/cli/poll?code=${code}`)).body.status).toBe('authorized')
    const delivered = (await c.get(path(authUrl))).text
    expect(delivered).toContain('The command-line tool is signed in.')
    expect(delivered).toContain('This sign-in is for the organization second-org, with your role there: admin.')
    // A decision sent again (409): the same page.
    const again = await c.post(path(authUrl), { decision: 'approve', organizationId: other.organization.id })
    expect(again.status).toBe(409)
    expect(again.text).toContain('with your role there: admin.')
    // Someone else with the link: what happened, not where.
    const bob = await makeActor(t, { org: 'bobs-org' })
    await givePassword(t, bob.userId)
    const b = await signedIn(t, bob)
    const theirs = (await b.get(path(authUrl))).text
    expect(theirs).toContain('The command-line tool is signed in.')
    expect(theirs).not.toContain('second-org')
    expect(theirs).not.toContain('with your role there')
  })

  test('a denied request says no organization', async () => {
    const { t, alice } = await setup()
    const { authUrl } = await initiate(t)
    const c = await signedIn(t, alice)
    expect((await c.post(path(authUrl), { decision: 'deny' })).status).toBe(303)
    expect((await c.get(path(authUrl))).text).not.toContain('with your role there')
  })

  test('an expired or unknown code: a page that says so, no details', async () => {
    const { t, alice } = await setup()
    const { authUrl } = await initiate(t)
    const c = await signedIn(t, alice)
    t.clock.advance(301_000)
    const expired = await c.get(path(authUrl))
    expect(expired.status).toBe(200)
    expect(expired.text).toContain('expired')
    expect(expired.text).not.toContain('198.51.100.23')
    expect((await c.post(path(authUrl), { decision: 'approve' })).status).toBe(409)
    expect((await c.get(`/cli/authorize/tdc_${'A'.repeat(43)}`)).status).toBe(404)
  })

  test('what the CLI sent is shown as text: a user agent with markup is escaped', async () => {
    const { t, alice } = await setup()
    const { authUrl } = await initiate(t, '<script>alert(1)</script>')
    const c = await signedIn(t, alice)
    const res = await c.get(path(authUrl))
    expect(res.text).not.toContain('<script>alert(1)</script>')
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
  })
})

describe('CLI sign-ins in the console', () => {
  test('listed with device, creation and last use; Revoke stops the access and the refresh token at once', async () => {
    const { t, alice } = await setup()
    const { authUrl, code } = await initiate(t)
    const c = await signedIn(t, alice)
    await c.post(path(authUrl), await shownApproval(t, c, path(authUrl)))
    const tokens = (await t.req('GET', `/api/auth/cli/poll?code=${code}`)).body
    await t.req('GET', '/api/v1/agents', { token: tokens.accessToken, ip: '203.0.113.50' })
    expect((await c.get('/settings/cli-sessions')).headers.get('location')).toBe('/settings/profile#cli-sessions')
    const list = await c.get('/settings/profile')
    expect(list.status).toBe(200)
    expect(list.text).toContain(UA)
    expect(list.text).toContain('from <span>198.51.100.23</span>')
    expect(list.text).toContain('from <span>203.0.113.50</span>')
    const id = /\/settings\/cli-sessions\/(clis_[A-Za-z0-9]+)\/revoke/.exec(list.text)![1]!
    // Another person cannot revoke it.
    const bob = await makeActor(t)
    await givePassword(t, bob.userId)
    const b = await signedIn(t, bob)
    expect((await b.post(`/settings/cli-sessions/${id}/revoke`)).status).toBe(404)
    expect((await t.req('GET', '/api/v1/agents', { token: tokens.accessToken })).status).toBe(200)
    // Cross-site: refused.
    expect((await c.post(`/settings/cli-sessions/${id}/revoke`, {}, { 'sec-fetch-site': 'cross-site' })).status).toBe(403)
    const done = await c.post(`/settings/cli-sessions/${id}/revoke`)
    expect(done.status).toBe(303)
    expect(done.headers.get('location')).toBe('/settings/profile?cli_revoked=1#cli-sessions')
    const revoked = (await t.req('GET', '/api/v1/agents', { token: tokens.accessToken })).body
    expect(revoked.code).toBe('token_revoked')
    // Its refresh token went with it: the advice is to sign in again, not to refresh.
    expect(revoked.message).toContain('Sign in again from your terminal')
    expect(revoked.message).not.toContain('refresh')
    expect((await t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: tokens.refreshToken } })).body.code).toBe('token_revoked')
    const after = (await c.get('/settings/profile?cli_revoked=1')).text
    expect(after).toContain('CLI sign-in revoked')
    expect(after).toContain('No command-line tool is signed in')
  })

  test('a console session cookie is no credential for the CLI routes or /api/v1', async () => {
    const { t, alice } = await setup()
    const c = await signedIn(t, alice)
    const res = await t.req('GET', '/api/v1/agents', { headers: { cookie: c.cookie! } })
    expect(res.status).toBe(401)
    expect((await t.req('POST', '/api/auth/cli/refresh', { headers: { cookie: c.cookie! }, body: {} })).status).toBe(422)
  })
})

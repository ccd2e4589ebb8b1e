// The console's approval page of a CLI sign-in (authUrl) and the CLI sessions page, over HTTP
// with a console session: sign-in first and back through `next`, what the page shows, Approve
// and Deny as CSRF-checked POSTs, the organization picker, revoke from the console → 401.
import { describe, expect, test } from 'bun:test'
import { createUser } from '../src/modules/users/service'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { consoleClient, givePassword } from './helpers/console'

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
    const res = await c.post(path(authUrl), { decision: 'approve', organizationId: alice.organizationId })
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
    const bad = await c.post(path(authUrl), { decision: 'approve', organizationId: stranger.organizationId })
    expect(bad.status).toBe(422)
    expect((await c.post(path(authUrl), { decision: 'approve', organizationId: other.organization.id })).status).toBe(303)
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
    const picked = (html: string) => /<select name="organizationId" required[^>]*>.*?<option value="(org_\w+)" selected/.exec(html.replace(/<option value="org_\w+">/g, ''))?.[1]
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
    expect((await c.post(path(authUrl), { decision: 'approve', organizationId: picked(undecided.text)! })).status).toBe(303)
    const poll = await t.req('GET', `/api/auth/cli/poll?code=${code}`)
    expect(poll.body).toMatchObject({ status: 'authorized', organizationId: other.organization.id })
    const self = await t.req('GET', '/api/v1/tokens/self', { token: poll.body.accessToken })
    expect(self.body.token).toMatchObject({ organizationId: other.organization.id, organizationSlug: 'second', role: 'admin' })
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
    await c.post(path(authUrl), { decision: 'approve' })
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

// "Sudo mode" in the console (src/console/sudo.tsx): creating or rotating a Personal Access Token
// and approving a CLI sign-in ask for the password again when the session's owner last proved it
// more than CONFIRM_WINDOW_MS ago. A stolen session cookie alone minted a 365-day token, which
// outlived the owner's password change and "sign out everywhere" (found from outside on the binary).
// So do an admin's one-time set-password links (adding a member who gets one, the Password link
// button): a stolen admin session added its thief's address with one, who set a password and
// made a token (found in review).
import { afterAll, describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { auditEvents, memberships, sessions, users } from '../src/db/schema'
import { openAuditFields } from '../src/audit/log'
import { carried as carriedOn, CONFIRM_FIELD, CONFIRM_WINDOW_MS } from '../src/console/sudo'
import { THROTTLE } from '../src/console/throttle'
import { makeActor, makeTestApp } from './helpers/app'
import { generateToken } from '../src/auth/tokens'
import { PASSWORD, consoleClient, givePassword, shownApproval, signedInPerson } from './helpers/console'

const t = await makeTestApp()
afterAll(() => t.rt.close())

const NAME = 'Deploy "<bot>" & co'
/** An attribute's text as the browser reads it. */
const unescape = (s: string) => s.replace(/&(#(\d+)|quot|amp|lt|gt|apos);/g, (_m, e: string, n?: string) => (n ? String.fromCharCode(Number(n)) : { quot: '"', amp: '&', lt: '<', gt: '>', apos: "'" }[e]!))
const DE = { 'accept-language': 'de-DE,de;q=0.9' }
const tokenOf = (html: string) => /id="new-token"[^>]*>\s*(td_[A-Za-z0-9]{43})\s*</.exec(html)?.[1]
/** The create form's key (the profile page's first formKey). */
const createKey = async (c: { get(p: string): Promise<{ text: string }> }) => /name="formKey" value="([0-9a-f-]{36})"/.exec((await c.get('/settings/profile')).text)![1]!
/** The hidden fields a Confirm access page carries on, as a form sends them again. */
function carried(html: string): Record<string, string | string[]> {
  const form = /<form method="post" action="[^"]*" class="stack">([^]*?)<\/form>/.exec(html)![1]!
  const out: Record<string, string | string[]> = {}
  for (const m of form.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)"\/>/g)) {
    const [, k, v] = m as unknown as [string, string, string]
    const had = out[k]
    out[k] = had === undefined ? unescape(v) : [...(Array.isArray(had) ? had : [had]), unescape(v)]
  }
  return out
}
const myTokens = async (token: string) => (await t.req('GET', '/api/v1/tokens?limit=100', { token })).body.tokens as { id: string; name: string; scopes: string[] }[]
const eventsOf = async (type: string, userId: string) => await t.db.select().from(auditEvents).where(and(eq(auditEvents.type, type), eq(auditEvents.actorUserId, userId))).all()

describe('Confirm access before minting a token', () => {
  test('within the window (to its last millisecond): no prompt; at its end: the prompt, nothing created', async () => {
    const { a, c } = await signedInPerson(t, { role: 'member' })
    t.clock.advance(CONFIRM_WINDOW_MS - 1)
    const made = await c.post('/settings/tokens', { formKey: await createKey(c), name: 'Just in time', expires: '30', scope: '*' })
    expect(made.status).toBe(201)
    expect(tokenOf(made.text)).toBeDefined()
    t.clock.advance(1)
    const asked = await c.post('/settings/tokens', { formKey: await createKey(c), name: 'Too late', expires: '30', scope: '*' })
    expect(asked.status).toBe(403)
    expect(asked.text).toContain('<title>Confirm access')
    expect(tokenOf(asked.text)).toBeUndefined()
    expect((await myTokens(a.token)).map((x) => x.name)).not.toContain('Too late')
  })

  test('a right password goes on with the form as typed; the confirmation is audited (never the password) and lasts the window', async () => {
    const { a, c } = await signedInPerson(t, { role: 'member' })
    t.clock.advance(CONFIRM_WINDOW_MS + 60_000)
    const form = { formKey: await createKey(c), name: NAME, expires: '30', date: '', scope: ['', 'agents:read', 'agents:execute'] }
    const asked = await c.post('/settings/tokens', form)
    expect(asked.status).toBe(403)
    // Accessible: the password field labelled and focused, the page's action the form's own.
    expect(asked.text).toMatch(/<label>Password<input type="password" name="confirmAccessPassword" autocomplete="current-password" required autofocus\/><\/label>/)
    expect(asked.text).toContain('action="/settings/tokens"')
    const kept = carried(asked.text)
    expect(kept).toEqual({ formKey: form.formKey, name: NAME, expires: '30', date: '', scope: ['', 'agents:read', 'agents:execute'] })
    const done = await c.post('/settings/tokens', { ...kept, [CONFIRM_FIELD]: PASSWORD })
    expect(done.status).toBe(201)
    const token = tokenOf(done.text)!
    const mine = (await myTokens(a.token)).find((x) => x.name === NAME)!
    expect(mine.scopes.sort()).toEqual(['agents:execute', 'agents:read'])
    expect((await t.req('GET', '/api/v1/agents', { token })).status).toBe(200)
    const events = await eventsOf('session.password_confirmed', a.userId)
    expect(events).toHaveLength(1)
    expect(events[0]!.targetType).toBe('session')
    expect(JSON.stringify(events)).not.toContain(PASSWORD)
    // Confirmed: a rotation now goes without a prompt, until the window has passed again.
    const rotated = await c.post(`/settings/tokens/${mine.id}/rotate`, { grace: '0' })
    expect(rotated.status).toBe(201)
    const successor = (await myTokens(a.token)).find((x) => x.name === NAME && x.id !== mine.id)!
    t.clock.advance(CONFIRM_WINDOW_MS)
    const again = await c.post(`/settings/tokens/${successor.id}/rotate`, { grace: '0' })
    expect(again.status).toBe(403)
    expect(again.text).toContain(`action="/settings/tokens/${successor.id}/rotate"`)
    expect((await c.post(`/settings/tokens/${successor.id}/rotate`, { ...carried(again.text), [CONFIRM_FIELD]: PASSWORD })).status).toBe(201)
    // Revoking stays one click, whenever the password was last typed.
    t.clock.advance(CONFIRM_WINDOW_MS)
    const live = (await myTokens(a.token)).find((x) => x.name === NAME && x.id !== mine.id && x.id !== successor.id)!
    expect((await c.post(`/settings/tokens/${live.id}/revoke`, {})).status).toBe(303)
  })

  test('a wrong password: refused (the error announced, on the field), the form kept, the session still signed in; throttled as sign-in', async () => {
    const { a, c } = await signedInPerson(t, { role: 'member' })
    t.clock.advance(CONFIRM_WINDOW_MS)
    const asked = await c.post('/settings/tokens', { formKey: await createKey(c), name: 'Guessed', expires: '90', scope: '*' })
    const kept = carried(asked.text)
    for (let i = 0; i < THROTTLE.accountFailures; i++) {
      const wrong = await c.post('/settings/tokens', { ...kept, [CONFIRM_FIELD]: `not the password ${i}` })
      expect(wrong.status).toBe(403)
      expect(wrong.text).toContain('<p class="error" role="alert" id="confirm-access-error" tabindex="-1" autofocus>The password is wrong.')
      expect(wrong.text).toContain('aria-invalid="true" aria-describedby="confirm-access-error"')
      expect(carried(wrong.text)).toEqual(kept)
      expect(wrong.text).not.toContain('not the password')
    }
    // Locked: the right password too, until the lock ends; still signed in throughout.
    const locked = await c.post('/settings/tokens', { ...kept, [CONFIRM_FIELD]: PASSWORD })
    expect(locked.status).toBe(429)
    expect(locked.text).toContain('Too many wrong passwords')
    expect((await c.get('/settings/profile')).status).toBe(200)
    expect((await myTokens(a.token)).map((x) => x.name)).not.toContain('Guessed')
    const failed = await t.db.select().from(auditEvents).where(and(eq(auditEvents.type, 'user.sign_in_failed'), eq(auditEvents.targetId, a.userId))).all()
    expect(failed).toHaveLength(THROTTLE.accountFailures)
    expect(openAuditFields(t.rt.box, failed[0]!).details).toEqual({ reason: 'wrong_password', step: 'confirm_access' })
    expect(await eventsOf('session.password_confirmed', a.userId)).toHaveLength(0)
    const row = await t.db.select().from(sessions).where(eq(sessions.userId, a.userId)).get()
    expect(row?.passwordConfirmedAt ?? null).toBeNull()
    t.clock.advance(THROTTLE.lockMs)
    const done = await c.post('/settings/tokens', { ...kept, [CONFIRM_FIELD]: PASSWORD })
    expect(done.status).toBe(201)
  })

  test('a proof stamped hours after now (the clock since set back) counts as none; a minute\'s difference between instances does not', async () => {
    const { c } = await signedInPerson(t, { role: 'member' })
    t.clock.step(-60_000)
    expect((await c.post('/settings/tokens', { formKey: await createKey(c), name: 'skew', expires: '30', scope: '*' })).status).toBe(201)
    t.clock.step(-CONFIRM_WINDOW_MS)
    const asked = await c.post('/settings/tokens', { formKey: await createKey(c), name: 'set back', expires: '30', scope: '*' })
    t.clock.step(CONFIRM_WINDOW_MS + 60_000)
    expect(asked.status).toBe(403)
    expect(asked.text).toContain('<title>Confirm access')
  })

  test('in German', async () => {
    const { c } = await signedInPerson(t, { role: 'member', headers: DE })
    t.clock.advance(CONFIRM_WINDOW_MS)
    const asked = await c.post('/settings/tokens', { formKey: await createKey(c), name: 'x', expires: '30', scope: '*' })
    expect(asked.text).toContain('<title>Zugriff bestätigen')
    expect(asked.text).toContain('Passwort bestätigen')
    const wrong = await c.post('/settings/tokens', { ...carried(asked.text), [CONFIRM_FIELD]: 'falsch' })
    expect(wrong.text).toContain('Das Passwort ist falsch.')
  })
})

describe('Confirm access before approving a CLI sign-in', () => {
  test('Approve asks, Deny does not; the right password approves the request the page showed', async () => {
    const { c } = await signedInPerson(t, { role: 'member' })
    t.clock.advance(CONFIRM_WINDOW_MS)
    const login = async () => new URL((await t.req('POST', '/api/auth/cli/initiate', { headers: { 'content-type': 'application/json' } })).body.authUrl).pathname
    const denied = await login()
    const deny = await c.post(denied, { decision: 'deny' })
    expect(deny.status).toBe(303)
    const path = await login()
    const asked = await c.post(path, await shownApproval(t, c, path))
    expect(asked.status).toBe(403)
    expect(asked.text).toContain(`action="${path}"`)
    expect((await c.get(path)).text).toContain('name="decision" value="approve"')
    const approved = await c.post(path, { ...carried(asked.text), [CONFIRM_FIELD]: PASSWORD })
    expect({ status: approved.status, error: /role="alert"[^>]*>([^<]*)/.exec(approved.text)?.[1] }).toEqual({ status: 303, error: undefined })
    expect((await c.get(path)).text).not.toContain('name="decision" value="approve"')
  })
})

describe('Confirm access before handing out a password link', () => {
  const linkOf = (html: string) => /\/set-password\/[0-9A-Za-z]{43}/.exec(html)?.[0]
  const userByEmail = async (email: string) => await t.db.select().from(users).where(eq(users.email, email)).get()

  test('adding a member who gets a link asks; nothing is added until the password is right; then the link, which works', async () => {
    const { a, c } = await signedInPerson(t, { role: 'admin', org: 'sudo-add' })
    t.clock.advance(CONFIRM_WINDOW_MS + 60_000)
    const asked = await c.post('/org/members', { email: 'mallory@evil.example', role: 'admin' })
    expect(asked.status).toBe(403)
    expect(asked.text).toContain('<title>Confirm access')
    expect(asked.text).toContain('giving someone a password link')
    expect(asked.text).toContain('action="/org/members"')
    expect(linkOf(asked.text)).toBeUndefined()
    expect(carried(asked.text)).toEqual({ email: 'mallory@evil.example', role: 'admin' })
    // Rolled back whole: no account, no membership, no event.
    expect(await userByEmail('mallory@evil.example')).toBeUndefined()
    expect(await eventsOf('member.added', a.userId)).toHaveLength(0)
    // A refusal of the add itself comes first (an address already a member), never the prompt.
    const again = await c.post('/org/members', { email: a.email, role: 'member' })
    expect(again.status).toBe(409)
    expect(again.text).not.toContain('<title>Confirm access')
    const wrong = await c.post('/org/members', { ...carried(asked.text), [CONFIRM_FIELD]: 'not the password' })
    expect(wrong.status).toBe(403)
    expect(await userByEmail('mallory@evil.example')).toBeUndefined()
    const done = await c.post('/org/members', { ...carried(wrong.text), [CONFIRM_FIELD]: PASSWORD })
    expect(done.status).toBe(201)
    const link = linkOf(done.text)!
    expect(link).toBeDefined()
    expect(await eventsOf('session.password_confirmed', a.userId)).toHaveLength(1)
    expect((await consoleClient(t).post(link, { password: 'mallory password 123', confirm: 'mallory password 123' })).status).toBe(303)
  })

  test('the Password link button asks as well, the page it was sent from kept; in German', async () => {
    const { a, c } = await signedInPerson(t, { role: 'admin', org: 'sudo-link', headers: DE })
    const added = await c.post('/org/members', { email: 'passwordless@example.com', role: 'member' })
    expect(linkOf(added.text)).toBeDefined()
    const id = (await userByEmail('passwordless@example.com'))!.id
    t.clock.advance(CONFIRM_WINDOW_MS)
    const path = `/org/members/${id}/link`
    const asked = await c.post(path, {})
    expect(asked.status).toBe(403)
    expect(asked.text).toContain('<title>Zugriff bestätigen')
    expect(asked.text).toContain('jemandem einen Passwort-Link geben')
    expect(asked.text).toContain(`action="${path}"`)
    expect(linkOf(asked.text)).toBeUndefined()
    const links = await t.db.select().from(auditEvents).where(and(eq(auditEvents.type, 'user.password_link_created'), eq(auditEvents.targetId, id))).all()
    const done = await c.post(path, { ...carried(asked.text), [CONFIRM_FIELD]: PASSWORD })
    expect(done.status).toBe(200)
    expect(linkOf(done.text)).toBeDefined()
    const after = await t.db.select().from(auditEvents).where(and(eq(auditEvents.type, 'user.password_link_created'), eq(auditEvents.targetId, id))).all()
    expect(after.length).toBe(links.length + 1)
    void a
  })
})

describe('Confirm access before granting access: any add, a raised role', () => {
  const membership = async (userId: string, orgId: string) => await t.db.select().from(memberships).where(and(eq(memberships.userId, userId), eq(memberships.organizationId, orgId))).get()

  test('re-adding a former member who has a password (no link) asks; nothing is added until the password is right', async () => {
    const { a, c } = await signedInPerson(t, { role: 'admin', org: 'sudo-readd' })
    const former = await makeActor(t, { role: 'member', org: 'sudo-readd' })
    await givePassword(t, former.userId, 'former member password 1')
    expect((await c.post(`/org/members/${former.userId}/remove`, {})).status).toBe(303)
    t.clock.advance(CONFIRM_WINDOW_MS + 60_000)
    const asked = await c.post('/org/members', { email: former.email, role: 'admin' })
    expect(asked.status).toBe(403)
    expect(asked.text).toContain('<title>Confirm access')
    expect(asked.text).toContain('adding a member')
    expect(carried(asked.text)).toEqual({ email: former.email, role: 'admin' })
    expect(await membership(former.userId, a.organizationId)).toBeUndefined()
    const done = await c.post('/org/members', { ...carried(asked.text), [CONFIRM_FIELD]: PASSWORD })
    expect(done.status).toBe(201)
    expect((await membership(former.userId, a.organizationId))?.role).toBe('admin')
  })

  test('raising a role asks (to admin, or a viewer to member); lowering one does not; the page it was sent from kept', async () => {
    const { a, c } = await signedInPerson(t, { role: 'admin', org: 'sudo-role' })
    const m = await makeActor(t, { role: 'member', org: 'sudo-role' })
    t.clock.advance(CONFIRM_WINDOW_MS + 60_000)
    const path = `/org/members/${m.userId}/role?cursor=abc`
    const asked = await c.post(path, { role: 'admin' })
    expect(asked.status).toBe(403)
    expect(asked.text).toContain('<title>Confirm access')
    expect(asked.text).toContain(`action="/org/members/${m.userId}/role?cursor=abc"`)
    expect(carried(asked.text)).toEqual({ role: 'admin' })
    expect((await membership(m.userId, a.organizationId))?.role).toBe('member')
    expect(await eventsOf('member.role_changed', a.userId)).toHaveLength(0)
    // Lowering takes away: no prompt.
    expect((await c.post(`/org/members/${m.userId}/role`, { role: 'viewer' })).status).toBe(303)
    expect((await membership(m.userId, a.organizationId))?.role).toBe('viewer')
    expect((await c.post(`/org/members/${m.userId}/role`, { role: 'member' })).text).toContain('<title>Confirm access')
    expect((await membership(m.userId, a.organizationId))?.role).toBe('viewer')
    const done = await c.post(path, { ...carried(asked.text), [CONFIRM_FIELD]: PASSWORD })
    expect([done.status, done.headers.get('location')]).toEqual([303, '/org/members?done=role&cursor=abc'])
    expect((await membership(m.userId, a.organizationId))?.role).toBe('admin')
  })
})

describe('a refused form never reaches Confirm access, which shows no secret and goes out uncompressed', () => {
  test('a token typed into the name: the form again, the token redacted; no Confirm access page', async () => {
    const { c } = await signedInPerson(t, { role: 'member', org: 'sudo-name' })
    t.clock.advance(CONFIRM_WINDOW_MS)
    const secret = generateToken()
    const refused = await c.post('/settings/tokens', { formKey: await createKey(c), name: `ci ${secret}`, expires: '30', scope: '*' })
    expect(refused.status).toBe(422)
    expect(refused.text).not.toContain('<title>Confirm access')
    expect(refused.text).not.toContain(secret.slice(3, 20))
    // So are the form's other checks (an expiry not offered, a rotation's grace period not offered).
    const expiry = await c.post('/settings/tokens', { formKey: await createKey(c), name: 'ok', expires: '1000', scope: '*' })
    expect(expiry.status).toBe(422)
    expect(expiry.text).not.toContain('<title>Confirm access')
  })

  test('a rotation with a grace period the form does not offer: refused, not asked', async () => {
    const { a, c } = await signedInPerson(t, { role: 'member', org: 'sudo-grace' })
    const id = (await myTokens(a.token))[0]!.id
    t.clock.advance(CONFIRM_WINDOW_MS)
    const refused = await c.post(`/settings/tokens/${id}/rotate`, { grace: '12345' })
    expect(refused.status).toBe(422)
    expect(refused.text).not.toContain('<title>Confirm access')
  })

  test('what the page carries on never holds a secret: a value holding one redacted, a name holding one left out', () => {
    const secret = generateToken()
    const kept = carriedOn({ name: `ci ${secret}`, scope: ['*', secret.slice(3)], [secret]: 'x', [CONFIRM_FIELD]: PASSWORD, expires: '30' })
    expect(JSON.stringify(kept)).not.toContain(secret.slice(3, 20))
    expect(JSON.stringify(kept)).not.toContain(PASSWORD)
    expect(kept).toEqual([['name', 'ci td_…[redacted]'], ['scope', '*'], ['scope', ''], ['expires', '30']])
  })

  test('the Confirm access page is never compressed, and never stored', async () => {
    const { c } = await signedInPerson(t, { role: 'member', org: 'sudo-zip' })
    t.clock.advance(CONFIRM_WINDOW_MS)
    const asked = await c.post('/settings/tokens', { formKey: await createKey(c), name: 'zipped', expires: '30', scope: '*' }, { 'accept-encoding': 'gzip, br' })
    expect(asked.status).toBe(403)
    expect(asked.headers.get('content-encoding')).toBeNull()
    expect(asked.headers.get('cache-control')).toBe('no-store')
    expect(asked.text).toContain('<title>Confirm access')
  })
})

describe('a password that looks like a token passes Confirm access', () => {
  test('on each form it gates: creating a token, approving a CLI sign-in, adding a member with a link', async () => {
    const { a } = await signedInPerson(t, { role: 'admin', org: 'sudo-tdpw' })
    const pw = 'td_' + 'Abcdefghij'.repeat(4).slice(0, 37)
    await givePassword(t, a.userId, pw)
    const c = consoleClient(t)
    expect((await c.signIn(a.email, pw)).status).toBe(303)
    t.clock.advance(CONFIRM_WINDOW_MS)
    const asked = await c.post('/settings/tokens', { formKey: await createKey(c), name: 'td password', expires: '30', scope: '*' })
    expect(asked.status).toBe(403)
    const made = await c.post('/settings/tokens', { ...carried(asked.text), [CONFIRM_FIELD]: pw })
    expect(made.status).toBe(201)
    expect(made.text).not.toContain(pw)
    t.clock.advance(CONFIRM_WINDOW_MS)
    const path = new URL((await t.req('POST', '/api/auth/cli/initiate', { headers: { 'content-type': 'application/json' } })).body.authUrl).pathname
    const approved = await c.post(path, { ...(await shownApproval(t, c, path)), [CONFIRM_FIELD]: pw })
    expect({ status: approved.status, error: /role="alert"[^>]*>([^<]*)/.exec(approved.text)?.[1] }).toEqual({ status: 303, error: undefined })
    t.clock.advance(CONFIRM_WINDOW_MS)
    const added = await c.post('/org/members', { email: 'tdpw-new@example.com', role: 'member', [CONFIRM_FIELD]: pw })
    expect(added.status).toBe(201)
    expect(await t.db.select().from(auditEvents).where(and(eq(auditEvents.type, 'user.sign_in_failed'), eq(auditEvents.targetId, a.userId))).all()).toHaveLength(0)
    expect(JSON.stringify(await t.db.select().from(auditEvents).all())).not.toContain(pw)
  })
})

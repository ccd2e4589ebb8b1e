// "Sudo mode" in the console (src/console/sudo.tsx): creating or rotating a Personal Access Token
// and approving a CLI sign-in ask for the password again when the session's owner last proved it
// more than CONFIRM_WINDOW_MS ago. A stolen session cookie alone minted a 365-day token, which
// outlived the owner's password change and "sign out everywhere" (found from outside on the binary).
import { afterAll, describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { auditEvents, sessions } from '../src/db/schema'
import { openAuditFields } from '../src/audit/log'
import { CONFIRM_FIELD, CONFIRM_WINDOW_MS } from '../src/console/sudo'
import { THROTTLE } from '../src/console/throttle'
import { makeTestApp } from './helpers/app'
import { PASSWORD, shownApproval, signedInPerson } from './helpers/console'

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

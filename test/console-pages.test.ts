import { afterAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, makeToken } from './helpers/app'
import { consoleClient, givePassword, PASSWORD, signedInPerson } from './helpers/console'
import { messages } from '../src/console/i18n'

const t = await makeTestApp()
afterAll(() => t.rt.close())

const signedIn = (role: 'admin' | 'member' | 'viewer' = 'member', org = 'acme') => signedInPerson(t, { role, org })

/** The id of the token row with this name (rows made in the same test-clock millisecond have no set order). */
const idOf = (html: string, name: string) => new RegExp(`<tr><td>${name}</td>.*?/settings/tokens/(pat_[A-Za-z0-9]+)/revoke`).exec(html)![1]
const tokenOf = (html: string) => /id="new-token"[^>]*>\s*(td_[A-Za-z0-9]{43})\s*</.exec(html)?.[1]

describe('Personal Access Tokens page', () => {
  test('create (90 days preselected), shown once with no-store, export and curl lines; it works on /api/v1; the list shows it masked', async () => {
    const { c } = await signedIn()
    const form = await c.get('/settings/profile')
    expect(form.status).toBe(200)
    expect(form.text).toMatch(/<input type="radio" name="expires" value="90" checked\/?>\s*<span>90 days \(recommended\)<\/span>/)
    const created = await c.post('/settings/tokens', { name: 'CI Pipeline', expires: '90', scope: '*' })
    expect(created.status).toBe(201)
    expect(created.headers.get('cache-control')).toBe('no-store')
    expect(created.text).toContain('Copy the token immediately - it will only be shown once!')
    const token = tokenOf(created.text)!
    expect(token).toBeDefined()
    expect(created.text).toContain(`export TEAMDAY_TOKEN=&quot;${token}&quot;`)
    expect(created.text).toContain('curl -H &quot;Authorization: Bearer $TEAMDAY_TOKEN&quot;')
    expect((await t.req('GET', '/api/v1/agents', { token, ip: '198.51.100.7' })).status).toBe(200)
    const list = await c.get('/settings/profile')
    expect(list.text).toContain('CI Pipeline')
    expect(list.text).not.toContain(token)
    expect(list.text).toContain(`td_${token.slice(3, 7)}`)
    expect(list.text).toContain('198.51.100.7')
    expect(list.text).toContain('expires in 90 days')
  })

  test('scopes per resource, custom date, and validation errors re-show the form', async () => {
    const { c } = await signedIn()
    const scoped = await c.post('/settings/tokens', { name: 'read only', expires: '30', scope: ['agents:read', 'tasks:read'] })
    const token = tokenOf(scoped.text)!
    expect((await t.req('GET', '/api/v1/agents', { token })).status).toBe(200)
    expect((await t.req('POST', '/api/v1/agents', { token, body: { name: 'x' } })).status).toBe(403)
    const day = new Date(t.clock.now() + 20 * 86_400_000).toISOString().slice(0, 10)
    const custom = await c.post('/settings/tokens', { name: 'custom', expires: 'custom', date: day, scope: '*' })
    expect(custom.status).toBe(201)
    expect(custom.text).toContain(`${day}T23:59:59.999Z`)
    const tooSoon = await c.post('/settings/tokens', { name: 'soon', expires: 'custom', date: new Date(t.clock.now() + 86_400_000).toISOString().slice(0, 10) })
    expect(tooSoon.status).toBe(422)
    expect(tooSoon.text).toContain('between 7 and 365 days')
    // The form's last day means the limit; a later one is refused, not cut to it.
    const lastDay = new Date(t.clock.now() + 365 * 86_400_000).toISOString().slice(0, 10)
    const last = await c.post('/settings/tokens', { name: 'last day', expires: 'custom', date: lastDay, scope: '*' })
    expect(last.status).toBe(201)
    expect(last.text).toContain(new Date(t.clock.now() + 365 * 86_400_000).toISOString())
    const tooLate = await c.post('/settings/tokens', { name: 'later', expires: 'custom', date: '2099-01-01', scope: '*' })
    expect(tooLate.status).toBe(422)
    expect(tooLate.text).toContain('between 7 and 365 days')
    const noName = await c.post('/settings/tokens', { name: '   ', expires: '90' })
    expect(noName.status).toBe(422)
    expect(noName.text).toContain('Validation failed: &quot;Name&quot; must be 1-100 characters')
  })

  test('a reload of the page that showed a new token makes no second token: the form is sent once (409 naming the first)', async () => {
    const { a, c } = await signedIn()
    const key = /name="formKey" value="([0-9a-f-]{36})"/.exec((await c.get('/settings/profile')).text)![1]!
    const form = { formKey: key, name: 'Sent twice', expires: '30', scope: '*' }
    const first = await c.post('/settings/tokens', form)
    expect(first.status).toBe(201)
    const again = await c.post('/settings/tokens', form)
    expect(again.status).toBe(409)
    expect(again.text).toContain('This form was already sent, and nothing was done again')
    expect(again.text).toContain('Sent twice')
    expect(again.text).not.toMatch(/td_[A-Za-z0-9]{43}/)
    const mine = (await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens.filter((x: any) => x.name === 'Sent twice')
    expect(mine).toHaveLength(1)
    // Another page's form (a new key) makes another token; a refused form may be sent again once corrected.
    const fresh = /name="formKey" value="([0-9a-f-]{36})"/.exec((await c.get('/settings/profile')).text)![1]!
    expect(fresh).not.toBe(key)
    expect((await c.post('/settings/tokens', { formKey: fresh, name: '', expires: '30' })).status).toBe(422)
    expect((await c.post('/settings/tokens', { formKey: fresh, name: 'Corrected', expires: '30' })).status).toBe(201)
  })

  test('a token form whose first sending never answered says so in console words; a key the console did not write is no key', async () => {
    const { a, c } = await signedIn()
    const key = /name="formKey" value="([0-9a-f-]{36})"/.exec((await c.get('/settings/profile')).text)![1]!
    expect((await c.post('/settings/tokens', { formKey: key, name: 'Lost answer', expires: '7' })).status).toBe(201)
    // As if the server had stopped between the token and the key's record, ten minutes ago.
    const { idempotencyKeys } = await import('../src/db/schema')
    const { eq } = await import('drizzle-orm')
    const { keyDigest } = await import('../src/idempotency/service')
    await t.db.update(idempotencyKeys).set({ state: 'in_progress', createdAt: new Date(t.clock.now() - 11 * 60_000) }).where(eq(idempotencyKeys.keyHash, keyDigest(key))).run()
    const again = await c.post('/settings/tokens', { formKey: key, name: 'Lost answer', expires: '7' })
    expect(again.status).toBe(409)
    expect(again.text).toContain('its answer was lost')
    expect(again.text).not.toContain('Idempotency-Key')
    expect(again.text).not.toContain('nothing was saved')
    // A tampered key is no key (it was a 400 about an Idempotency-Key header nobody sent).
    for (const forged of ['x'.repeat(300), 'key\twith tab']) {
      const r = await c.post('/settings/tokens', { formKey: forged, name: `Forged ${forged.length}`, expires: '7' })
      expect([forged.length, r.status]).toEqual([forged.length, 201])
    }
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens.filter((x: any) => x.name === 'Lost answer')).toHaveLength(1)
  })

  test('a reload of the page that showed a rotated token, minutes later, leaves the new token working (it was taken for reuse and revoked it)', async () => {
    const { a, c } = await signedIn()
    const old = await makeToken(t, a, { name: 'Rotated in the console' })
    const page = (await c.get('/settings/profile')).text
    const key = new RegExp(`action="/settings/tokens/${old.id}/rotate"[^>]*>\\s*<input type="hidden" name="formKey" value="([0-9a-f-]{36})"`).exec(page)![1]!
    const rotated = await c.post(`/settings/tokens/${old.id}/rotate`, { formKey: key, grace: '0' }, { 'accept-language': 'de' })
    expect(rotated.status).toBe(201)
    expect(rotated.text).toContain('Das alte Token funktioniert nicht mehr.')
    expect(rotated.text).not.toContain(old.id)
    const successor = tokenOf(rotated.text)!
    t.clock.advance(5 * 60_000)
    const again = await c.post(`/settings/tokens/${old.id}/rotate`, { formKey: key, grace: '0' })
    expect(again.status).toBe(409)
    expect(again.text).toContain('This form was already sent')
    expect((await t.req('GET', '/api/v1/tokens/self', { token: successor })).status).toBe(200)
  })

  test('a custom expiry date that does not exist (2027-02-30) is refused, not rolled over to March', async () => {
    const { c } = await signedIn()
    const r = await c.post('/settings/tokens', { name: 'Impossible day', expires: 'custom', date: '2027-02-30' })
    expect(r.status).toBe(422)
    expect(r.text).not.toMatch(/td_[A-Za-z0-9]{43}/)
  })

  // TeamDay's German docs: "Legen Sie optional ein benutzerdefiniertes Ablaufdatum fest". A date
  // filled in while a period stays chosen (a browser without the page's script, which ticks
  // "Custom date" for it) made a token of that period, the date dropped without a word.
  test('a custom date filled in with a period still chosen is refused, naming the date, and makes no token (English and German)', async () => {
    const day = new Date(t.clock.now() + 30 * 86_400_000).toISOString().slice(0, 10)
    for (const [lang, says] of [
      ['en', 'a custom expiration date is filled in, but another period is chosen'],
      ['de', 'ein benutzerdefiniertes Ablaufdatum eingetragen, aber eine andere Laufzeit gewählt'],
    ] as const) {
      const { c } = await signedInPerson(t, { headers: { 'accept-language': lang } })
      const r = await c.post('/settings/tokens', { name: `Dated ${lang}`, expires: '90', date: day, scope: '*' })
      expect(r.status).toBe(422)
      expect(r.text).toContain(says)
      expect(r.text).not.toMatch(/td_[A-Za-z0-9]{43}/)
      // The date field is the one marked, and keeps what was typed.
      expect(r.text).toMatch(new RegExp(`<input type="date" name="date"[^>]*value="${day}"[^>]*aria-invalid="true"`))
      expect((await c.get('/settings/profile')).text).not.toContain(`Dated ${lang}`)
    }
  })

  test('a token named <script>alert(1)</script> is shown as text', async () => {
    const { c } = await signedIn()
    const name = '<script>alert(1)</script>'
    // Outside quoted attribute values (where < is plain text), the name never appears as markup.
    const markup = (html: string) => html.replace(/"[^"]*"/g, '""')
    const created = await c.post('/settings/tokens', { name, expires: '7' })
    expect(markup(created.text)).not.toContain('<script>alert')
    expect(created.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    const list = await c.get('/settings/profile')
    expect(markup(list.text)).not.toContain('<script>alert')
    expect(list.text).toContain('<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>')
  })

  test('a keyboard user skips the header (the first link leads to <main>), and each row\'s Rotate button names its token', async () => {
    const { c } = await signedIn()
    await c.post('/settings/tokens', { name: 'deploy bot', expires: '7' })
    const page = (await c.get('/settings/profile')).text
    expect(page).toContain('<body><a class="skip" href="#main">Skip to content</a>')
    expect(page).toContain('<main id="main">')
    expect(page).toContain('<button type="submit" aria-label="Rotate token deploy bot">Rotate</button>')
  })

  test('a name with a right-to-left override cannot reorder the sentence around it', async () => {
    // "Revoke "X‮?"..." would otherwise show the rest of the line reversed. Table cells are
    // paragraphs of their own; names inside sentences are isolated with <bdi>.
    const { c } = await signedIn()
    // (Overrides such as U+202E are refused in names; right-to-left script is not.)
    const name = 'deploy \u05d3\u05d9'
    const created = await c.post('/settings/tokens', { name, expires: '7' })
    expect(created.text).toContain(`"<bdi>${name}</bdi>", expires`)
    const list = await c.get('/settings/profile')
    expect(list.text).toMatch(new RegExp(`<h2 id="revoke-pat_[A-Za-z0-9]+-title">\\s*Revoke "<bdi>${name}</bdi>"\\?\\s*</h2>`))
    const profile = await c.get('/settings/profile')
    expect(profile.text).toMatch(/<span>member<\/span> of <bdi>[^<]+<\/bdi>\./)
  })

  test('the trash icon opens a dialog with the docs warning; revoking stops the token at once', async () => {
    const { c } = await signedIn()
    const token = tokenOf((await c.post('/settings/tokens', { name: 'to revoke', expires: '7' })).text)!
    const list = await c.get('/settings/profile')
    // The warning of TeamDay's docs in the revoke dialog (English; German in the catalogue).
    expect(list.text).toContain(messages('en').revokeWarning)
    const id = idOf(list.text, 'to revoke')
    const res = await c.post(`/settings/tokens/${id}/revoke`)
    expect(res.status).toBe(303)
    const api = await t.req('GET', '/api/v1/agents', { token })
    expect(api.status).toBe(401)
    expect(api.body.message).toContain('/settings/tokens')
    // "This will remove the token from your account" (the TeamDay docs): gone from the list; the
    // revoked and expired are one link away.
    const after = await c.get('/settings/profile')
    expect(after.text).not.toContain(`/settings/tokens/${id}/`)
    expect(after.text).toContain('href="/settings/profile?inactive=1#personal-access-tokens"')
    const inactive = await c.get('/settings/profile?inactive=1')
    expect(inactive.text).toMatch(new RegExp(`<tr><td>to revoke</td>.*?revoked`))
  })

  test('rotate with a grace period: the old token works until it ends, the new one at once', async () => {
    const { c } = await signedIn()
    const old = tokenOf((await c.post('/settings/tokens', { name: 'rotating', expires: '30' })).text)!
    const id = idOf((await c.get('/settings/profile')).text, 'rotating')
    const rotated = await c.post(`/settings/tokens/${id}/rotate`, { grace: '3600' })
    expect(rotated.status).toBe(201)
    const fresh = tokenOf(rotated.text)!
    expect(fresh).not.toBe(old)
    expect(rotated.text).toContain('rotating')
    // The token it replaces as the list shows it (masked), not by an id nobody saw, and when that one stops.
    const masked = `${old.slice(0, 7)}…${old.slice(-4)}`
    expect(rotated.text).toContain(`; it replaces ${masked}</span>.`)
    expect(rotated.text).not.toContain(id)
    const until = new Date(t.clock.now() + 3_600_000).toISOString()
    expect(rotated.text).toContain(`The old token keeps working until <time datetime="${until}"`)
    expect((await t.req('GET', '/api/v1/agents', { token: old })).status).toBe(200)
    expect((await t.req('GET', '/api/v1/agents', { token: fresh })).status).toBe(200)
    t.clock.advance(3_600_001)
    expect((await t.req('GET', '/api/v1/agents', { token: old })).status).toBe(401)
  })

  test("another person's token cannot be revoked by a member (404 message, token keeps working)", async () => {
    const { c } = await signedIn()
    const other = await makeActor(t)
    const res = await c.post(`/settings/tokens/${other.tokenId}/revoke`)
    expect(res.status).toBe(404)
    expect((await t.req('GET', '/api/v1/agents', { token: other.token })).status).toBe(200)
  })

  test('a bearer token does not open console pages', async () => {
    const a = await makeActor(t, { role: 'admin' })
    const res = await t.req('GET', '/settings/profile', { token: a.token, ip: '127.0.0.1' })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/login?next=%2Fsettings%2Fprofile')
  })
})

describe('Profile', () => {
  test('change name; e-mail needs the current password; change password ends other sessions, keeps this one', async () => {
    const { a, c } = await signedIn()
    const other = consoleClient(t)
    await other.signIn(a.email)
    expect((await c.post('/settings/profile', { name: 'Grace Hopper', email: a.email })).status).toBe(303)
    expect((await c.get('/settings/profile')).text).toContain('Grace Hopper')
    expect((await c.post('/settings/profile', { name: 'G', email: 'new@example.com', current: 'wrong password!' })).status).toBe(403)
    // A changed address is held to a new one's syntax (a second account's lookalike with a trailing dot, markup).
    for (const email of [`${a.email}.`, `<${a.email}>`]) {
      const refused = await c.post('/settings/profile', { name: 'G', email, current: PASSWORD })
      expect([email, refused.status]).toEqual([email, 422])
    }
    // Without the current password, a malformed or empty address is told so, not "wrong password".
    for (const email of ['', 'not an email']) {
      const refused = await c.post('/settings/profile', { name: 'G', email })
      expect([email, refused.status, refused.text.includes('is not a valid e-mail address'), refused.text.includes('current password is wrong')]).toEqual([email, 422, true, false])
    }
    expect((await c.get('/settings/profile')).text).toMatch(/Last changed: <time[^>]*>[^<]*<\/time>\. /)
    expect((await c.post('/settings/password', { current: 'wrong password!', password: 'a new long password', confirm: 'a new long password' })).status).toBe(403)
    expect((await c.post('/settings/password', { current: PASSWORD, password: 'a new long password', confirm: 'a new long password' })).status).toBe(303)
    expect((await c.get('/settings/profile')).status).toBe(200)
    expect((await other.get('/settings/profile')).status).toBe(303)
    expect((await consoleClient(t).signIn(a.email, 'a new long password')).status).toBe(303)
  })

  test("another account's address: said only once the current password is right (a stolen session cannot probe which addresses have accounts)", async () => {
    const { c } = await signedIn()
    const { a: other } = await signedIn()
    for (const current of ['', 'wrong password!']) {
      const r = await c.post('/settings/profile', { name: 'G', email: other.email, current })
      expect([current, r.status, r.text.includes('belongs to another user')]).toEqual([current, 403, false])
    }
    const told = await c.post('/settings/profile', { name: 'G', email: other.email, current: PASSWORD })
    expect([told.status, told.text.includes('belongs to another user')]).toEqual([409, true])
  })
})

describe('Organization pages', () => {
  test('members: add (one-time link), change role, remove: their token and session stop at once', async () => {
    const { c } = await signedIn('admin', 'members-org')
    const added = await c.post('/org/members', { email: 'new.member@example.com', role: 'member' })
    expect(added.status).toBe(201)
    const link = /id="member-link"[^>]*>\s*http:\/\/localhost(\/set-password\/[0-9A-Za-z]{43})\s*</.exec(added.text)![1]!
    // Added twice: the page says how to change the role on it, not which API call to make.
    const twice = await c.post('/org/members', { email: 'new.member@example.com', role: 'admin' })
    expect([twice.status, twice.text.includes('Change button'), twice.text.includes('PATCH /api')]).toEqual([409, true, false])
    const newbie = consoleClient(t)
    expect((await newbie.post(link, { password: PASSWORD, confirm: PASSWORD })).status).toBe(303)
    expect((await newbie.signIn('new.member@example.com')).status).toBe(303)
    const token = tokenOf((await newbie.post('/settings/tokens', { name: 'mine', expires: '7' })).text)!
    expect((await t.req('POST', '/api/v1/agents', { token, body: { name: 'ok' } })).status).toBe(201)
    const list = await c.get('/org/members')
    const userId = /action="\/org\/members\/(user_[A-Za-z0-9]+)\/role"/.exec(list.text)![1]
    // The confirmation dialog is named by its question, for screen readers.
    expect(list.text).toMatch(new RegExp(`<dialog id="remove-${userId}" aria-labelledby="remove-${userId}-question">\\s*<form method="dialog">\\s*<p id="remove-${userId}-question">`))
    expect((await c.post(`/org/members/${userId}/role`, { role: 'viewer' })).status).toBe(303)
    expect((await t.req('POST', '/api/v1/agents', { token, body: { name: 'no' } })).status).toBe(403)
    expect((await c.post(`/org/members/${userId}/remove`)).status).toBe(303)
    expect((await t.req('GET', '/api/v1/agents', { token })).status).toBe(401)
    expect((await newbie.get('/settings/profile')).status).toBe(303)
    // Added again: the old token stays dead.
    await c.post('/org/members', { email: 'new.member@example.com', role: 'admin' })
    expect((await t.req('GET', '/api/v1/agents', { token })).status).toBe(401)
  })

  test('a password link only for a person without a password in no other organization: no admin takes over an account', async () => {
    // The victim is an admin of their own organization, with a password; a second victim has no
    // password yet (made by the admin CLI) and is a member elsewhere.
    const victim = await makeActor(t, { role: 'admin', org: 'victim-org' })
    await givePassword(t, victim.userId)
    const passwordless = await makeActor(t, { role: 'admin', org: 'victim-org-2' })
    const { c } = await signedIn('admin', 'attacker-org')
    for (const who of [victim, passwordless]) {
      // Adding their e-mail attaches nothing (the account exists elsewhere: it may not be theirs)
      // and hands out no link.
      const added = await c.post('/org/members', { email: who.email, role: 'viewer' })
      expect(added.status).toBe(409)
      expect(added.text).toContain('already exists on this server')
      expect(added.text).not.toContain('id="member-link"')
      expect(added.text).not.toContain('/set-password/')
      // Not a member here: no button, and asking anyway gives no link.
      expect((await c.get('/org/members')).text).not.toContain(`/org/members/${who.userId}/link`)
      const asked = await c.post(`/org/members/${who.userId}/link`)
      expect(asked.status).toBe(404)
      expect(asked.text).not.toContain('/set-password/')
    }
    // Made a member by the operator, they still get no link from this organization's admins.
    const { createUser } = await import('../src/modules/users/service')
    for (const who of [victim, passwordless]) {
      await createUser(t.ctx, { email: who.email, orgSlug: 'attacker-org', role: 'viewer' })
      expect((await c.get('/org/members')).text).not.toContain(`/org/members/${who.userId}/link`)
      const asked = await c.post(`/org/members/${who.userId}/link`)
      expect(asked.status).toBe(403)
      expect(asked.text).toContain('only they can set it')
      expect(asked.text).not.toContain('/set-password/')
    }
    // The victim's password still works.
    expect((await consoleClient(t).signIn(victim.email)).status).toBe(303)
    // A person who is only here and has no password still gets one, from the button too.
    const fresh = await c.post('/org/members', { email: 'only.here@example.com', role: 'member' })
    expect(fresh.text).toContain('id="member-link"')
    const freshId = /action="\/org\/members\/(user_[A-Za-z0-9]+)\/link"/.exec((await c.get('/org/members')).text)![1]!
    const again = await c.post(`/org/members/${freshId}/link`)
    const link = /id="member-link"[^>]*>\s*http:\/\/localhost(\/set-password\/[0-9A-Za-z]{43})\s*</.exec(again.text)![1]!
    // Before it is used the person joins another organization (an admin there, say): the link
    // made here no longer sets their password.
    await createUser(t.ctx, { email: 'only.here@example.com', orgSlug: 'elsewhere-org', role: 'admin' })
    const used = await consoleClient(t).post(link, { password: PASSWORD, confirm: PASSWORD })
    expect(used.status).toBe(422)
    expect(used.text).toContain('no longer applies')
    expect((await consoleClient(t).signIn('only.here@example.com')).status).not.toBe(303)
  })

  test('members and audit pages are for admins only', async () => {
    const { c } = await signedIn('member')
    expect((await c.get('/org/members')).status).toBe(403)
    expect((await c.get('/org/audit')).status).toBe(403)
    expect((await c.post('/org/members', { email: 'x@example.com', role: 'admin' })).status).toBe(403)
  })

  test('audit log: console events, filter by type and person, paged', async () => {
    const { a, c } = await signedIn('admin', 'audit-org')
    for (let i = 0; i < 3; i++) await c.post('/settings/tokens', { name: `t${i}`, expires: '7' })
    const all = await c.get('/org/audit')
    expect(all.status).toBe(200)
    expect(all.text).toContain('user.signed_in')
    expect(all.text).toContain('token.created')
    const only = await c.get(`/org/audit?type=token.created&person=${a.userId}`)
    expect(only.text).not.toContain('<code>user.signed_in</code>')
    expect(only.text.match(/<code>token.created<\/code>/g)!.length).toBe(3)
    // A type that is none (an edited address): said so briefly, not an empty log; the types are
    // the page's list, not a sentence beside it (the API's 422 names them: test/audit.test.ts).
    const typo = await c.get('/org/audit?type=token.creatd')
    expect(typo.status).toBe(422)
    expect(typo.text).toContain('<p class="error" role="alert"')
    expect(typo.text).toContain('Unknown event type &quot;token.creatd&quot;: choose one from the list.')
    expect(typo.text).not.toContain('the types are')
    expect(typo.text).not.toContain('<code>token.created</code>')
  })

  test('organization switcher: a person in two organizations switches; tokens are per organization', async () => {
    const { a, c } = await signedIn('admin', 'first-org')
    const { createUser } = await import('../src/modules/users/service')
    await createUser(t.ctx, { email: a.email, orgSlug: 'second-org', role: 'viewer' })
    const page = await c.get('/settings/profile')
    const second = /<option value="(org_[A-Za-z0-9]+)"[^>]*>second-org<\/option>/.exec(page.text)![1]!
    expect((await c.post('/org/switch', { organizationId: second })).status).toBe(303)
    const token = tokenOf((await c.post('/settings/tokens', { name: 'in second', expires: '7' })).text)!
    const self = await t.req('GET', '/api/v1/tokens/self', { token })
    expect(self.body.token.organizationSlug).toBe('second-org')
    expect(self.body.token.role).toBe('viewer')
    expect((await c.post('/org/switch', { organizationId: 'org_notmine' })).status).toBe(303)
  })

  // A switch from the Agents or Spaces pages led to Settings → Profile: the person looking at
  // agents had to find them again. It comes back to that list now (a chat or a space of one
  // organization: to its list, which the other organization has too); elsewhere to the profile.
  test('organization switcher: from Agents or Spaces (a list, a chat, a space) back to that list; from the profile or the organization pages to the profile', async () => {
    const { a, c } = await signedIn('member', 'list-one')
    const { createUser } = await import('../src/modules/users/service')
    await createUser(t.ctx, { email: a.email, orgSlug: 'list-two', role: 'member' })
    const agent = await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Switch agent', visibility: 'organization' } })
    const space = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Switch space', visibility: 'organization' } })
    const nextOf = (html: string) => /<form method="post" action="\/org\/switch"[^>]*>\s*(?:<input type="hidden" name="next" value="([^"]*)")?/.exec(html)
    for (const [page, back] of [
      ['/agents', '/agents'],
      [`/agents/${agent.body.id}/chat`, '/agents'],
      ['/spaces', '/spaces'],
      [`/spaces/${space.body.space.id}`, '/spaces'],
      ['/settings/profile', undefined],
    ] as const) {
      const shown = await c.get(page)
      expect({ page, status: shown.status }).toEqual({ page, status: 200 })
      const form = nextOf(shown.text)
      expect({ page, form: form !== null }).toEqual({ page, form: true })
      expect({ page, next: form![1] as string | undefined }).toEqual({ page, next: back })
    }
    // The switch itself goes there, in the other organization.
    const two = /<option value="(org_[A-Za-z0-9]+)"[^>]*>list-two<\/option>/.exec((await c.get('/agents')).text)![1]!
    const res = await c.post('/org/switch', { organizationId: two, next: '/agents' })
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toBe('/agents')
    expect((await c.get('/agents')).text).toMatch(/<option value="org_[A-Za-z0-9]+" selected[^>]*>list-two<\/option>/)
  })

  test('a form from a tab left on another organization is refused (409), nothing done: it acted on the organization switched to since', async () => {
    const { a, c } = await signedIn('admin', 'tab-one')
    const { createUser } = await import('../src/modules/users/service')
    await createUser(t.ctx, { email: a.email, orgSlug: 'tab-two', role: 'admin' })
    const both = await makeActor(t, { role: 'member', org: 'tab-one' })
    await createUser(t.ctx, { email: both.email, orgSlug: 'tab-two', role: 'member' })
    // Tab A shows the members of tab-one; the hidden field says so.
    const tabA = await c.get('/org/members')
    const shownFor = /name="pageOrganization" value="(org_[A-Za-z0-9]+)"/.exec(tabA.text)![1]!
    expect(shownFor).toBe(a.organizationId)
    const second = /<option value="(org_[A-Za-z0-9]+)"[^>]*>tab-two<\/option>/.exec(tabA.text)![1]!
    // Tab B switches to tab-two.
    expect((await c.post('/org/switch', { organizationId: second })).status).toBe(303)
    const rolesIn = async (slugOrg: string) => {
      const { organizations, memberships } = await import('../src/db/schema')
      const { and, eq } = await import('drizzle-orm')
      const org = (await t.ctx.db.select().from(organizations).where(eq(organizations.slug, slugOrg)).get())!
      return (await t.ctx.db.select().from(memberships).where(and(eq(memberships.organizationId, org.id), eq(memberships.userId, both.userId))).get())?.role ?? null
    }
    // Tab A's forms: role change, removal, a new member, a new token: each refused, nothing changed anywhere.
    for (const [path, form] of [
      [`/org/members/${both.userId}/role`, { role: 'viewer' }],
      [`/org/members/${both.userId}/remove`, {}],
      ['/org/members', { email: 'new-one@example.com', role: 'member' }],
      ['/settings/tokens', { name: 'from tab A', expires: '7' }],
    ] as const) {
      const r = await c.post(path, { ...form, pageOrganization: shownFor })
      expect([path, r.status]).toEqual([path, 409])
      expect(r.text).toContain('Nothing was done')
      expect(r.text).toContain('tab-two')
    }
    expect([await rolesIn('tab-one'), await rolesIn('tab-two')]).toEqual(['member', 'member'])
    expect(tokenOf((await c.post('/settings/tokens', { name: 'from tab B', expires: '7', pageOrganization: second })).text)).toBeTruthy()
    // The page of the organization now current acts as before.
    expect((await c.post(`/org/members/${both.userId}/role`, { role: 'viewer', pageOrganization: second })).status).toBe(303)
    expect([await rolesIn('tab-one'), await rolesIn('tab-two')]).toEqual(['member', 'viewer'])
  })
})

describe('favicon', () => {
  test('/favicon.ico, which browsers ask for on every console and Swagger UI page, is an icon (it was a 404)', async () => {
    const res = await t.app.handle(new Request('http://localhost/favicon.ico'))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('image/x-icon')
    const bytes = new Uint8Array(await res.arrayBuffer())
    // ICONDIR: reserved 0, type 1 (icon), one image; the image is a PNG.
    expect([...bytes.slice(0, 6)]).toEqual([0, 0, 1, 0, 1, 0])
    expect(new TextDecoder().decode(bytes.slice(23, 26))).toBe('PNG')
  })
})

import { afterAll, describe, expect, test } from 'bun:test'
import { makeTestApp, makeToken, type Res } from './helpers/app'
import { signedInPerson } from './helpers/console'
import { fields } from '../src/console/form'
import { unreadableForm, UnreadableFormRefusal } from '../src/http/page-form'
import { FormFieldRefusal, TAKEN_OUT } from '../src/http/secret-fields'

/**
 * What a console form says to input its page never sends (src/http/page-form.ts, src/console/form.ts
 * pageRefusal, the token form's expiry): each answered in the page's terms, the form shown again
 * with a message that names the problem, in English and German; nothing done.
 */
const t = await makeTestApp()
afterAll(() => t.rt.close())
const DE = { 'accept-language': 'de-DE,de;q=0.9' }

/** The form's error text (its role=alert box), unescaped enough to compare. */
const alertOf = (r: Res) => (/<p class="error" role="alert"[^>]*>([^<]*)<\/p>/.exec(r.text)?.[1] ?? '').replaceAll('&quot;', '"').replaceAll('&#x27;', "'")

async function person() {
  const { a, c } = await signedInPerson(t, { role: 'member' })
  const tokens = async () => (await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens.map((x: any) => x.name) as string[]
  /** A multipart/form-data body (what `<form enctype="multipart/form-data">` or curl -F sends) to a console form. */
  const multipart = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) => {
    const fd = new FormData()
    for (const [k, v] of Object.entries(fields)) fd.append(k, v)
    return t.req('POST', path, { raw: fd, headers: { 'sec-fetch-site': 'same-origin', cookie: c.cookie!, ...headers }, ip: '127.0.0.1' })
  }
  return { a, c, tokens, multipart }
}

describe('a field sent twice with different values', () => {
  test('the token form says the field, by its label, was sent more than once (it said "name must be 1-100 characters"), in English and German; nothing made', async () => {
    const { c, tokens } = await person()
    const before = await tokens()
    const en = await c.post('/settings/tokens', { name: ['a', 'b'], expires: '90', scope: ['', '*'] })
    expect(en.status).toBe(422)
    expect(alertOf(en)).toStartWith('Validation failed: "Name" was sent more than once, with different values')
    expect(en.text).toContain('id="personal-access-tokens"')
    expect(en.text).toMatch(/name="name"[^>]*aria-invalid="true"/)
    const de = await c.post('/settings/tokens', { name: ['a', 'b'], expires: '90', scope: ['', '*'] }, DE)
    expect(alertOf(de)).toStartWith('Ungültige Eingabe: „Name“ wurde mehrmals mit verschiedenen Werten gesendet')
    const expires = await c.post('/settings/tokens', { name: 'x', expires: ['7', '365'], scope: ['', '*'] })
    expect([expires.status, alertOf(expires)]).toEqual([422, expect.stringContaining('"Expiration" was sent more than once')])
    expect(await tokens()).toEqual(before)
    // The same value twice is that value; the scope boxes are a list.
    const same = await c.post('/settings/tokens', { name: ['same', 'same'], expires: '30', scope: ['', 'tasks:read', 'agents:read'] })
    expect(same.status).toBe(201)
    expect(await tokens()).toContain('same')
  })

  test('other forms: the profile, the password and the sign-in forms say it too', async () => {
    const { c } = await person()
    const profile = await c.post('/settings/profile', { name: ['Ann', 'Bob'], email: 'ann@example.com' })
    expect([profile.status, alertOf(profile)]).toEqual([422, expect.stringContaining('"Name" was sent more than once')])
    const password = await c.post('/settings/password', { current: 'x', password: ['a'.repeat(12), 'b'.repeat(12)], confirm: 'a'.repeat(12) })
    expect([password.status, alertOf(password)]).toEqual([422, expect.stringContaining('"New password" was sent more than once')])
    const signIn = await c.post('/login', { email: ['a@example.com', 'b@example.com'], password: 'x' })
    expect([signIn.status, alertOf(signIn)]).toEqual([422, expect.stringContaining('"E-mail" was sent more than once')])
  })

  test('each field is named by its label, in German too, and marked; one the page fills in itself (hidden) is said to be one, no field marked; nothing done', async () => {
    const { a, c } = await person()
    const current = await c.post('/settings/profile', { name: 'Ann', email: 'ann@example.com', current: ['x', 'y'] }, DE)
    expect(current.status).toBe(422)
    expect(alertOf(current)).toStartWith('Ungültige Eingabe: „Aktuelles Passwort“ wurde mehrmals mit verschiedenen Werten gesendet')
    expect(current.text).toMatch(/name="current"[^>]*aria-invalid="true"/)
    const confirm = await c.post('/settings/password', { current: 'x', password: 'a'.repeat(12), confirm: ['a'.repeat(12), 'b'.repeat(12)] })
    expect(confirm.status).toBe(422)
    expect(alertOf(confirm)).toStartWith('Validation failed: "Repeat the new password" was sent more than once')
    expect(confirm.text).toMatch(/name="confirm"[^>]*aria-invalid="true"/)
    // The token list's view (hidden fields of the revoke form): nobody typed them.
    for (const [headers, text] of [
      [{}, 'Validation failed: this form arrived with a field that the page fills in itself sent more than once, with different values'],
      [DE, 'Ungültige Eingabe: Dieses Formular kam mit einem Feld an, das die Seite selbst ausfüllt und das mehrmals mit verschiedenen Werten gesendet wurde'],
    ] as const) {
      const r = await c.post(`/settings/tokens/${a.tokenId}/revoke`, { page: ['1', '2'] }, headers)
      expect(r.status).toBe(422)
      expect(alertOf(r)).toStartWith(text)
      expect(r.text).not.toContain('aria-invalid="true"')
    }
    expect((await t.req('GET', '/api/v1/tokens/self', { token: a.token })).status).toBe(200)
  })
})

describe('a form sent as multipart/form-data', () => {
  test('the token form is shown again saying the form could not be read (it said "send a JSON object"), in English and German; nothing made', async () => {
    const { multipart, tokens } = await person()
    const before = await tokens()
    const en = await multipart('/settings/tokens', { name: 'by multipart', expires: '90', scope: '*' })
    expect(en.status).toBe(422)
    expect(en.headers.get('content-type')).toStartWith('text/html')
    expect(alertOf(en)).toStartWith("Validation failed: the form could not be read: it was sent as multipart/form-data, and the console's forms send their fields URL-encoded")
    expect(en.text).not.toContain('JSON')
    // The page with its form, not an error page.
    expect(en.text).toContain('id="personal-access-tokens"')
    expect(en.text).toContain('name="expires"')
    const de = await multipart('/settings/tokens', { name: 'by multipart', expires: '90', scope: '*' }, DE)
    expect(de.status).toBe(422)
    expect(alertOf(de)).toStartWith('Ungültige Eingabe: Das Formular ließ sich nicht lesen: Es wurde als multipart/form-data gesendet')
    expect(await tokens()).toEqual(before)
  })

  test('text/plain, and the other forms (profile, password, sign-in, revoke) the same', async () => {
    const { a, c, multipart } = await person()
    const plain = await t.req('POST', '/settings/profile', { raw: 'name=x', headers: { 'content-type': 'text/plain', 'sec-fetch-site': 'same-origin', cookie: c.cookie! }, ip: '127.0.0.1' })
    expect([plain.status, alertOf(plain)]).toEqual([422, expect.stringContaining('it was sent as text/plain')])
    for (const path of ['/settings/profile', '/settings/password', '/login', `/settings/tokens/${a.tokenId}/revoke`]) {
      const r = await multipart(path, { name: 'x', email: a.email, password: 'x', confirm: 'x', current: 'x' })
      expect([path, r.status, alertOf(r)]).toEqual([path, 422, expect.stringContaining('the form could not be read: it was sent as multipart/form-data')])
    }
    // The token was not revoked.
    expect((await t.req('GET', '/api/v1/tokens/self', { token: a.token })).status).toBe(200)
  })

  test('the API still answers 422 saying to send JSON', async () => {
    const { a } = await person()
    const fd = new FormData()
    fd.append('title', 'x')
    const r = await t.req('POST', '/api/v1/tasks', { token: a.token, raw: fd })
    expect([r.status, r.body.code]).toEqual([422, 'validation_failed'])
    expect(r.body.message).toContain('send a JSON object with Content-Type: application/json')
  })
})

describe("the token form's expiry: only the periods it offers", () => {
  test('1e1, 0x1e, " 30", 10, 3 and 400 are refused naming the offered periods (1e1 made a 10-day token), in English and German; the offered ones work', async () => {
    const { c, tokens } = await person()
    const before = await tokens()
    for (const expires of ['1e1', '0x1e', ' 30', '30.0', '10', '3', '400']) {
      const r = await c.post('/settings/tokens', { name: `e ${expires}`, expires, scope: ['', '*'] })
      expect([expires, r.status, alertOf(r)]).toEqual([expires, 422, 'Validation failed: choose one of the offered expiration periods (7, 30, 90, 180 or 365 days), or "Custom date" with a date.'])
      expect(r.text).toMatch(/<fieldset aria-describedby="token-error">\s*<legend>/)
    }
    const de = await c.post('/settings/tokens', { name: 'x', expires: '1e1', scope: ['', '*'] }, DE)
    expect(alertOf(de)).toStartWith('Ungültige Eingabe: Wählen Sie eine der angebotenen Laufzeiten (7, 30, 90, 180 oder 365 Tage)')
    expect(await tokens()).toEqual(before)
    for (const days of [7, 30, 90, 180, 365]) {
      expect((await c.post('/settings/tokens', { name: `d${days}`, expires: String(days), scope: ['', '*'] })).status).toBe(201)
    }
    // No `expires` at all: the form's default, 90 days.
    expect((await c.post('/settings/tokens', { name: 'default', scope: ['', '*'] })).status).toBe(201)
    const made = (await tokens()).filter((n) => /^d\d+$|^default$/.test(n))
    expect(made.sort()).toEqual(['d180', 'd30', 'd365', 'd7', 'd90', 'default'])
  })
})

describe("the rotate form's grace period: only the periods it offers", () => {
  test('1e3, 0x10, " 3600", 3600.0, 60, -1 and 86401 are refused naming the offered periods (Number() took 1e3 as 1000 seconds), in English and German, nothing rotated; the offered ones and none sent work', async () => {
    const { a, c } = await person()
    const target = await makeToken(t, a, { name: 'to rotate' })
    const listed = async () => ((await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens as any[]).map((x) => [x.id, x.revokedAt])
    const before = await listed()
    for (const grace of ['1e3', '0x10', ' 3600', '3600.0', '60', '-1', '86401']) {
      const r = await c.post(`/settings/tokens/${target.id}/rotate`, { grace })
      expect([grace, r.status, alertOf(r)]).toEqual([grace, 422, 'Validation failed: choose one of the offered periods for the old token (stops now, 1 more hour, 1 more day).'])
    }
    const de = await c.post(`/settings/tokens/${target.id}/rotate`, { grace: '1e3' }, DE)
    expect([de.status, alertOf(de)]).toEqual([422, expect.stringContaining('Ungültige Eingabe: Wählen Sie eine der angebotenen Übergangsfristen')])
    expect(await listed()).toEqual(before)
    // What the select offers, and a form without the field (none: the old token stops now).
    for (const grace of ['0', '3600', '86400', undefined]) {
      const tok = await makeToken(t, a)
      const r = await c.post(`/settings/tokens/${tok.id}/rotate`, grace === undefined ? {} : { grace })
      expect([grace, r.status]).toEqual([grace, 201])
    }
  })
})

describe("the token form's scopes: a choice sent is never widened to full access", () => {
  test('a body whose `scope` is there but holds no scope name (JSON [], [5], null, 5) is the empty choice, refused in English and German, nothing made; only a body without the field gets full access', async () => {
    const { a, c } = await person()
    const list = async () => ((await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens as any[]).map((x) => [x.name, x.scopes])
    const json = (body: unknown, headers: Record<string, string> = {}) =>
      t.req('POST', '/settings/tokens', { raw: JSON.stringify(body), headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin', cookie: c.cookie!, ...headers }, ip: '127.0.0.1' })
    const before = await list()
    for (const scope of [[], [5], null, 5, ['']]) {
      const r = await json({ name: 'chosen', scope })
      expect([scope, r.status, alertOf(r)]).toEqual([scope, 422, 'Validation failed: no scope chosen. Tick full access, or at least one scope of a resource.'])
    }
    const de = await json({ name: 'chosen', scope: [] }, DE)
    expect([de.status, alertOf(de)]).toEqual([422, expect.stringContaining('Ungültige Eingabe: Keine Berechtigung gewählt.')])
    expect(await list()).toEqual(before)
    // The names it holds are the choice; no `scope` at all is the API's default for no `scopes`.
    expect((await json({ name: 'narrow', scope: ['tasks:read', 5] })).status).toBe(201)
    expect((await json({ name: 'default' })).status).toBe(201)
    expect((await list()).filter(([n]) => n === 'narrow' || n === 'default').sort()).toEqual([['default', ['*']], ['narrow', ['tasks:read']]])
  })
})

describe('fields(): the values of a checkbox group', () => {
  test('its values as sent, different ones included; a token in it or a body that came as no form throws', () => {
    expect(fields({ scope: ['', 'tasks:read', 'agents:read'] }, 'scope')).toEqual(['', 'tasks:read', 'agents:read'])
    expect(fields({ scope: ['x', 'x'] }, 'scope')).toEqual(['x', 'x'])
    expect(fields({ scope: 'x' }, 'scope')).toEqual(['x'])
    expect(fields({ scope: ['x', 5] }, 'scope')).toEqual(['x'])
    expect(fields({ scope: 5 }, 'scope')).toEqual([])
    expect(fields({}, 'scope')).toEqual([])
    expect(fields(null, 'scope')).toEqual([])
    expect(() => fields({ scope: ['x', TAKEN_OUT] }, 'scope')).toThrow(FormFieldRefusal)
    expect(() => fields({ scope: TAKEN_OUT }, 'scope')).toThrow(FormFieldRefusal)
    expect(() => fields(unreadableForm('text/plain'), 'scope')).toThrow(UnreadableFormRefusal)
  })

  // It checked one reading of the field and returned another: a value its check never saw.
  test('the values returned are the values checked: the field is read once', () => {
    const reads: unknown[][] = [['a', 'b'], [TAKEN_OUT]]
    let n = 0
    const body = Object.defineProperty({}, 'scope', { enumerable: true, get: () => reads[Math.min(n++, 1)] })
    expect(fields(body, 'scope')).toEqual(['a', 'b'])
    expect(n).toBe(1)
  })
})

import { afterAll, describe, expect, test } from 'bun:test'
import { makeTestApp } from './helpers/app'
import { signedInPerson } from './helpers/console'

/**
 * Settings → Profile → Personal Access Tokens against TeamDay's docs, sentence by sentence, where
 * the other console tests do not reach: the German page's "Schritt 2: Sicher speichern" (Unix,
 * PowerShell, .env) and the English "Storage Recommendations"; "Token is scoped to your current
 * organization" and "Inherits your role permissions" said where the token is shown; "All tokens
 * have full access" in the page's words, not `*`; and the revocation warning for a browser
 * without JavaScript, whose trash icon revokes at once with no dialog to show it.
 */
const t = await makeTestApp()
afterAll(() => t.rt.close())

const DE = { 'accept-language': 'de-DE,de;q=0.9' }
const tokenOf = (html: string) => /id="new-token"[^>]*>\s*(td_[A-Za-z0-9]{43})\s*</.exec(html)![1]!
/** The page's text, tags dropped and entities of quotes decoded, spaces collapsed. */
const textOf = (html: string) => html.replace(/<[^>]*>/g, ' ').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/\s+/g, ' ')

describe('the page that shows a new token', () => {
  test('English: store it securely (Unix, PowerShell, .env with .gitignore; CI secrets, never in code), and for which organization and role it works', async () => {
    const { c } = await signedInPerson(t, { role: 'member', org: 'docs-en' })
    const r = await c.post('/settings/tokens', { name: 'CI Pipeline', expires: '90', scope: '*' })
    expect(r.status).toBe(201)
    const token = tokenOf(r.text)
    const text = textOf(r.text)
    expect(text).toContain('Store it securely')
    expect(text).toContain(`Unix/Linux/macOS export TEAMDAY_TOKEN="${token}"`)
    expect(text).toContain(`Windows (PowerShell) $env:TEAMDAY_TOKEN="${token}"`)
    expect(text).toContain(`.gitignore) TEAMDAY_TOKEN=${token}`)
    expect(text).toContain('GitHub Secrets, GitLab CI/CD variables')
    expect(text).toContain('Never in source code')
    expect(text).toContain('It works only in the organization docs-en, with your role there (member)')
    // Still used as the docs show, after it is stored.
    expect(text).toContain('curl -H "Authorization: Bearer $TEAMDAY_TOKEN"')
  })

  test('German: „Sicher speichern“, „In Umgebungsvariablen speichern“ with the three lines of the German docs; Organisation und Rolle', async () => {
    const { c } = await signedInPerson(t, { role: 'viewer', org: 'docs-de', headers: DE })
    const r = await c.post('/settings/tokens', { name: 'Lesen', expires: '30', scope: '*' })
    expect(r.status).toBe(201)
    const token = tokenOf(r.text)
    const text = textOf(r.text)
    expect(text).toContain('Sicher speichern')
    expect(text).toContain('In Umgebungsvariablen speichern:')
    expect(text).toContain(`Unix/Linux/macOS export TEAMDAY_TOKEN="${token}"`)
    expect(text).toContain(`Windows (PowerShell) $env:TEAMDAY_TOKEN="${token}"`)
    expect(text).toContain('Oder in .env Datei (für lokale Entwicklung')
    expect(text).toContain(`TEAMDAY_TOKEN=${token}`)
    expect(text).toContain('Es gilt nur in der Organisation docs-de, mit Ihrer Rolle dort (Betrachter)')
    expect(text).toContain('Ihr Token verwenden')
    expect(text).not.toContain('Store it securely')
  })

  test('a rotation says the same: the new token, its storage lines, its organization', async () => {
    const { c } = await signedInPerson(t, { role: 'admin', org: 'docs-rot' })
    await c.post('/settings/tokens', { name: 'to rotate', expires: '90', scope: '*' })
    const page = (await c.get('/settings/profile')).text
    const id = /\/settings\/tokens\/(pat_[A-Za-z0-9]+)\/rotate/.exec(page)![1]
    const r = await c.post(`/settings/tokens/${id}/rotate`, { grace: '0' })
    expect(r.status).toBe(201)
    const text = textOf(r.text)
    expect(text).toContain(`$env:TEAMDAY_TOKEN="${tokenOf(r.text)}"`)
    expect(text).toContain('It works only in the organization docs-rot, with your role there (admin)')
  })
})

describe('the token list', () => {
  test('a full-access token says "full access" / "Vollzugriff" in its Scopes column, not "*"; a scoped one lists its scopes', async () => {
    const { c } = await signedInPerson(t, { org: 'docs-list' })
    await c.post('/settings/tokens', { name: 'everything', expires: '90', scope: '*' })
    await c.post('/settings/tokens', { name: 'narrow', expires: '90', scope: ['agents:read', 'tasks:write'] })
    const en = (await c.get('/settings/profile')).text
    expect(en).toMatch(/<tr><td>everything<\/td>.*?<td>full access<\/td>/s)
    expect(en).toMatch(/<tr><td>narrow<\/td>.*?<td>agents:read, tasks:write<\/td>/s)
    expect(en).not.toMatch(/<td>\*<\/td>/)
    const de = (await c.get('/settings/profile', DE)).text
    expect(de).toMatch(/<tr><td>everything<\/td>.*?<td>Vollzugriff<\/td>/s)
    expect(de).not.toMatch(/<td>\*<\/td>/)
  })

  test('without JavaScript (no dialog) the trash icon revokes at once: the page says so, with the docs\' warning, before the list; not when nothing can be revoked', async () => {
    const { a, c } = await signedInPerson(t, { org: 'docs-noscript' })
    // The person's only token (makeActor's) revoked: a list with no trash icon.
    expect((await t.req('DELETE', '/api/v1/tokens/self', { token: a.token })).status).toBe(200)
    const empty = (await c.get('/settings/profile')).text
    expect(empty).not.toContain('<noscript><p class="notice warning">')
    await c.post('/settings/tokens', { name: 'in use', expires: '90', scope: '*' })
    const en = (await c.get('/settings/profile')).text
    const warning = /<noscript><p class="notice warning">([^<]*)<\/p><\/noscript>/.exec(en)
    expect(warning?.[1]).toBe(
      'The trash icon next to a token revokes it immediately. Revoking a token will break any scripts, CI/CD pipelines, or integrations using it. Make sure to update those systems before revoking.',
    )
    // Before the table whose trash icons it is about.
    expect(en.indexOf('<noscript><p class="notice warning">')).toBeLessThan(en.indexOf('aria-label="Revoke token in use"'))
    const de = (await c.get('/settings/profile', DE)).text
    expect(/<noscript><p class="notice warning">([^<]*)<\/p><\/noscript>/.exec(de)?.[1]).toStartWith('Das Papierkorb-Symbol neben einem Token widerruft es sofort. Wenn Sie ein Token widerrufen')
  })
})

describe('the most active tokens a person may have (TEAMDAY_MAX_TOKENS_PER_USER)', () => {
  // The console showed the API's sentence ("this user already has 3 active tokens … (teamday
  // tokens list / teamday tokens revoke ID)"), and German a sentence without the numbers.
  test('exactly at the limit a token is made; one over, the form says how many, the limit, and to revoke one with the trash icon (English and German); nothing is made', async () => {
    const capped = await makeTestApp({ config: { maxTokensPerUser: 3 } })
    try {
      const { a, c } = await signedInPerson(capped, { org: 'capped' })
      // makeActor's token is the first; two more reach the limit of 3.
      expect((await c.post('/settings/tokens', { name: 'second', expires: '90', scope: '*' })).status).toBe(201)
      expect((await c.post('/settings/tokens', { name: 'third', expires: '90', scope: '*' })).status).toBe(201)
      const en = await c.post('/settings/tokens', { name: 'fourth', expires: '90', scope: '*' })
      expect(en.status).toBe(422)
      expect(textOf(en.text)).toContain('You already have 3 active tokens in this organization, the most allowed here (3). Revoke one you no longer use (the trash icon in the list below), then create the new one.')
      expect(en.text).toMatch(/<input type="text" name="name"[^>]*value="fourth"/)
      const de = await c.post('/settings/tokens', { name: 'viertes', expires: '90', scope: '*' }, DE)
      expect(de.status).toBe(422)
      expect(textOf(de.text)).toContain('Sie haben schon 3 aktive Tokens in dieser Organisation, die höchste hier erlaubte Zahl (3). Widerrufen Sie eines, das Sie nicht mehr verwenden (Papierkorb-Symbol in der Liste unten), und generieren Sie dann das neue.')
      const names = (await capped.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens.map((x: any) => x.name)
      expect(names).not.toContain('fourth')
      expect(names).not.toContain('viertes')
      expect(names).toHaveLength(3)
    } finally {
      await capped.rt.close()
    }
  })
})

describe("an admin's list of every token of the organization", () => {
  // Two people's tokens of one name ("CI") had trash icons of one accessible name, "Revoke token
  // CI": a screen reader could not tell whose token which icon revokes.
  test("another person's token: its trash icon names the owner, and its dialog says whose scripts stop (English and German); one's own as before", async () => {
    const { a: admin, c } = await signedInPerson(t, { role: 'admin', org: 'docs-all' })
    const { c: bob, a: bobActor } = await signedInPerson(t, { role: 'member', org: 'docs-all' })
    expect((await c.post('/settings/tokens', { name: 'CI', expires: '90', scope: '*' })).status).toBe(201)
    expect((await bob.post('/settings/tokens', { name: 'CI', expires: '90', scope: '*' })).status).toBe(201)
    const en = (await c.get('/settings/profile?all=1')).text
    expect(en).toContain(`aria-label="Revoke token CI of ${bobActor.email}"`)
    expect(en).toContain('aria-label="Revoke token CI"')
    expect(en).not.toContain(`aria-label="Revoke token CI of ${admin.email}"`)
    expect(en).toContain(`This token belongs to ${bobActor.email}: their scripts, pipelines and integrations that use it stop working.`)
    const de = (await c.get('/settings/profile?all=1', DE)).text
    expect(de).toContain(`aria-label="Token CI von ${bobActor.email} widerrufen"`)
    expect(de).toContain(`Dieses Token gehört ${bobActor.email}: Die Skripte, Pipelines und Integrationen dieser Person, die es verwenden, funktionieren dann nicht mehr.`)
    // Bob's own list: his token, his label.
    expect((await bob.get('/settings/profile')).text).toContain('aria-label="Revoke token CI"')
  })
})

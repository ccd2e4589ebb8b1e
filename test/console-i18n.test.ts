import { afterAll, describe, expect, test } from 'bun:test'
import { CATALOGUE, errorText, LANGS, langOf } from '../src/console/i18n'
import { createLink } from '../src/modules/users/links'
import { MAX_BODY_MEMBERS } from '../src/json-limits'
import { makeActor, makeTestApp } from './helpers/app'
import { consoleClient, givePassword, signedInPerson, shownApproval } from './helpers/console'
import { startProviderDouble } from './helpers/providers'
import { until } from './helpers/scripted-provider'

/**
 * The console in English and German (src/console/i18n.ts): one catalogue with the same keys in
 * both languages; the language from Accept-Language (q-values); every German page without
 * English UI text; the German docs' wording ("Einstellungen → API-Zugriff", "Neues Token
 * generieren", "7-365 Tage, Standard: 90 Tage", the copy warning).
 */
const t = await makeTestApp()
afterAll(() => t.rt.close())
const DE = { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' }

describe('the catalogue', () => {
  test('every key in every language, of the same kind; static texts need no escaping', () => {
    const keys = Object.keys(CATALOGUE.en).sort()
    for (const lang of LANGS) {
      const c = CATALOGUE[lang] as Record<string, unknown>
      expect({ lang, keys: Object.keys(c).sort() }).toEqual({ lang, keys })
      for (const k of keys) {
        const en = (CATALOGUE.en as Record<string, unknown>)[k]
        const v = c[k]
        expect({ lang, k, kind: Array.isArray(v) ? 'array' : typeof v }).toEqual({ lang, k, kind: Array.isArray(en) ? 'array' : typeof en })
        if (typeof v === 'function') expect({ lang, k, arity: v.length }).toEqual({ lang, k, arity: (en as (...a: unknown[]) => string).length })
        for (const s of typeof v === 'string' ? [v] : Array.isArray(v) ? v : []) {
          expect({ lang, k, markup: /[<&]/.test(s as string), empty: (s as string).length === 0 && k !== 'removeAsk1' }).toEqual({ lang, k, markup: false, empty: false })
        }
      }
    }
  })

  test('the German docs word for word', () => {
    const de = CATALOGUE.de
    expect(de.navSettings).toBe('Einstellungen')
    expect(de.patTitle).toBe('API-Zugriff')
    expect(de.createToken).toBe('Neues Token generieren')
    expect(de.expiration).toContain('7-365 Tage, Standard: 90 Tage')
    expect(de.copyNow).toBe('Kopieren Sie Ihr Token sofort - Sie können es später nicht mehr sehen!')
    const en = CATALOGUE.en
    expect([en.navSettings, en.profileTitle, en.patTitle, en.createToken]).toEqual(['Settings', 'Profile', 'Personal Access Tokens', 'Create Token'])
    expect(en.copyNow).toBe('Copy the token immediately - it will only be shown once!')
  })
})

describe('Accept-Language', () => {
  const of = (h?: string) => langOf(new Request('http://x/', { headers: h === undefined ? {} : { 'accept-language': h } }))
  test.each([
    [undefined, 'en'],
    ['', 'en'],
    ['de', 'de'],
    ['de-AT', 'de'],
    ['DE-ch;q=0.8', 'de'],
    ['en-US,en;q=0.9,de;q=0.8', 'en'],
    ['de;q=0.5, en;q=0.9', 'en'],
    ['en;q=0.2, de;q=0.7', 'de'],
    ['fr-FR, fr;q=0.9, de;q=0.3', 'de'],
    ['fr, ja', 'en'],
    ['de;q=0, en;q=0.1', 'en'],
    ['de;q=0', 'en'],
    ['*', 'en'],
    ['*;q=0.1, de', 'de'],
    ['de;q=1.5', 'de'],
    ['de;q=abc', 'de'],
    [';;;,,,', 'en'],
  ] as const)('%p → %p', (header, lang) => {
    expect(of(header)).toBe(lang)
  })
})

/** Text a person reads: element text and aria-label/title values, without code, pre and times. */
function readable(html: string): string {
  const attrs = [...html.matchAll(/\s(?:aria-label|title|data-copied|data-text-[a-z-]+)="([^"]*)"/g)].map((m) => m[1])
  const body = html
    .replace(/<(code|pre|time|script|style|output)\b[^>]*>[\s\S]*?<\/\1>/g, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&quot;/g, '"')
    // Identifiers, not words: audit event types (token.rotated), in the type filter's options.
    .replace(/\b[a-z_]+(?:\.[a-z_]+)+\b/g, ' ')
    // Identifiers, not words: audit event types (token.rotated), in the type filter's options.
    .replace(/\b[a-z_]+(?:\.[a-z_]+)+\b/g, ' ')
  return `${body} ${attrs.join(' ')}`.replace(/\s+/g, ' ')
}

/** English UI words that must not appear on a German page. */
const ENGLISH = [
  'Sign in', 'Sign out', 'Settings', 'Profile', 'Create Token', 'Personal Access Tokens', 'Revoke', 'Cancel', 'Rotate', 'Expiration',
  'Scopes', 'Your tokens', 'expires in', 'never', 'Members', 'Audit log', 'Save', 'Change password', 'Sessions', 'Copy', 'Approve', 'Deny',
  'Add member', 'Remove', 'Filter', 'Created', 'Last used', 'Owner', 'e-mail', 'E-mail', 'Validation failed', 'not found', 'Forbidden',
  'Conflict', 'Organization', 'Password', 'recommended', ' days', 'Welcome', 'Refused', 'active', 'rotated', 'unknown', ' the ', ' and ',
  ' your ', ' you ', ' of ', 'Full access', 'read', 'write', 'execute', 'member', 'viewer', 'Done', 'Guidelines', 'guidelines', 'Status:',
  'Space Settings', 'Environment Variables', 'Environment variable', 'variable', 'Value', 'Slug', 'Visibility', 'archived', 'private', 'public',
  'Description', 'Not found', 'Back', 'saved', 'removed', 'Remove variable', 'Save variable', 'Agents', 'stored', 'encrypted', 'role',
  'New chat', 'Start chat', 'Send', 'Message', 'Messages', 'Your chats', 'Last message', 'Older chats', 'answered', 'running', 'failed',
  'cancelled', 'unlisted', 'You', 'working', 'refreshes', 'agent', 'Request ID', 'not sent', 'form', 'session has ended', 'trying', 'answer', 'Invalid input',
  'Too large', 'Server error', 'Method not allowed',
]

function englishIn(html: string): string[] {
  const text = readable(html)
  // Whole words: "members" (a scope's resource) is not "member"; "1Password" (a product's name) is not "Password".
  const letter = 'A-Za-z0-9ÄÖÜäöüß'
  return ENGLISH.filter((w) => new RegExp(`(^|[^${letter}])${w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^${letter}])`).test(text))
}

describe('German pages', () => {
  test('every console page, message and dialog in German with <html lang="de"> and Vary: Accept-Language; English without the header', async () => {
    const admin = await makeActor(t, { role: 'admin', org: 'de-org' })
    await givePassword(t, admin.userId)
    const c = consoleClient(t, { headers: DE })
    const pages: [string, { status: number; text: string; headers: Headers }][] = []
    pages.push(['sign-in', await c.get('/login')])
    pages.push(['wrong password', await c.post('/login', { email: admin.email, password: 'wrong password!!' })])
    expect((await c.signIn(admin.email)).status).toBe(303)
    // A token, a rotated one in its grace period, an error, the new-token page.
    const made = await c.post('/settings/tokens', { name: 'CI Pipeline', expires: '90', scope: '*' })
    pages.push(['token created', made])
    expect(made.text).toContain('Kopieren Sie Ihr Token sofort - Sie können es später nicht mehr sehen!')
    const id = /\/settings\/tokens\/(pat_[A-Za-z0-9]+)\/rotate/.exec((await c.get('/settings/profile')).text)![1]!
    pages.push(['token rotated', await c.post(`/settings/tokens/${id}/rotate`, { grace: '3600' })])
    pages.push(['create error', await c.post('/settings/tokens', { name: '   ', expires: '90' })])
    pages.push(['custom date error', await c.post('/settings/tokens', { name: 'x', expires: 'custom', date: '' })])
    pages.push(['expiry error', await c.post('/settings/tokens', { name: 'x', expires: '3' })])
    pages.push(['scope error', await c.post('/settings/tokens', { name: 'x', expires: '7', scope: 'nothing:here' })])
    pages.push(['no scope chosen', await c.post('/settings/tokens', { name: 'x', expires: '7', scope: '' })])
    pages.push(['revoke error', await c.post('/settings/tokens/pat_nosuchtoken/revoke')])
    pages.push(['rotate error', await c.post(`/settings/tokens/${id}/rotate`, { grace: '0' })])
    const profile = await c.get('/settings/profile?all=1&inactive=1&revoked=1')
    pages.push(['settings → profile', profile])
    expect(profile.text).toContain('>Einstellungen</a>')
    expect(profile.text).toMatch(/<h2 id="personal-access-tokens-title">API-Zugriff<\/h2>/)
    expect(profile.text).toContain('>Neues Token generieren</button>')
    expect(profile.text).toContain('7-365 Tage, Standard: 90 Tage')
    expect(profile.text).toContain('aktiv bis <time')
    pages.push(['profile errors', await c.post('/settings/password', { current: 'x', password: 'a new long password', confirm: 'another' })])
    pages.push(['profile wrong password', await c.post('/settings/profile', { name: 'A', email: 'other@example.com', current: 'wrong password!!' })])
    pages.push(['profile bad e-mail', await c.post('/settings/profile', { name: 'A', email: admin.email.toUpperCase() + '\u202e' })])
    // Members (with a one-time link), errors, audit log.
    pages.push(['member added', await c.post('/org/members', { email: 'neu@example.com', role: 'member' })])
    pages.push(['member exists', await c.post('/org/members', { email: 'neu@example.com', role: 'member' })])
    pages.push(['members', await c.get('/org/members?done=role')])
    pages.push(['audit', await c.get('/org/audit')])
    pages.push(['audit error', await c.get('/org/audit?cursor=nonsense')])
    // A member: not allowed.
    const member = await makeActor(t, { role: 'member', org: 'de-org' })
    await givePassword(t, member.userId)
    const m = consoleClient(t, { headers: DE })
    await m.signIn(member.email)
    pages.push(['not allowed', await m.get('/org/members')])
    // Spaces → a space → Space-Einstellungen → Umgebungsvariablen: the list, the page with its forms,
    // a variable added (notice), refused (the service's error), removed, and the pages of those who
    // may only read, of a refused form and of a space that is not theirs to see.
    const room = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Raum Eins', visibility: 'organization' } })).body.space.id as string
    const hidden = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Raum Zwei' } })).body.space.id as string
    const archived = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Raum Drei', visibility: 'public' } })).body.space.id as string
    await t.req('DELETE', `/api/v1/spaces/${archived}`, { token: admin.token })
    pages.push(['spaces', await c.get('/spaces')])
    const spaces = await c.get('/spaces?archived=1')
    pages.push(['spaces with archived', spaces])
    expect(spaces.text).toContain('>Spaces</a>')
    expect(spaces.text).toContain('archiviert')
    pages.push(['spaces error', await c.get('/spaces?cursor=nonsense')])
    pages.push(['space, empty', await c.get(`/spaces/${room}`)])
    expect((await c.post(`/spaces/${room}/secrets`, { name: 'TEAMDAY_TOKEN', value: 'td_geheim' })).status).toBe(303)
    const roomPage = await c.get(`/spaces/${room}?done=saved`)
    pages.push(['space, saved', roomPage])
    expect(roomPage.text).toContain('<h2 id="space-settings-title">Space-Einstellungen</h2>')
    expect(roomPage.text).toContain('<h3 id="environment-variables-title">Umgebungsvariablen</h3>')
    expect(roomPage.text).toContain('>Einstellungen → API-Zugriff</a>')
    expect(roomPage.text).toContain('Umgebungsvariable gespeichert.')
    pages.push(['space, bad name', await c.post(`/spaces/${room}/secrets`, { name: 'klein', value: 'x' })])
    pages.push(['space, value too large', await c.post(`/spaces/${room}/secrets`, { name: 'GROSS', value: 'x'.repeat(65_537) })])
    pages.push(['space, bad remove', await c.post(`/spaces/${room}/secrets/remove`, { name: 'klein' })])
    pages.push(['space, absent', await c.get(`/spaces/${room}?done=absent`)])
    expect((await c.post(`/spaces/${room}/secrets/remove`, { name: 'TEAMDAY_TOKEN' })).status).toBe(303)
    pages.push(['space, removed', await c.get(`/spaces/${room}?done=removed`)])
    pages.push(['space, archived', await c.get(`/spaces/${archived}`)])
    pages.push(['space not found', await c.get('/spaces/space_nosuchspace0000000')])
    pages.push(['space, member reads only', await m.get(`/spaces/${room}`)])
    pages.push(['space, member refused', await m.post(`/spaces/${room}/secrets`, { name: 'NEIN', value: 'x' })])
    pages.push(['space, member not found', await m.get(`/spaces/${hidden}`)])
    const viewer = await makeActor(t, { role: 'viewer', org: 'de-org' })
    await givePassword(t, viewer.userId)
    const v = consoleClient(t, { headers: DE })
    await v.signIn(viewer.email)
    pages.push(['space, viewer refused', await v.post(`/spaces/${room}/secrets`, { name: 'NEIN', value: 'x' })])
    pages.push(['space, viewer refused, hidden', await v.post(`/spaces/${hidden}/secrets`, { name: 'NEIN', value: 'x' })])
    // CLI sign-in: the approval page, done, and an unknown link.
    const init = (await t.req('POST', '/api/auth/cli/initiate', { headers: { 'content-type': 'application/json', 'user-agent': 'teamday-cli/0.1.0' } })).body
    const authPath = new URL(init.authUrl).pathname
    pages.push(['cli approve', await c.get(authPath)])
    pages.push(['cli choose', await c.post(authPath, { decision: 'maybe' })])
    await c.post(authPath, await shownApproval(t, c, authPath))
    pages.push(['cli approved', await c.get(authPath)])
    pages.push(['cli unknown', await c.get('/cli/authorize/nosuchcode')])
    // Set-up / set-password links and the cross-site refusal.
    const newbie = await makeActor(t, { role: 'member', org: 'de-newbie' })
    const link = await createLink(t.ctx, newbie.userId, newbie.organizationId, 'set_password')
    const anon = consoleClient(t, { headers: DE })
    pages.push(['set password', await anon.get(link.path)])
    pages.push(['set password differs', await anon.post(link.path, { password: 'a long password 1', confirm: 'a long password 2' })])
    pages.push(['set password short', await anon.post(link.path, { password: 'short', confirm: 'short' })])
    pages.push(['link invalid', await anon.get('/set-password/nosuchsecret')])
    const setup = await makeActor(t, { role: 'admin', org: 'de-setup' })
    pages.push(['set up', await anon.get((await createLink(t.ctx, setup.userId, null, 'setup')).path)])
    pages.push(['cross-site', await c.post('/logout', {}, { 'sec-fetch-site': 'cross-site' })])
    for (const [name, res] of pages) {
      expect({ name, lang: /<html lang="(\w+)"/.exec(res.text)?.[1], vary: /accept-language/i.test(res.headers.get('vary') ?? '') }).toEqual({ name, lang: 'de', vary: true })
      expect({ name, english: englishIn(res.text) }).toEqual({ name, english: [] })
    }
    // The same pages in English without the header (or with English first).
    const en = consoleClient(t)
    await en.signIn(admin.email)
    const english = await en.get('/settings/profile')
    expect(english.text).toStartWith('<!doctype html><html lang="en">')
    expect(english.headers.get('vary')).toContain('Accept-Language')
    expect(english.text).toContain('>Settings</a>')
    expect(english.text).toMatch(/<h2 id="personal-access-tokens-title">Personal Access Tokens<\/h2>/)
    expect(englishIn(english.text).length).toBeGreaterThan(10)
    const englishSpace = (await en.get('/spaces')).text
    expect(englishSpace).toContain('>Spaces</a>')
    expect(englishSpace).toContain('Show archived spaces')
    // The words looked for are on the English space page: the German check sees them when they are there.
    expect(englishIn((await en.get(`/spaces/${room}`)).text)).toEqual(expect.arrayContaining(['Space Settings', 'Environment Variables', 'Save variable', 'Value']))
  })
})

describe('the agent pages in German', () => {
  test('Agenten, an agent\'s chat page (new, with answered and running turns), its form errors, refusals and 404 pages in German; the words looked for are on the English pages', async () => {
    const double = startProviderDouble()
    const app = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    try {
      const signedIn = (role: 'admin' | 'member' | 'viewer', headers: Record<string, string> = DE) => signedInPerson(app, { role, org: 'de-agenten', headers })
      const { a, c } = await signedIn('member')
      const { c: v } = await signedIn('viewer')
      const { a: other } = await signedIn('member')
      const made = async (by: typeof a, name: string, visibility: string, description?: string) =>
        (await app.req('POST', '/api/v1/agents', { token: by.token, body: { name, visibility, description } })).body.id as string
      const helper = await made(a, 'Übersetzer', 'organization', 'Übersetzt Texte ins Deutsche')
      await made(a, 'Stiller Helfer', 'unlisted')
      const hidden = await made(other, 'Geheimer Helfer', 'private')
      const old = await made(a, 'Alter Helfer', 'organization')
      await app.req('DELETE', `/api/v1/agents/${old}`, { token: a.token })
      const ended = async (chat: string) => (await app.req('GET', `/api/v1/chats/${chat}`, { token: a.token })).body.chat.status !== 'working'
      const chatOf = (r: { headers: Headers }) => new URL(r.headers.get('location')!, 'http://localhost').searchParams.get('chat')!

      const pages: [string, { status: number; text: string; headers: Headers }][] = []
      const list = await c.get('/agents')
      pages.push(['agents', list])
      expect(list.text).toContain('<a href="/agents" aria-current="page">Agenten</a>')
      expect(list.text).toContain('<h1>Agenten</h1>')
      expect(list.text).toContain('nicht gelistet')
      pages.push(['agents error', await c.get('/agents?cursor=nonsense')])
      pages.push(['chat, new', await c.get(`/agents/${helper}/chat`)])
      const sent = await c.post(`/agents/${helper}/chat`, { message: 'Guten Tag' })
      expect(sent.status).toBe(303)
      await until(() => ended(chatOf(sent)))
      const answered = await c.get(sent.headers.get('location')!)
      pages.push(['chat, answered', answered])
      expect(answered.text).toContain('>Echo: Guten Tag (user turns: 1)</div>')
      expect(answered.text).toContain('<bdi class="who">Sie</bdi>')
      expect(answered.text).toContain('>Senden</button>')
      expect(answered.text).toContain('beantwortet')
      app.clock.advance(1000)
      const slow = await c.post(`/agents/${helper}/chat`, { message: 'HANG bitte', chatId: chatOf(sent) })
      await until(async () => (await app.req('GET', `/api/v1/executions?status=running`, { token: a.token })).body.length === 1)
      const running = await c.get(slow.headers.get('location')!)
      pages.push(['chat, running', running])
      expect(running.text).toContain('Der Agent arbeitet daran. Diese Seite aktualisiert sich selbst')
      expect(running.text).toContain('läuft')
      const [run] = (await app.req('GET', `/api/v1/executions?status=running`, { token: a.token })).body
      await app.req('POST', `/api/v1/executions/${run.id}/cancel`, { token: a.token })
      const empty = await c.post(`/agents/${helper}/chat`, { message: ' ' })
      pages.push(['chat, empty message', empty])
      expect(empty.text).toContain('Ungültige Eingabe: Schreiben Sie eine Nachricht')
      pages.push(['chat, bad chat id', await c.post(`/agents/${helper}/chat`, { message: 'Hallo', chatId: '-x' })])
      pages.push(['chat not found', await c.get(`/agents/${helper}/chat?chat=chat_nosuchchat0000000`)])
      pages.push(['agent not found', await c.get('/agents/char_nosuchagent00000000/chat')])
      pages.push(['agent hidden', await c.get(`/agents/${hidden}/chat`)])
      pages.push(['agent hidden, sent', await c.post(`/agents/${hidden}/chat`, { message: 'Hallo' })])
      const archived = await c.get(`/agents/${old}/chat`)
      pages.push(['agent archived', archived])
      expect(archived.text).toContain('Dieser Agent ist archiviert')
      pages.push(['agent archived, sent', await c.post(`/agents/${old}/chat`, { message: 'Hallo' })])
      pages.push(['viewer chat page', await v.get(`/agents/${helper}/chat`)])
      pages.push(['viewer refused', await v.post(`/agents/${helper}/chat`, { message: 'Hallo' })])
      pages.push(['viewer refused, hidden', await v.post(`/agents/${hidden}/chat`, { message: 'Hallo' })])
      // Errors before a page runs (src/console/error-pages.tsx): the URL's rules, validation, a refused form, 405.
      pages.push(['error page, NUL in the query', await c.get('/agents?cursor=%00')])
      pages.push(['error page, bad percent-encoding', await c.get('/agents/%ZZ/chat')])
      pages.push(['error page, NUL in the path', await c.get('/spaces/%00')])
      pages.push(['error page, NUL in a message', await c.post(`/agents/${helper}/chat`, { message: 'vorher\u0000nachher' })])
      pages.push(['error page, message too large', await c.post(`/agents/${helper}/chat`, { message: '漢'.repeat(120_000) })])
      const manyFields = await c.post(`/agents/${helper}/chat`, { message: 'Hallo', ...Object.fromEntries(Array.from({ length: MAX_BODY_MEMBERS }, (_, i) => [`f${i}`, '1'])) })
      expect([manyFields.status, manyFields.text]).toEqual([413, expect.stringContaining(`Die Anfrage ist zu groß: höchstens ${MAX_BODY_MEMBERS} Felder, diese hat ${MAX_BODY_MEMBERS + 1}.`)])
      pages.push(['error page, too many fields', manyFields])
      pages.push(['error page, 405', await app.req('DELETE', `/agents/${helper}/chat`, { headers: { cookie: c.cookie!, ...DE } })])
      // No model provider (this file's other app): the 501's message in German.
      const bare = await makeActor(t, { role: 'member', org: 'de-ohne-anbieter' })
      await givePassword(t, bare.userId)
      const bc = consoleClient(t, { headers: DE })
      await bc.signIn(bare.email)
      const idle = (await t.req('POST', '/api/v1/agents', { token: bare.token, body: { name: 'Wartender Helfer' } })).body.id as string
      const noProvider = await bc.post(`/agents/${idle}/chat`, { message: 'Hallo' })
      expect(noProvider.status).toBe(501)
      expect(noProvider.text).toContain('kein Modellanbieter eingerichtet')
      pages.push(['no model provider', noProvider])
      for (const [name, res] of pages) {
        expect({ name, lang: /<html lang="(\w+)"/.exec(res.text)?.[1], vary: /accept-language/i.test(res.headers.get('vary') ?? '') }).toEqual({ name, lang: 'de', vary: true })
        expect({ name, english: englishIn(res.text) }).toEqual({ name, english: [] })
      }
      // The words looked for are on the English pages: the German check sees them when they are there.
      const en = consoleClient(app)
      await en.signIn(a.email)
      expect((await en.get('/agents')).text).toContain('>Agents</a>')
      expect(englishIn((await en.get(`/agents/${helper}/chat?chat=${chatOf(sent)}`)).text)).toEqual(expect.arrayContaining(['Send', 'Messages', 'Your chats', 'New chat', 'You', 'cancelled', 'Last message']))
      expect(englishIn((await en.post(`/agents/${helper}/chat`, { message: '' })).text)).toEqual(expect.arrayContaining(['Validation failed', 'Start chat']))
      expect(englishIn((await en.post(`/agents/${helper}/chat`, { message: 'a\u0000b' })).text)).toEqual(expect.arrayContaining(['Validation failed', 'Request ID', 'not sent', 'Invalid input']))
      expect(englishIn((await en.get('/agents?cursor=%00')).text)).toEqual(expect.arrayContaining(['Back', 'Request ID', 'Invalid input']))
      expect(englishIn((await en.get(slow.headers.get('location')!)).text)).toEqual(expect.arrayContaining(['session has ended', 'trying', 'answer']))
    } finally {
      await app.rt.close()
      double.stop()
    }
  })
})

// The English "Space X not found" did not say what the German one did ("oder Sie dürfen ihn
// nicht sehen"): that it may be there and not be the reader's to see (another organization's
// object is answered as a missing one on purpose).
describe('not-found pages say the same in English and German', () => {
  test('a space, an agent (archived too), a chat, a token of another organization or none: "or you may not see it" in both, the page as for an unknown id', async () => {
    const en = await signedInPerson(t, { role: 'admin', org: 'nf-mine' })
    const de = await signedInPerson(t, { role: 'admin', org: 'nf-mine', headers: DE })
    const stranger = await makeActor(t, { role: 'admin', org: 'nf-theirs' })
    const space = (await t.req('POST', '/api/v1/spaces', { token: stranger.token, body: { name: 'Their space', visibility: 'organization' } })).body.space.id as string
    const agent = (await t.req('POST', '/api/v1/agents', { token: stranger.token, body: { name: 'Their agent', visibility: 'organization' } })).body.id as string
    const mine = (await t.req('POST', '/api/v1/agents', { token: en.a.token, body: { name: 'Our agent', visibility: 'organization' } })).body.id as string
    const gone = (await t.req('POST', '/api/v1/agents', { token: en.a.token, body: { name: 'Gone agent', visibility: 'organization' } })).body.id as string
    await t.req('DELETE', `/api/v1/agents/${gone}`, { token: en.a.token })
    const theirToken = (await t.req('GET', '/api/v1/tokens', { token: stranger.token })).body.tokens[0].id as string
    const unknownToken = 'pat_nosuchtoken0000000000'
    // (Another person's chat is this page too: test/console-agents.test.ts.)
    const chatId = 'chat_nosuchchat000000'
    const cases: [string, (c: typeof en.c) => Promise<{ status: number; text: string }>, string, string][] = [
      ['space', (c) => c.get(`/spaces/${space}`), `Space ${space} not found, or you may not see it.`, 'Diesen Space gibt es nicht, oder Sie dürfen ihn nicht sehen.'],
      ['agent', (c) => c.get(`/agents/${agent}/chat`), `Agent ${agent} not found, or you may not see it.`, 'Diesen Agenten gibt es nicht, oder Sie dürfen ihn nicht sehen.'],
      ['archived agent, a message sent', (c) => c.post(`/agents/${gone}/chat`, { message: 'hello' }), `Agent ${gone} not found (or archived), or you may not see it.`, 'Diesen Agenten gibt es nicht (oder er ist archiviert), oder Sie dürfen ihn nicht sehen.'],
      ['chat', (c) => c.get(`/agents/${mine}/chat?chat=${chatId}`), `Chat ${chatId} not found, or it is not yours.`, 'Diesen Chat gibt es nicht, oder er gehört nicht Ihnen.'],
      ['token', (c) => c.post(`/settings/tokens/${theirToken}/revoke`), `Token ${theirToken} not found, or it belongs to someone else.`, 'Dieses Token gibt es nicht, oder es gehört jemand anderem.'],
    ]
    for (const [what, get, english, german] of cases) {
      const e = await get(en.c)
      const d = await get(de.c)
      expect({ what, status: [e.status, d.status], en: e.text.includes(Bun.escapeHTML(english)), de: d.text.includes(german) }).toEqual({ what, status: [404, 404], en: true, de: true })
    }
    // Another organization's space, agent, token: the page an unknown id gets, but for the id.
    const same = async (path: (id: string) => string, theirs: string, unknown: string, post = false) => {
      const [a, b] = await Promise.all([theirs, unknown].map((id) => (post ? en.c.post(path(id)) : en.c.get(path(id)))))
      expect(a!.text.replaceAll(theirs, 'ID').replace(/name="formKey" value="[^"]*"/g, '')).toBe(b!.text.replaceAll(unknown, 'ID').replace(/name="formKey" value="[^"]*"/g, ''))
    }
    await same((id) => `/spaces/${id}`, space, 'space_nosuchspace0000000')
    await same((id) => `/agents/${id}/chat`, agent, 'char_nosuchagent00000000')
    await same((id) => `/settings/tokens/${id}/revoke`, theirToken, unknownToken, true)
  })
})

describe('service errors that had no German', () => {
  test('a name with a bidi control or without a visible character, a stale page link, a rotation with a grace period over the token limit: the German page says what is wrong and what to do', async () => {
    const app = await makeTestApp({ config: { maxTokensPerUser: 2 } })
    try {
      const { a, c } = await signedInPerson(app, { role: 'admin', org: 'de-fehler', headers: DE })
      const error = (html: string) => /<p class="error" role="alert"[^>]*>([^<]*)<\/p>/.exec(html)?.[1]
      const bidi = await c.post('/settings/tokens', { name: 'Deploy \u202etob', expires: '90', scope: '*' })
      expect([bidi.status, error(bidi.text)]).toEqual([422, 'Ungültige Eingabe: Der Name darf keine Steuerzeichen und keine Zeichen enthalten, die die Schreibrichtung ändern.'])
      const invisible = await c.post('/settings/tokens', { name: '\u200b', expires: '90', scope: '*' })
      expect([invisible.status, error(invisible.text)]).toEqual([422, 'Ungültige Eingabe: Der Name muss mindestens ein sichtbares Zeichen enthalten.'])
      const person = await c.post('/settings/profile', { name: '\u200b\u200b', email: a.email })
      expect([person.status, error(person.text)]).toEqual([422, 'Ungültige Eingabe: Der Name muss mindestens ein sichtbares Zeichen enthalten.'])
      const audit = await c.get('/org/audit?cursor=nonsense')
      expect(error(audit.text)).toBe('Ungültiger Seitenverweis: Folgen Sie den Links der Seite oder beginnen Sie wieder auf der ersten Seite.')
      const typo = await c.get('/org/audit?type=token.creatd')
      expect([typo.status, error(typo.text)]).toEqual([422, 'Unbekannter Ereignistyp „token.creatd“: Wählen Sie einen aus der Liste.'])
      // Two active tokens (the actor's and this one) with a limit of 2: one rotation with a grace
      // period may go one past it; the next is refused, and says so, not "revoke one first".
      expect((await c.post('/settings/tokens', { name: 'zweites', expires: '90', scope: '*' })).status).toBe(201)
      const rotateId = (html: string, name: string) => new RegExp(`<tr><td>${name}</td>.*?/settings/tokens/(pat_[A-Za-z0-9]+)/rotate`).exec(html)![1]!
      const second = rotateId((await c.get('/settings/profile')).text, 'zweites')
      expect((await c.post(`/settings/tokens/${second}/rotate`, { grace: '3600' })).status).toBe(201)
      const over = await c.post(`/settings/tokens/${a.tokenId}/rotate`, { grace: '3600' })
      expect([over.status, error(over.text)]).toEqual([
        422,
        'Zu viele Tokens für eine Rotation mit Übergangsfrist: Sie haben 3 aktive Tokens in dieser Organisation (Tokens in der Übergangsfrist einer Rotation zählen mit), erlaubt sind 2, und das alte Token würde neben dem neuen weiter funktionieren. Rotieren Sie mit „altes Token endet sofort“, warten Sie das Ende der früheren Übergangsfrist ab oder widerrufen Sie Tokens, die Sie nicht mehr verwenden.',
      ])
      expect(englishIn(over.text)).toEqual([])
    } finally {
      await app.rt.close()
    }
  })

  test('an expiresAt that is no date is not answered with the 7-365 days range (its mapping came after the range\'s, which matched it first)', () => {
    const de = (message: string) => errorText('de', { message, code: 'validation_failed', status: 422 })
    expect(de('Validation failed: expiresAt must be an ISO-8601 date-time')).toBe('Ungültige Eingabe: Wählen Sie ein gültiges Ablaufdatum.')
    expect(de('Validation failed: expiresAt must be between 7 and 365 days from now (got 3 days)')).toBe('Ungültige Eingabe: Das Ablaufdatum muss zwischen 7 und 365 Tagen in der Zukunft liegen.')
  })
})

describe('the NUL character in a form, said in German whichever field holds it', () => {
  test('a field, a key, or the body as a whole: the same German sentence', () => {
    const de = (message: string) => errorText('de', { message, code: 'validation_failed', status: 422 })
    const said = 'Ungültige Eingabe: Der Text enthält das NUL-Zeichen (U+0000), das sich nicht speichern lässt.'
    for (const message of ['message', 'metadata.list[0]', 'a key of body', 'text'].map((f) => `Validation failed: ${f} must not contain the NUL character (U+0000)`)) expect([message, de(message)]).toEqual([message, said])
  })
})

describe('a refusal names the field as the form labels it, never by its name in the API', () => {
  test('English: a date out of range, an unknown role, a name too long: "Custom expiration date", "Role", "Name" (not expiresAt, role, name); German names none', async () => {
    const app = await makeTestApp()
    try {
      const { c } = await signedInPerson(app, { role: 'admin', org: 'labels' })
      const error = (html: string) => /<p class="error" role="alert"[^>]*>([^<]*)<\/p>/.exec(html)?.[1]?.replaceAll('&quot;', '"')
      const past = await c.post('/settings/tokens', { name: 'old date', expires: 'custom', date: '2020-01-01', scope: ['', '*'] })
      expect(past.status).toBe(422)
      expect(error(past.text)).toStartWith('Validation failed: "Custom expiration date" must be between 7 and 365 days from now')
      const role = await c.post('/org/members', { email: 'someone@example.com', role: 'owner' })
      expect([role.status, error(role.text)]).toEqual([422, 'Validation failed: "Role" must be one of admin, member, viewer'])
      const long = await c.post('/settings/profile', { name: 'x'.repeat(101), email: (await c.get('/settings/profile')).text.match(/name="email"[^>]*value="([^"]+)"/)![1]! })
      expect([long.status, error(long.text)]).toEqual([422, 'Validation failed: "Name" must be at most 100 characters'])
      const de = await c.post('/settings/tokens', { name: 'altes Datum', expires: 'custom', date: '2020-01-01', scope: ['', '*'] }, DE)
      expect(error(de.text)).toBe('Ungültige Eingabe: Das Ablaufdatum muss zwischen 7 und 365 Tagen in der Zukunft liegen.')
    } finally {
      await app.rt.close()
    }
  })

  test("the console's error page for a token in a field's name (no form to show again) names no field in German", () => {
    const message = 'Validation failed: body[key] must not contain a token or another secret: what is sent here is stored and shown to others in the organization'
    const de = errorText('de', { message, code: 'validation_failed', status: 422 })
    expect(de).not.toContain('body')
    expect(de).toContain('Umgebungsvariable eines Spaces')
  })
})

describe('a rotated token in its grace period', () => {
  test('shows "active until <time> (rotated)", keeps the trash icon, and revoking it stops it now', async () => {
    const a = await makeActor(t, { role: 'member', org: 'grace-org' })
    await givePassword(t, a.userId)
    const c = consoleClient(t)
    await c.signIn(a.email)
    const tokenOf = (html: string) => /id="new-token"[^>]*>\s*(td_[A-Za-z0-9]{43})\s*</.exec(html)![1]!
    const old = tokenOf((await c.post('/settings/tokens', { name: 'deploy', expires: '30' })).text)
    const page = (await c.get('/settings/profile')).text
    const id = new RegExp('<tr><td>deploy</td>.*?/settings/tokens/(pat_[A-Za-z0-9]+)/revoke').exec(page)![1]!
    const fresh = tokenOf((await c.post(`/settings/tokens/${id}/rotate`, { grace: '86400' })).text)
    const list = (await c.get('/settings/profile')).text
    const row = new RegExp(`<tr>(?:(?!<tr>).)*?/settings/tokens/${id}/revoke.*?</tr>`).exec(list)![0]
    // Readable: "active until <time> (rotated)", no raw ISO text outside the time's attributes.
    expect(row).toMatch(/<td class="status-active">active until <time datetime="[^"]+" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/time> \(rotated\)<\/td>/)
    expect(row.replace(/<time[^>]*>/g, '')).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:/)
    // The trash icon with its dialog (and a word on the grace period); no second rotation.
    expect(row).toContain(`aria-label="Revoke token deploy"`)
    expect(row).toContain('revoking it stops it now')
    expect(row).not.toContain(`/settings/tokens/${id}/rotate`)
    expect((await t.req('GET', '/api/v1/agents', { token: old })).status).toBe(200)
    // Revoking it: at once, not at the end of the grace period; back to the section.
    const res = await c.post(`/settings/tokens/${id}/revoke`)
    expect([res.status, res.headers.get('location')]).toEqual([303, '/settings/profile?revoked=1#personal-access-tokens'])
    const api = await t.req('GET', '/api/v1/agents', { token: old })
    expect([api.status, api.body.code]).toEqual([401, 'token_revoked'])
    expect((await t.req('GET', '/api/v1/agents', { token: fresh })).status).toBe(200)
    expect((await c.get('/settings/profile?revoked=1')).text).toContain('Token revoked')
  })
})

describe('every form comes back to where the person was', () => {
  test('revoke, rotate errors and create errors keep the list view (all, inactive); CLI sign-in revoke too', async () => {
    const a = await makeActor(t, { role: 'admin', org: 'view-org' })
    await givePassword(t, a.userId)
    const c = consoleClient(t)
    await c.signIn(a.email)
    const page = (await c.get('/settings/profile?all=1&inactive=1')).text
    // Every form of the section carries the view.
    const forms = [...page.matchAll(/<form method="post" action="(\/settings\/(?:tokens|cli-sessions)[^"]*)"[^>]*>(.*?)<\/form>/g)]
    expect(forms.length).toBeGreaterThan(2)
    for (const [, action, inner] of forms) expect({ action, all: inner!.includes('name="all" value="1"'), inactive: inner!.includes('name="inactive" value="1"') }).toEqual({ action, all: true, inactive: true })
    const res = await c.post(`/settings/tokens/${a.tokenId}/revoke`, { all: '1', inactive: '1' })
    expect([res.status, res.headers.get('location')]).toEqual([303, '/settings/profile?all=1&inactive=1&revoked=1#personal-access-tokens'])
    const bad = await c.post('/settings/tokens', { name: '', expires: '90', all: '1', inactive: '1' })
    expect(bad.status).toBe(422)
    expect(bad.text).toContain('<h3>All tokens of the organization</h3>')
    expect(bad.text).toContain('action="/settings/tokens#personal-access-tokens"')
    const created = await c.post('/settings/tokens', { name: 'x', expires: '7', all: '1' })
    expect(created.text).toContain('href="/settings/profile?all=1#personal-access-tokens"')
    const cli = await c.post('/settings/cli-sessions/clis_nosuch/revoke', { inactive: '1' })
    expect(cli.status).toBe(404)
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checksum, generateToken, holdsSecret, holdsTokenBody, redactPrefixed, withoutSecrets } from '../src/auth/tokens'
import { BASE62, randomBase62 } from '../src/auth/random'
import { SECRET_FIELDS } from '../src/http/secret-fields'
import { messages } from '../src/console/i18n'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { atRestApp, expectNoPlaintext, readAtRest } from './helpers/at-rest'
import { consoleClient, createLink, PASSWORD, signedInPerson } from './helpers/console'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

/**
 * A token pasted into a field that is stored (a task's title, an agent's instructions, a message
 * to an agent, a console form) was stored and shown to the whole organization, and written to
 * the database file. Now the body reader refuses it (src/http/secret-fields.ts): 422 naming the
 * field, nothing stored, the token not echoed; the fields designed to receive a secret (a space
 * secret's value, a leak report, passwords, the CLI sign-in's refresh token) still take one.
 */

const DE = { 'accept-language': 'de-DE,de;q=0.9' }
const REFUSED = 'must not contain a token or another secret'

/** A token of the same shape with a wrong checksum: its last character changed. */
function badChecksum(token: string): string {
  const last = token.at(-1)!
  return token.slice(0, -1) + (last === 'a' ? 'b' : 'a')
}

/** `s` with its character at `i` replaced by `c` (a different one). */
function typo(s: string, i: number, c: string): string {
  return s.slice(0, i) + (s[i] === c ? (c === 'a' ? 'b' : 'a') : c) + s.slice(i + 1)
}

/** `s` with its characters at `i` and `i + 1` swapped. */
function swapped(s: string, i: number): string {
  return s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2)
}

describe('what counts as a secret', () => {
  test('issued secrets of every prefix, cut short, or without their prefix; never random base62', () => {
    for (const prefix of ['td_', 'tdo_', 'tdr_', 'tdc_'] as const) {
      const token = generateToken(prefix)
      const body = token.slice(prefix.length)
      for (const s of [token, `see ${token}.`, `x${token}y`, body, `key=${body}`, token.slice(0, -3), token.slice(0, prefix.length + 37)]) {
        expect({ s: s.length, found: holdsSecret(s) }).toEqual({ s: s.length, found: true })
      }
      // Without its prefix, one character wrong is a look-alike (nearMissAt says why).
      expect(holdsSecret(badChecksum(body))).toBe(false)
    }
    // Random base62 of a token's length, or long runs of it, pass the checksum once in 62^6.
    for (let i = 0; i < 2000; i++) expect(holdsSecret(randomBase62(43))).toBe(false)
    expect(holdsTokenBody(randomBase62(64 * 1024))).toBe(false)
    // The rolled CRC finds a body wherever it is in a run.
    const random = randomBase62(37)
    for (const pad of [0, 1, 36, 37, 500]) expect(holdsTokenBody(randomBase62(pad) + random + checksum(random) + randomBase62(pad % 7))).toBe(true)
  })

  // One character wrong anywhere in a token's 43 (or the 42 of a copy cut short), or two adjacent
  // ones swapped: whoever reads it rebuilds the token offline with the checksum (43 × 61 tries).
  // holdsSecret took it for a look-alike, stored and shown as sent.
  test('a prefixed near miss is a secret: one character wrong (base62 or not) or two swapped, in 43 or 42 characters', () => {
    for (const prefix of ['td_', 'tdo_', 'tdr_', 'tdc_'] as const) {
      const token = generateToken(prefix)
      const p = prefix.length
      for (let i = p; i < token.length; i++) {
        for (const c of [BASE62[(i * 7) % 62]!, BASE62[(i * 13 + 5) % 62]!, '.', '-', ' ']) {
          const near = typo(token, i, c)
          expect({ i: i - p, c, found: holdsSecret(`see ${near}, thanks`) }).toEqual({ i: i - p, c, found: true })
          const shown = withoutSecrets(`see ${near}, thanks`)
          expect({ shown: shown.startsWith(`see ${prefix}…[redacted]`), head: shown.includes(near.slice(p, p + 16)), tail: shown.includes(near.slice(p + 20, p + 36)) }).toEqual({ shown: true, head: false, tail: false })
        }
        if (i + 1 < token.length && token[i] !== token[i + 1]) expect({ swap: i - p, found: holdsSecret(swapped(token, i)) }).toEqual({ swap: i - p, found: true })
        // A copy cut at 42 characters, with a typo in them.
        if (i + 1 < token.length) expect({ cut: i - p, found: holdsSecret(`${typo(token, i, BASE62[i % 62]!).slice(0, -1)}.`) }).toEqual({ cut: i - p, found: true })
      }
      // Two characters wrong, or none of the prefix: a look-alike.
      expect(holdsSecret(typo(typo(token, p + 3, 'a'), p + 20, '.'))).toBe(false)
      expect(holdsSecret(typo(token.slice(p), 10, 'Q'))).toBe(false)
    }
    // Random prefixed look-alikes pass one edit's checks about once in millions.
    let found = 0
    for (let i = 0; i < 5000; i++) if (holdsSecret(`td_${randomBase62(43)}`) || holdsSecret(`td_${randomBase62(42)}`)) found++
    expect(found).toBeLessThan(3)
    // Redacted before redactTokens, whose pattern needs 16 characters before the wrong one.
    const token = generateToken()
    expect(redactPrefixed(`x=${typo(token, 8, '.')}&y=1`)).toBe('x=td_…[redacted]&y=1')
    const other = generateToken('tdo_')
    expect(redactPrefixed(`a ${swapped(token, 3)} b ${typo(other, 30, ' ')} c`)).toBe('a td_…[redacted] b tdo_…[redacted] c')
  })

  test('a near miss costs one CRC per prefixed candidate: 1 MiB of them, and of prefixes, in well under a second', () => {
    let candidates = ''
    while (candidates.length < 1 << 20) candidates += `td_${randomBase62(43)} td_${randomBase62(41)}.`
    const prefixes = 'td_tdo_'.repeat(150_000)
    holdsSecret(candidates)
    const start = performance.now()
    for (const s of [candidates, prefixes]) {
      holdsSecret(s)
      withoutSecrets(s)
    }
    // About 0.1 s on a loaded 2-core machine; trying 2,623 CRCs per candidate would take minutes.
    expect(performance.now() - start).toBeLessThan(5000)
  })

  test('cheap enough for every request: 64 KiB of base62 (a full metadata) in a few milliseconds', () => {
    const text = randomBase62(64 * 1024)
    holdsSecret(text)
    const start = performance.now()
    for (let i = 0; i < 10; i++) holdsSecret(text)
    // A CRC per offset (the old check) took ~80 ms each; the rolled one well under 1 ms.
    expect((performance.now() - start) / 10).toBeLessThan(15)
  })
})

describe('every write route', () => {
  let t: TestApp
  let admin: Actor
  const ids: Record<string, string> = {}

  beforeAll(async () => {
    t = await makeTestApp({
      config: { rateLimit: null, userRateLimit: null, authFailureLimit: null, leakReportRateLimit: null, cliLoginRateLimit: null, cliPollRateLimit: null },
    })
    admin = await makeActor(t, { role: 'admin' })
    ids.agent = (await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Agent', role: 'r', systemPrompt: 'p' } })).body.id
    ids.space = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Space' } })).body.space.id
    ids.task = (await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'Task' } })).body.id
  }, 60_000)

  const concrete = (path: string) =>
    path
      .replace(':orgId', admin.organizationId)
      .replace(':userId', admin.userId)
      .replace(/agents\/:id/, `agents/${ids.agent}`)
      .replace(/spaces\/:id/, `spaces/${ids.space}`)
      .replace(/tasks\/:id/, `tasks/${ids.task}`)
      .replace(/:[A-Za-z]+/g, 'x_unknown')

  /** The value a field of this schema gets, with the token in it: itself, in a list, or in an object. */
  const holding = (schema: any, secret: string): { value: unknown; at: string } => {
    const types = JSON.stringify(schema)
    if (schema?.type === 'array') return { value: [secret], at: '[0]' }
    if (schema?.type === 'object' || /"type":"object"/.test(types)) return { value: { note: secret }, at: '.note' }
    return { value: `notes: ${secret}`, at: '' }
  }

  test('a token in any field of any API body is 422 naming it, but for the fields designed to receive one', async () => {
    const routes = t.app.routes.filter((r) => r.method !== 'GET' && r.method !== 'HEAD' && r.method !== 'OPTIONS' && r.path.startsWith('/api'))
    const exemptSeen = new Set<string>()
    let checked = 0
    for (const r of routes) {
      const key = `${r.method} ${r.path}`
      const properties: Record<string, unknown> = (r.hooks as any)?.body?.properties ?? (r.hooks as any)?.body?.anyOf?.[0]?.properties ?? {}
      // A route that takes no body never reads one: nothing sent there is stored.
      if (!(r.hooks as any)?.body) continue
      const exempt = SECRET_FIELDS[key] ?? []
      // Every declared field, and one the route does not declare (ignored, never stored, refused all the same).
      for (const name of [...Object.keys(properties), 'notDeclaredAnywhere']) {
        const secret = generateToken(name.length % 2 === 0 ? 'td_' : 'tdo_')
        const { value, at } = holding(properties[name], secret)
        const res = await t.req(r.method, concrete(r.path), { token: admin.token, body: { [name]: value } })
        const isExempt = exempt.some((p) => p === name || p.startsWith(`${name}.`))
        if (isExempt) {
          exemptSeen.add(`${key} ${name}`)
          expect({ key, name, refused: String(res.body?.message).includes(REFUSED) }).toEqual({ key, name, refused: false })
        } else {
          expect({ key, name, status: res.status, field: res.body?.details?.[0]?.field, message: String(res.body?.message).includes(REFUSED) }).toEqual({
            key,
            name,
            status: 422,
            field: `${name}${at}`,
            message: true,
          })
          expect(res.body.code).toBe('validation_failed')
        }
        // Never echoed, in any form.
        expect(res.text).not.toContain(secret.slice(secret.indexOf('_') + 1, secret.indexOf('_') + 17))
        checked++
      }
    }
    expect(checked).toBeGreaterThan(40)
    // Every exempt API field was tried and kept its token.
    const apiExempt = Object.entries(SECRET_FIELDS).filter(([k]) => k.includes(' /api')).flatMap(([k, ps]) => ps.map((p) => `${k} ${p.split('.')[0]}`))
    expect([...exemptSeen].sort()).toEqual([...new Set(apiExempt)].sort())
  }, 120_000)

  test('a PATCH, a key holding the token, a bare body, a cut-short copy, a JSON escape: all refused', async () => {
    const secret = generateToken()
    const body = secret.slice(3)
    const cases: [string, string, unknown, string][] = [
      ['PATCH', `/api/v1/tasks/${ids.task}`, { description: `token ${body}` }, 'description'],
      ['PATCH', `/api/v1/agents/${ids.agent}`, { instructions: secret.slice(0, -2) }, 'instructions'],
      ['PATCH', `/api/v1/spaces/${ids.space}`, { description: `x ${secret}` }, 'description'],
      ['POST', '/api/v1/tasks', { title: 'ok', metadata: { [secret]: 1 } }, 'metadata[key]'],
      ['POST', '/api/v1/tasks', { title: 'ok', metadata: { deep: [{ a: [`${secret}`] }] } }, 'metadata.deep[0].a[0]'],
    ]
    for (const [method, path, sent, field] of cases) {
      const res = await t.req(method, path, { token: admin.token, body: sent })
      expect({ path, status: res.status, field: res.body.details?.[0]?.field }).toEqual({ path, status: 422, field })
      expect(res.text).not.toContain(body.slice(0, 16))
    }
    // An escape (`\u0074d_…`) is the same text once parsed.
    const escaped = `{"title":"\\u0074d_${body}"}`
    const res = await t.req('POST', '/api/v1/tasks', { token: admin.token, raw: escaped, headers: { 'content-type': 'application/json' } })
    expect([res.status, res.body.details?.[0]?.field]).toEqual([422, 'title'])
    // A form body too.
    const form = await t.req('POST', '/api/v1/tasks', { token: admin.token, raw: `title=${secret}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect([form.status, form.body.details?.[0]?.field]).toEqual([422, 'title'])
  })

  test('a prefixed near miss is refused as the token is: a title, an agent\'s name, a token\'s name, a member\'s name; never echoed', async () => {
    const secret = generateToken()
    const sends: [string, string, unknown, string][] = [
      ['POST', '/api/v1/tasks', { title: `deploy with ${badChecksum(secret)}` }, 'title'],
      ['POST', '/api/v1/tasks', { title: 'ok', description: typo(secret, 10, '.') }, 'description'],
      ['POST', '/api/v1/agents', { name: swapped(secret, 20), role: 'r', systemPrompt: 'p' }, 'name'],
      ['POST', '/api/v1/tokens', { name: typo(generateToken('tdo_'), 30, 'Z') }, 'name'],
      ['POST', `/api/v1/organizations/${admin.organizationId}/members`, { email: 'near@example.com', role: 'member', name: typo(secret, 40, '-') }, 'name'],
    ]
    for (const [method, path, body, field] of sends) {
      const res = await t.req(method, path, { token: admin.token, body })
      expect({ path, status: res.status, field: res.body.details?.[0]?.field }).toEqual({ path, status: 422, field })
      expect(res.text).not.toContain(secret.slice(3, 19))
      expect(res.text).not.toContain(secret.slice(24, 40))
    }
  })

  // A wrong character that JSON escapes is two characters in the body as sent (`\"`, `\\`, `\n`,
  // `\t`): the one pass over the raw text saw no near miss there and skipped the walk of the
  // parsed values, so the title was stored as sent.
  test('a near miss whose wrong character JSON escapes (a quote, a backslash, a newline, a tab) is refused too', async () => {
    const secret = generateToken()
    for (const c of ['"', '\\', '\n', '\t']) {
      const near = typo(secret, 10, c)
      const res = await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: `x ${near}` } })
      expect({ c, status: res.status, field: res.body.details?.[0]?.field }).toEqual({ c, status: 422, field: 'title' })
      expect(res.text).not.toContain(secret.slice(11, 40))
    }
  })

  test('look-alikes are stored as sent', async () => {
    const secret = generateToken()
    for (const title of [badChecksum(secret.slice(3)), typo(typo(secret, 5, 'a'), 30, 'b'), randomBase62(43), `td_${randomBase62(20)}`, `std::string ${randomBase62(60)}`]) {
      const res = await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title } })
      expect([title, res.status]).toEqual([title, 201])
      expect(res.body.title).toBe(title)
    }
  })

  test('an Idempotency-Key sent with a refused body is not spent: the corrected body, same key, is created', async () => {
    const key = `k-${randomBase62(12)}`
    const refused = await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: generateToken() }, headers: { 'idempotency-key': key } })
    expect(refused.status).toBe(422)
    const made = await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'clean' }, headers: { 'idempotency-key': key } })
    expect([made.status, made.body.title]).toEqual([201, 'clean'])
  })

  test('the fields designed for a secret take one: a space secret, the organization env, a leak report', async () => {
    const secret = (await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'for an agent' } })).body.token as string
    const space = await t.req('POST', `/api/v1/spaces/${ids.space}/secrets`, { token: admin.token, body: { secrets: { TEAMDAY_TOKEN: secret } } })
    expect(space.status).toBe(200)
    const env = await t.req('POST', `/api/v1/organizations/${admin.organizationId}/env`, { token: admin.token, body: { secrets: { ORG_TOKEN: secret } } })
    expect(env.status).toBe(200)
    // But a secret's name is shown: a token there is refused.
    const named = await t.req('POST', `/api/v1/spaces/${ids.space}/secrets`, { token: admin.token, body: { secrets: { [secret]: 'x' } } })
    expect([named.status, named.body.details?.[0]?.field]).toEqual([422, 'secrets[key]'])
    const leak = await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [secret] } })
    expect(leak.status).toBeLessThan(300)
  })
})

describe('nothing stored', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-secret-fields-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('tokens sent in tasks, agents, spaces, executions and members: refused, and at rest nowhere (database files, dump, logs)', async () => {
    const t = await atRestApp(dir)
    const admin = await makeActor(t, { role: 'admin' })
    const secrets = [generateToken(), generateToken('tdo_'), generateToken('tdr_'), generateToken('tdc_')]
    const agent = (await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'A', role: 'r', systemPrompt: 'p' } })).body.id
    const space = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'S' } })).body.space.id
    const task = (await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'T' } })).body.id
    for (const s of secrets) {
      const bare = s.slice(s.indexOf('_') + 1)
      const sends: [string, string, unknown][] = [
        ['POST', '/api/v1/tasks', { title: `deploy with ${s}` }],
        ['POST', '/api/v1/tasks', { title: 'ok', description: bare }],
        ['POST', '/api/v1/tasks', { title: 'ok', metadata: { token: s } }],
        ['PATCH', `/api/v1/tasks/${task}`, { title: s }],
        ['POST', '/api/v1/agents', { name: 'B', role: 'r', systemPrompt: `use ${s}` }],
        ['POST', '/api/v1/agents', { name: 'B', role: 'r', instructions: s, model: s, description: s }],
        ['PATCH', `/api/v1/agents/${agent}`, { systemPrompt: s }],
        ['POST', '/api/v1/spaces', { name: 'S2', description: s }],
        ['PATCH', `/api/v1/spaces/${space}`, { instructions: s }],
        ['POST', `/api/v1/agents/${agent}/execute`, { message: `here is my token ${s}`, async: true }],
        ['POST', '/api/v1/execute', { agentId: agent, message: s }],
        ['POST', `/api/v1/organizations/${admin.organizationId}/members`, { email: 'm@example.com', role: 'member', name: s }],
      ]
      for (const [method, path, body] of sends) {
        const res = await t.req(method, path, { token: admin.token, body })
        expect({ path, status: res.status }).toEqual({ path, status: 422 })
      }
    }
    const found = await readAtRest(t, dir)
    expectNoPlaintext(found, secrets)
  }, 60_000)
})

describe('console forms', () => {
  test('a message holding a token: the chat form comes back empty with the error, in English and German; nothing sent', async () => {
    const t = await makeTestApp()
    const { a, c } = await signedInPerson(t, { role: 'admin' })
    const agent = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Chat', role: 'r', systemPrompt: 'p', visibility: 'organization' } })).body.id
    const secret = generateToken()
    const bare = secret.slice(3)
    const en = await c.post(`/agents/${agent}/chat`, { message: `please use ${secret}` })
    expect(en.status).toBe(422)
    expect(en.text).toContain('Validation failed: &quot;Message&quot; must not contain a token or another secret')
    // The chat page itself, its form there to type again.
    expect(en.text).toContain('name="message"')
    expect(en.text).not.toContain(bare.slice(0, 16))
    const de = await c.post(`/agents/${agent}/chat`, { message: bare }, DE)
    expect(de.status).toBe(422)
    expect(de.text).toContain('Ungültige Eingabe: „Nachricht“ darf kein Token')
    expect(de.text).toContain('name="message"')
    expect(de.text).not.toContain(bare.slice(0, 16))
    expect((await t.req('GET', '/api/v1/executions', { token: a.token })).body).toHaveLength(0)
    // A near miss with its prefix is refused too; without it, it is a message like any other.
    const near = await c.post(`/agents/${agent}/chat`, { message: typo(secret, 12, '.') })
    expect(near.status).toBe(422)
    expect(near.text).not.toContain(secret.slice(16, 40))
    const bareNear = await c.post(`/agents/${agent}/chat`, { message: badChecksum(bare) })
    expect(bareNear.text).not.toContain('must not contain a token')
  })

  // The token form's name is refused by its page (CHECKED_BY_PAGE), which shows it again as typed
  // with the token redacted (echoed): redactTokens' pattern needs 16 characters after the prefix,
  // so a near miss with a `.` in its first 16 came back whole in the page.
  test('a near miss as a new token\'s name: refused, the name shown again with it redacted', async () => {
    const t = await makeTestApp()
    const { c } = await signedInPerson(t, { role: 'member' })
    const secret = generateToken()
    const res = await c.post('/settings/tokens', { name: `deploy ${typo(secret, 8, '.')} key`, expires: '30', scope: '*' })
    expect(res.status).toBe(422)
    expect(res.text).toContain('deploy td_…[redacted] key')
    expect(res.text).not.toContain(secret.slice(9, 40))
  })

  // The message box was marked invalid for any refusal; it is so only for one about the message
  // (c1372ad). A token in the hidden chat id is about no field a person typed into.
  test('a token in the chat page\'s hidden chatId: the page-filled field\'s message, the message kept and not marked invalid, in English and German; nothing sent', async () => {
    const t = await makeTestApp()
    const { a, c } = await signedInPerson(t, { role: 'admin' })
    const agent = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Chat', role: 'r', systemPrompt: 'p', visibility: 'organization' } })).body.id
    for (const [lang, headers] of [['en', {}], ['de', DE]] as const) {
      const secret = generateToken()
      const res = await c.post(`/agents/${agent}/chat`, { message: 'hello there', chatId: secret }, headers)
      expect(res.status).toBe(422)
      const box = /<p class="error" role="alert" id="chat-error"[^>]*>([^<]*)<\/p>/.exec(res.text)
      expect(box?.[1]).toBe(Bun.escapeHTML(messages(lang).errTokenInPageField))
      const textarea = /<textarea name="message"[^>]*>/.exec(res.text)![0]
      expect(textarea).toContain('aria-describedby="chat-error"')
      expect(textarea).not.toContain('aria-invalid')
      expect(res.text).not.toContain('aria-invalid')
      expect(res.text).toContain('>hello there</textarea>')
      expect(res.text).not.toContain(secret.slice(3, 19))
    }
    expect((await t.req('GET', '/api/v1/executions', { token: a.token })).body).toHaveLength(0)
  })

  test('the profile form comes back with the error on the name field, the name empty, nothing changed', async () => {
    const t = await makeTestApp()
    const { a, c } = await signedInPerson(t, { role: 'member' })
    const secret = generateToken('tdr_')
    const res = await c.post('/settings/profile', { name: `me ${secret}`, email: a.email })
    expect(res.status).toBe(422)
    expect(res.text).toContain('Validation failed: &quot;Name&quot; must not contain a token')
    expect(res.text).toMatch(/<input[^>]*name="name"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*name="name"/)
    expect(res.text).not.toContain(secret.slice(4, 20))
  })

  test("the sign-in's next: the CLI approval page's path (its login code) is followed; any other secret there is dropped, never echoed", async () => {
    const t = await makeTestApp()
    const { a } = await signedInPerson(t, { role: 'member' })
    const c = consoleClient(t)
    const code = generateToken('tdc_')
    const pasted = generateToken()
    // A wrong password: the sign-in page again, with the next it keeps.
    const kept = await c.post('/login', { email: a.email, password: 'wrong password here', next: `/cli/authorize/${code}` })
    expect(kept.text).toContain(`name="next" value="/cli/authorize/${code}"`)
    const dropped = await c.post('/login', { email: a.email, password: 'wrong password here', next: `/tasks?q=${pasted}` })
    expect(dropped.status).toBeLessThan(500)
    expect(dropped.text).not.toContain(pasted.slice(3, 20))
    expect(dropped.text).not.toContain('name="next"')
    expect(t.logs.join('\n')).not.toContain(pasted.slice(3, 20))
  })

  const dir = mkdtempSync(join(tmpdir(), 'teamday-secret-forms-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('every console form, a token in each of its fields (but passwords and a secret\'s value): at rest nowhere; the exempt ones taken', async () => {
    const t = await atRestApp(dir)
    const { a, c } = await signedInPerson(t, { role: 'admin' })
    const space = (await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Console space', visibility: 'organization' } })).body.space.id
    const agent = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Chat', role: 'r', systemPrompt: 'p', visibility: 'organization' } })).body.id
    // A new member's set-password link: its form takes a name (stored, shown to the organization).
    const newbie = await makeActor(t, { org: a.orgSlug })
    const setPasswordPath = (await createLink(t.ctx, newbie.userId, newbie.organizationId, 'set_password')).path
    // Every text field of each console form (src/console/routes/*.tsx), by route.
    const FORM_FIELDS: Record<string, string[]> = {
      'POST /login': ['email', 'next'],
      'POST /logout': [],
      'POST /logout/everywhere': [],
      'POST /setup/:secret': ['name'],
      'POST /set-password/:secret': ['name'],
      'POST /settings/tokens': ['name', 'date', 'scope'],
      'POST /settings/tokens/:id/revoke': [],
      'POST /settings/tokens/:id/rotate': ['grace'],
      'POST /settings/profile': ['name', 'email'],
      'POST /settings/password': [],
      'POST /settings/sessions/:id/end': [],
      'POST /org/members': ['email', 'role'],
      'POST /org/members/:userId/role': ['role'],
      'POST /org/members/:userId/remove': [],
      'POST /org/members/:userId/link': [],
      'POST /org/switch': ['organizationId'],
      'POST /spaces/:id/secrets': ['name'],
      'POST /spaces/:id/secrets/remove': ['name'],
      'POST /agents/:id/chat': ['message', 'chatId'],
      'POST /cli/authorize/:code': ['decision', 'organizationId'],
      'POST /settings/cli-sessions/:id/revoke': [],
    }
    const forms = t.app.routes.filter((r) => r.method === 'POST' && !r.path.startsWith('/api')).map((r) => `${r.method} ${r.path}`)
    expect(forms.sort()).toEqual(Object.keys(FORM_FIELDS).sort())
    const secrets: string[] = []
    const concrete = (path: string) =>
      path === '/set-password/:secret' ? setPasswordPath : path.replace(':id/chat', `${agent}/chat`).replace(/spaces\/:id/, `spaces/${space}`).replace(':userId', a.userId).replace(/:[A-Za-z]+/g, 'x_unknown')
    for (const [route, names] of Object.entries(FORM_FIELDS)) {
      for (const name of names) {
        // The sign-out forms last: the others need the session.
        const secret = generateToken(secrets.length % 2 === 0 ? 'td_' : 'tdc_')
        secrets.push(secret)
        const res = await c.post(concrete(route.slice(5)), { [name]: `x ${secret}` })
        expect({ route, name, status: res.status < 500, echoed: res.text.includes(secret.slice(4, 20)) }).toEqual({ route, name, status: true, echoed: false })
      }
    }
    // The exempt fields take a token: a space secret's value (sealed), and a password.
    const kept = generateToken()
    expect((await c.post(`/spaces/${space}/secrets`, { name: 'TEAMDAY_TOKEN', value: kept })).status).toBe(303)
    const found = await readAtRest(t, dir)
    expectNoPlaintext(found, [...secrets, kept])
  }, 60_000)
})

describe('every console form, a token in each of its fields: the page\'s own form again, the error on the field', () => {
  /**
   * Each console form (src/console/routes/*.tsx) as its page sends it, and which of its fields
   * a person sees: a token pasted into one of them is refused by the page itself (422), which
   * shows its form again with the error tied to that field (aria-invalid and aria-describedby
   * naming the error), never the console's generic 422 page, and the token appears nowhere. A
   * hidden field (the list's view, the form's key, the page's organization, a chat's id, a
   * button's value) has no control to mark: the form comes back with the error all the same.
   * Passwords and a space secret's value are exempt (SECRET_FIELDS): not tried here.
   */
  /** `kept`: how the page shows a field again as typed, when another field was refused. */
  type Case = { path: string; form: Record<string, string | string[]>; visible: string[]; hidden: string[]; page: string; near?: Record<string, string>; anonymous?: boolean; kept?: Record<string, RegExp> }

  test('in English and German, for every form and field', async () => {
    const t = await makeTestApp()
    const { a, c } = await signedInPerson(t, { role: 'admin', org: 'forms-first' })
    // In two organizations: the header's switcher and the CLI approval's choice are shown.
    const { createUser } = await import('../src/modules/users/service')
    await createUser(t.ctx, { email: a.email, orgSlug: 'forms-second', role: 'viewer' })
    const other = await makeActor(t, { org: 'forms-first' })
    const space = (await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Forms space', visibility: 'organization' } })).body.space.id
    const agent = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Forms chat', role: 'r', systemPrompt: 'p', visibility: 'organization' } })).body.id
    const made = await c.post('/settings/tokens', { name: 'Row token', expires: '90', scope: ['', '*'] })
    expect(made.status).toBe(201)
    const rowToken = (await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens.find((x: { name: string }) => x.name === 'Row token').id as string
    const setupPath = (await createLink(t.ctx, other.userId, other.organizationId, 'setup')).path
    const setPasswordPath = (await createLink(t.ctx, other.userId, other.organizationId, 'set_password')).path
    const cli = (await t.req('POST', '/api/auth/cli/initiate', { headers: { 'content-type': 'application/json' } })).body
    const cliPath = new URL(cli.authUrl).pathname
    const view = { all: '1', inactive: '1', page: '1' }
    const org = { pageOrganization: a.organizationId }
    const formKey = () => crypto.randomUUID()
    const CASES: Record<string, Case | null> = {
      // `next` is exempt (a CLI sign-in's approval path holds its code): not tried.
      'POST /login': { path: '/login', anonymous: true, form: { email: a.email, password: 'not the password', next: '/spaces' }, visible: ['email'], hidden: [], page: 'action="/login"' },
      'POST /logout': null,
      'POST /logout/everywhere': null,
      'POST /setup/:secret': { path: setupPath, anonymous: true, form: { name: 'Newcomer', password: PASSWORD, confirm: PASSWORD }, visible: ['name'], hidden: [], page: `action="${setupPath}"` },
      // Its page shows no name field (the set-up's does); one sent is refused all the same.
      'POST /set-password/:secret': { path: setPasswordPath, anonymous: true, form: { name: 'Newcomer', password: PASSWORD, confirm: PASSWORD }, visible: [], hidden: ['name'], page: `action="${setPasswordPath}"` },
      'POST /settings/tokens': {
        path: '/settings/tokens',
        form: { name: 'New token', expires: '90', date: '', scope: ['', 'agents:read'], formKey: 'KEY', ...view, ...org },
        visible: ['name', 'expires', 'date', 'scope'],
        hidden: ['formKey', 'all', 'inactive', 'page', 'pageOrganization'],
        page: 'action="/settings/tokens#personal-access-tokens"',
        kept: { name: /name="name"[^>]*value="New token"/ },
      },
      'POST /settings/tokens/:id/revoke': { path: `/settings/tokens/${rowToken}/revoke`, form: { ...view, ...org }, visible: [], hidden: ['all', 'inactive', 'page', 'pageOrganization'], page: 'action="/settings/tokens#personal-access-tokens"' },
      'POST /settings/tokens/:id/rotate': {
        path: `/settings/tokens/${rowToken}/rotate`,
        form: { grace: '0', formKey: 'KEY', ...view },
        visible: ['grace'],
        hidden: ['formKey', 'all', 'inactive', 'page'],
        page: 'action="/settings/tokens#personal-access-tokens"',
        near: { grace: 'Row token' },
      },
      'POST /settings/profile': { path: '/settings/profile', form: { name: 'Me', email: a.email, current: '' }, visible: ['name', 'email'], hidden: [], page: 'action="/settings/profile"', kept: { name: /name="name"[^>]*value="Me"/, email: new RegExp(`name="email"[^>]*value="${a.email}"`) } },
      'POST /settings/password': null,
      'POST /settings/sessions/:id/end': null,
      'POST /org/members': {
        path: '/org/members',
        form: { email: 'added@example.com', role: 'viewer', ...org },
        visible: ['email', 'role'],
        hidden: ['pageOrganization'],
        page: 'action="/org/members"',
        kept: { email: /name="email"[^>]*value="added@example.com"/, role: /<option value="viewer" selected/ },
      },
      'POST /org/members/:userId/role': { path: `/org/members/${other.userId}/role`, form: { role: 'viewer', ...org }, visible: ['role'], hidden: ['pageOrganization'], page: 'action="/org/members"', near: { role: other.email } },
      'POST /org/members/:userId/remove': { path: `/org/members/${other.userId}/remove`, form: { ...org }, visible: [], hidden: ['pageOrganization'], page: 'action="/org/members"' },
      'POST /org/members/:userId/link': { path: `/org/members/${other.userId}/link`, form: { ...org }, visible: [], hidden: ['pageOrganization'], page: 'action="/org/members"' },
      // `next` is exempt (the CLI approval page's path, Nav.back, holds its code): not tried.
      'POST /org/switch': { path: '/org/switch', form: { organizationId: a.organizationId }, visible: ['organizationId'], hidden: [], page: 'action="/org/switch"' },
      'POST /spaces/:id/secrets': { path: `/spaces/${space}/secrets`, form: { name: 'API_KEY', value: 'v' }, visible: ['name'], hidden: [], page: `action="/spaces/${space}/secrets#` },
      'POST /spaces/:id/secrets/remove': { path: `/spaces/${space}/secrets/remove`, form: { name: 'API_KEY' }, visible: [], hidden: ['name'], page: `action="/spaces/${space}/secrets#` },
      'POST /agents/:id/chat': { path: `/agents/${agent}/chat`, form: { message: 'hello', chatId: 'chat_notyetthere' }, visible: ['message'], hidden: ['chatId'], page: 'name="message"', kept: { message: />hello<\/textarea>/ } },
      'POST /cli/authorize/:code': { path: cliPath, form: { decision: 'deny', organizationId: a.organizationId }, visible: ['organizationId'], hidden: ['decision'], page: `action="${cliPath}"` },
      'POST /settings/cli-sessions/:id/revoke': { path: '/settings/cli-sessions/cs_unknown/revoke', form: { ...view }, visible: [], hidden: ['all', 'inactive', 'page'], page: 'action="/settings/tokens#personal-access-tokens"' },
    }
    const forms = t.app.routes.filter((r) => r.method === 'POST' && !r.path.startsWith('/api')).map((r) => `${r.method} ${r.path}`)
    expect(forms.sort()).toEqual(Object.keys(CASES).sort())

    const anonymous = consoleClient(t)
    const failures: unknown[] = []
    let tried = 0
    for (const [route, k] of Object.entries(CASES)) {
      if (!k) continue
      for (const name of [...k.visible, ...k.hidden]) {
        for (const lang of ['en', 'de'] as const) {
          const secret = generateToken(tried % 2 === 0 ? 'td_' : 'tdr_')
          const bare = secret.slice(secret.indexOf('_') + 1)
          tried++
          const sent = Object.fromEntries(Object.entries(k.form).map(([f, v]) => [f, v === 'KEY' ? formKey() : v]))
          // The token as pasted among what the field holds (a list: one of its values).
          const old = sent[name]
          sent[name] = Array.isArray(old) ? [...old, `x ${secret}`] : `${old ?? ''} ${secret}`
          const res = await (k.anonymous ? anonymous : c).post(k.path, sent, lang === 'de' ? DE : {})
          const html = res.text
          // The error box and what points at it.
          const box = /<p class="error" role="alert" id="([^"]+)"[^>]*>([^<]*)<\/p>/.exec(html)
          const pointing = box ? [...html.matchAll(new RegExp(`<(input|select|textarea|fieldset)\\b[^>]*aria-describedby="${box[1]}"[^>]*>`, 'g'))] : []
          const marked = pointing.filter((m) => {
            const tag = m[0]
            const control = tag.includes(`name="${name}"`) && tag.includes('aria-invalid="true"')
            // A group (the expiry's choices, the scopes' boxes): its fieldset, holding the field.
            const group = m[1] === 'fieldset' && html.slice(m.index!, html.indexOf('</fieldset>', m.index!)).includes(`name="${name}"`)
            // `near`: the control's row, named by its tag (an aria-label) or by the label around it.
            const label = html.lastIndexOf('<label>', m.index!)
            const labelled = label >= 0 && !html.slice(label, m.index!).includes('</label>') ? html.slice(label, m.index!) : ''
            return (control || group) && (k.near?.[name] === undefined || tag.includes(k.near[name]!) || labelled.includes(k.near[name]!))
          })
          // A field a person types into (or chooses in) is named by its label, as the page shows
          // it (its <label>, its group's <legend>), never by its name in the form; a hidden one is
          // said to be a field the page fills in itself.
          const said = box === null ? '' : box[2]!.replaceAll('&quot;', '"').replaceAll('&#39;', "'")
          // (A new token's name: its service's own refusal, which says why a name holds none; "Der Name" in German.)
          const named = (lang === 'en' ? /^Validation failed: "([^"]+)" must not contain a token or another secret[.:]/ : /^Ungültige Eingabe: (?:„([^“]+)“|Der (Name)) darf kein Token und kein anderes Geheimnis enthalten[.:]/).exec(said)
          const label = named?.[1] ?? named?.[2]
          const shownLabel = label !== undefined && label !== name && html.replace(box![0], '').includes(label)
          const pageFilled = said === (lang === 'en' ? messages('en').errTokenInPageField : messages('de').errTokenInPageField)
          const got = {
            route,
            name,
            lang,
            status: res.status,
            ownForm: html.includes(k.page),
            error: k.visible.includes(name) ? shownLabel : pageFilled,
            // A hidden field's refusal marks no control invalid (it is about none a person typed into).
            marked: k.visible.includes(name) ? marked.length === 1 && pointing.length === 1 : html.includes('aria-invalid') ? 'hidden, yet a control marked invalid' : 'hidden',
            echoed: html.includes(bare.slice(0, 16)) || html.includes(bare.slice(-16)),
            notKept: Object.entries(k.kept ?? {}).filter(([f, re]) => f !== name && !re.test(html)).map(([f]) => f),
          }
          const want = { ...got, status: 422, ownForm: true, error: true, marked: k.visible.includes(name) ? true : 'hidden', echoed: false, notKept: [] }
          if (!Bun.deepEquals(got, want)) failures.push(got)
        }
      }
    }
    expect(failures).toEqual([])
    expect(tried).toBeGreaterThan(60)
    // Nothing was done: no member added, the role and the token as they were, no session for the sign-in form.
    const members = (await t.req('GET', `/api/v1/organizations/${a.organizationId}/members`, { token: a.token })).body
    expect(JSON.stringify(members)).not.toContain('added@example.com')
    expect(anonymous.cookie).toBeNull()
    const tokens = (await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens as { name: string; status: string }[]
    expect(tokens.filter((x) => x.status !== 'active')).toEqual([])
    expect(tokens.filter((x) => x.name === 'Row token')).toHaveLength(1)
    expect(tokens.filter((x) => x.name === 'New token')).toHaveLength(0)
  }, 120_000)
})

describe("an agent's own API requests (the teamday_api tool)", () => {
  let double: ProviderDouble
  beforeAll(() => {
    double = startProviderDouble()
  })
  afterAll(() => double.stop())

  test('go through the same body reader: a token in a task it creates is refused (HTTP 422), no task made', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    const admin = await makeActor(t, { role: 'admin' })
    const made = (await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'Space agent token' } })).body.token as string
    const space = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Agent API', visibility: 'organization' } })).body.space.id
    expect((await t.req('POST', `/api/v1/spaces/${space}/secrets`, { token: admin.token, body: { secrets: { TEAMDAY_TOKEN: made } } })).status).toBe(200)
    const agent = (await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'API caller', role: 'operator' } })).body.id
    // The model's tool call carries a token (its JSON every character escaped, so the message
    // itself holds none: the execute route would refuse that).
    const pasted = generateToken()
    const escaped = [...pasted].map((ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')
    const run = await t.req('POST', `/api/v1/agents/${agent}/execute`, { token: admin.token, body: { message: `TEAMDAY_API POST /api/v1/tasks {"title":"${escaped}"}`, spaceId: space } })
    expect(run.status).toBe(200)
    expect(String(run.body.result)).toStartWith('Delegated: HTTP 422')
    expect(String(run.body.result)).toContain('must not contain a token')
    expect(String(run.body.result)).not.toContain(pasted.slice(3, 19))
    expect((await t.req('GET', '/api/v1/tasks', { token: admin.token })).body).toHaveLength(0)
  })
})

import { afterAll, describe, expect, test } from 'bun:test'
import { resolveSecrets } from '../src/modules/spaces/secrets'
import { makeActor, makeTestApp, makeToken, type Actor, type Res } from './helpers/app'
import { consoleClient, signedInPerson, type ConsoleClient } from './helpers/console'

/**
 * Spaces in the web console: the list (GET /api/v1/spaces's service and visibility rule), a
 * space's page with Space Settings → Environment Variables (the names of its secrets, never a
 * value), and the forms that add, replace and remove a variable (POST/DELETE
 * /api/v1/spaces/{id}/secrets's services and permission check). On SQLite, and on PostgreSQL
 * with TEAMDAY_TEST_DATABASE=postgres.
 */
const t = await makeTestApp()
afterAll(() => t.rt.close())

/** Every answer any console client of this file got: no value may ever be in one. */
const answers: Res[] = []

async function person(role: 'admin' | 'member' | 'viewer', org: string): Promise<{ a: Actor; c: ConsoleClient }> {
  const { a, c: raw } = await signedInPerson(t, { role, org })
  const c: ConsoleClient = {
    ...raw,
    get: async (path, headers) => {
      const r = await raw.get(path, headers)
      answers.push(r)
      return r
    },
    post: async (path, form, headers) => {
      const r = await raw.post(path, form, headers)
      answers.push(r)
      return r
    },
  } as ConsoleClient
  return { a, c }
}

async function space(owner: Actor, name: string, visibility: 'private' | 'organization' | 'public' = 'private'): Promise<string> {
  const r = await t.req('POST', '/api/v1/spaces', { token: owner.token, body: { name, visibility } })
  expect(r.status).toBe(201)
  return r.body.space.id as string
}

const namesIn = (html: string) => [...html.matchAll(/<tr><td><code>([A-Z][A-Z0-9_]*)<\/code><\/td>/g)].map((m) => m[1])
const hasForms = (html: string) => html.includes('/secrets#environment-variables"')
/** A value unlike anything else in a page: its presence anywhere is a leak. */
const secretValue = () => `s3cr3t-${crypto.randomUUID()}-value`
const envOf = (orgId: string, spaceId: string) => resolveSecrets(t.rt, orgId, spaceId)

describe('Spaces list', () => {
  test('the header entry; the spaces one may see (own, organization and public ones; admins all); archived ones only on request; none of another organization', async () => {
    const { a: owner, c: ownerC } = await person('member', 'list-org')
    const { c: other } = await person('member', 'list-org')
    const { c: admin } = await person('admin', 'list-org')
    const { a: stranger } = await person('admin', 'list-elsewhere')
    await space(owner, 'Mine private')
    await space(owner, 'Shared one', 'organization')
    await space(owner, 'Open one', 'public')
    const archivedId = await space(owner, 'Old one', 'organization')
    expect((await t.req('DELETE', `/api/v1/spaces/${archivedId}`, { token: owner.token })).status).toBe(200)
    await space(stranger, 'Elsewhere', 'public')

    const names = (html: string) => [...html.matchAll(/<a href="\/spaces\/space_[A-Za-z0-9]+">([^<]*)<\/a>/g)].map((m) => m[1]).sort()
    const page = await other.get('/spaces')
    expect(page.status).toBe(200)
    expect(page.headers.get('cache-control')).toBe('no-store')
    expect(page.text).toContain('<a href="/spaces" aria-current="page">Spaces</a>')
    expect(names(page.text)).toEqual(['Open one', 'Shared one'])
    expect(names((await ownerC.get('/spaces')).text)).toEqual(['Mine private', 'Open one', 'Shared one'])
    expect(names((await admin.get('/spaces')).text)).toEqual(['Mine private', 'Open one', 'Shared one'])
    const withArchived = await other.get('/spaces?archived=1')
    expect(names(withArchived.text)).toEqual(['Old one', 'Open one', 'Shared one'])
    expect(withArchived.text).toContain('(archived)')
    expect(withArchived.text).toContain('Hide archived spaces')
    // The same spaces as GET /api/v1/spaces gives the same person.
    const api = await t.req('GET', '/api/v1/spaces', { token: owner.token })
    expect(names((await ownerC.get('/spaces')).text)).toEqual(api.body.spaces.map((s: { name: string }) => s.name).sort())
    // Every entry links to its page.
    const link = /<a href="(\/spaces\/space_[A-Za-z0-9]+)">Shared one<\/a>/.exec(page.text)![1]!
    const one = await other.get(link)
    expect(one.status).toBe(200)
    expect(one.text).toContain('<h1>Shared one</h1>')
    // A bad cursor is the service's error, not a 5xx.
    const bad = await other.get('/spaces?cursor=nonsense')
    expect(bad.status).toBe(400)
    expect(bad.text).toContain('Invalid cursor')
  })

  test('pages of 100 in the API\'s order, total and cursors (either list\'s cursor pages the other); each with its number of environment variables', async () => {
    const { a: owner, c } = await person('member', 'paged-spaces')
    const made: string[] = []
    for (let i = 0; i < 102; i++) made.push(await space(owner, `Paged ${String(i).padStart(3, '0')}`))
    // The oldest with long instructions and three variables; the newest with one.
    expect((await t.req('PATCH', `/api/v1/spaces/${made[0]}`, { token: owner.token, body: { instructions: 'i'.repeat(100_000) } })).status).toBe(200)
    expect((await t.req('POST', `/api/v1/spaces/${made[0]}/secrets`, { token: owner.token, body: { secrets: { A_KEY: 'a', B_KEY: 'b', C_KEY: 'c' } } })).status).toBe(200)
    expect((await t.req('POST', `/api/v1/spaces/${made[101]}/secrets`, { token: owner.token, body: { secrets: { ONLY: 'x' } } })).status).toBe(200)
    const rows = (html: string) => [...html.matchAll(/<a href="\/spaces\/(space_[A-Za-z0-9]+)">[^<]*<\/a><\/bdi><\/td><td><code>[^<]+<\/code><\/td><td>[a-z]+<\/td><td>(\d+)<\/td>/g)].map((m) => [m[1], Number(m[2])])
    const more = (html: string) => /<a href="\/spaces\?cursor=([^"]+)">More spaces<\/a>/.exec(html)?.[1]
    const first = await c.get('/spaces')
    expect(first.status).toBe(200)
    const api = await t.req('GET', '/api/v1/spaces?limit=100', { token: owner.token })
    expect(rows(first.text).map((r) => r[0])).toEqual(api.body.spaces.map((x: { id: string }) => x.id))
    const cursor = decodeURIComponent(more(first.text)!)
    expect(cursor).toBe(api.body.nextCursor)
    const second = await c.get(`/spaces?cursor=${encodeURIComponent(cursor)}`)
    expect(more(second.text)).toBeUndefined()
    const apiSecond = await t.req('GET', `/api/v1/spaces?limit=100&cursor=${encodeURIComponent(cursor)}`, { token: owner.token })
    // The rows of both pages as the API lists them, each with as many variables as the API names.
    const fromApi = [...api.body.spaces, ...apiSecond.body.spaces].map((x: { id: string; secretKeys: string[] }) => [x.id, x.secretKeys.length])
    expect([...rows(first.text), ...rows(second.text)]).toEqual(fromApi)
    expect(fromApi.map((r) => r[0]).sort()).toEqual([...made].sort())
    expect(new Map(fromApi as [string, number][]).get(made[0]!)).toBe(3)
    expect(new Map(fromApi as [string, number][]).get(made[101]!)).toBe(1)
    expect([apiSecond.body.total, api.body.total]).toEqual([102, 102])
  }, 60_000)

  test('signed out: the sign-in page, coming back afterwards', async () => {
    const anon = consoleClient(t)
    const r = await anon.get('/spaces/space_x?done=saved')
    expect([r.status, r.headers.get('location')]).toEqual([303, `/login?next=${encodeURIComponent('/spaces/space_x?done=saved')}`])
    const p = await anon.post('/spaces/space_x/secrets', { name: 'A', value: 'b' })
    expect(p.status).toBe(303)
    expect(p.headers.get('location')).toStartWith('/login')
  })
})

describe('a space page decides visibility and permission as the API does', () => {
  test('per role and space: the page status is GET /api/v1/spaces/{id}\'s, the forms show where POST …/secrets would pass, a refused form is the API\'s status', async () => {
    const org = 'perm-org'
    const admin = await person('admin', org)
    const owner = await person('member', org)
    const other = await person('member', org)
    const viewer = await person('viewer', org)
    const foreign = await person('admin', 'perm-elsewhere')
    const ids = {
      private: await space(owner.a, 'Private room'),
      organization: await space(owner.a, 'Team room', 'organization'),
      public: await space(owner.a, 'Open room', 'public'),
      foreign: await space(foreign.a, 'Foreign room', 'organization'),
    }
    // Each person, each space: the page as the API decides it.
    for (const [who, p] of Object.entries({ admin, owner, other, viewer })) {
      for (const [kind, id] of Object.entries(ids)) {
        const api = await t.req('GET', `/api/v1/spaces/${id}`, { token: p.a.token })
        const res = await p.c.get(`/spaces/${id}`)
        expect({ who, kind, status: res.status }).toEqual({ who, kind, status: api.status })
        const wouldWrite = (await t.req('POST', `/api/v1/spaces/${id}/secrets`, { token: p.a.token, body: { secrets: {} } })).status
        // An empty map is refused by validation (422) only once role and space pass; 403/404 before that.
        expect({ who, kind, forms: res.status === 200 && hasForms(res.text) }).toEqual({ who, kind, forms: wouldWrite === 422 })
        if (res.status === 200 && !hasForms(res.text)) expect(res.text).toContain('You can see the names only')
        if (res.status === 404) {
          expect(res.text).toContain('not found')
          expect(res.text).not.toContain('room</h1>')
        }
        // A refused form: the API's status, nothing written.
        const post = await p.c.post(`/spaces/${id}/secrets`, { name: 'PROBE', value: secretValue() })
        const apiPost = await t.req('POST', `/api/v1/spaces/${id}/secrets`, { token: p.a.token, body: { secrets: { PROBE_API: 'x' } } })
        if (apiPost.status === 200) {
          expect({ who, kind, status: post.status }).toEqual({ who, kind, status: 303 })
          await t.req('DELETE', `/api/v1/spaces/${id}/secrets`, { token: p.a.token, body: { keys: ['PROBE', 'PROBE_API'] } })
        } else {
          expect({ who, kind, status: post.status }).toEqual({ who, kind, status: apiPost.status })
          expect(post.text).toContain(Bun.escapeHTML(apiPost.body.message))
        }
        const remove = await p.c.post(`/spaces/${id}/secrets/remove`, { name: 'PROBE' })
        const apiRemove = await t.req('DELETE', `/api/v1/spaces/${id}/secrets`, { token: p.a.token, body: { keys: ['PROBE'] } })
        expect({ who, kind, status: remove.status }).toEqual({ who, kind, status: apiRemove.status === 200 ? 303 : apiRemove.status })
      }
    }
    // Spelled out: another organization's space is 404 for everyone, a member's private space 404 for other members.
    expect((await admin.c.get(`/spaces/${ids.foreign}`)).status).toBe(404)
    expect((await other.c.get(`/spaces/${ids.private}`)).status).toBe(404)
    expect((await admin.c.post(`/spaces/${ids.foreign}/secrets`, { name: 'X', value: 'y' })).status).toBe(404)
    // A member on another member's space: 403 in the section, the space shown, nothing written.
    const refused = await other.c.post(`/spaces/${ids.organization}/secrets`, { name: 'NOPE', value: 'nope-value' })
    expect(refused.status).toBe(403)
    expect(refused.text).toContain(Bun.escapeHTML("Forbidden: only the space's creator or an organization admin can change the secrets of it"))
    expect(refused.text).toContain('<h1>Team room</h1>')
    // A viewer: the role's refusal, as the API words it.
    const v = await viewer.c.post(`/spaces/${ids.public}/secrets`, { name: 'NOPE', value: 'nope-value' })
    expect(v.status).toBe(403)
    expect(v.text).toContain('Forbidden: your role (viewer) does not allow secrets:write')
    const vHidden = await viewer.c.post(`/spaces/${ids.private}/secrets`, { name: 'NOPE', value: 'nope-value' })
    expect(vHidden.status).toBe(403)
    expect(vHidden.text).not.toContain('Private room')
    expect((await t.req('GET', `/api/v1/spaces/${ids.organization}/secrets`, { token: admin.a.token })).body.secrets).toEqual([])
    // The names are shown to those who may only read; the forms are not.
    await t.req('POST', `/api/v1/spaces/${ids.organization}/secrets`, { token: owner.a.token, body: { secrets: { SHOWN_NAME: 'hidden value 1' } } })
    const readOnly = await viewer.c.get(`/spaces/${ids.organization}`)
    expect(namesIn(readOnly.text)).toEqual(['SHOWN_NAME'])
    expect(readOnly.text).not.toContain('hidden value 1')
    expect(hasForms(readOnly.text)).toBe(false)
    expect(readOnly.text).not.toContain('/secrets/remove')
    expect(readOnly.text).not.toContain('type="password"')
  })
})

describe('Environment Variables: add, replace, remove', () => {
  test('add TEAMDAY_TOKEN (303 back to the section with a notice), listed by name, replace it, remove it with the confirm dialog; audited as the API does; by id or slug', async () => {
    const { a, c } = await person('member', 'env-org')
    const id = await space(a, 'Deploy bots', 'organization')
    const slug = (await t.req('GET', `/api/v1/spaces/${id}`, { token: a.token })).body.space.slug as string
    const empty = await c.get(`/spaces/${id}`)
    expect(empty.text).toContain('<h2 id="space-settings-title">Space Settings</h2>')
    expect(empty.text).toContain('<section aria-labelledby="environment-variables-title" id="environment-variables">')
    expect(empty.text).toContain('<h3 id="environment-variables-title">Environment Variables</h3>')
    expect(empty.text).toContain('No environment variables yet.')
    expect(empty.text).toMatch(/<input type="password" name="value" autocomplete="off"\/?>/)
    // The hint: TEAMDAY_TOKEN from Settings → Profile → Personal Access Tokens, for agents in this space.
    expect(empty.text).toContain('<a href="/settings/profile#personal-access-tokens">Settings → Profile → Personal Access Tokens</a> and add it here as <code>TEAMDAY_TOKEN</code>')
    expect(empty.text).toContain('agents running in this space call the API')

    const first = secretValue()
    const added = await c.post(`/spaces/${id}/secrets`, { name: 'TEAMDAY_TOKEN', value: first })
    expect([added.status, added.headers.get('location'), added.headers.get('cache-control')]).toEqual([303, `/spaces/${id}?done=saved#environment-variables`, 'no-store'])
    const listed = await c.get(`/spaces/${id}?done=saved`)
    expect(listed.text).toContain('Environment variable saved.')
    expect(namesIn(listed.text)).toEqual(['TEAMDAY_TOKEN'])
    expect(listed.text).toContain('aria-label="Remove environment variable TEAMDAY_TOKEN"')
    expect(listed.text).toContain('<dialog id="remove-env-TEAMDAY_TOKEN"')
    expect(listed.text).toContain('Agents running in this space will no longer get it.')
    expect((await t.req('GET', `/api/v1/spaces/${id}/secrets`, { token: a.token })).body.secrets).toEqual(['TEAMDAY_TOKEN'])
    expect((await envOf(a.organizationId, id)).TEAMDAY_TOKEN).toBe(first)
    // The list counts it.
    expect((await c.get('/spaces')).text).toMatch(/Deploy bots<\/a><\/bdi><\/td><td><code>[^<]+<\/code><\/td><td>organization<\/td><td>1<\/td>/)

    // Replace, by slug: the new value is what agents get.
    const second = secretValue()
    const replaced = await c.post(`/spaces/${slug}/secrets`, { name: 'TEAMDAY_TOKEN', value: second })
    expect([replaced.status, replaced.headers.get('location')]).toEqual([303, `/spaces/${slug}?done=saved#environment-variables`])
    expect((await c.get(`/spaces/${slug}`)).status).toBe(200)
    expect((await envOf(a.organizationId, id)).TEAMDAY_TOKEN).toBe(second)
    // An empty value is a value, as in the API.
    expect((await c.post(`/spaces/${id}/secrets`, { name: 'EMPTY_ONE', value: '' })).status).toBe(303)
    expect(namesIn((await c.get(`/spaces/${id}`)).text)).toEqual(['EMPTY_ONE', 'TEAMDAY_TOKEN'])

    // Remove.
    const removed = await c.post(`/spaces/${id}/secrets/remove`, { name: 'TEAMDAY_TOKEN' })
    expect([removed.status, removed.headers.get('location')]).toEqual([303, `/spaces/${id}?done=removed#environment-variables`])
    const after = await c.get(`/spaces/${id}?done=removed`)
    expect(after.text).toContain('Environment variable removed.')
    expect(namesIn(after.text)).toEqual(['EMPTY_ONE'])
    expect((await envOf(a.organizationId, id)).TEAMDAY_TOKEN).toBeUndefined()
    // Again: nothing to remove, said so.
    const again = await c.post(`/spaces/${id}/secrets/remove`, { name: 'TEAMDAY_TOKEN' })
    expect(again.headers.get('location')).toBe(`/spaces/${id}?done=absent#environment-variables`)
    expect((await c.get(`/spaces/${id}?done=absent`)).text).toContain('There was no such variable')

    // Audit events as the service records them: keys only, the person, from the console.
    const admin = await makeActor(t, { role: 'admin', org: 'env-org' })
    const events = async (type: string) => (await t.req('GET', `/api/v1/audit-events?type=${type}`, { token: admin.token })).body.events as any[]
    const set = (await events('secret.set')).filter((e) => e.targetId === id)
    // (Events of one test-clock millisecond have no set order.)
    expect(set.map((e) => [e.details.keys, e.actorUserId, e.source, e.targetType]).sort((x, y) => String(x[0]).localeCompare(String(y[0])))).toEqual([
      [['EMPTY_ONE'], a.userId, 'console', 'space'],
      [['TEAMDAY_TOKEN'], a.userId, 'console', 'space'],
      [['TEAMDAY_TOKEN'], a.userId, 'console', 'space'],
    ])
    const deleted = (await events('secret.deleted')).filter((e) => e.targetId === id)
    expect(deleted.map((e) => [e.details.keys, e.actorUserId, e.source])).toEqual([[['TEAMDAY_TOKEN'], a.userId, 'console']])
    const audit = JSON.stringify(await events('secret.set'))
    expect(audit).not.toContain(first)
    expect(audit).not.toContain(second)
  })

  test('names are validated by the service, its error shown in the section; the name kept, the value never', async () => {
    const { a, c } = await person('admin', 'valid-org')
    const id = await space(a, 'Checks')
    for (const name of ['teamday_token', '1ABC', 'A-B', '', 'X'.repeat(129), 'A B', '__proto__']) {
      const value = secretValue()
      const res = await c.post(`/spaces/${id}/secrets`, { name, value })
      const api = await t.req('POST', `/api/v1/spaces/${id}/secrets`, { token: a.token, body: { secrets: { [name]: value } } })
      expect({ name, status: res.status }).toEqual({ name, status: 422 })
      expect(res.headers.get('cache-control')).toBe('no-store')
      // The service's own message (the API answers with it too; a JSON key __proto__ is
      // refused before, by the API's body parser: the console's form has no such key).
      expect(res.text).toContain('keys must be UPPER_SNAKE_CASE')
      // The API's message, the field named as the form labels it ("Name", not secrets).
      if (name !== '__proto__') expect(res.text).toContain(Bun.escapeHTML(api.body.message.replace('Validation failed: secrets ', 'Validation failed: "Name" ')))
      expect(res.text).toContain('role="alert"')
      expect(res.text).not.toContain(value)
      expect(res.text).toMatch(/<input type="password" name="value" autocomplete="off"\/?>/)
      if (name && name.length < 100) expect(res.text).toContain(`value="${Bun.escapeHTML(name)}"`)
    }
    // A token pasted into the name field by mistake: refused, and not echoed back into the page.
    const pasted = a.token
    const mistaken = await c.post(`/spaces/${id}/secrets`, { name: pasted, value: 'x' })
    expect(mistaken.status).toBe(422)
    expect(mistaken.text).not.toContain(pasted)
    expect(mistaken.text).not.toContain(pasted.slice(3, 20))
    // A value over 64 KiB: the service's limit, the value not echoed.
    const big = 'v'.repeat(65_537)
    const tooBig = await c.post(`/spaces/${id}/secrets`, { name: 'BIG', value: big })
    expect(tooBig.status).toBe(422)
    expect(tooBig.text).toContain('at most 65536 bytes')
    // Named by the add form's labels, not the API's field (secrets, secrets.KEY).
    expect(tooBig.text).toContain('Validation failed: &quot;Value&quot; is too large')
    const lower = await c.post(`/spaces/${id}/secrets`, { name: 'lower-case', value: 'v' })
    expect(lower.text).toContain('Validation failed: &quot;Name&quot; has invalid key')
    expect(tooBig.text).not.toContain('v'.repeat(100))
    const bad = await c.post(`/spaces/${id}/secrets/remove`, { name: 'lower' })
    expect(bad.status).toBe(422)
    expect(bad.text).toContain('keys has invalid key')
    expect((await t.req('GET', `/api/v1/spaces/${id}/secrets`, { token: a.token })).body.secrets).toEqual([])
  })

  test('cross-site forms are refused (CSRF): nothing stored, nothing removed', async () => {
    const { a, c } = await person('admin', 'csrf-org')
    const id = await space(a, 'Guarded')
    const value = secretValue()
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }]) {
      const r = await c.post(`/spaces/${id}/secrets`, { name: 'EVIL', value }, headers)
      expect(r.status).toBe(403)
      expect(r.text).toContain('Cross-origin request refused')
      expect(r.text).not.toContain(value)
    }
    // Without Sec-Fetch-Site: an Origin of another host is refused, the same host passes.
    const raw = async (origin: string) => {
      const r = await t.req('POST', `/spaces/${id}/secrets`, {
        headers: { cookie: c.cookie!, origin, 'content-type': 'application/x-www-form-urlencoded' },
        raw: new URLSearchParams({ name: 'ORIGIN_CHECK', value }).toString(),
        ip: '127.0.0.1',
      })
      answers.push(r)
      return r.status
    }
    expect(await raw('https://evil.example')).toBe(403)
    expect((await t.req('GET', `/api/v1/spaces/${id}/secrets`, { token: a.token })).body.secrets).toEqual([])
    expect(await raw('http://localhost')).toBe(303)
    expect((await c.post(`/spaces/${id}/secrets/remove`, { name: 'ORIGIN_CHECK' }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403)
    expect((await t.req('GET', `/api/v1/spaces/${id}/secrets`, { token: a.token })).body.secrets).toEqual(['ORIGIN_CHECK'])
  })

  test('hostile input on the space routes: never a 5xx, a stack trace or unescaped markup', async () => {
    const { a, c } = await person('admin', 'hostile-org')
    const id = await space(a, 'Target')
    const VALUES = ['', 'x'.repeat(70_000), '%00', '\u00ff\u0000', '..%2F..', '<script>alert(1)</script>', 'é€😀', '[]', '{"a":1}']
    const problems: string[] = []
    const check = (where: string, r: Res) => {
      if (r.status >= 500) problems.push(`${where} -> ${r.status}`)
      if (/\bat [^\n]*\.(ts|js|tsx):\d+/.test(r.text)) problems.push(`${where}: a stack trace`)
      if (r.text.replace(/="[^"]*"/g, '=""').includes('<script>alert(1)</script>')) problems.push(`${where}: unescaped`)
    }
    for (const seg of [id, 'nope', 'x'.repeat(3000), '%E0%A4%A', '%F0%9F%98%80', '..%2F..', 'space_' + 'A'.repeat(20)]) {
      check(`GET ${seg.slice(0, 20)}`, await c.get(`/spaces/${seg}`))
      for (const name of ['name', 'value']) {
        for (const v of VALUES) {
          check(`POST ${seg.slice(0, 20)} ${name}=${v.slice(0, 10)}`, await c.post(`/spaces/${seg}/secrets`, { [name]: v }))
          check(`POST remove ${seg.slice(0, 20)} ${name}=${v.slice(0, 10)}`, await c.post(`/spaces/${seg}/secrets/remove`, { [name]: v }))
        }
      }
    }
    for (const q of ['archived', 'cursor', 'done']) for (const v of VALUES) check(`GET /spaces?${q}`, await c.get(`/spaces?${q}=${encodeURIComponent(v)}`))
    check('repeated fields', await c.post(`/spaces/${id}/secrets`, { name: ['A', 'B'], value: ['1', '2'] }))
    expect(problems).toEqual([])
  }, 120_000)
})

describe('a value is never sent back or logged', () => {
  test('no answer of this file and no log line holds a value that was set', async () => {
    // The values set above came from secretValue(): none may be in an answer or a log line.
    const leaked = (s: string) => /s3cr3t-[0-9a-f-]{36}-value/.test(s)
    expect(answers.length).toBeGreaterThan(50)
    expect(answers.filter((r) => leaked(r.text) || leaked([...r.headers.entries()].join(' '))).map((r) => r.text.slice(0, 200))).toEqual([])
    expect(t.logs.length).toBeGreaterThan(0)
    expect(t.logs.filter(leaked)).toEqual([])
    // The access log wrote the console's requests (so the check above looked at them), without bodies.
    expect(t.logs.some((l) => l.includes('/spaces/') && l.includes('/secrets'))).toBe(true)
  })
})

// TeamDay's docs: "In Space Settings → Environment Variables: TEAMDAY_TOKEN=td_your-token-here".
// That line pasted whole into Value was saved as the value (agents got "TEAMDAY_TOKEN=td_…", no
// token); pasted into Name, it was refused with "set it as an environment variable of a space",
// which is what the person was doing.
describe("the docs' line TEAMDAY_TOKEN=td_… pasted whole", () => {
  test('into Value: the NAME= in front (and quotes around the token) left out, the token saved, and the notice says so (English and German)', async () => {
    const { a, c } = await person('member', 'line-org')
    const id = await space(a, 'Line pasted')
    const { token } = await makeToken(t, a, { name: 'for agents' })
    for (const [value, lang] of [[`TEAMDAY_TOKEN=${token}`, 'en'], [`export TEAMDAY_TOKEN="${token}"`, 'de']] as const) {
      const r = await c.post(`/spaces/${id}/secrets`, { name: 'TEAMDAY_TOKEN', value }, lang === 'de' ? { 'accept-language': 'de' } : {})
      expect(r.status).toBe(303)
      expect((await envOf(a.organizationId, id)).TEAMDAY_TOKEN).toBe(token)
      const shown = await c.get(r.headers.get('location')!.replace(/^https?:\/\/[^/]+/, '').replace(/#.*/, ''), lang === 'de' ? { 'accept-language': 'de' } : {})
      expect(shown.text).toContain(
        lang === 'en'
          ? 'Environment variable saved. The &quot;TEAMDAY_TOKEN=&quot; in front of the value was left out: the value is what follows it. It is not shown again.'
          : 'Umgebungsvariable gespeichert. Das „TEAMDAY_TOKEN=“ vor dem Wert wurde weggelassen: Der Wert ist, was danach folgt. Er wird nicht wieder angezeigt.',
      )
    }
    // A value that only looks so for another name is kept as it is.
    expect((await c.post(`/spaces/${id}/secrets`, { name: 'OTHER', value: 'TEAMDAY_TOKEN=x' })).status).toBe(303)
    expect((await envOf(a.organizationId, id)).OTHER).toBe('TEAMDAY_TOKEN=x')
  })

  test('into Name: refused saying to put the name alone in Name and the token in Value (English and German), nothing saved, the token never shown', async () => {
    const { a, c } = await person('member', 'line-org')
    const id = await space(a, 'Line in name')
    const { token } = await makeToken(t, a, { name: 'pasted' })
    const en = await c.post(`/spaces/${id}/secrets`, { name: `TEAMDAY_TOKEN=${token}`, value: '' })
    expect(en.status).toBe(422)
    expect(en.text).toContain('Validation failed: &quot;Name&quot; must not contain a token or another secret: put only the name of the variable in Name (e.g. TEAMDAY_TOKEN) and the token in Value, where it is sealed and never shown. Nothing was saved.')
    expect(en.text).not.toContain(token.slice(3))
    const de = await c.post(`/spaces/${id}/secrets`, { name: `TEAMDAY_TOKEN=${token}`, value: '' }, { 'accept-language': 'de' })
    expect(de.text).toContain('Ungültige Eingabe: „Name“ darf kein Token und kein anderes Geheimnis enthalten: Tragen Sie nur den Namen der Variable unter Name ein (z. B. TEAMDAY_TOKEN) und das Token unter Wert, wo es versiegelt und nie angezeigt wird. Es wurde nichts gespeichert.')
    expect((await envOf(a.organizationId, id)).TEAMDAY_TOKEN).toBeUndefined()
  })
})

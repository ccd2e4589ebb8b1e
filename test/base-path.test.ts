import { afterAll, describe, expect, test } from 'bun:test'
import { loadConfig } from '../src/config'
import { ConfigError } from '../src/config-error'
import { basePath, SERVED_SEGMENTS } from '../src/http/base-path'
import { makeTestApp } from './helpers/app'
import { consoleClient, createLink, givePassword, PASSWORD, shownApproval, signedInPerson } from './helpers/console'
import { insertWriter, makeActor } from './helpers/app'
import { executions } from '../src/db/schema'
import { newId } from '../src/ids'
import { CHAT_JS } from '../src/console/assets'
import { firstStartText } from '../src/cli/admin/serve'
import { cliLogin } from './helpers/world'

// Hosting under a sub-path (README "Hosting under a sub-path"): TEAMDAY_PUBLIC_URL with a path,
// behind a proxy that strips it (nginx `proxy_pass http://up/;`) or keeps it (`proxy_pass http://up;`).
const PUBLIC = 'http://127.0.0.1:24080/teamday'
const t = await makeTestApp({ config: { publicUrl: PUBLIC } })
afterAll(() => t.rt.close())

/** Every address a page names that is a path of this server (href, src, action, formaction). */
function pathsOf(html: string): string[] {
  return [...html.matchAll(/ (?:href|src|action|formaction)="(\/[^"]*)"/g)].map((m) => m[1]!)
}

/** All of a page's paths carry the base path (and there are some: the test sees what it checks). */
function expectBased(html: string) {
  const paths = pathsOf(html)
  expect(paths.length).toBeGreaterThan(0)
  expect(paths.filter((p) => !p.startsWith('/teamday/'))).toEqual([])
}

describe('a proxy that strips the prefix (requests arrive at the root)', () => {
  test("sign-in: the page's files and form, the redirect and the cookie's Path name the sub-path", async () => {
    const login = await consoleClient(t).get('/login')
    expect(login.status).toBe(200)
    expectBased(login.text)
    expect(pathsOf(login.text)).toContain('/teamday/login')
    const { c } = await signedInPerson(t, { role: 'admin' })
    // signedInPerson checked the 303; its answer:
    const again = await consoleClient(t).signIn('nobody@example.com')
    expect(pathsOf(again.text)).toContain('/teamday/login')
    const home = await c.get('/')
    expect([home.status, home.headers.get('location')]).toEqual([303, '/teamday/settings/profile'])
    const out = await consoleClient(t).get('/spaces')
    expect([out.status, out.headers.get('location')]).toEqual([303, '/teamday/login?next=%2Fspaces'])
  })

  test("console and Swagger UI pages name their icon under the sub-path (browsers asked the root's /favicon.ico: another site's)", async () => {
    for (const path of ['/login', '/swagger']) {
      const page = await t.req('GET', path)
      const icon = /<link rel="icon" href="([^"]+)"/.exec(page.text)?.[1]
      expect([path, icon]).toEqual([path, expect.stringMatching(/^\/teamday\/favicon\.ico\?v=/)])
      const res = await t.req('GET', icon!)
      expect([res.status, res.headers.get('content-type')]).toEqual([200, 'image/x-icon'])
    }
  })

  test('the session cookie is Path=/teamday over plain HTTP (not sent to the other sites of the host)', async () => {
    const { a } = await signedInPerson(t)
    const res = await consoleClient(t).signIn(a.email)
    expect(res.headers.get('set-cookie')).toContain('; Path=/teamday;')
  })

  test('every console page and its forms carry the prefix; so does a compressed page', async () => {
    const { a, c } = await signedInPerson(t, { role: 'admin' })
    const agent = await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Helper', systemPrompt: 'Be brief.', visibility: 'organization' } })
    expect(agent.status).toBe(201)
    const space = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Docs' } })
    for (const path of ['/settings/profile', '/agents', `/agents/${agent.body.id}/chat`, '/spaces', `/spaces/${space.headers.get('location')!.split('/').pop()}`, '/org/members', '/org/audit', '/settings/nope']) {
      const res = await c.get(path, { accept: 'text/html' })
      expect([path, res.status]).toEqual([path, path === '/settings/nope' ? 404 : 200])
      expectBased(res.text)
    }
    const zipped = await t.app.handle(new Request('http://localhost/settings/profile', { headers: { cookie: c.cookie!, 'accept-encoding': 'gzip' } }))
    expect(zipped.headers.get('content-encoding')).toBe('gzip')
    expectBased(new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(await zipped.arrayBuffer()))))
  })

  test('a token created and revoked from Settings → Profile: its page, the trash icon, the redirect', async () => {
    const { c } = await signedInPerson(t)
    const made = await c.post('/settings/tokens', { name: 'under a sub-path', expires: '30', scope: '*' })
    expect(made.status).toBe(201)
    expectBased(made.text)
    // The curl line names the API where browsers reach it.
    expect(made.text).toContain(`${PUBLIC}/api/v1/agents`)
    const list = await c.get('/settings/profile')
    const revoke = pathsOf(list.text).find((p) => /^\/teamday\/settings\/tokens\/[^/]+\/revoke$/.test(p))
    expect(revoke).toBeDefined()
    // The browser posts to the action as it is named: through a stripping proxy, without the prefix.
    const res = await c.post(revoke!.slice('/teamday'.length), {})
    expect(res.status).toBe(303)
    expect(res.headers.get('location')).toStartWith('/teamday/settings/profile?')
  })

  test("Swagger UI loads its files and the document under the prefix; the document's server is the public URL", async () => {
    const ui = await t.req('GET', '/swagger')
    expect(ui.status).toBe(200)
    expect(ui.text).toContain('"url":"/teamday/swagger/json"')
    expectBased(ui.text)
    for (const p of pathsOf(ui.text)) expect([p, (await t.req('GET', p)).status]).toEqual([p, 200])
    const doc = await t.req('GET', '/teamday/swagger/json')
    expect(doc.body.servers[0]).toEqual({ url: PUBLIC, description: 'This server' })
  })

  test('Swagger UI opened at another name of the server: its second server and the one "Try it out" selects carry the sub-path', async () => {
    // The public URL says 127.0.0.1:24080; the page is opened at localhost:24080 (through the proxy).
    const doc = { body: (await (await t.app.handle(new Request('http://localhost:24080/teamday/swagger/json'))).json()) as { servers: { url: string }[] } }
    expect(doc.body.servers.map((s: { url: string }) => s.url)).toEqual([PUBLIC, 'http://localhost:24080/teamday'])
    // The page's init script, run against a stand-in of the page and of Swagger UI: it selects
    // the entry of the page's origin and base path (the origin alone sent the calls to the proxy's root).
    const ui = await t.req('GET', '/swagger')
    const init = pathsOf(ui.text).find((p) => p.includes('/swagger-init.js'))!
    const script = (await t.req('GET', init)).text
    const settings = /<script type="application\/json" id="swagger-settings">([^<]*)<\/script>/.exec(ui.text)![1]!
    const selected: string[] = []
    const window: Record<string, unknown> = { matchMedia: () => ({ matches: false, addEventListener() {} }) }
    const document = { documentElement: { classList: { toggle() {} } }, getElementById: () => ({ textContent: settings }) }
    const SwaggerUIBundle = (s: { onComplete(): void }) => {
      window.ui = { specSelectors: { servers: () => doc.body.servers.map((x: { url: string }) => new Map([['url', x.url]])) }, oas3Actions: { setSelectedServer: (u: string) => selected.push(u) } }
      s.onComplete()
      return window.ui
    }
    new Function('window', 'document', 'location', 'SwaggerUIBundle', script)(window, document, { origin: 'http://localhost:24080' }, SwaggerUIBundle)
    expect(selected).toEqual(['http://localhost:24080/teamday'])
  })

  test("a chat page's poll sent to the sign-in page under the sub-path says the session ended (not that the answer arrived)", async () => {
    const { a, c } = await signedInPerson(t)
    const agentId = await insertWriter(t, a, { slug: 'poller' })
    const chatId = newId('exec')
    const at = new Date(t.clock.now())
    await t.db.insert(executions).values({ id: chatId, organizationId: a.organizationId, userId: a.userId, agentId, agentName: 'Writer', agentVisibility: 'organization', chatId, sessionId: chatId, status: 'running', message: 'hello', messages: [], toolCalls: [], createdAt: at, updatedAt: at })
    const chat = `/agents/${agentId}/chat?chat=${chatId}`
    const page = await c.get(chat)
    expect([page.status, page.text]).toEqual([200, expect.stringContaining('data-refresh=')])
    const attrs = new Map<string, string>()
    new HTMLRewriter().on('#chat-status', { element: (el) => void [...el.attributes].forEach(([k, v]) => attrs.set(k, v)) }).transform(page.text)
    expect(attrs.get('data-href')).toBe('/teamday/login')
    // The page's chat script, against a stand-in of the page: a turn runs; its poll is
    // redirected (the session ended) to the sign-in page as the server names it.
    const state = new Map<string, string>([...attrs])
    const status = { textContent: '', getAttribute: (k: string) => state.get(k) ?? null, setAttribute: (k: string, v: string) => state.set(k, v), appendChild() {} }
    const document = {
      querySelectorAll: () => [],
      querySelector: (q: string) => (q === '[data-refresh]' && !state.has('stopped') ? { getAttribute: () => null, remove: () => state.set('stopped', '1') } : null),
      getElementById: (id: string) => (id === 'chat-status' ? status : null),
      createElement: () => ({}),
      createTextNode: () => ({}),
    }
    const login = `${PUBLIC}/login?next=${encodeURIComponent(chat)}`
    const fetch = async () => ({ redirected: true, url: login, status: 200, ok: true, text: async () => '<!doctype html><p>Sign in</p>' })
    class DOMParser {
      parseFromString = () => ({ getElementById: () => null, querySelector: () => null })
    }
    const timers: (() => void)[] = []
    const window = { fetch, DOMParser }
    new Function('window', 'document', 'location', 'fetch', 'DOMParser', 'setTimeout', CHAT_JS)(window, document, { href: PUBLIC + chat }, fetch, DOMParser, (f: () => void) => timers.push(f))
    timers.shift()!()
    for (let i = 0; i < 10 && state.get('data-state') === undefined; i++) await Bun.sleep(1)
    expect([state.get('data-state'), status.textContent]).toEqual(['ended', attrs.get('data-text-ended')])
  })

  test("the API's Location and an agent's chatUrl name the sub-path; the Location is served", async () => {
    const { a } = await signedInPerson(t)
    const space = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Located' } })
    expect(space.status).toBe(201)
    const location = space.headers.get('location')!
    expect(location).toMatch(/^\/teamday\/api\/v1\/spaces\/space_[A-Za-z0-9]+$/)
    const read = await t.req('GET', location, { token: a.token })
    expect([read.status, read.text]).toEqual([200, expect.stringContaining(location.split('/').pop()!)])
    // A replay (Idempotency-Key) names it once, as the first answer did.
    const keyed = () => t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Keyed' }, headers: { 'idempotency-key': 'sub-path-1' } })
    const [first, again] = [await keyed(), await keyed()]
    expect(again.headers.get('idempotency-status')).toBe('replayed')
    expect(again.headers.get('location')).toBe(first.headers.get('location'))
    expect(first.headers.get('location')).toMatch(/^\/teamday\/api\/v1\/spaces\/space_[A-Za-z0-9]+$/)
    const agent = await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Chatty', systemPrompt: 'Hi.' } })
    expect(agent.body.chatUrl).toBe(`/teamday/agents/${agent.body.id}/chat`)
  })

  test('a list\'s `Link: <…>; rel="next"` names the sub-path, as Location does, and is served; so does a streamed page\'s', async () => {
    const { a } = await signedInPerson(t)
    for (const title of ['first', 'second']) expect((await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title } })).status).toBe(201)
    const page = await t.req('GET', '/api/v1/tasks?limit=1', { token: a.token })
    const next = /^<([^>]+)>; rel="next"$/.exec(page.headers.get('link') ?? '')?.[1]
    expect(next).toStartWith('/teamday/api/v1/tasks?limit=1&cursor=')
    // A proxy that keeps the prefix passes it on as it is; one that strips it, without.
    for (const path of [next!, next!.slice('/teamday'.length)]) {
      const second = await t.req('GET', path, { token: a.token })
      expect([second.status, [page.body[0].title, second.body[0]?.title].sort()]).toEqual([200, ['first', 'second']])
    }
    // A page of large executions is sent as it is read (src/http/streamed-json.ts): the same header.
    const agentId = await insertWriter(t, a)
    const answer = 'lorem ipsum '.repeat(40_000)
    for (let i = 0; i < 4; i++) {
      const id = newId('exec')
      const at = new Date(Date.parse('2026-06-01T12:00:00.000Z') + i * 1000)
      await t.db.insert(executions).values({ id, organizationId: a.organizationId, userId: a.userId, agentId, agentName: 'Writer', agentVisibility: 'organization', chatId: id, sessionId: id, status: 'completed', message: `m${i}`, result: answer, messages: [], toolCalls: [], createdAt: at, updatedAt: at })
    }
    const res = await t.app.handle(new Request(`http://localhost/teamday/api/v1/executions?agentId=${agentId}&limit=3`, { headers: { authorization: `Bearer ${a.token}` } }))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-length')).toBeNull()
    expect(((await res.json()) as unknown[]).length).toBe(3)
    expect(res.headers.get('link')).toStartWith(`</teamday/api/v1/executions?agentId=${agentId}&limit=3&cursor=`)
  })

  test('a set-password link: its page and form; the CLI sign-in: authUrl, sign-in on the way, the approval form', async () => {
    const newbie = await makeActor(t)
    const link = await createLink(t.ctx, newbie.userId, newbie.organizationId, 'set_password')
    const set = await consoleClient(t).get(link.path)
    expect(set.status).toBe(200)
    expectBased(set.text)
    expect(pathsOf(set.text)).toContain(`/teamday${link.path}`)

    const { a } = await signedInPerson(t)
    const { authUrl } = (await t.req('POST', '/api/auth/cli/initiate', { headers: { 'content-type': 'application/json' } })).body
    expect(authUrl).toStartWith(`${PUBLIC}/cli/authorize/tdc_`)
    const at = new URL(authUrl).pathname.slice('/teamday'.length)
    const c = consoleClient(t)
    const toLogin = await c.get(at)
    expect(toLogin.headers.get('location')).toBe(`/teamday/login?next=${encodeURIComponent(at)}`)
    const back = await c.post('/login', { email: a.email, password: PASSWORD, next: at })
    expect(back.headers.get('location')).toBe(`/teamday${at}`)
    const approval = await c.get(at)
    expectBased(approval.text)
    expect(pathsOf(approval.text)).toContain(`/teamday${at}`)
    const approved = await c.post(at, { ...(await shownApproval(t, c, at)), organizationId: a.organizationId })
    expect([approved.status, approved.headers.get('location')]).toEqual([303, `/teamday${at}`])
  })
})

test('sign-in with a next that names the sub-path goes there once (no doubled prefix), never off the site', async () => {
  const a = await makeActor(t)
  await givePassword(t, a.userId)
  for (const [next, to] of [
    ['/teamday/spaces?x=1', '/teamday/spaces?x=1'],
    ['/teamday', '/teamday/'],
    ['/spaces', '/teamday/spaces'],
    ['/teamday//evil.example', '/teamday/settings/profile'],
    ['/teamday/..//evil.example', '/teamday/settings/profile'],
    ['/teamday/teamday/spaces', '/teamday/teamday/spaces'],
    ['/teamdayx', '/teamday/teamdayx'],
  ]) {
    const c = consoleClient(t)
    const r = await c.post('/login', { email: a.email, password: PASSWORD, next: next! })
    expect([next, r.status, r.headers.get('location')]).toEqual([next, 303, to])
    // Signed in already: the sign-in page's GET goes the same way.
    const again = await c.get(`/login?next=${encodeURIComponent(next!)}`)
    expect([next, again.headers.get('location')]).toEqual([next, to])
  }
})

describe('a proxy that keeps the prefix', () => {
  test('console, API, docs and health are served under it; the root still answers', async () => {
    const { a } = await signedInPerson(t)
    const c = consoleClient(t)
    expect((await c.get('/teamday/login')).status).toBe(200)
    const signed = await c.post('/teamday/login', { email: a.email, password: PASSWORD })
    expect([signed.status, signed.headers.get('location')]).toEqual([303, '/teamday/settings/profile'])
    const profile = await c.get('/teamday/settings/profile')
    expect(profile.status).toBe(200)
    expectBased(profile.text)
    expect((await c.get('/teamday')).headers.get('location')).toBe('/teamday/settings/profile')
    expect((await t.req('GET', '/teamday/api/v1/spaces', { token: a.token })).status).toBe(200)
    expect((await t.req('GET', '/teamday/api/health')).status).toBe(200)
    expect((await t.req('GET', '/api/health')).status).toBe(200)
    // A client whose base URL ends in `/` (`…/teamday/` + `/api/v1/spaces`, as TeamDay's CLI joins them).
    expect((await t.req('GET', '/teamday//api/v1/spaces', { token: a.token })).status).toBe(200)
    // Only the prefix as a whole segment is taken off.
    expect((await t.req('GET', '/teamdayx/api/health')).status).toBe(404)
  })
})

test("a form without Sec-Fetch-Site passes with the public URL's Origin (a proxy passing its upstream as Host); another site's is refused", async () => {
  const { c } = await signedInPerson(t)
  const form = new URLSearchParams({ name: 'origin check', expires: '30', scope: '*' }).toString()
  const post = (origin: string) =>
    t.req('POST', '/settings/tokens', { raw: form, ip: '127.0.0.1', headers: { cookie: c.cookie!, 'content-type': 'application/x-www-form-urlencoded', origin, host: '127.0.0.1:24001' } })
  expect((await post('http://127.0.0.1:24080')).status).toBe(201)
  expect((await post('http://evil.example')).status).toBe(403)
})

test('a public URL whose path starts with a path teamday serves is refused at start', () => {
  expect(() => loadConfig({ TEAMDAY_PUBLIC_URL: 'https://example.com/api' })).toThrow(ConfigError)
  expect(() => loadConfig({ TEAMDAY_PUBLIC_URL: 'https://example.com/Swagger/x' })).toThrow(/may not start with \/swagger/)
  expect(loadConfig({ TEAMDAY_PUBLIC_URL: 'https://example.com/apis/' }).publicUrl).toBe('https://example.com/apis')
  // An empty segment made the base path `//teamday`: links scheme-relative, to the host "teamday".
  for (const url of ['https://example.com//teamday', 'https://example.com/team//day', 'https://example.com/teamday//', 'https://example.com//']) {
    expect(() => loadConfig({ TEAMDAY_PUBLIC_URL: url })).toThrow(`TEAMDAY_PUBLIC_URL's path may not hold an empty segment, two slashes in a row (got "${url}"): such as https://example.com/teamday`)
  }
  // A percent-escape: `/%61pi` is `/api`, and a request may bring an escape decoded (src/http/url-path.ts) or not.
  for (const url of ['https://example.com/%61pi', 'https://example.com/team%2Dday', 'https://example.com/caf\u00e9', 'https://example.com/my team']) {
    expect(() => loadConfig({ TEAMDAY_PUBLIC_URL: url })).toThrow(/^TEAMDAY_PUBLIC_URL's path may not hold a percent-escape, nor a character a URL writes as one \(a space, a non-ASCII letter\) \(got "[^"]+"\): choose one of letters, digits and - \. _ ~, such as https:\/\/example\.com\/teamday$/)
  }
  expect(loadConfig({ TEAMDAY_PUBLIC_URL: 'https://example.com/Team-Day_1.x~/' }).publicUrl).toBe('https://example.com/Team-Day_1.x~')
})

test("SERVED_SEGMENTS names the first segment of every route the app has", () => {
  const firsts = new Set(t.app.routes.map((r) => r.path.split('/')[1]!).filter((s) => s !== ''))
  expect([...firsts].filter((s) => !(SERVED_SEGMENTS as readonly string[]).includes(s))).toEqual([])
})

test('messages name the sub-path: a 404 the path asked for and the API reference, a 401 where tokens are made, the first start', async () => {
  // The path as the client reaches it, whether the proxy kept the prefix or took it off.
  for (const path of ['/teamday/api/v1/nope', '/api/v1/nope']) {
    const missing = await t.req('GET', path)
    expect([path, missing.status, missing.body.message]).toEqual([path, 404, 'No route GET /teamday/api/v1/nope. See /teamday/swagger for the API reference.'])
  }
  const wrong = await t.req('PUT', '/teamday/api/health')
  expect([wrong.status, wrong.body.message]).toEqual([405, 'Method PUT is not allowed on /teamday/api/health; use GET, HEAD.'])
  for (const headers of [{} as Record<string, string>, { authorization: 'Bearer td_your-token-here' }, { authorization: `Bearer td_${'A'.repeat(43)}` }]) {
    const r = await t.req('GET', '/teamday/api/v1/agents', { headers })
    expect([r.status, r.body.message.includes('Personal Access Tokens, /teamday/settings/tokens)'), r.body.message.includes(' /settings/tokens')]).toEqual([401, true, false])
  }
  // A terminal sign-in's access token, expired: where to refresh it.
  const own = await makeTestApp({ config: { publicUrl: PUBLIC } })
  const s = await cliLogin(own, await makeActor(own))
  own.clock.advance(16 * 60_000)
  const cli = await own.req('GET', '/teamday/api/v1/agents', { token: s.accessToken })
  expect([cli.status, cli.body.code, cli.body.message.includes(' /api/auth/cli/refresh'), cli.body.message.includes('(POST /teamday/api/auth/cli/refresh)')]).toEqual([401, 'token_expired', false, true])
  own.rt.close()
  const first = firstStartText({ kind: 'password_file', email: 'ops@example.com', org: 'default' }, PUBLIC)
  expect(first).toContain(` Sign in at ${PUBLIC}/login\n Then create a token on Settings → Profile → Personal Access Tokens (/teamday/settings/tokens),\n`)
})

test('strip: the prefix as a whole segment, before a path, a query or nothing', () => {
  const sub = basePath(PUBLIC)
  const routed = (url: string) => {
    const request = new Request(url)
    sub.strip(request)
    return request.url
  }
  expect(routed('http://h/teamday')).toBe('http://h/')
  expect(routed('http://h/teamday?next=1')).toBe('http://h/?next=1')
  expect(routed('http://h/teamday/api/health?x=/teamday')).toBe('http://h/api/health?x=/teamday')
  expect(routed('http://h/teamdayx/login')).toBe('http://h/teamdayx/login')
  expect(routed('http://h/login?next=/teamday/x')).toBe('http://h/login?next=/teamday/x')
  expect(routed('http://h/x/teamday/login')).toBe('http://h/x/teamday/login')
  // A base URL ending in `/` joined with `/api/…` (TeamDay's CLI): the slashes merged, as at the root.
  expect(routed('http://h/teamday//api/v1/spaces?x=//y')).toBe('http://h/api/v1/spaces?x=//y')
  expect(routed('http://h/teamday///login')).toBe('http://h/login')
  expect(routed('http://h/teamday//')).toBe('http://h/')
})

test('without a path in the public URL nothing is rewritten', () => {
  const root = basePath('https://example.com')
  expect([root.path, root.href('/login'), root.page('<a href="/x">x</a>')]).toEqual(['', '/login', '<a href="/x">x</a>'])
  const sub = basePath(PUBLIC)
  expect(sub.page('<a href="/x?a=1&amp;b=2">/y</a><a href="#main">m</a><a href="//evil.example/">e</a><a href="?page=2">p</a><button formaction="/f">f</button><img src="/i.png">')).toBe(
    '<a href="/teamday/x?a=1&amp;b=2">/y</a><a href="#main">m</a><a href="//evil.example/">e</a><a href="?page=2">p</a><button formaction="/teamday/f">f</button><img src="/teamday/i.png">',
  )
  expect([sub.href('/x'), sub.href('//evil.example/x'), sub.href('/\\evil.example'), sub.href('https://other.example/x')]).toEqual(['/teamday/x', '//evil.example/x', '/\\evil.example', 'https://other.example/x'])
})

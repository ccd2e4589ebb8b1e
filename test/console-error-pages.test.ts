import { afterAll, describe, expect, test } from 'bun:test'
import { resolve } from 'node:path'
import { createConsole } from '../src/console'
import { ASSETS } from '../src/console/assets'
import { safeNext } from '../src/console/http'
import { CHAT_MAX_CHARS } from '../src/console/views/agents'
import { routeMatcher } from '../src/http/errors'
import { trimEndChar } from '../src/text'
import { makeActor, makeTestApp, type Res } from './helpers/app'
import { consoleClient, givePassword, signedInPerson } from './helpers/console'
import { startProviderDouble } from './helpers/providers'
import { until } from './helpers/scripted-provider'
import { spawnCollected } from './helpers/spawn'

/**
 * Errors on the console's page paths are console pages (src/console/error-pages.tsx, through the
 * errors plugin's renderer): those raised before a page's handler runs (the URL's NUL rule, the
 * body limit, the body reader's NUL rule), by Elysia's validation of its parameters, a 405 and a
 * server error. The status is kept, with the console's headers, the visitor's language, the
 * request id and a link back; a refused form says it was not sent. The API, Swagger UI, the
 * console's own files and paths nobody owns keep the JSON envelope. On SQLite, and on PostgreSQL
 * with TEAMDAY_TEST_DATABASE=postgres.
 */
const double = startProviderDouble()
const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
afterAll(async () => {
  await t.rt.close()
  double.stop()
})
const DE = { 'accept-language': 'de-DE,de;q=0.9' }

async function member(org: string) {
  const { a, c } = await signedInPerson(t, { role: 'member', org })
  const agent = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Helper', visibility: 'private' } })).body.id as string
  return { a, c, agent }
}

/** A console page: HTML with the console's headers, never the envelope. */
function expectConsolePage(r: Res, status: number, lang: 'en' | 'de' = 'en') {
  expect({ status: r.status, type: r.headers.get('content-type') }).toEqual({ status, type: 'text/html; charset=utf-8' })
  expect(r.text).toStartWith(`<!doctype html><html lang="${lang}">`)
  expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
  expect(r.headers.get('x-frame-options')).toBe('DENY')
  expect(r.headers.get('vary')).toContain('Accept-Language')
  expect(r.headers.get('cache-control')).toBe('no-store')
  // The request id of the answer, on the page.
  expect(r.text).toContain(`<code>${r.headers.get('x-request-id')}</code>`)
  expect(r.body).toBeUndefined()
}

const main = (html: string) => /<main id="main">([\s\S]*)<\/main>/.exec(html)![1]!
const backLink = (html: string) => /<p><a href="([^"]*)"( data-back="")?>([^<]*)<\/a><\/p>/.exec(main(html))

describe('errors on console page paths are console pages', () => {
  test("the probe's URLs: status kept, the console's headers, the message in the visitor's language, a link back", async () => {
    const { c, agent } = await member('errors-org')
    const cases: [string, number, string, string][] = [
      ['/agents?cursor=%00', 422, 'Validation failed: cursor must not contain the NUL character (%00)', '/agents'],
      ['/agents/%ZZ/chat', 422, 'Validation failed: id is not valid percent-encoding', '/agents'],
      [`/agents/${agent}/chat?chat=%00`, 422, 'Validation failed: chat must not contain the NUL character (%00)', `/agents/${agent}/chat`],
      ['/spaces/%00', 404, 'Not found: no id or slug contains the NUL character (%00).', '/spaces'],
      ['/settings/profile?x=%00', 422, 'Validation failed: x must not contain the NUL character', '/settings/profile'],
    ]
    for (const [path, status, message, back] of cases) {
      const r = await c.get(path)
      expectConsolePage(r, status)
      expect({ path, message: main(r.text).includes(message) }).toEqual({ path, message: true })
      expect({ path, back: backLink(r.text)?.slice(1) as (string | undefined)[] | undefined }).toEqual({ path, back: [back, undefined, 'Back to the console'] })
      // In German: the page's language, its texts (test/console-i18n.test.ts checks them for English words).
      const de = await c.get(path, DE)
      expectConsolePage(de, status, 'de')
      expect(de.text).toContain('Zurück zur Konsole')
      expect(de.text).not.toContain(message)
    }
    expect((await c.get('/agents/%ZZ/chat', DE)).text).toContain('<h1>Ungültige Eingabe</h1>')
    expect((await c.get('/spaces/%00', DE)).text).toContain('<h1>Nicht gefunden</h1>')
    // Signed out too: the sign-in page's own query.
    const anon = consoleClient(t)
    expectConsolePage(await anon.get('/login?next=%00'), 422)
    expect(backLink((await anon.get('/login?next=%00')).text)![1]).toBe('/login')
    // A method the page does not take: 405 with its Allow.
    const del = await t.req('DELETE', `/agents/${agent}/chat`, { headers: { cookie: c.cookie! } })
    expectConsolePage(del, 405)
    expect(del.headers.get('allow')).toBe('GET, HEAD, POST')
  })

  test('a refused chat message (a NUL, a body over 1 MiB): a console page that says the form was not sent and leads back to the chat; nothing started', async () => {
    const { a, c, agent } = await member('refused-form-org')
    const sent = await c.post(`/agents/${agent}/chat`, { message: 'hello' })
    const chat = new URL(sent.headers.get('location')!, 'http://x').searchParams.get('chat')!
    await until(async () => (await t.req('GET', `/api/v1/chats/${chat}`, { token: a.token })).body.chat.status !== 'working')
    // The form's action names the chat: a refusal before the page runs can lead back to it.
    const open = await c.get(`/agents/${agent}/chat?chat=${chat}`)
    const action = /<form method="post" action="([^"]+)" class="chat-form">/.exec(open.text)![1]!.replace(/&amp;/g, '&')
    expect(action).toBe(`/agents/${agent}/chat?chat=${chat}`)
    const runs = async () => (await t.req('GET', `/api/v1/executions?agentId=${agent}`, { token: a.token })).body.length
    expect(await runs()).toBe(1)

    const nul = await c.post(action, { message: 'before\u0000after', chatId: chat })
    expectConsolePage(nul, 422)
    expect(main(nul.text)).toContain('Validation failed: message must not contain the NUL character (U+0000)')
    expect(main(nul.text)).toContain('Your form was not sent')
    expect(backLink(nul.text)!.slice(1)).toEqual([`/agents/${agent}/chat?chat=${chat}`, ' data-back=""', 'Back to the form'])

    // CJK within the old maxlength (200,000) but 9 bytes each once form-encoded: over the limit.
    const big = await c.post(action, { message: '漢'.repeat(120_000), chatId: chat })
    expectConsolePage(big, 413)
    expect(main(big.text)).toContain('Request body too large')
    expect(main(big.text)).toContain('Your form was not sent')
    expect(backLink(big.text)![1]).toBe(`/agents/${agent}/chat?chat=${chat}`)
    const bigDe = await c.post(action, { message: '漢'.repeat(120_000), chatId: chat }, DE)
    expectConsolePage(bigDe, 413, 'de')
    expect(bigDe.text).toContain('Ihr Formular wurde nicht gesendet')
    expect(await runs()).toBe(1)
    // Another form of the console: back to the page above it (the space's page for its secrets form).
    const space = (await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'Room' } })).body.space.id as string
    const secret = await c.post(`/spaces/${space}/secrets`, { name: 'A', value: 'x\u0000' })
    expectConsolePage(secret, 422)
    expect(backLink(secret.text)![1]).toBe(`/spaces/${space}`)
  })

  test('the message box allows only what fits the body limit once form-encoded; the API keeps its 200,000 characters', async () => {
    const { a, c, agent } = await member('maxlength-org')
    const page = await c.get(`/agents/${agent}/chat`)
    const maxlength = Number(/<textarea name="message"[^>]* maxlength="(\d+)"/.exec(page.text)![1])
    expect(maxlength).toBe(CHAT_MAX_CHARS)
    // The worst a browser sends for it: 3-byte characters (9 bytes each encoded) with the longest chat id.
    const longest = 'c'.repeat(199) + ':'
    const body = new URLSearchParams({ message: '漢'.repeat(maxlength), chatId: longest }).toString()
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(t.rt.config.maxBodyBytes)
    const r = await c.post(`/agents/${agent}/chat`, { message: '漢'.repeat(maxlength) })
    expect(r.status).toBe(303)
    // The API takes more as JSON (3 bytes each): its own limit, unchanged.
    const api = await t.req('POST', `/api/v1/agents/${agent}/execute`, { token: a.token, body: { message: '漢'.repeat(200_000), async: true } })
    expect(api.status).toBe(202)
    const over = await t.req('POST', `/api/v1/agents/${agent}/execute`, { token: a.token, body: { message: '漢'.repeat(200_001), async: true } })
    expect(over.status).toBe(422)
  })

  test('the API, Swagger UI, the console files and paths nobody owns keep the JSON envelope', async () => {
    const { c, agent } = await member('json-org')
    const json = (r: Res) => ({ type: r.headers.get('content-type'), envelope: r.body?.error === true })
    for (const path of ['/api/v1/agents?cursor=%00', '/api/v1/agents/%ZZ', `/api/v1/agents/${agent}%00`, '/swagger?x=%00', '/no/such/page', '/agents/x/chat/more', ...ASSETS.map((a) => `${a.path}?x=%00`)]) {
      const r = await c.get(path)
      expect({ path, ...json(r) }).toEqual({ path, type: 'application/json', envelope: true })
    }
    const api405 = await t.req('DELETE', '/api/v1/agents')
    expect({ status: api405.status, ...json(api405) }).toEqual({ status: 405, type: 'application/json', envelope: true })
  })

  // `/settings//` and other paths of the console's sections that no route has got the API's JSON
  // 404 ("See /swagger for the API reference") in the browser.
  test("a path no route has in one of the console's sections is the console's 404 page for a browser; JSON for clients that ask for it and for other paths", async () => {
    const { c } = await member('no-such-page-org')
    const BROWSER = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }
    for (const path of ['/settings//', '/settings//profile', '/settings/profile//', '/settings/nope', '/agents//chat', '/agents/x/chat/more', '/spaces//', '/login//', '/org/members/x', '/setup/', '/cli/authorize/', '///', '/settings//?x=1']) {
      const r = await c.get(path, BROWSER)
      expectConsolePage(r, 404)
      expect({ path, text: main(r.text).includes('There is no such page in the console.') }).toEqual({ path, text: true })
      expect(r.text).not.toContain('/swagger')
      const de = await c.get(path, { ...BROWSER, ...DE })
      expectConsolePage(de, 404, 'de')
      expect(de.text).toContain('<h1>Nicht gefunden</h1>')
      expect(de.text).toContain('Diese Seite gibt es in der Konsole nicht.')
      // A client that asks for JSON (or for nothing in particular) keeps the API's 404.
      for (const accept of ['application/json', 'text/html, application/json', '*/*', 'text/html;q=0']) {
        const j = await c.get(path, { accept })
        expect({ path, accept, status: j.status, type: j.headers.get('content-type'), code: j.body?.code }).toEqual({ path, accept, status: 404, type: 'application/json', code: 'route_not_found' })
      }
      const none = await c.get(path)
      expect({ path, type: none.headers.get('content-type') }).toEqual({ path, type: 'application/json' })
    }
    // A HEAD of such a path: the same status.
    expect((await t.req('HEAD', '/settings//', { headers: { ...BROWSER, cookie: c.cookie! } })).status).toBe(404)
    // Paths outside the console's sections keep the envelope, for a browser too.
    for (const path of ['/no/such/page', '/api/v1/nope', '/api/v1/agents//', '/swagger/nope', '/metrics/x', '/console/assets/nope.css', '/favicon.ico/x']) {
      const r = await c.get(path, BROWSER)
      expect({ path, status: r.status, type: r.headers.get('content-type') }).toEqual({ path, status: 404, type: 'application/json' })
    }
  })

  // The page's link back dropped a path's trailing slashes with /\/+$/, which tries every start of
  // a long run of slashes that does not end the path, each to the end of the run: a browser's GET
  // of an 8 KiB path (the longest URL) held the event loop some 100 ms, unauthenticated; the
  // renderer given 1 MiB, for half an hour. In a child process with a deadline of minutes' margin.
  test('a long run of slashes in such a path is answered at once: 8 KiB through the app, 1 MiB given to the renderer', async () => {
    const long = await t.req('GET', `/settings/${'/'.repeat(8000)}x`, { headers: { accept: 'text/html' } })
    expectConsolePage(long, 404)
    expect(long.text).toContain('href="/">')
    const script = `
      const { consoleErrorPages } = await import(${JSON.stringify(resolve(import.meta.dir, '../src/console/error-pages.tsx'))})
      const render = consoleErrorPages(() => [{ method: 'GET', path: '/settings' }, { method: 'GET', path: '/settings/tokens' }])
      const page = async (path) => {
        const r = await render({ request: new Request('http://127.0.0.1' + path, { headers: { accept: 'text/html' } }), status: 404, code: 'route_not_found', message: 'No route', requestId: 'req_1' })
        return [r.status, (await r.text()).match(/href="([^"]*)">Back to the console/)?.[1]]
      }
      console.log(JSON.stringify([await page('/settings/' + '/'.repeat(1 << 20) + 'x'), await page('/settings/tokens/' + '/'.repeat(1 << 20)), await page('/settings/tokens/x')]))`
    const child = spawnCollected([process.execPath, '-e', script])
    const code = await child.exited(20_000)
    if (code === 'still running') child.proc.kill()
    expect([code, child.output().trim()]).toEqual([0, JSON.stringify([[404, '/'], [404, '/settings'], [404, '/settings/tokens']])])
  }, 30_000)

  // The link back walked up the path one segment at a time, each step scanning the whole rest of
  // it: quadratic in its segments (8 KiB of `/a`, the longest URL: ~5 ms a request, no sign-in
  // needed). It now starts where a page can be (no page route has more than a few segments):
  // linear. A path of 32,768 segments against one of a single segment, of the same length, in
  // the same run: ~1000 times as long before, about as long now.
  test('a path of many segments costs what a path of one segment of the same length costs', async () => {
    const { errorPages } = createConsole(t.rt, () => null, () => false)
    const page = async (path: string) => {
      const r = await errorPages({ request: new Request(`http://127.0.0.1${path}`, { headers: { accept: 'text/html' } }), status: 404, code: 'route_not_found', message: 'No route', requestId: 'req_1' })
      return backLink(await r!.text())![1]
    }
    const deep = `/settings${'/a'.repeat(32_768)}`
    const flat = `/settings/${'a'.repeat(deep.length - 10)}`
    const fastest = async (path: string) => {
      let best = Infinity
      for (let i = 0; i < 5; i++) {
        const started = performance.now()
        expect(await page(path)).toBe('/settings')
        best = Math.min(best, performance.now() - started)
      }
      return best
    }
    await fastest(flat)
    const [deepMs, flatMs] = [await fastest(deep), await fastest(flat)]
    expect({ deepMs, flatMs, within: deepMs < 20 * flatMs }).toEqual({ deepMs, flatMs, within: true })
  }, 60_000)

  test('the link back is the nearest page above, as the walk one segment at a time found it', async () => {
    const { errorPages, plugin } = createConsole(t.rt, () => null, () => false)
    const assets = new Set(ASSETS.map((a) => a.path))
    const pages = plugin.routes.filter((r) => r.method === 'GET' && !assets.has(r.path)).map((r) => routeMatcher(r.path))
    const hasPage = (path: string) => pages.some((re) => re.test(path))
    // As it was: parent() from the path, a step at a time.
    const parent = (path: string) => path.slice(0, trimEndChar(path, '/').lastIndexOf('/')) || '/'
    const before = (path: string, query: string) => {
      let to = query ? path : parent(path)
      while (to !== '/' && !hasPage(to)) to = parent(to)
      return safeNext(to) ?? '/'
    }
    let seed = 7
    // The generator's high bits (its low ones repeat with a short period).
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor((seed / 2 ** 31) * n))
    const starts = ['/settings', '/settings/tokens', '/agents', '/agents/x/chat', '/spaces', '/org', '/cli', '']
    const words = ['a', 'x', 'tokens', 'chat', 'api', 'members', 'cli-sessions', 'agents', '%41', '.', '..', '']
    const segment = () => (random(5) === 0 ? '//' : '/') + words[random(words.length)]
    const paths = Array.from({ length: 3000 }, () => starts[random(starts.length)] + Array.from({ length: random(10) }, segment).join(''))
    const differ: unknown[] = []
    const links = new Map<string, number>()
    for (const path of paths) {
      const query = random(4) === 0 ? '?q=1' : ''
      const request = new Request(`http://127.0.0.1${path}${query}`, { headers: { accept: 'text/html' } })
      const r = await errorPages({ request, status: 404, code: 'route_not_found', message: 'No route', requestId: 'req_1' })
      if (r === null) continue
      // The path as the renderer sees it: dot segments resolved by the URL.
      const sent = new URL(request.url)
      const link = backLink(await r.text())![1]!
      links.set(link, (links.get(link) ?? 0) + 1)
      if (link !== before(sent.pathname, sent.search)) differ.push({ path: sent.pathname, query, link, before: before(sent.pathname, sent.search) })
    }
    expect(differ.slice(0, 5)).toEqual([])
    // Half are console paths, and their links lead to pages at every depth.
    expect([...links.values()].reduce((a, b) => a + b)).toBeGreaterThan(1000)
    expect([...links.keys()]).toEqual(expect.arrayContaining(['/', '/settings', '/settings/tokens', '/agents', '/spaces', '/agents/x/chat']))
  })

  test("every route the console registers is a console page path (but its files); every other route of the app is not", async () => {
    const { c } = await member('routes-org')
    const consoleRoutes = createConsole(t.rt, () => null, () => false).plugin.routes
    const assets = new Set(ASSETS.map((a) => a.path))
    expect([...assets].every((p) => consoleRoutes.some((r) => r.path === p))).toBe(true)
    const owned = new Set(consoleRoutes.map((r) => r.path))
    const others = t.app.routes.filter((r) => !owned.has(r.path))
    expect(others.length).toBeGreaterThan(20)
    expect(others.filter((r) => !r.path.startsWith('/api/') && !r.path.startsWith('/swagger')).map((r) => r.path)).toEqual(['/metrics'])
    const probe = (path: string) => `${path.replace(/:[A-Za-z]+/g, 'x').replace(/\*$/, 'x')}?probe=%00`
    for (const r of consoleRoutes) {
      const res = await c.get(probe(r.path))
      const html = (res.headers.get('content-type') ?? '').startsWith('text/html')
      expect({ path: r.path, html }).toEqual({ path: r.path, html: !assets.has(r.path) })
    }
    for (const r of others) {
      const res = await c.get(probe(r.path))
      expect({ path: r.path, type: res.headers.get('content-type') }).toEqual({ path: r.path, type: 'application/json' })
    }
  })

  test('a server error on a console page: the 5xx as a console page with its request id', async () => {
    const broken = await makeTestApp()
    const a = await makeActor(broken, { role: 'member', org: 'broken-org' })
    await givePassword(broken, a.userId)
    const c = consoleClient(broken)
    await c.signIn(a.email)
    await broken.rt.close()
    const r = await c.get('/agents', DE)
    expect(r.status).toBeGreaterThanOrEqual(500)
    expectConsolePage(r, r.status, 'de')
    expect(r.text).toMatch(/<h1>(Serverfehler|Nicht verfügbar)<\/h1>/)
    expect(r.text).toContain('Anfrage-ID:')
    const api = await broken.req('GET', '/api/v1/agents', { token: a.token })
    expect(api.headers.get('content-type')).toBe('application/json')
  })
})

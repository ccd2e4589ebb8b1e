/**
 * How the app listens (src/http/listen.ts): compiled once, every request through `app.fetch`
 * (the handler in-process tests reach with `app.handle`), on a real socket; and sentWhole, which
 * re-sends a large body that was ready only after the event loop turned as one chunk of a stream.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { cachedBody, cachedJson, ResponseCache } from '../src/cache/response-cache'
import { noteSentBody, noteSentBytes, sentWhole, WHOLE_FROM_BYTES } from '../src/http/listen'
import { makeActor, makeTestApp } from './helpers/app'

const t = await makeTestApp()
const app = t.app as unknown as { compile(): unknown; listen(o: object): unknown; stop(): Promise<unknown>; server: { port: number } | null }
let compiles = 0
const compile = app.compile.bind(app)
app.compile = () => {
  compiles++
  return compile()
}
app.listen({ hostname: '127.0.0.1', port: 0 })
const base = `http://127.0.0.1:${app.server!.port}`
afterAll(() => app.stop())

test('listening compiles the app once, also after the event loop has turned (no second pass that rebuilds every route)', async () => {
  await Bun.sleep(20)
  expect(compiles).toBe(1)
})

test('the socket answers what app.handle answers: a route, a route with a parameter, HEAD, an unknown path', async () => {
  const health = await fetch(`${base}/api/health`)
  expect(health.status).toBe(200)
  expect(await health.json()).toMatchObject({ status: 'ok' })

  const head = await fetch(`${base}/api/health`, { method: 'HEAD' })
  expect(head.status).toBe(200)
  expect(await head.text()).toBe('')

  const token = await fetch(`${base}/api/v1/tokens/pat_unknown`)
  expect(token.status).toBe(401)
  expect(token.headers.get('content-type')).toContain('application/json')

  const missing = await fetch(`${base}/api/v1/no-such-thing`)
  expect(missing.status).toBe(404)
  expect(((await missing.json()) as { error?: unknown }).error).toBeDefined()
  const inProcess = await t.app.handle(new Request('http://localhost/api/v1/no-such-thing'))
  expect(inProcess.status).toBe(404)
})

test('over the socket, a large list keeps its bytes; on PostgreSQL (ready after the database answered) it goes out chunked, on SQLite (ready in the same turn) with its length', async () => {
  const admin = await makeActor(t, { role: 'admin', org: 'sockets' })
  const prompt = 'p'.repeat(1000)
  for (let i = 0; i < 16; i++) {
    const r = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: `Agent ${i}`, role: 'helper', systemPrompt: prompt } })
    expect(r.status).toBe(201)
  }
  const res = await fetch(`${base}/api/v1/agents?limit=50`, { headers: { authorization: `Bearer ${admin.token}`, 'accept-encoding': 'identity' } })
  expect(res.status).toBe(200)
  const text = await res.text()
  expect(text.length).toBeGreaterThan(WHOLE_FROM_BYTES)
  expect(JSON.parse(text).agents).toHaveLength(16)
  expect(res.headers.get('x-request-id')).toMatch(/^req_/)
  if (t.backend === 'pg') {
    expect(res.headers.get('transfer-encoding')).toBe('chunked')
    expect(res.headers.get('content-length')).toBeNull()
  } else {
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)))
  }
  // The same bytes as in process.
  const inProcess = await t.req('GET', '/api/v1/agents?limit=50', { token: admin.token })
  expect(inProcess.text).toBe(text)
  // The cached list's bytes go out in many responses at once, and again after: every one whole.
  const again = async () => (await fetch(`${base}/api/v1/agents?limit=50`, { headers: { authorization: `Bearer ${admin.token}`, 'accept-encoding': 'identity' } })).text()
  expect(await Promise.all(Array.from({ length: 24 }, again))).toEqual(Array.from({ length: 24 }, () => text))
  expect(await again()).toBe(text)
})

/**
 * One raw request, written as it is, on a connection of its own: all that came back (latin1)
 * until the server closed it. `lenient`: a connection error ends it with what came (a parser's
 * refusal may reset the connection), else it fails the test.
 */
function rawExchange(request: string, o: { lenient?: boolean } = {}): Promise<string> {
  return new Promise<string>((ok, fail) => {
    let got = ''
    Bun.connect({
      hostname: '127.0.0.1',
      port: app.server!.port,
      socket: {
        open: (s) => void s.write(request),
        data: (_s, d) => void (got += d.toString('latin1')),
        close: () => ok(got),
        error: (_s, e) => (o.lenient ? ok(got) : fail(e)),
      },
    })
  })
}

describe('sentWhole: what is re-sent as one chunk', () => {
  const big = JSON.stringify({ items: 'x'.repeat(WHOLE_FROM_BYTES) })
  const json = (body: string, status = 200) => new Response(body, { status, headers: { 'content-type': 'application/json;charset=utf-8', 'x-request-id': 'req_1' } })
  const afterTurn = <T>(value: T) => new Promise<T>((ok) => setTimeout(() => ok(value), 5))
  const server = {} as Bun.Server<unknown>
  const get = new Request('http://localhost/x')

  test('a response ready at once, or in the same turn, is passed on as it is', async () => {
    const now = json(big)
    expect(sentWhole(() => now)(get, server)).toBe(now)
    const sameTurn = json(big)
    expect(await sentWhole(async () => sameTurn)(get, server)).toBe(sameTurn)
  })

  test('a large JSON body ready after a turn: same status, headers and bytes, as a stream', async () => {
    const original = json(big, 201)
    const sent = await sentWhole(() => afterTurn(original))(get, server)
    expect(sent).not.toBe(original)
    expect(sent.status).toBe(201)
    expect(sent.headers.get('x-request-id')).toBe('req_1')
    expect(sent.headers.get('content-type')).toBe('application/json;charset=utf-8')
    expect(await sent.text()).toBe(big)
  })

  test('a large body whose bytes were noted with it (the cached agent list) is re-sent from those bytes after a turn, its own body left unread', async () => {
    const bytes = new TextEncoder().encode(big)
    // Its own body differs, so that what is sent says where it came from.
    const original = noteSentBody(new Response('{"not":"these bytes"}', { status: 200, headers: { 'content-type': 'application/json;charset=utf-8', 'x-request-id': 'req_2' } }), bytes)
    const sent = await sentWhole(() => afterTurn(original))(get, server)
    expect(sent).not.toBe(original)
    expect([sent.status, sent.headers.get('x-request-id'), sent.headers.get('content-type')]).toEqual([200, 'req_2', 'application/json;charset=utf-8'])
    expect(await sent.text()).toBe(big)
    expect(original.bodyUsed).toBe(false)
    // The bytes are shared by every response of that cache entry: sending leaves them as they were.
    expect(new TextDecoder().decode(bytes)).toBe(big)
  })

  test('a cached JSON body answered after its request\'s turn is made once, as the one-chunk stream: no Response from its Blob made again by whole()', async () => {
    const cache = new ResponseCache()
    cache.set('k', cachedBody(new TextEncoder().encode(big)))
    let made: Response | undefined
    const answer = (request: Request) => afterTurn(null).then(async () => (made = await cachedJson(cache, 'k', request, { headers: { 'x-request-id': 'req_3' } }, false, async () => ({}))))
    const sent = await sentWhole(answer)(new Request('http://localhost/x'), server)
    expect(sent).toBe(made!)
    expect([sent.status, sent.headers.get('x-request-id'), sent.headers.get('content-type')]).toEqual([200, 'req_3', 'application/json;charset=utf-8'])
    expect(await sent.text()).toBe(big)
    // In its own turn (SQLite), a HEAD, or outside sentWhole: the same answer (the Response of its Blob).
    const sameTurn = await sentWhole((request) => cachedJson(cache, 'k', request, { headers: {} }, false, async () => ({})))(new Request('http://localhost/x'), server)
    const head = await sentWhole(answer)(new Request('http://localhost/x', { method: 'HEAD' }), server)
    const outside = await cachedJson(cache, 'k', new Request('http://localhost/x'), { headers: {} }, false, async () => ({}))
    for (const r of [sameTurn, head, outside]) expect([r.status, r.headers.get('content-type'), await r.text()]).toEqual([200, 'application/json;charset=utf-8', big])
  })

  test('after a turn, a small body, one whose size is noted small, a stream of events, a HEAD and a 204 keep what they are', async () => {
    const small = await sentWhole(() => afterTurn(json('{"a":1}')))(get, server)
    expect(await small.text()).toBe('{"a":1}')
    const noted = noteSentBytes(json('{"b":2}'), 7)
    expect(await sentWhole(() => afterTurn(noted))(get, server)).toBe(noted)
    const events = new Response(big, { headers: { 'content-type': 'text/event-stream; charset=utf-8' } })
    expect(await sentWhole(() => afterTurn(events))(get, server)).toBe(events)
    const head = json(big)
    expect(await sentWhole(() => afterTurn(head))(new Request('http://localhost/x', { method: 'HEAD' }), server)).toBe(head)
    const empty = new Response(null, { status: 204, headers: { 'content-type': 'application/json' } })
    expect(await sentWhole(() => afterTurn(empty))(get, server)).toBe(empty)
  })
})

describe('a body the client never finishes', () => {
  test.each([
    ['fewer bytes than its Content-Length', 'Content-Length: 100\r\n', '{"title":"cut"}'],
    ['a chunked body without its last chunk', 'Transfer-Encoding: chunked\r\n', 'f\r\n{"title":"cut"}\r\n'],
  ])('%s, then the connection closed: logged as the 400 request_aborted, not as a server error', async (_, framing, sent) => {
    const a = await makeActor(t, { role: 'admin' })
    const before = t.logs.length
    const socket = await Bun.connect({ hostname: '127.0.0.1', port: app.server!.port, socket: { data() {} } })
    socket.write(`POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${a.token}\r\nContent-Type: application/json\r\n${framing}\r\n${sent}`)
    await Bun.sleep(50)
    socket.end()
    let line: { status?: number } | undefined
    // Written once the answer is out: waited for (10 s), as a loaded machine can take a while.
    for (const deadline = Date.now() + 10_000; line === undefined && Date.now() < deadline; ) {
      await Bun.sleep(10)
      const found = t.logs.slice(before).find((l) => l.includes('"msg":"request"') && l.includes('"method":"POST","path":"/api/v1/tasks"'))
      if (found) line = JSON.parse(found)
    }
    expect(line?.status).toBe(400)
    expect(t.logs.slice(before).join('\n')).not.toContain('unhandled_error')
    // Nothing was created from the part that arrived.
    const list = await t.req('GET', '/api/v1/tasks', { token: a.token })
    expect(list.status).toBe(200)
    expect(list.text).not.toContain('"cut"')
  })
})

/**
 * `Expect: 100-continue` (curl sends it with a body over 1 MiB, others over 1 KiB, and then waits
 * up to a second for the 100 before sending the body anyway): Bun answers `100 Continue` as soon
 * as the head is read, so no upload waits. It does so before the app sees the request, with no
 * hook to decide first: a request refused from its head alone (a bad token: authentication comes
 * first; a declared Content-Length over the limit) gets the 100 and then its answer at once, so a
 * client that began sending at the 100 sends until it reads the answer (README, Request limits).
 * Bun's behaviour, pinned here (a Bun that holds the 100 back fails this: README to change):
 * measured on the binary with curl (`-H 'Expect: 100-continue'`, 61 KB agent: 201 in 20-40 ms,
 * the same as without the header).
 */
describe('Expect: 100-continue', () => {
  /** Writes `head`, waits for what the server sends before any body (at most `ms`), then `body`; what came before and after. */
  async function exchange(head: string, body: string | null, ms = 2000): Promise<{ before: string; after: string }> {
    let got = ''
    const socket = await Bun.connect({ hostname: '127.0.0.1', port: app.server!.port, socket: { data: (_s, d) => void (got += d.toString()) } })
    socket.write(head)
    for (const deadline = Date.now() + ms; Date.now() < deadline && !/\r\n\r\n/.test(got); ) await Bun.sleep(5)
    // The final answer may follow the 100 in the same turn: a moment for it.
    await Bun.sleep(50)
    const before = got
    if (body !== null) socket.write(body)
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && !/HTTP\/1\.1 [2-5]\d\d /.test(got); ) await Bun.sleep(5)
    socket.end()
    return { before, after: got.slice(before.length) }
  }
  const headOf = (token: string, body: string) =>
    `POST /api/v1/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`

  test('100 Continue comes before the body is sent (within a second, not curl\'s timeout), then the 201', async () => {
    const a = await makeActor(t, { role: 'admin' })
    // Over 64 KiB: read as it comes, not in one go (README, Request limits).
    const body = JSON.stringify({ title: 'upload', description: 'x'.repeat(19_000), metadata: { notes: 'y'.repeat(50_000) } })
    expect(body.length).toBeGreaterThan(65_536)
    const started = performance.now()
    const r = await exchange(headOf(a.token, body), body, 1000)
    expect(r.before).toBe('HTTP/1.1 100 Continue\r\n\r\n')
    expect(performance.now() - started).toBeLessThan(1000)
    expect(r.after).toStartWith('HTTP/1.1 201 Created\r\n')
    expect(r.after).toMatch(/\r\nLocation: \/api\/v1\/tasks\/task_/i)
  })

  test('refused from the head (a bad token; a Content-Length over the limit): 100 Continue, then the answer at once, before any body is sent', async () => {
    const body = JSON.stringify({ title: 'never sent' })
    // The body is never written: what comes is all the server sends without it.
    const all = (r: { before: string; after: string }) => r.before + r.after
    const bad = await exchange(headOf('td_not_a_token', body), null)
    expect(all(bad)).toStartWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\n')
    const a = await makeActor(t, { role: 'admin' })
    const big = headOf(a.token, body).replace(/Content-Length: \d+/, 'Content-Length: 2097152')
    const tooLarge = await exchange(big, null)
    expect(all(tooLarge)).toStartWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 413 ')
    // teamday's JSON envelope, not Bun's empty 413 (that one is past 16 MiB).
    expect(all(tooLarge)).toContain('"code":"payload_too_large"')
  })
})

describe('a Host header shorter than four characters', () => {
  /** One raw request; the status line and body of its answer. */
  const raw = async (host: string, path: string): Promise<{ status: number; body: string }> => {
    const text = await new Promise<string>((ok, fail) => {
      let got = ''
      Bun.connect({
        hostname: '127.0.0.1',
        port: app.server!.port,
        socket: {
          open: (s) => void s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
          data: (_s, d) => void (got += d.toString()),
          close: () => ok(got),
          error: (_s, e) => fail(e),
        },
      })
    })
    return { status: Number(text.split(' ')[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) }
  }

  test.each(['x', 'api', 'a:1'])('Host: %s routes the whole path (Elysia skipped its first segment)', async (host) => {
    const health = await raw(host, '/api/health')
    expect(health.status).toBe(200)
    expect(health.body).toContain('"status":"ok"')
    const prefixed = await raw(host, '/zz/api/health')
    expect(prefixed.status).toBe(404)
    expect(prefixed.body).toContain('No route GET /zz/api/health')
  })
})

describe('a request without a usable Host header', () => {
  /** One raw request, written as it is; the status, body and headers of its answer. */
  const send = async (request: string): Promise<{ status: number; body: string; head: string }> => {
    const text = await rawExchange(request)
    const end = text.indexOf('\r\n\r\n')
    return { status: Number(text.split(' ')[1]), head: text.slice(0, end), body: text.slice(end + 4) }
  }
  /** The request line and headers of `method path` without a Host (HTTP/1.0) or with `Host: host`. */
  const request = (method: string, path: string, host: string | null, headers = '', body = '') =>
    `${method} ${path} ${host === null ? 'HTTP/1.0' : 'HTTP/1.1'}\r\n${host === null ? '' : `Host: ${host}\r\nConnection: close\r\n`}${headers}${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`
  /** The request's access line, written once the answer is out: waited for (10 s), as a loaded machine can take a while. */
  const accessLine = async (before: number, path: string) => {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      const found = t.logs.slice(before).find((l) => l.includes('"msg":"request"') && l.includes(`"path":${JSON.stringify(path)}`))
      if (found) return JSON.parse(found) as { status: number; path: string }
      await Bun.sleep(10)
    }
    return undefined
  }

  test('a base URL with a trailing slash (`//api/v1/…`, as TeamDay\'s CLI joins it): the path with one leading slash is routed and logged; slashes inside the path or the query are left alone', async () => {
    const a = await makeActor(t, { role: 'admin' })
    const auth = `Authorization: Bearer ${a.token}\r\n`
    const before = t.logs.length
    for (const [path, host] of [['//api/v1/tokens/self', 'localhost'], ['///api/v1/tokens/self', 'localhost'], ['//api/v1/tokens/self', null]] as const) {
      const res = await send(request('GET', path, host, auth))
      expect([path, host, res.status]).toEqual([path, host, 200])
      expect(JSON.parse(res.body).token.id).toBe(a.tokenId)
    }
    const created = await send(request('POST', '//api/v1/agents', 'localhost', `${auth}Content-Type: application/json\r\n`, JSON.stringify({ name: 'Via a slash' })))
    expect(created.status).toBe(201)
    expect((await accessLine(before, '/api/v1/agents'))?.status).toBe(201)
    expect(t.logs.slice(before).some((l) => l.includes('"path":"//'))).toBe(false)
    // Not a rewrite of every double slash: one inside the path is still not a route, and the query keeps its own.
    expect((await send(request('GET', '/api//v1/tokens/self', 'localhost', auth))).status).toBe(404)
    const task = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 't', assignedTo: 'ops//night' } })
    const found = await send(request('GET', '//api/v1/tasks?assignedTo=ops//night', 'localhost', auth))
    expect((JSON.parse(found.body) as { id: string }[]).map((x) => x.id)).toEqual([task.body.id])
  })

  test('HTTP/1.0 without Host (what HAProxy `option httpchk` sends): the health checks answer 200', async () => {
    const live = await send('GET /api/health HTTP/1.0\r\n\r\n')
    expect(live.status).toBe(200)
    expect(live.body).toContain('"status":"ok"')
    const ready = await send('GET /api/health/ready HTTP/1.0\r\n\r\n')
    expect(ready.status).toBe(200)
    expect(ready.body).toContain('"status":"ready"')
  })

  // No Host (HTTP/1.0): answered as if sent to http://localhost. A Host that is not a host is refused (below).
  const hosts: (string | null)[] = [null]
  test.each(hosts)('Host %p: the path sent is the path routed and logged, never one with its first segment taken for a host', async (host) => {
    const a = await makeActor(t, { role: 'admin' })
    const before = t.logs.length
    const self = await send(request('GET', '/api/v1/tokens/self', host, `Authorization: Bearer ${a.token}\r\n`))
    expect(self.status).toBe(200)
    expect(JSON.parse(self.body).token.id).toBe(a.tokenId)
    const prefixed = await send(request('GET', '/a/bcdefgh/api/v1/tokens/self', host, `Authorization: Bearer ${a.token}\r\n`))
    expect(prefixed.status).toBe(404)
    expect(JSON.parse(prefixed.body).message).toContain('No route GET /a/bcdefgh/api/v1/tokens/self')
    expect((await accessLine(before, '/a/bcdefgh/api/v1/tokens/self'))?.status).toBe(404)
  })

  test.each(hosts)('Host %p: what reads the request URL (paging links, idempotency, the docs, CLI sign-in) answers, never a 500', async (host) => {
    const a = await makeActor(t, { role: 'admin' })
    for (let i = 0; i < 2; i++) expect((await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: `task ${i}` } })).status).toBe(201)
    const auth = `Authorization: Bearer ${a.token}\r\n`
    const before = t.logs.length
    const list = await send(request('GET', '/api/v1/tasks?limit=1', host, auth))
    expect(list.status).toBe(200)
    expect(list.head).toMatch(/\r\nlink: <\/api\/v1\/tasks\?limit=1&cursor=[^>]+>; rel="next"/i)
    const created = await send(request('POST', '/api/v1/tasks', host, `${auth}Content-Type: application/json\r\nIdempotency-Key: no-host-${host}\r\n`, '{"title":"once"}'))
    expect(created.status).toBe(201)
    const docs = await send(request('GET', '/swagger/json', host))
    expect(docs.status).toBe(200)
    expect(JSON.parse(docs.body).servers[0].url).toBe('http://localhost')
    const login = await send(request('POST', '/api/auth/cli/initiate', host))
    expect(login.status).toBe(200)
    expect(JSON.parse(login.body).authUrl).toStartWith('http://localhost/cli/authorize/')
    expect(t.logs.slice(before).join('\n')).not.toContain('unhandled_error')
  })

  // RFC 9112 §3.2: 400 for a Host that is not `host[:port]`, or sent twice. Taken before, Bun's URL
  // said http://localhost (the CLI sign-in URL and Swagger's servers named port 80) while the
  // console built its links from the header itself (`http://a/b/setup/…`, `http://a, b/…`).
  test.each([
    ['a path', 'a/b'],
    ['a port that is not a number', 'a:b'],
    ['an unclosed IPv6 literal', '[::1'],
    ['an IPv6 literal that is not an address', '[1:2]'],
    ['a name ending in a number that is no IPv4 address', '1.2.3.4.5'],
    ['a port over 65535', 'example.com:65536'],
    ['an empty port', 'example.com:'],
    ['a user', 'user@example.com'],
    ['a space', 'a b'],
    ['a percent-escape', '%41.example'],
    ['an empty value', ''],
    ['two Host headers (joined as a list)', 'a\r\nHost: b'],
  ])('Host with %s (%p): 400 bad_request, the JSON envelope, logged', async (_, host) => {
    const a = await makeActor(t, { role: 'admin' })
    const before = t.logs.length
    for (const path of ['/api/health', '/api/v1/tokens/self', '/swagger/json']) {
      const res = await send(request('GET', path, host, `Authorization: Bearer ${a.token}\r\n`))
      expect([path, res.status]).toEqual([path, 400])
      const body = JSON.parse(res.body)
      expect(body.code).toBe('bad_request')
      expect(body.message).toContain('Host header')
      expect(res.head).toMatch(/\r\nx-request-id: req_/i)
    }
    const login = await send(request('POST', '/api/auth/cli/initiate', host))
    expect(login.status).toBe(400)
    expect(login.body).not.toContain('authUrl')
    expect((await accessLine(before, '/api/v1/tokens/self'))?.status).toBe(400)
  })

  test.each(['example.com', 'Example.COM:8080', 'example.com.', 'teamday_app:3000', '127.0.0.1:3000', '[::1]:3000', '[2001:db8::1]', 'localhost:65535'])('Host %p is a host: answered', async (host) => {
    const res = await send(request('GET', '/swagger/json', host))
    expect(res.status).toBe(200)
    expect(JSON.parse(res.body).servers[0].url).toBe(`http://${host.toLowerCase().replace(/\.$/, '.')}`)
  })
})

describe("request lines Bun's HTTP parser answers itself, and those it passes on (README, Request limits: Malformed HTTP)", () => {
  /** One raw request on a connection of its own: what came back, whole (nothing: an empty string). */
  const exchange = (request: string) => rawExchange(request, { lenient: true })
  const headers = 'Host: 127.0.0.1\r\nConnection: close\r\n\r\n'

  // Bun.serve has no hook for its parser's refusals (its `error` handler and Elysia's onError see
  // only what reaches the app): these get Bun's bare answer, no envelope, no request id, no
  // access-log line. Should a Bun upgrade pass any of them on, this fails: check that the app's
  // answer is then its JSON envelope, and update README.
  test.each([
    ['the asterisk form (OPTIONS *)', 'OPTIONS * HTTP/1.1', 400],
    ['the asterisk form (GET *)', 'GET * HTTP/1.1', 400],
    ['a target that is neither a path nor an http(s) URL', 'GET api/health HTTP/1.1', 400],
    ['a URL of another scheme', 'GET ftp://127.0.0.1/api/health HTTP/1.1', 400],
    ['an empty target (two spaces)', 'GET  /api/health HTTP/1.1', 400],
    ['a blank line before the request line', '\r\nGET /api/health HTTP/1.1', 400],
    ['a space inside the target', 'GET /api/he alth HTTP/1.1', 505],
    ['a control character in the target', 'GET /api/health\x01 HTTP/1.1', 505],
    ['no HTTP version', 'GET /api/health', 505],
  ])("%s: Bun's empty %d", async (_, line, status) => {
    const before = t.logs.length
    const answer = await exchange(`${line}\r\n${headers}`)
    expect(answer).toBe(`HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : 'HTTP Version Not Supported'}\r\nConnection: close\r\n\r\n`)
    await Bun.sleep(20)
    expect(t.logs.slice(before).filter((l) => l.includes('"msg":"request"'))).toEqual([])
  })

  test('a method in lower case: Bun closes the connection without an answer', async () => {
    expect(await exchange(`get /api/health HTTP/1.1\r\n${headers}`)).toBe('')
  })

  /** The status, headers and parsed body of an answer. */
  const parsed = (text: string) => {
    const end = text.indexOf('\r\n\r\n')
    return { status: Number(text.split(' ')[1]), head: text.slice(0, end), body: JSON.parse(text.slice(end + 4)) as { code?: string; requestId?: string; status?: string } }
  }

  test("CONNECT's authority form and absolute URLs reach the app: its answer, the JSON envelope on errors", async () => {
    for (const target of ['127.0.0.1:443', '[::1]:443', 'a:b:c', '*']) {
      const res = parsed(await exchange(`CONNECT ${target} HTTP/1.1\r\n${headers}`))
      expect({ target, status: res.status, code: res.body.code }).toEqual({ target, status: 404, code: 'route_not_found' })
      expect(res.head).toMatch(new RegExp(`\r\nx-request-id: ${res.body.requestId}\r\n`, 'i'))
    }
    const health = parsed(await exchange(`GET http://example.com/api/health HTTP/1.1\r\n${headers}`))
    expect({ status: health.status, body: health.body.status }).toEqual({ status: 200, body: 'ok' })
    const missing = parsed(await exchange(`GET https://example.com/api/v1/no-such-thing HTTP/1.1\r\n${headers}`))
    expect({ status: missing.status, code: missing.body.code }).toEqual({ status: 404, code: 'route_not_found' })
  })
})

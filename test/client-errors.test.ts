import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import type { ClientIo } from '../src/cli/client/common'
import { run } from '../src/main'
import { generateToken } from '../src/auth/tokens'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { sqliteOnly } from './helpers/pg'

/**
 * The client as cron and CI see it when something goes wrong (issue 13): with --json a failure
 * still prints JSON on stdout (the API's error body, or an object of the same shape for a
 * failure on this side) so that `jq .code` works, while the text stays on stderr; a URL that
 * points at something other than teamday says so instead of "not found"; tokens in a rotation's
 * grace period list as `revoking`, with when.
 */

let t: TestApp
let server: Server<unknown>
let other: Server<unknown>
let base: string
let admin: Actor
let brokenHits = 0

beforeAll(async () => {
  t = await makeTestApp()
  t.clock.ms = Date.now()
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (req) => t.app.handle(req) })
  base = `http://127.0.0.1:${server.port}`
  admin = await makeActor(t, { role: 'admin' })
  // Not teamday: a web server with its own 404 page, a JSON API with another error shape, a redirect, a 200 page.
  other = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req) {
      const path = new URL(req.url).pathname
      if (path.startsWith('/json')) return Response.json({ error: 'Not Found', status: 404 }, { status: 404 })
      if (path.startsWith('/moved')) return new Response(null, { status: 301, headers: { location: 'https://teamday.example.com/' } })
      // A redirect to the same request on another server (the whole API path in its target).
      if (path.startsWith('/elsewhere')) return new Response(null, { status: 308, headers: { location: `https://teamday.example.com/base${path.slice('/elsewhere'.length)}?limit=50` } })
      // An answer that begins and breaks off: headers, part of the body, then the connection drops.
      if (path.startsWith('/broken')) {
        brokenHits++
        const sse = path.endsWith('/execute')
        const body = new ReadableStream<Uint8Array>({
          async start(c) {
            c.enqueue(new TextEncoder().encode(sse ? 'event: message\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Hel"}}\n\n' : '{"success":true,"agents":[{"id":"char_'))
            await Bun.sleep(20)
            c.error(new Error('connection dropped'))
          },
        })
        return new Response(body, { headers: sse ? { 'content-type': 'text/event-stream', 'x-execution-id': 'exec_brokenOff12345678901' } : { 'content-type': 'application/json' } })
      }
      // A debugging proxy that echoes the request's Authorization header back in a teamday-shaped error.
      if (path.startsWith('/echo')) return Response.json({ error: true, statusCode: 500, code: 'internal_error', message: `you sent ${req.headers.get('authorization')}` }, { status: 500 })
      if (path.startsWith('/page')) return new Response('<html>welcome</html>', { headers: { 'content-type': 'text/html' } })
      // JSON of another shape with 200: a health check without a version, lists that are not lists.
      if (path.startsWith('/odd')) return Response.json(path.endsWith('/api/health') ? { status: 'ok' } : { agents: 'notarray', tasks: [] })
      // JSON that passes for a list or an object at a glance: items that are not objects, an empty object.
      if (path.startsWith('/hollow')) return Response.json(path.endsWith('/tasks') ? [null] : path.endsWith('/agents') ? { agents: [1, 2, 3] } : {})
      return new Response('<html><h1>404 Not Found</h1></html>', { status: 404, headers: { 'content-type': 'text/html' } })
    },
  })
}, 60_000)

afterAll(() => {
  server.stop(true)
  other.stop(true)
})

async function cli(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = []
  const err: string[] = []
  const io: ClientIo = { out: (s) => out.push(s + '\n'), err: (s) => err.push(s + '\n'), write: (s) => out.push(s), env: { TEAMDAY_URL: base, TEAMDAY_TOKEN: admin.token, ...env } }
  const code = await run(argv, io)
  const r = { code, out: out.join(''), err: err.join(''), json: undefined as any }
  expect(r.out + r.err).not.toContain(admin.token)
  try {
    r.json = JSON.parse(r.out)
  } catch {}
  return r
}

describe('--json on failure: JSON on stdout, text on stderr', () => {
  test('an API error: its error body as it came', async () => {
    const r = await cli(['agents', 'get', 'char_missing', '--json'])
    expect(r.code).toBe(4)
    expect(r.json).toMatchObject({ error: true, statusCode: 404, code: 'not_found' })
    expect(r.json.requestId).toMatch(/^req_/)
    expect(r.err).toStartWith('error: ')
    const api = await t.req('GET', '/api/v1/agents/char_missing', { token: admin.token })
    expect(Object.keys(r.json).sort()).toEqual(Object.keys(api.body).sort())
    // One line (after `--stream --json`'s one object a line, the failure is one more line).
    expect(r.out.trimEnd().split('\n')).toHaveLength(1)
  })

  test('an authentication failure: the 401 body', async () => {
    const r = await cli(['agents', 'list', '--json'], { TEAMDAY_TOKEN: 'td_' + 'A'.repeat(43) })
    expect(r.code).toBe(3)
    expect(r.json.code).toMatch(/^(invalid_token|invalid_token_checksum)$/)
  })

  test('a connection failure: a JSON error object with code connection_failed and the exit code', async () => {
    const r = await cli(['agents', 'list', '--json', '--retries', '0', '--url', 'http://127.0.0.1:9'])
    expect(r.code).toBe(5)
    expect(r.json).toEqual({ error: true, code: 'connection_failed', message: expect.stringContaining('cannot reach the server at http://127.0.0.1:9'), exitCode: 5 })
    expect(r.err).toContain('cannot reach the server')
  })

  test('failures on this side: no token, a usage error, an unknown option', async () => {
    const noToken = await cli(['agents', 'list', '--json'], { TEAMDAY_TOKEN: '' })
    expect(noToken.code).toBe(3)
    expect(noToken.json).toMatchObject({ error: true, code: 'no_token', exitCode: 3 })
    const usage = await cli(['agents', 'list', '--json', '--limit', 'lots'])
    expect(usage.code).toBe(2)
    expect(usage.json).toMatchObject({ error: true, code: 'usage', message: '--limit must be a whole number 1-200', exitCode: 2 })
    const unknown = await cli(['agents', 'list', '--json', '--limt', '3'])
    expect(unknown.code).toBe(2)
    expect(unknown.json.message).toBe('unknown option --limt for "teamday agents list"; did you mean "--limit"? See "teamday help agents".')
    // Without --json nothing goes to stdout.
    expect((await cli(['agents', 'get', 'char_missing'])).out).toBe('')
  })

  // The admin CLI opens a SQLite file in this process, which binds the process's tables to SQLite
  // (one dialect per process: src/db/schema/index.ts); on the PostgreSQL pass that would switch the rest of the file.
  test.skipIf(sqliteOnly('runs the admin CLI on a SQLite file in-process'))('a failed admin command with --json: the service error code', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { join } = await import('node:path')
    const dir = mkdtempSync(join(require('node:os').tmpdir(), 'teamday-json-'))
    try {
      const db = join(dir, 't.db')
      const r = await cli(['tokens', 'list', '--email', 'ghost@example.com', '--json', '--db', db])
      expect(r.code).toBe(1)
      expect(r.json).toMatchObject({ error: true, code: 'failed', exitCode: 1 })
      expect(r.json.message).toContain(`no database at ${db}`)
      await cli(['users', 'create', '--email', 'a@b.co', '--org', 'acme', '--db', db])
      const ghost = await cli(['tokens', 'list', '--email', 'ghost@example.com', '--json', '--db', db])
      expect(ghost.json).toMatchObject({ error: true, code: 'not_found', exitCode: 1 })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('a URL that is not a teamday server', () => {
  const otherBase = () => `http://127.0.0.1:${other.port}`
  for (const [what, path] of [
    ['an HTML 404 page', ''],
    ['another JSON error shape', '/json'],
  ] as const) {
    test(`${what}: "this does not look like a teamday server", exit 5, not "not found"`, async () => {
      const r = await cli(['agents', 'get', 'char_x', '--json'], { TEAMDAY_URL: otherBase() + path })
      expect(r.code).toBe(5)
      expect(r.err).toStartWith(`error: ${otherBase()}${path} answered HTTP 404 without a teamday error body: this does not look like a teamday server\n`)
      expect(r.err).toContain('Check --url / TEAMDAY_URL')
      expect(r.json).toMatchObject({ error: true, code: 'not_teamday', exitCode: 5 })
    })
  }

  test('a redirect names where it goes', async () => {
    const r = await cli(['agents', 'list'], { TEAMDAY_URL: `http://127.0.0.1:${other.port}/moved` })
    expect(r.code).toBe(5)
    expect(r.err).toContain('answered HTTP 301 with a redirect to https://teamday.example.com/: this does not look like a teamday server')
    expect(r.err).toContain('If teamday is at https://teamday.example.com/, use that URL.')
  })

  test('a 200 web page, and health', async () => {
    const r = await cli(['agents', 'list', '--json'], { TEAMDAY_URL: `http://127.0.0.1:${other.port}/page` })
    expect(r.code).toBe(5)
    expect(r.json).toMatchObject({ error: true, code: 'not_teamday' })
    expect(r.err).toContain('answered HTTP 200 with a body that is not JSON: this does not look like a teamday server')
    const h = await cli(['health', '--json'], { TEAMDAY_URL: `http://127.0.0.1:${other.port}/page` })
    expect(h.code).toBe(5)
    expect(h.json.code).toBe('not_teamday')
  })

  test('a 200 JSON answer of another shape (a list that is a string, a health without a version): exit 5, nothing rendered', async () => {
    const odd = `http://127.0.0.1:${other.port}/odd`
    const notTeamday = 'this is not what a teamday (or TeamDay) server sends'
    const agents = await cli(['agents', 'list'], { TEAMDAY_URL: odd })
    expect(agents.code).toBe(5)
    expect(agents.err).toStartWith(`error: ${odd} answered HTTP 200 with "agents" that is not a list of objects: ${notTeamday}\n`)
    expect(agents.err).toContain('Check --url / TEAMDAY_URL')
    expect(agents.out).toBe('')
    const json = await cli(['agents', 'list', '--json'], { TEAMDAY_URL: odd })
    expect(json.code).toBe(5)
    expect(json.json).toMatchObject({ error: true, code: 'not_teamday', exitCode: 5 })
    const tasks = await cli(['tasks', 'list'], { TEAMDAY_URL: odd })
    expect(tasks.code).toBe(5)
    expect(tasks.err).toContain(`answered HTTP 200 with a body that is not a list: ${notTeamday}`)
    const health = await cli(['health'], { TEAMDAY_URL: odd })
    expect(health.code).toBe(5)
    expect(health.err).toContain(`answered HTTP 200 with "version" missing: ${notTeamday}`)
    expect(health.out).not.toContain('undefined')
    // The real server passes the same checks.
    expect((await cli(['agents', 'list'])).code).toBe(0)
    expect((await cli(['tasks', 'list'])).code).toBe(0)
    expect((await cli(['health'])).out).toMatch(/^ok: teamday \S+ at /)
  })

  test('a redirect to the same request elsewhere: the hint names the server, not the whole API path', async () => {
    const r = await cli(['agents', 'list'], { TEAMDAY_URL: `http://127.0.0.1:${other.port}/elsewhere` })
    expect(r.code).toBe(5)
    expect(r.err).toContain('If teamday is at https://teamday.example.com/base, use that URL.')
  })

  test('teamday behind a path it does not have (--url http://host/foo): exit 5 saying the URL is wrong, health included, not 4 "not found"', async () => {
    for (const argv of [['agents', 'get', 'char_x', '--json'], ['health', '--json']]) {
      const r = await cli(argv, { TEAMDAY_URL: `${base}/foo` })
      expect([argv[0], r.code]).toEqual([argv[0], 5])
      expect(r.err).toContain('has no route for this request')
      expect(r.err).toContain('without a path in front of its routes')
      expect(r.json).toMatchObject({ error: true, code: 'route_not_found' })
    }
  })

  test("a token pasted in the wrong place of a command line: the error quoting it redacts its 43 characters without td_, and a near miss, on stderr and in --json", async () => {
    const body = generateToken().slice(3)
    // Mistyped early as punctuation: fewer than 16 token characters after the prefix.
    const near = `td_${body.slice(0, 5)}.${body.slice(6)}`
    for (const argv of [['agents', 'list', `--${body}`, '--json'], [`agentz${body}`, '--json'], ['agents', 'list', `--${near}`, '--json']]) {
      const r = await cli(argv)
      expect(r.code).toBe(2)
      expect(r.err).toContain('[redacted]')
      expect(r.out).toContain('[redacted]')
      expect(r.out + r.err).not.toContain(body.slice(6, 30))
    }
  })

  test('a server that echoes the request back: the token is redacted from the message and the JSON (cli() checks both)', async () => {
    const r = await cli(['agents', 'list', '--json', '--retries', '0'], { TEAMDAY_URL: `http://127.0.0.1:${other.port}/echo` })
    expect(r.code).toBe(5)
    expect(r.err).toContain('you sent Bearer td_…[redacted]')
    expect(r.json.message).toContain('td_…[redacted]')
  })

  test('an answer that breaks off: exit 5 connection_failed, retried when safe (a GET), never a raw runtime error', async () => {
    brokenHits = 0
    const r = await cli(['agents', 'list', '--json', '--retries', '1'], { TEAMDAY_URL: `http://127.0.0.1:${other.port}/broken` })
    expect([r.code, r.json?.code, brokenHits]).toEqual([5, 'connection_failed', 2])
    expect(r.err).toContain('broke off')
    // A stream: exit 5 with the run's id, which may go on.
    const s = await cli(['agents', 'execute', 'bot', '--message', 'hi', '--stream'], { TEAMDAY_URL: `http://127.0.0.1:${other.port}/broken` })
    expect(s.code).toBe(5)
    expect(s.out).toStartWith('Hel')
    expect(s.err).toContain('the stream broke off (execution exec_brokenOff12345678901)')
    expect(s.err).toContain('teamday executions get exec_brokenOff12345678901')
  })

  test('lists of things that are not objects, and empty objects: exit 5 not_teamday, no table of dashes, no crash', async () => {
    const hollow = `http://127.0.0.1:${other.port}/hollow`
    for (const argv of [['tasks', 'list'], ['agents', 'list'], ['whoami'], ['agents', 'execute', 'bot', '--message', 'hi']]) {
      const r = await cli([...argv, '--json'], { TEAMDAY_URL: hollow })
      expect([argv.join(' '), r.code, r.json?.code]).toEqual([argv.join(' '), 5, 'not_teamday'])
      expect(r.err).toContain('this is not what a teamday (or TeamDay) server sends')
    }
  })

  test('a real teamday 404 is still "not found", exit 4', async () => {
    const r = await cli(['agents', 'get', 'char_x'])
    expect(r.code).toBe(4)
    expect(r.err).not.toContain('does not look like')
  })
})

describe('texts', () => {
  test('a token in its rotation grace period lists as revoking, with when', async () => {
    const made = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'old' } })
    const rotated = await t.req('POST', `/api/v1/tokens/${made.body.id}/rotate`, { token: admin.token, body: { gracePeriodSeconds: 3600 } })
    expect(rotated.status).toBe(201)
    const r = await cli(['tokens', 'list'])
    expect(r.code).toBe(0)
    const header = r.out.split('\n')[0]!
    expect(header).toContain('REVOKEDAT')
    const line = r.out.split('\n').find((l) => l.startsWith(made.body.id))!
    expect(line).toContain(' revoking ')
    expect(line).toContain(rotated.body.previousTokenRevokedAt)
    // The API itself is unchanged: still active until then.
    const json = await cli(['tokens', 'list', '--json'])
    expect(json.json.tokens.find((x: any) => x.id === made.body.id).status).toBe('active')
  })
})

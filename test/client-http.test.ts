import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ClientIo } from '../src/cli/client/common'
import { tokenFileWarning } from '../src/client/config'
import { ApiClient } from '../src/client/http'
import { retryAfterMs as parseRetryAfter } from '../src/retry-after'
import { run } from '../src/main'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'

/**
 * The client's HTTP behaviour: exit codes 0-5, retries (429 + Retry-After, 503, connection
 * errors) with the Idempotency-Key on retried POSTs, the token-expiry warning, token sources
 * and the refusal of tokens as arguments. The server is the app behind a scriptable proxy.
 */

/** The README, its white space collapsed: the warnings it quotes as the client prints them. */
const README = readFileSync(join(import.meta.dir, '..', 'README.md'), 'utf8').replace(/\s+/g, ' ')

let t: TestApp
let server: Server<unknown>
let base: string
let admin: Actor
let viewer: Actor
let dir: string

/** Canned answers for the next requests (then the app answers), and every request seen. */
const queue: { status: number; headers?: Record<string, string>; body?: string }[] = []
const seen: { method: string; path: string; headers: Headers }[] = []

beforeAll(async () => {
  t = await makeTestApp()
  t.clock.ms = Date.now()
  server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(req) {
      seen.push({ method: req.method, path: new URL(req.url).pathname, headers: req.headers })
      const canned = queue.shift()
      if (canned) return new Response(canned.body ?? '', { status: canned.status, headers: canned.headers })
      return t.app.handle(req)
    },
  })
  base = `http://127.0.0.1:${server.port}`
  admin = await makeActor(t, { role: 'admin' })
  viewer = await makeActor(t, { role: 'viewer' })
  dir = mkdtempSync(join(tmpdir(), 'teamday-client-'))
}, 60_000)

afterAll(() => {
  server.stop(true)
  rmSync(dir, { recursive: true, force: true })
})

async function cli(argv: string[], env: Record<string, string> = { TEAMDAY_URL: base, TEAMDAY_TOKEN: admin.token }, secrets: string[] = []) {
  const out: string[] = []
  const err: string[] = []
  const io: ClientIo = { out: (s) => out.push(s + '\n'), err: (s) => err.push(s + '\n'), write: (s) => out.push(s), env }
  seen.length = 0
  const code = await run(argv, io)
  const r = { code, out: out.join(''), err: err.join('') }
  for (const s of [admin.token, viewer.token, ...secrets]) {
    expect(r.out).not.toContain(s)
    expect(r.err).not.toContain(s)
  }
  return r
}

describe('exit codes', () => {
  test('0: ok', async () => {
    expect((await cli(['whoami'])).code).toBe(0)
  })

  test('1: the operation failed (a conflict)', async () => {
    const created = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'x' } })
    await t.req('DELETE', `/api/v1/tokens/${created.body.id}`, { token: admin.token })
    const r = await cli(['tokens', 'rotate', created.body.id])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/^error: /)
  })

  test('2: usage (unknown command, unknown flag, bad value, invalid input rejected by the server)', async () => {
    for (const argv of [['agents', 'frob'], ['agents', 'list', '--colour']]) {
      const r = await cli(argv)
      expect(r.code).toBe(2)
      expect(r.err).toMatch(/^error: unknown .*See "teamday help agents"\.\n$/)
    }
    for (const argv of [['agents', 'list', '--limit', 'lots'], ['agents', 'list', '--retries', '99']]) {
      const r = await cli(argv)
      expect(r.code).toBe(2)
      expect(r.err).toContain('usage:')
    }
    const invalid = await cli(['agents', 'create', '--name', 'x', '--visibility', 'everyone'])
    expect(invalid.code).toBe(2)
    expect(invalid.err).toContain('Validation failed')
  })

  test('3: no token configured says how to set TEAMDAY_TOKEN and create one', async () => {
    const r = await cli(['agents', 'list'], { TEAMDAY_URL: base })
    expect(r.code).toBe(3)
    expect(r.err).toContain('no token configured')
    expect(r.err).toContain('TEAMDAY_TOKEN')
    expect(r.err).toMatch(/Create a new token/i)
    expect(seen).toHaveLength(0)
  })

  test('3: an invalid token prints the server message and how to create a new token', async () => {
    const bogus = `td_${'A'.repeat(43)}`
    const r = await cli(['agents', 'list'], { TEAMDAY_URL: base, TEAMDAY_TOKEN: bogus }, [bogus])
    expect(r.code).toBe(3)
    expect(r.err).toMatch(/Invalid|token/)
    expect(r.err).toContain('Create a new token')
  })

  test('3: forbidden (role) and insufficient scope', async () => {
    const r = await cli(['agents', 'create', '--name', 'x'], { TEAMDAY_URL: base, TEAMDAY_TOKEN: viewer.token })
    expect(r.code).toBe(3)
    expect(r.err).toContain('Forbidden')
    const scoped = await makeToken(t, admin, { scopes: ['agents:read'] })
    const s = await cli(['tasks', 'create', '--title', 'x'], { TEAMDAY_URL: base, TEAMDAY_TOKEN: scoped.token }, [scoped.token])
    expect(s.code).toBe(3)
    expect(s.err).toContain('tasks:write')
    expect(s.err).toContain('--scopes')
  })

  test('4: not found', async () => {
    const r = await cli(['agents', 'get', 'char_doesnotexist'])
    expect(r.code).toBe(4)
    expect(r.err).toContain('not found')
  })

  test('5: server error and unreachable server', async () => {
    queue.push({ status: 500, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: true, statusCode: 500, code: 'internal_error', message: 'boom', requestId: 'req_x' }) })
    const r = await cli(['whoami'])
    expect(r.code).toBe(5)
    expect(r.err).toContain('boom (request req_x)')
    const down = await cli(['whoami', '--retries', '0', '--url', 'http://127.0.0.1:9'])
    expect(down.code).toBe(5)
    expect(down.err).toContain('cannot reach the server at http://127.0.0.1:9')
  })
})

describe('retries', () => {
  test('429 with Retry-After, then 200: waits, retries the POST with the same Idempotency-Key, one task created', async () => {
    queue.push({ status: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: '{"error":true,"code":"rate_limited","message":"Too many requests"}' })
    const before = Number((await t.req('GET', '/api/v1/tasks', { token: admin.token })).headers.get('x-total-count'))
    const started = Date.now()
    const r = await cli(['tasks', 'create', '--title', 'once', '--json'])
    expect(r.code).toBe(0)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
    expect(r.err).toContain('HTTP 429; retrying in 1.')
    expect(seen.map((s) => s.method)).toEqual(['POST', 'POST'])
    const keys = seen.map((s) => s.headers.get('idempotency-key'))
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/)
    expect(keys[1]).toBe(keys[0])
    expect(Number((await t.req('GET', '/api/v1/tasks', { token: admin.token })).headers.get('x-total-count'))).toBe(before + 1)
    expect(JSON.parse(r.out).title).toBe('once')
  })

  test('a replayed POST (first answer lost) creates nothing twice', async () => {
    const key = crypto.randomUUID()
    const client = new ApiClient({ baseUrl: base, token: admin.token, tokenSource: 'test', retries: 0, warn: () => {} })
    const a = await client.request('POST', '/api/v1/tasks', { body: { title: 'dup' }, headers: { 'idempotency-key': key }, expect: { id: 'string' } })
    const b = await client.request('POST', '/api/v1/tasks', { body: { title: 'dup' }, headers: { 'idempotency-key': key }, expect: { id: 'string' } })
    expect(b.body.id).toBe(a.body.id)
    expect(b.headers.get('idempotency-status')).toBe('replayed')
  })

  test('503 then 502 (from a proxy) then 200 on a GET, with backoff', async () => {
    queue.push({ status: 503 }, { status: 502, body: '<html>bad gateway</html>' })
    const r = await cli(['whoami'])
    expect(r.code).toBe(0)
    expect(seen).toHaveLength(3)
    expect(r.err).toContain('HTTP 503; retrying')
    expect(r.err).toContain('HTTP 502; retrying')
  })

  test('--retries 0: no retry, the 429 is reported with exit 5', async () => {
    queue.push({ status: 429, headers: { 'retry-after': '1' } })
    const r = await cli(['whoami', '--retries', '0'])
    expect(r.code).toBe(5)
    expect(seen).toHaveLength(1)
    queue.length = 0
  })

  test("the address's failed-authentications 429 is not retried (the same credential would count again): exit 3, the server's message", async () => {
    queue.push({ status: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: JSON.stringify({ error: true, code: 'rate_limited', message: 'Too many failed authentication attempts from your address: the limit is 20 per 60 s. Retry in 1 s.', details: { retryAfterSeconds: 1, reason: 'failed_authentications' } }) })
    const r = await cli(['whoami'])
    expect(r.code).toBe(3)
    expect(seen).toHaveLength(1)
    expect(r.err).not.toContain('retrying')
    expect(r.err).toContain('Too many failed authentication attempts')
    queue.length = 0
  })

  test('gives up after --retries attempts', async () => {
    queue.push({ status: 503 }, { status: 503 }, { status: 503 })
    const r = await cli(['whoami', '--retries', '2'])
    expect(r.code).toBe(5)
    expect(seen).toHaveLength(3)
  })

  test('a Retry-After beyond two minutes is not waited for', async () => {
    queue.push({ status: 429, headers: { 'retry-after': '3600' } })
    const r = await cli(['whoami'])
    expect(r.code).toBe(5)
    expect(r.err).toContain('retry after 3600 s')
    expect(seen).toHaveLength(1)
  })

  test('connection errors are retried (GET), then reported', async () => {
    const sleeps: number[] = []
    const client = new ApiClient({ baseUrl: 'http://127.0.0.1:9', token: admin.token, tokenSource: 'test', retries: 3, warn: () => {}, sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 })
    await expect(client.request('GET', '/api/v1/tokens/self', { expect: { token: 'object' } })).rejects.toMatchObject({ kind: 'server' })
    // Exponential with jitter in [50%, 100%] of 0.5 s, 1 s, 2 s.
    expect(sleeps).toEqual([375, 750, 1500])
  })

  test('answers that break off and 503s share one budget: at most --retries retries in all', async () => {
    // A server that answers 503 three times, then a 200 whose body breaks off, and again: each
    // broken answer gave the request its whole budget anew (--retries 3: 16 requests; 10: 121).
    for (const retries of [0, 1, 3, 10]) {
      let calls = 0
      const warnings: string[] = []
      const fake = (async () => {
        calls++
        if (calls % 4 !== 0) return new Response('', { status: 503 })
        const body = new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new TextEncoder().encode('{"token":'))
            c.error(new Error('connection reset'))
          },
        })
        return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } })
      }) as unknown as typeof fetch
      const client = new ApiClient({ baseUrl: base, token: admin.token, tokenSource: 'test', retries, warn: (l) => void warnings.push(l), fetch: fake, sleep: async () => {}, random: () => 0.5 })
      await expect(client.request('GET', '/api/v1/tokens/self', { expect: { token: 'object' } })).rejects.toMatchObject({ kind: 'server' })
      expect([retries, calls]).toEqual([retries, retries + 1])
      // The notices count up to the budget, across both kinds.
      expect(warnings.map((l) => /\((\d+)\/\d+\)$/.exec(l)?.[1])).toEqual(Array.from({ length: retries }, (_, i) => String(i + 1)))
    }
  })

  test('POSTs are retried only with an Idempotency-Key (the same on every attempt); none with --retries 0', async () => {
    const keys: (string | null)[] = []
    const fake = (async (_url: string, init: RequestInit) => {
      keys.push(new Headers(init.headers).get('idempotency-key'))
      return new Response('', { status: 503 })
    }) as unknown as typeof fetch
    const opts = { baseUrl: base, token: admin.token, tokenSource: 'test', warn: () => {}, fetch: fake, sleep: async () => {} }
    await expect(new ApiClient({ ...opts, retries: 2 }).request('POST', '/api/v1/tasks', { body: { title: 'x' }, expect: { id: 'string' } })).rejects.toMatchObject({ kind: 'server' })
    expect(keys).toHaveLength(3)
    expect(keys[0]).toBeTruthy()
    expect(new Set(keys).size).toBe(1)
    keys.length = 0
    await expect(new ApiClient({ ...opts, retries: 0 }).request('POST', '/api/v1/tasks', { body: { title: 'x' }, expect: { id: 'string' } })).rejects.toMatchObject({ kind: 'server' })
    expect(keys).toEqual([null])
  })

  test('an execution that ran and failed (502 bad_gateway from teamday) is not retried: exit 1', async () => {
    let calls = 0
    const fake = (async () => {
      calls++
      return Response.json({ error: true, statusCode: 502, code: 'bad_gateway', message: 'Execution exec_x failed: boom' }, { status: 502 })
    }) as unknown as typeof fetch
    const client = new ApiClient({ baseUrl: base, token: admin.token, tokenSource: 'test', retries: 3, warn: () => {}, fetch: fake, sleep: async () => {} })
    await expect(client.request('POST', '/api/v1/agents/char_x/execute', { body: { message: 'x' }, expect: { result: 'string' } })).rejects.toMatchObject({ kind: 'failed' })
    expect(calls).toBe(1)
  })

  // A run out of turns is a 422, and was read as a usage error (exit 2): it ran, and failed.
  test('an execution that used its turns without a final answer (422 max_turns_reached) failed: exit 1, not a usage error', async () => {
    let calls = 0
    const fake = (async () => {
      calls++
      return Response.json({ error: true, statusCode: 422, code: 'max_turns_reached', message: 'Execution exec_x failed: The run reached its turn limit (maxTurns = 2) without a final answer' }, { status: 422 })
    }) as unknown as typeof fetch
    const client = new ApiClient({ baseUrl: base, token: admin.token, tokenSource: 'test', retries: 3, warn: () => {}, fetch: fake, sleep: async () => {} })
    await expect(client.request('POST', '/api/v1/agents/char_x/execute', { body: { message: 'x' }, expect: { result: 'string' } })).rejects.toMatchObject({ kind: 'failed' })
    expect(calls).toBe(1)
  })

  test('parseRetryAfter: seconds and HTTP dates', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000)
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000)
    expect(parseRetryAfter('soon', 0)).toBeNull()
    expect(parseRetryAfter(null, 0)).toBeNull()
    expect(parseRetryAfter(' 1.5 ', 0)).toBe(1500)
    expect(parseRetryAfter(new Date(1_000).toUTCString(), 4_000)).toBe(0)
    // Negative or otherwise not delay-seconds: unreadable (it was read as the year -5: a wait of 0).
    for (const v of ['-5', '-0.5', '1e3', '12-2024']) expect(parseRetryAfter(v, Date.now())).toBeNull()
  })

  test('the wait is the server\'s Retry-After plus up to 250 ms of jitter; an unreadable or negative one is the normal back-off', async () => {
    for (const [header, expected] of [
      ['2', [2000 + 125]],
      ['-5', [375]],
      ['soon', [375]],
    ] as const) {
      const sleeps: number[] = []
      let calls = 0
      const fake = (async () => (calls++ === 0 ? new Response('', { status: 503, headers: { 'retry-after': header } }) : Response.json({ token: {} }))) as unknown as typeof fetch
      const client = new ApiClient({ baseUrl: base, token: admin.token, tokenSource: 'test', retries: 3, warn: () => {}, fetch: fake, sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 })
      await client.request('GET', '/api/v1/tokens/self', { expect: { token: 'object' } })
      expect([header, sleeps]).toEqual([header, [...expected]])
    }
  })
})

describe('token expiry warning', () => {
  /** A token of `days` days created `age` days ago (server clock), used now. */
  async function use(days: number, age: number) {
    t.clock.ms = Date.now() - age * 86_400_000
    const token = await makeToken(t, admin, { expiresInDays: days })
    t.clock.ms = Date.now()
    const r = await cli(['agents', 'list'], { TEAMDAY_URL: base, TEAMDAY_TOKEN: token.token }, [token.token])
    expect(r.code).toBe(0)
    return { ...r, id: token.id }
  }

  test('fewer than 7 days and under a quarter of its lifetime left: one warning naming the token; the command still succeeds', async () => {
    const r = await use(30, 25) // 5 days of 30 left
    expect(r.err).toStartWith(`warning: the token ${r.id} (TEAMDAY_TOKEN) expires in 4 days, on `)
    expect(r.err).toContain(`rotate it now (teamday tokens rotate ${r.id})`)
    // The README's Troubleshooting quotes it as printed (it left out the token's source).
    expect(README).toContain(`\`${r.err.split(', on ')[0]!.replace(r.id, 'pat_…').replace('in 4 days', 'in N days')}, on …\``)
    expect(r.err.match(/warning/g)).toHaveLength(1)
  })

  test('a 7-day token with 3 days left is not warned about (still 3/7 of its lifetime); with half a day left it is', async () => {
    expect((await use(7, 4)).err).toBe('')
    // Half a day, not one: at exactly a day left the wording ("less than a day" / "1 day") would
    // hang on the milliseconds between the token's creation and the command (flaky under load).
    const late = await use(7, 6.5)
    expect(late.err).toStartWith(`warning: the token ${late.id} (TEAMDAY_TOKEN) expires in less than a day`)
  })

  test('a token rotated with a grace period: warned of the end of that period, told to use its successor, never to rotate it again', async () => {
    t.clock.ms = Date.now()
    const token = await makeToken(t, admin, { expiresInDays: 90 })
    const rotated = await t.req('POST', `/api/v1/tokens/${token.id}/rotate`, { token: token.token, body: { gracePeriodSeconds: 3600 } })
    expect(rotated.status).toBe(201)
    const r = await cli(['agents', 'list'], { TEAMDAY_URL: base, TEAMDAY_TOKEN: token.token }, [token.token, rotated.body.token])
    expect(r.code).toBe(0)
    expect(r.err).toStartWith(`warning: the token ${token.id} (TEAMDAY_TOKEN) was rotated and stops working in less than a day, on ${rotated.body.previousTokenRevokedAt}`)
    expect(README).toContain(`\`${r.err.split(' in less than a day')[0]!.replace(token.id, 'pat_…')} in …\``)
    expect(r.err).not.toContain('teamday tokens rotate')
    expect(r.err.match(/warning/g)).toHaveLength(1)
  })

  test('a command that rotates or revokes its own token: the header it answers with (the grace period\'s end, or none) gives the right warning, or none', async () => {
    t.clock.ms = Date.now()
    const token = await makeToken(t, admin, { expiresInDays: 90, scopes: ['*'] })
    const rotated = await cli(['tokens', 'rotate', token.id, '--grace-period-seconds', '3600', '--json'], { TEAMDAY_URL: base, TEAMDAY_TOKEN: token.token }, [token.token])
    expect(rotated.code).toBe(0)
    const successor = JSON.parse(rotated.out)
    expect(rotated.err).toStartWith(`warning: the token ${token.id} (TEAMDAY_TOKEN) was rotated and stops working in less than a day, on ${successor.previousTokenRevokedAt}`)
    expect(rotated.err.match(/warning/g)).toHaveLength(1)
    const revoked = await cli(['tokens', 'revoke', successor.id, '--json'], { TEAMDAY_URL: base, TEAMDAY_TOKEN: successor.token }, [successor.token])
    expect([revoked.code, revoked.err]).toEqual([0, ''])
  })

  test('more than 7 days left: no warning, and no extra request', async () => {
    const r = await use(90, 60)
    expect(r.err).toBe('')
    expect(seen.map((s) => s.path)).toEqual(['/api/v1/agents'])
  })
})

describe('where the token comes from', () => {
  test('words that merely start with td_ are not mistaken for tokens', async () => {
    const r = await cli(['tasks', 'create', '--title', 'drop td_reports_table', '--json'])
    expect(r.code).toBe(0)
  })

  test('--token-file wins over TEAMDAY_TOKEN; errors name the file, never its content', async () => {
    const file = join(dir, 'token')
    writeFileSync(file, viewer.token + '\n')
    chmodSync(file, 0o600)
    const r = await cli(['whoami', '--json', '--token-file', file])
    expect(JSON.parse(r.out).token.id).toBe(viewer.tokenId)
    const missing = await cli(['whoami', '--token-file', join(dir, 'nope')])
    expect(missing.code).toBe(3)
    expect(missing.err).toContain('cannot read the token file')
  })

  test('a token file with white space inside the token (any that \\s matches): exit 3, the one-line rule, the token never printed', async () => {
    const file = join(dir, 'token-space')
    for (const space of [' ', '\t', '\n', '\u00a0', '\u2028', '\u3000', '\ufeff']) {
      writeFileSync(file, viewer.token.slice(0, 10) + space + viewer.token.slice(10) + '\n')
      chmodSync(file, 0o600)
      const r = await cli(['whoami', '--token-file', file])
      expect(r.code).toBe(3)
      expect(r.err).toBe(`error: the token file ${file} must hold only the token (one line, no spaces)\n`)
    }
  })

  test('a token file readable by its group or other users: a warning on stderr (like ssh), the command still runs', async () => {
    const file = join(dir, 'token-perm')
    writeFileSync(file, viewer.token + '\n')
    const run = async (mode: number) => {
      chmodSync(file, mode)
      return cli(['whoami', '--json', '--token-file', file])
    }
    for (const [mode, who] of [[0o644, 'its group and all users'], [0o640, 'its group'], [0o604, 'all users'], [0o660, 'its group']] as const) {
      const r = await run(mode)
      expect(r.code).toBe(0)
      expect(JSON.parse(r.out).token.id).toBe(viewer.tokenId)
      expect(r.err).toBe(`warning: the token file ${file} is accessible to ${who} (mode ${mode.toString(8).padStart(4, '0')}); anyone who can read it can use the token. Run: chmod 600 ${file}\n`)
    }
    for (const mode of [0o600, 0o400]) expect((await run(mode)).err).toBe('')
  })

  test('no such warning on Windows, which has no mode bits', () => {
    expect(tokenFileWarning('t', 0o100644, 'win32')).toBeNull()
    expect(tokenFileWarning('t', 0o100644, 'linux')).toContain('mode 0644')
    expect(tokenFileWarning('t', 0o100600, 'linux')).toBeNull()
  })

  const refused: [string, string[]][] = [
    ['--token td_…', ['agents', 'list', '--token', `td_${'B'.repeat(43)}`]],
    ['--token=td_…', ['agents', 'list', `--token=td_${'B'.repeat(43)}`]],
    ['a bare td_ positional', ['whoami', `td_${'B'.repeat(43)}`]],
    ['--token on an admin command', ['tokens', 'list', '--email', 'a@b.c', '--token', 'x']],
    ['a token inside a message', ['agents', 'execute', 'char_x', '--message', `use td_${'B'.repeat(43)} please`]],
  ]
  for (const [what, argv] of refused) {
    test(`${what}: exit 2, explains why and what to use; the value is not echoed`, async () => {
      const r = await cli(argv, { TEAMDAY_URL: base }, [`td_${'B'.repeat(43)}`])
      expect(r.code).toBe(2)
      expect(r.err).toContain('shell history')
      expect(r.err).toContain('TEAMDAY_TOKEN')
      expect(r.err).toContain('--token-file')
      expect(seen).toHaveLength(0)
    })
  }
})

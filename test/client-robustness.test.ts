import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test'
import type { Server } from 'bun'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ClientIo } from '../src/cli/client/common'
import { run } from '../src/main'

/**
 * The client against a scripted server (found from outside): tokens that cannot go in a header,
 * answers of the wrong shape, streams that stall, pages after a --json list, …
 */

const TOKEN = 'td_' + 'A'.repeat(43)
let server: Server<unknown>
let base: string
let hits = 0
/** What the scripted server answers next (path → Response); unset paths answer 404 teamday-style. */
let handler: (req: Request, path: string) => Response | Promise<Response> = () => new Response('{}')
const dir = join(tmpdir(), `teamday-robust-${process.pid}`)

beforeAll(() => {
  mkdirSync(dir, { recursive: true })
  server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    fetch(req) {
      hits++
      return handler(req, new URL(req.url).pathname)
    },
  })
  base = `http://127.0.0.1:${server.port}`
})

afterAll(() => {
  server.stop(true)
})

async function cli(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = []
  const err: string[] = []
  const io: ClientIo = { out: (s) => out.push(s + '\n'), err: (s) => err.push(s + '\n'), write: (s) => out.push(s), env: { TEAMDAY_URL: base, TEAMDAY_TOKEN: TOKEN, XDG_CONFIG_HOME: dir, ...env } }
  const code = await run(argv, io)
  const r = { code, out: out.join(''), err: err.join(''), json: undefined as any }
  expect(r.out + r.err).not.toContain(TOKEN)
  try {
    r.json = JSON.parse(r.out)
  } catch {}
  return r
}

describe('a token with a character no TeamDay token has', () => {
  test('exit 3 at once, no request, naming its source and the character, never the token', async () => {
    handler = () => Response.json([])
    hits = 0
    const zw = await cli(['tasks', 'list', '--retries', '3'], { TEAMDAY_TOKEN: TOKEN + '\u200b' })
    expect(zw.code).toBe(3)
    expect(zw.err).toContain('TEAMDAY_TOKEN')
    expect(zw.err).toContain('U+200B')
    expect(zw.err).toContain('never has')
    expect(zw.err).not.toContain('cannot reach')
    expect(zw.err).not.toContain('retrying')
    const api = await cli(['agents', 'list', '--json'], { TEAMDAY_TOKEN: '', TEAMDAY_API_TOKEN: 'td_ü' + 'A'.repeat(42) })
    expect(api.code).toBe(3)
    expect(api.json.code).toBe('token_invalid_character')
    expect(api.err).toContain('TEAMDAY_API_TOKEN')
    // Non-Latin-1 (Bun refused the header) and Latin-1 alike.
    const cjk = await cli(['whoami'], { TEAMDAY_TOKEN: TOKEN + '漢' })
    expect(cjk.code).toBe(3)
    // A token file ending in byte 0xff (not UTF-8).
    const file = join(dir, 'token-ff')
    writeFileSync(file, Buffer.concat([Buffer.from(TOKEN), Buffer.from([0xff])]))
    chmodSync(file, 0o600)
    const ff = await cli(['tasks', 'list', '--token-file', file])
    expect(ff.code).toBe(3)
    expect(ff.err).toContain(`--token-file ${file}`)
    expect(ff.err).toContain('never has')
    expect(hits).toBe(0)
  })
})

describe('BUN_CONFIG_VERBOSE_FETCH', () => {
  test('Bun prints no request of a client command: the token and a refresh token never show (bun src/main.ts)', async () => {
    handler = (req, path) => {
      if (path === '/api/auth/cli/refresh') return Response.json({ accessToken: 'tdo_' + 'N'.repeat(43), expiresAt: new Date(Date.now() + 900_000).toISOString() })
      return Response.json([], { headers: { 'x-total-count': '0' } })
    }
    const home = join(dir, 'verbose')
    mkdirSync(join(home, 'teamday'), { recursive: true, mode: 0o700 })
    const login = { accessToken: 'tdo_' + 'O'.repeat(43), refreshToken: 'tdr_' + 'R'.repeat(43), expiresAt: '2000-01-01T00:00:00.000Z', userId: 'u', organizationId: 'o', savedAt: '2000-01-01T00:00:00.000Z' }
    writeFileSync(join(home, 'teamday', 'credentials.json'), JSON.stringify({ version: 1, servers: { [base]: login } }), { mode: 0o600 })
    for (const [value, env] of [
      ['curl', { TEAMDAY_TOKEN: TOKEN }],
      ['1', { TEAMDAY_TOKEN: TOKEN }],
      ['curl', {}], // the stored login, refreshed first: the refresh body holds the refresh token
    ] as const) {
      // Asynchronous: the scripted server answers from this process.
      const p = Bun.spawn([process.execPath, 'src/main.ts', 'tasks', 'list'], {
        cwd: join(import.meta.dir, '..'),
        env: { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: home, TEAMDAY_URL: base, BUN_CONFIG_VERBOSE_FETCH: value, ...env },
        stdout: 'pipe',
        stderr: 'pipe',
      })
      const all = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text())
      expect(await p.exited).toBe(0)
      expect(all).toContain('no tasks')
      for (const secret of [TOKEN, 'O'.repeat(43), 'R'.repeat(43), 'N'.repeat(43)]) expect(all).not.toContain(secret)
      expect(all).not.toContain('curl')
    }
  }, 30_000)
})

describe('a 200 JSON answer of another shape (README: exit 5, not_teamday), for every command', () => {
  const commands: string[][] = [
    ['tasks', 'get', 'task_x'],
    ['tasks', 'create', '--title', 't'],
    ['tasks', 'update', 'task_x', '--title', 't'],
    ['agents', 'get', 'a'],
    ['agents', 'create', '--name', 'n'],
    ['agents', 'update', 'a', '--name', 'n'],
    ['agents', 'execute', 'a', '--message', 'm'],
    ['agents', 'execute', 'a', '--message', 'm', '--async'],
    ['agents', 'execute', 'a', '--message', 'm', '--wait'],
    ['spaces', 'get', 's'],
    ['spaces', 'create', '--name', 'n'],
    ['spaces', 'update', 's', '--name', 'n'],
    ['spaces', 'secrets', 'list', 's'],
    ['spaces', 'secrets', 'set', 's', 'K=v'],
    ['executions', 'get', 'e'],
    ['executions', 'tree', 'e'],
    ['executions', 'logs', 'e'],
    ['executions', 'cancel', 'e'],
    ['members', 'list'],
    ['members', 'add', '--email', 'a@b.c'],
    ['members', 'set-role', 'u', '--role', 'admin'],
    ['members', 'remove', 'u'],
    ['tokens', 'create', '--name', 'n'],
    ['tokens', 'revoke', 'pat_x'],
    ['tokens', 'rotate', 'pat_x'],
    ['tokens', 'list'],
    ['agents', 'list'],
    ['spaces', 'list'],
    ['audit', 'list'],
    ['whoami'],
    ['login', '--no-browser'],
  ]
  for (const [name, answer] of [
    ['[]', []],
    ['{}', {}],
    ['{"success":true}', { success: true }],
  ] as const) {
    test(`answered 200 ${name}: exit 5, not_teamday, never a runtime error or "undefined"`, async () => {
      handler = () => Response.json(answer)
      for (const argv of commands) {
        for (const json of [false, true]) {
          const r = await cli([...argv, ...(json ? ['--json'] : [])])
          const what = `${argv.join(' ')}${json ? ' --json' : ''}: ${r.code} ${r.out} ${r.err}`
          expect(what).toContain('not what a teamday')
          expect(r.code, what).toBe(5)
          expect(r.out + r.err, what).not.toContain('undefined')
          expect(r.out + r.err, what).not.toContain('evaluating')
          if (json) expect(r.json?.code, what).toBe('not_teamday')
        }
      }
    })
  }
  test('a DELETE answered with a list (not an object) is not "deleted"', async () => {
    handler = () => Response.json([])
    for (const argv of [['tasks', 'delete', 't'], ['agents', 'delete', 'a'], ['spaces', 'delete', 's'], ['spaces', 'secrets', 'delete', 's', 'K']]) {
      const r = await cli(argv)
      expect(r.code, argv.join(' ')).toBe(5)
    }
  })
})

/**
 * A bare HTTP/1.1 server on a TCP socket, one request per connection: `answer` gets the request
 * line ("POST /api/v1/… HTTP/1.1") and gives the raw response, or null to close the connection
 * without answering (a reset on the way, a proxy dropping the answer).
 */
function rawServer(answer: (line: string) => string | null) {
  return Bun.listen<{ done: boolean }>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(sock) {
        sock.data = { done: false }
      },
      data(sock, data) {
        if (sock.data.done) return
        sock.data.done = true
        const reply = answer(data.toString().split('\r\n')[0]!)
        if (reply !== null) sock.write(reply)
        sock.end()
      },
    },
  })
}

function httpJson(status: number, body: unknown): string {
  const text = JSON.stringify(body)
  return `HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`
}

describe('a --stream execute whose first answer was lost', () => {
  test('the retry is told the execution it started (409 idempotency_stream_started): followed to its end, its result printed, exit 0', async () => {
    let executes = 0
    const raw = rawServer((line) => {
      if (line.startsWith('POST /api/v1/agents/a/execute')) {
        // The first attempt started the run; its answer never arrived.
        if (executes++ === 0) return null
        return httpJson(409, { error: true, statusCode: 409, code: 'idempotency_stream_started', message: 'Idempotency-Key already used: that request started execution exec_lost1 as a stream', details: { executionId: 'exec_lost1' } })
      }
      if (line.startsWith('GET /api/v1/executions/exec_lost1 ')) return httpJson(200, { success: true, execution: { id: 'exec_lost1', status: 'completed', result: 'the answer', sessionId: 's1', tokensInput: 1, tokensOutput: 2 } })
      return httpJson(404, { error: true, statusCode: 404, code: 'route_not_found', message: 'no' })
    })
    try {
      const url = `http://127.0.0.1:${raw.port}`
      const r = await cli(['agents', 'execute', 'a', '--message', 'hi', '--stream'], { TEAMDAY_URL: url })
      expect(r.code, r.err).toBe(0)
      expect(r.out).toBe('the answer\n')
      expect(r.err).toContain('exec_lost1')
      expect(executes).toBe(2)
      const j = await cli(['agents', 'execute', 'a', '--message', 'hi', '--stream', '--json'], { TEAMDAY_URL: url })
      expect(j.code, j.err).toBe(0)
      const last = JSON.parse(j.out.trim().split('\n').at(-1)!)
      expect(last).toMatchObject({ event: 'result', data: { executionId: 'exec_lost1', result: 'the answer', status: 'completed' } })
    } finally {
      raw.stop(true)
    }
  })
})

describe('an execute whose answer was lost after its run was recorded (409 idempotency_interrupted with details.executionId)', () => {
  // The retry (same Idempotency-Key) is told which execution the first attempt recorded, e.g.
  // `committed: true` when the connection to the database broke at its commit (src/idempotency).
  // Only idempotency_stream_started was followed: every other mode failed (exit 1) a run that happened.
  const interrupted = (id: string) =>
    httpJson(409, { error: true, statusCode: 409, code: 'idempotency_interrupted', message: `Idempotency-Key of a request whose answer was lost: … recorded execution ${id} …`, details: { since: '2026-12-06T08:00:00.000Z', committed: true, executionId: id } })
  function scripted(execution: Record<string, unknown>) {
    const seen = { executes: 0, gets: 0 }
    const raw = rawServer((line) => {
      if (line.startsWith('POST /api/v1/agents/a/execute')) return seen.executes++ === 0 ? null : interrupted(String(execution.id))
      if (line.startsWith(`GET /api/v1/executions/${execution.id} `)) {
        seen.gets++
        return httpJson(200, { success: true, execution })
      }
      return httpJson(404, { error: true, statusCode: 404, code: 'route_not_found', message: 'no' })
    })
    return { raw, seen, url: `http://127.0.0.1:${raw.port}` }
  }
  const done = { id: 'exec_int1', status: 'completed', result: 'the answer', messages: [], chatId: 'chat_1', sessionId: 'chat_1', tokensInput: 1, tokensOutput: 2, historyTrimmed: null }

  test('every mode follows it: the result printed as its answer would have been, exit 0', async () => {
    const { executeResult } = await import('../src/execute-result')
    const s = scripted(done)
    try {
      const plain = await cli(['agents', 'execute', 'a', '--message', 'hi'], { TEAMDAY_URL: s.url })
      expect([plain.code, plain.out], plain.err).toEqual([0, 'the answer\n'])
      expect(plain.err).toContain('the answer was lost on the way; its execution exec_int1 was recorded: following it to its end')
      expect(s.seen.executes).toBe(2)
      // --json: the synchronous execute's own body.
      const json = await cli(['agents', 'execute', 'a', '--message', 'hi', '--json'], { TEAMDAY_URL: s.url })
      expect([json.code, json.json], json.err).toEqual([0, executeResult(done)])
      const wait = await cli(['agents', 'execute', 'a', '--message', 'hi', '--async', '--wait'], { TEAMDAY_URL: s.url })
      expect([wait.code, wait.out], wait.err).toEqual([0, 'the answer\n'])
      // --async alone: the id, as the 202 would have given it; --json with the run's status now.
      const id = await cli(['agents', 'execute', 'a', '--message', 'hi', '--async'], { TEAMDAY_URL: s.url })
      expect([id.code, id.out], id.err).toEqual([0, 'exec_int1\n'])
      const idJson = await cli(['agents', 'execute', 'a', '--message', 'hi', '--async', '--json'], { TEAMDAY_URL: s.url })
      expect([idJson.code, idJson.json]).toEqual([0, { success: true, executionId: 'exec_int1', status: 'completed' }])
      const stream = await cli(['agents', 'execute', 'a', '--message', 'hi', '--stream'], { TEAMDAY_URL: s.url })
      expect([stream.code, stream.out], stream.err).toEqual([0, 'the answer\n'])
    } finally {
      s.raw.stop(true)
    }
  })

  test('a recorded run that failed (e.g. "not started"): exit 1 naming it, as its own failure would', async () => {
    const s = scripted({ ...done, id: 'exec_int2', status: 'failed', result: null, error: 'not started: the database was lost' })
    try {
      const r = await cli(['agents', 'execute', 'a', '--message', 'hi'], { TEAMDAY_URL: s.url })
      expect(r.code).toBe(1)
      expect(r.err).toContain('execution exec_int2 failed: not started')
    } finally {
      s.raw.stop(true)
    }
  })

  test("the retry's caller made lower meanwhile (an admin made a member: the answer is not replayed, details.roleThen/roleNow): followed the same, by the execution the 409 names", async () => {
    const execution = { ...done, id: 'exec_int3' }
    let executes = 0
    const raw = rawServer((line) => {
      if (line.startsWith('POST /api/v1/agents/a/execute')) {
        if (executes++ === 0) return null
        return httpJson(409, { error: true, statusCode: 409, code: 'idempotency_interrupted', message: 'Idempotency-Key of a request that was done while your role in this organization was admin; it is member now, … It started execution exec_int3 …', details: { since: '2026-12-06T08:00:00.000Z', committed: true, roleThen: 'admin', roleNow: 'member', executionId: 'exec_int3' } })
      }
      if (line.startsWith('GET /api/v1/executions/exec_int3 ')) return httpJson(200, { success: true, execution })
      return httpJson(404, { error: true, statusCode: 404, code: 'route_not_found', message: 'no' })
    })
    try {
      const r = await cli(['agents', 'execute', 'a', '--message', 'hi'], { TEAMDAY_URL: `http://127.0.0.1:${raw.port}` })
      expect([r.code, r.out], r.err).toEqual([0, 'the answer\n'])
      expect(r.err).toContain('exec_int3')
      // Said as what happened: not "lost on the way".
      expect(r.err).toContain('the answer is not given again to your role now (admin then, member now)')
      expect(r.err).not.toContain('lost on the way')
      expect(executes).toBe(2)
    } finally {
      raw.stop(true)
    }
  })

  test('without an executionId (nothing to follow) the 409 is the answer, as before', async () => {
    let executes = 0
    const raw = rawServer((line) => {
      if (!line.startsWith('POST /api/v1/agents/a/execute')) return httpJson(404, { error: true, statusCode: 404, code: 'route_not_found', message: 'no' })
      if (executes++ === 0) return null
      return httpJson(409, { error: true, statusCode: 409, code: 'idempotency_interrupted', message: 'Idempotency-Key of an interrupted request: …', details: { since: '2026-12-06T08:00:00.000Z' } })
    })
    try {
      const r = await cli(['agents', 'execute', 'a', '--message', 'hi', '--json'], { TEAMDAY_URL: `http://127.0.0.1:${raw.port}` })
      expect(r.code).not.toBe(0)
      expect(r.json.code).toBe('idempotency_interrupted')
      expect(r.err).not.toContain('following it')
    } finally {
      raw.stop(true)
    }
  })
})

describe("a lost stream's follow-up prints the stream's own result event", () => {
  test('--json: its data is the shape of the server\'s result event, historyTrimmed included (the follow-up had its own copy of the shape, without it)', async () => {
    const { executeResult } = await import('../src/execute-result')
    const trimmed = { turnsSent: 1, turnsOmitted: 2, charsSent: 120, maxChars: 200 }
    const execution = { id: 'exec_lost2', status: 'completed', result: 'the answer', messages: [{ role: 'user', content: 'hi' }], chatId: 'chat_1', sessionId: 'chat_1', tokensInput: 1, tokensOutput: 2, historyTrimmed: trimmed }
    let executes = 0
    const raw = rawServer((line) => {
      if (line.startsWith('POST /api/v1/agents/a/execute')) {
        if (executes++ === 0) return null
        return httpJson(409, { error: true, statusCode: 409, code: 'idempotency_stream_started', message: 'Idempotency-Key already used', details: { executionId: 'exec_lost2' } })
      }
      if (line.startsWith('GET /api/v1/executions/exec_lost2 ')) return httpJson(200, { success: true, execution })
      return httpJson(404, { error: true, statusCode: 404, code: 'route_not_found', message: 'no' })
    })
    try {
      const j = await cli(['agents', 'execute', 'a', '--message', 'hi', '--stream', '--json'], { TEAMDAY_URL: `http://127.0.0.1:${raw.port}` })
      expect(j.code, j.err).toBe(0)
      const last = JSON.parse(j.out.trim().split('\n').at(-1)!)
      expect(last).toEqual({ event: 'result', data: { ...executeResult(execution), execution } })
      expect(last.data.historyTrimmed).toEqual(trimmed)
    } finally {
      raw.stop(true)
    }
  })
})

describe('executions get shows what only --json had', () => {
  test('errorCode, delegationDepth and historyTrimmed when set; left out when not', async () => {
    const plain = { id: 'exec_plain', agentId: 'a', agentName: 'A', status: 'completed', spaceId: null, sessionId: 'chat_1', message: 'hi', result: 'ok', error: null, errorCode: null, model: 'm', provider: 'openai', parentExecutionId: null, delegationDepth: 0, historyTrimmed: null, createdAt: '2026-12-01T00:00:00.000Z', startedAt: null, completedAt: null, executionTime: 5, tokensInput: 1, tokensOutput: 2 }
    const failed = { ...plain, id: 'exec_failed', status: 'failed', result: null, error: 'provider down', errorCode: 'bad_gateway', parentExecutionId: 'exec_parent', delegationDepth: 2, historyTrimmed: { turnsSent: 4, turnsOmitted: 3, charsSent: 1500, maxChars: 2000 } }
    handler = (_req, path) => Response.json({ success: true, execution: path.endsWith('exec_plain') ? plain : failed })
    const shown = await cli(['executions', 'get', 'exec_failed'])
    expect(shown.code, shown.err).toBe(0)
    expect(shown.out).toMatch(/^errorCode\s+bad_gateway$/m)
    expect(shown.out).toMatch(/^delegationDepth\s+2$/m)
    expect(shown.out).toMatch(/^historyTrimmed\s+3 older turn\(s\) left out; the newest 4 sent \(1500 of at most 2000 characters\)$/m)
    const quiet = await cli(['executions', 'get', 'exec_plain'])
    expect(quiet.code, quiet.err).toBe(0)
    expect(quiet.out).toMatch(/^status\s+completed$/m)
    for (const key of ['errorCode', 'delegationDepth', 'historyTrimmed']) expect(quiet.out).not.toContain(key)
  })
})

describe('agents execute has time limits (a hung server blocked a cron job for ever)', () => {
  const sse = (chunks: { at: number; text: string }[], end?: number) =>
    new Response(
      new ReadableStream<Uint8Array>({
        async start(c) {
          let t = 0
          for (const ch of chunks) {
            await Bun.sleep(ch.at - t)
            t = ch.at
            c.enqueue(new TextEncoder().encode(ch.text))
          }
          if (end !== undefined) {
            await Bun.sleep(end - t)
            c.close()
          }
        },
      }),
      { headers: { 'content-type': 'text/event-stream', 'x-execution-id': 'exec_stall1' } },
    )
  const meta = 'event: meta\ndata: {"executionId":"exec_stall1"}\n\n'
  const delta = (text: string) => `event: message\ndata: ${JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } })}\n\n`

  test('--stream: nothing for the idle limit (60 s; here 300 ms) is exit 5 naming the execution; heartbeats keep it alive', async () => {
    const { EXECUTE_TIMING } = await import('../src/cli/client/agents')
    const saved = { ...EXECUTE_TIMING }
    EXECUTE_TIMING.streamIdleMs = 300
    try {
      hits = 0
      handler = () => sse([{ at: 0, text: ': stream open\n\n' + meta + delta('Hel') }])
      const stalled = await cli(['agents', 'execute', 'a', '--message', 'm', '--stream'])
      expect(stalled.code).toBe(5)
      expect(stalled.out).toBe('Hel\n')
      expect(stalled.err).toContain('exec_stall1')
      expect(stalled.err).toContain('nothing arrived')
      expect(stalled.err).toContain('teamday executions get exec_stall1')
      expect(hits).toBe(1)
      const j = await cli(['agents', 'execute', 'a', '--message', 'm', '--stream', '--json'])
      expect(j.code).toBe(5)
      expect(JSON.parse(j.out.trim().split('\n').at(-1)!)).toMatchObject({ error: true, code: 'timeout' })
      // A heartbeat every 150 ms for 900 ms, then the result: never idle for 300 ms.
      const beats = [150, 300, 450, 600, 750, 900].map((at) => ({ at, text: ': heartbeat\n\n' }))
      handler = () => sse([{ at: 0, text: meta }, ...beats, { at: 950, text: delta('done') + 'event: result\ndata: {"result":"done"}\n\n' }], 960)
      const alive = await cli(['agents', 'execute', 'a', '--message', 'm', '--stream'])
      expect(alive.code, alive.err).toBe(0)
      expect(alive.out).toBe('done\n')
    } finally {
      Object.assign(EXECUTE_TIMING, saved)
    }
  })

  test('sync: no answer within the limit (15 minutes; here 300 ms) is exit 5 at once, not retried', async () => {
    const { EXECUTE_TIMING } = await import('../src/cli/client/agents')
    const saved = { ...EXECUTE_TIMING }
    EXECUTE_TIMING.totalMs = 300
    try {
      hits = 0
      handler = () => new Promise<Response>((resolve) => setTimeout(() => resolve(Response.json({ result: 'late' })), 20_000))
      const started = Date.now()
      const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--json'])
      expect(r.code).toBe(5)
      expect(r.json).toMatchObject({ error: true, code: 'timeout' })
      expect(r.err).toContain('may still run')
      expect(hits).toBe(1)
      // Well before the late answer (20 s): a deadline, not a bound in ms (a loaded machine is slow).
      expect(Date.now() - started).toBeLessThan(15_000)
    } finally {
      Object.assign(EXECUTE_TIMING, saved)
    }
  })
})

describe('agents execute --wait has an overall limit (it polled a run that never ended for ever)', () => {
  /** A server whose execution never ends: POST answers 202 pending, every GET says running. */
  const running = () => {
    let polls = 0
    handler = (req, path) => {
      if (req.method === 'POST' && path === '/api/v1/agents/a/execute') return Response.json({ success: true, executionId: 'exec_slow1', status: 'pending' }, { status: 202 })
      if (path === '/api/v1/executions/exec_slow1') {
        polls++
        return Response.json({ success: true, execution: { id: 'exec_slow1', status: 'running' } })
      }
      return Response.json({ error: true, statusCode: 404, code: 'not_found', message: 'no' }, { status: 404 })
    }
    return () => polls
  }

  test('--timeout S: exit 5, code timeout, naming the execution and how to follow or stop it; --json is one error object', async () => {
    const polls = running()
    const started = Date.now()
    const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--wait', '--timeout', '1'])
    expect(r.code).toBe(5)
    // Without the limit it polls for ever: a deadline, not a bound in ms.
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(polls()).toBeGreaterThan(1)
    expect(r.out).toBe('')
    expect(r.err).toContain('execution exec_slow1 has not ended within 1 s (--timeout 1) (it is running)')
    expect(r.err).toContain('teamday executions cancel exec_slow1')
    const j = await cli(['agents', 'execute', 'a', '--message', 'm', '--wait', '--timeout', '1', '--json'])
    expect(j.code).toBe(5)
    expect(j.json).toMatchObject({ error: true, code: 'timeout', exitCode: 5, execution: { id: 'exec_slow1', status: 'running' } })
  })

  test('the server out of reach for a while (a restart) does not end the wait: it goes on until the run ends', async () => {
    let polls = 0
    handler = (req, path) => {
      if (req.method === 'POST' && path === '/api/v1/agents/a/execute') return Response.json({ success: true, executionId: 'exec_back1', status: 'pending' }, { status: 202 })
      if (path === '/api/v1/executions/exec_back1' && ++polls <= 3) return new Response('<html>502 Bad Gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } })
      if (path === '/api/v1/executions/exec_back1') return Response.json({ success: true, execution: { id: 'exec_back1', status: 'completed', result: 'done after all' } })
      return Response.json({ error: true, statusCode: 404, code: 'not_found', message: 'no' }, { status: 404 })
    }
    const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--wait', '--retries', '0', '--timeout', '30'])
    expect(r.code, r.err).toBe(0)
    expect(r.out).toBe('done after all\n')
    expect(r.err).toContain('could not read execution exec_back1')
    expect(r.err).toContain('still waiting for its end until')
    // A missing execution is not waited for.
    handler = (req, path) =>
      req.method === 'POST' && path === '/api/v1/agents/a/execute'
        ? Response.json({ success: true, executionId: 'exec_gone1', status: 'pending' }, { status: 202 })
        : Response.json({ error: true, statusCode: 404, code: 'not_found', message: 'Execution exec_gone1 not found' }, { status: 404 })
    const gone = await cli(['agents', 'execute', 'a', '--message', 'm', '--wait', '--retries', '0', '--timeout', '30'])
    expect(gone.code).toBe(4)
  })

  // Found for the clock review (2026-12-07): the deadline was Date.now() + the limit, so a step of
  // the wall clock while it waited (NTP, a laptop's resume) ended it at once (a step on) or held
  // it for as long as the clock went back (a step back: an hour past --timeout 1).
  for (const step of [3_600_000, -3_600_000]) {
    test(`the wall clock stepped ${step > 0 ? 'an hour on' : 'an hour back'} while it waits: the limit is still the time that passed`, async () => {
      const real = Date.now
      let offset = 0
      const spy = spyOn(Date, 'now').mockImplementation(() => real() + offset)
      let polls = 0
      try {
        handler = (req, path) => {
          if (req.method === 'POST' && path === '/api/v1/agents/a/execute') return Response.json({ success: true, executionId: 'exec_step1', status: 'pending' }, { status: 202 })
          if (path === '/api/v1/executions/exec_step1') {
            // The clock steps at the first poll; the run ends at the third (on), never (back).
            if (++polls === 1) offset = step
            const done = step > 0 && polls >= 3
            return Response.json({ success: true, execution: { id: 'exec_step1', status: done ? 'completed' : 'running', result: done ? 'done' : null } })
          }
          return Response.json({ error: true, statusCode: 404, code: 'not_found', message: 'no' }, { status: 404 })
        }
        const started = performance.now()
        const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--wait', '--timeout', step > 0 ? '30' : '1'])
        if (step > 0) {
          expect(r.code, r.err).toBe(0)
          expect(r.out).toBe('done\n')
        } else {
          expect(r.code).toBe(5)
          expect(r.err).toContain('has not ended within 1 s')
          expect(performance.now() - started).toBeLessThan(10_000)
        }
      } finally {
        spy.mockRestore()
      }
    }, 20_000)
  }

  test("a rate limit's Retry-After does not hold it past its limit (it waited 11 s with --timeout 3)", async () => {
    handler = (req, path) => {
      if (req.method === 'POST' && path === '/api/v1/agents/a/execute') return Response.json({ success: true, executionId: 'exec_slow1', status: 'pending' }, { status: 202 })
      return Response.json({ error: true, statusCode: 429, code: 'rate_limited', message: 'Too many requests' }, { status: 429, headers: { 'retry-after': '30' } })
    }
    const started = Date.now()
    const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--wait', '--timeout', '1', '--json'])
    expect(r.code).toBe(5)
    // Well before the 30 s Retry-After: a deadline, not a bound in ms.
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(r.json).toMatchObject({ error: true, code: 'timeout' })
    expect(r.err).toContain('has not ended within 1 s')
  })

  test('without --timeout the default limit applies (15 minutes; here 300 ms)', async () => {
    const { EXECUTE_TIMING } = await import('../src/cli/client/agents')
    const saved = { ...EXECUTE_TIMING }
    EXECUTE_TIMING.totalMs = 300
    try {
      running()
      const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--wait', '--json'])
      expect(r.code).toBe(5)
      expect(r.json).toMatchObject({ error: true, code: 'timeout' })
      expect(r.err).toContain('has not ended within 0.3 s')
    } finally {
      Object.assign(EXECUTE_TIMING, saved)
    }
  })

  test('--timeout is 1 s to 24 h, and refused with --async alone (which does not wait)', async () => {
    hits = 0
    const form = 'error: --timeout is seconds (e.g. 900), or a number with a unit: 1500ms, 90s, 15m, 2h; from 1 s to 24 h'
    for (const [bad, got] of [['0', '0'], ['1.5', '"1.5"'], ['90000s', '90000s'], ['soon', '"soon"']]) {
      const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--wait', '--timeout', bad!])
      expect([bad, r.code, r.err.split('\n')[0]]).toEqual([bad, 2, `${form} (got ${got})`])
    }
    const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--async', '--timeout', '60'])
    expect(r.code).toBe(2)
    expect(r.err).toContain('--async alone does not wait')
    expect(hits).toBe(0)
  })

  test('--stream: the same overall limit, even while heartbeats keep arriving', async () => {
    handler = () =>
      new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(new TextEncoder().encode('event: meta\ndata: {"executionId":"exec_beat1"}\n\n'))
            for (let i = 0; i < 200; i++) {
              await Bun.sleep(100)
              try {
                c.enqueue(new TextEncoder().encode(': heartbeat\n\n'))
              } catch {
                return
              }
            }
          },
        }),
        { headers: { 'content-type': 'text/event-stream', 'x-execution-id': 'exec_beat1' } },
      )
    const started = Date.now()
    const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--stream', '--timeout', '1', '--json'])
    expect(r.code).toBe(5)
    // Well before the heartbeats end (20 s): a deadline, not a bound in ms.
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(JSON.parse(r.out.trim().split('\n').at(-1)!)).toMatchObject({ error: true, code: 'timeout' })
    expect(r.err).toContain('exec_beat1')
    expect(r.err).toContain('did not end within 1 s (--timeout 1)')
  })
})

describe('teamday login waits a bounded time, whatever the server says', () => {
  test('no expiresIn (it polled for ever: the deadline was NaN), or a huge one: the default or the cap, then exit 3 login_timeout', async () => {
    const { LOGIN_TIMING } = await import('../src/cli/client/login')
    const saved = { ...LOGIN_TIMING }
    Object.assign(LOGIN_TIMING, { defaultWaitMs: 300, maxWaitMs: 600 })
    try {
      for (const extra of [{}, { expiresIn: 'soon' }, { expiresIn: 1e12, interval: 1e9 }]) {
        let polls = 0
        handler = (_req, path) => {
          if (path === '/api/auth/cli/initiate') return Response.json({ code: 'c'.repeat(32), authUrl: `${base}/cli/authorize/x`, interval: 1, ...extra })
          if (path === '/api/auth/cli/poll') {
            polls++
            return Response.json({ status: 'pending' })
          }
          return Response.json({ error: true, statusCode: 404, code: 'not_found', message: 'no' }, { status: 404 })
        }
        const started = Date.now()
        const r = await cli(['login', '--no-browser', '--json'])
        expect([JSON.stringify(extra), r.code, r.json?.code]).toEqual([JSON.stringify(extra), 3, 'login_timeout'])
        // Without the bound it polls for ever: a deadline, not a bound in ms.
        expect(Date.now() - started).toBeLessThan(15_000)
        expect(polls).toBeGreaterThan(0)
        expect(r.err).toMatch(/nobody approved it within 0\.[36] s/)
      }
    } finally {
      Object.assign(LOGIN_TIMING, saved)
    }
  })
})

describe('teamday login: a poll answered with a long Retry-After ends with the wait', () => {
  test('429 and 503 with Retry-After: 60 to every poll: exit 3 login_timeout at the deadline, not 3 × 60 s later', async () => {
    const { LOGIN_TIMING } = await import('../src/cli/client/login')
    const saved = { ...LOGIN_TIMING }
    Object.assign(LOGIN_TIMING, { defaultWaitMs: 300, maxWaitMs: 600, lastPollMs: 200 })
    try {
      for (const status of [429, 503]) {
        let polls = 0
        handler = (_req, path) => {
          if (path === '/api/auth/cli/initiate') return Response.json({ code: 'c'.repeat(32), authUrl: `${base}/cli/authorize/x`, interval: 1 })
          if (path === '/api/auth/cli/poll') {
            polls++
            return Response.json({ error: true, statusCode: status, code: 'busy', message: 'busy' }, { status, headers: { 'retry-after': '60' } })
          }
          return Response.json({ error: true, statusCode: 404, code: 'not_found', message: 'no' }, { status: 404 })
        }
        const started = Date.now()
        const r = await cli(['login', '--no-browser', '--json'])
        expect([status, r.code, r.json?.code]).toEqual([status, 3, 'login_timeout'])
        // It said it would wait (the Retry-After is under the 2 minutes it honours), then the
        // deadline cut the wait short: an order of magnitude below one Retry-After.
        expect(r.err).toContain('retrying in 60')
        expect(Date.now() - started).toBeLessThan(15_000)
        expect(polls).toBe(1)
      }
    } finally {
      Object.assign(LOGIN_TIMING, saved)
    }
  })
})

describe('teamday login shows and opens only a web page, and says when it is not on the server', () => {
  const answer = (authUrl: string) => {
    handler = (_req, path) => {
      if (path === '/api/auth/cli/initiate') return Response.json({ code: 'c'.repeat(32), authUrl, expiresIn: 300, interval: 1 })
      if (path === '/api/auth/cli/poll') return Response.json({ error: true, statusCode: 400, code: 'login_denied', message: 'Denied.' }, { status: 400 })
      return Response.json({ error: true, statusCode: 404, code: 'not_found', message: 'no' }, { status: 404 })
    }
  }
  // It printed and handed to xdg-open whatever the server sent: another handler's address, or
  // escape sequences for the terminal.
  test('a file:, javascript: or other scheme is refused (not_teamday), before anything is shown or polled', async () => {
    for (const url of ['file:///etc/passwd', 'javascript:alert(1)', 'ssh://evil.example/x', 'not a url']) {
      answer(url)
      const r = await cli(['login', '--no-browser', '--json'])
      expect([url, r.code, r.json?.code]).toEqual([url, 5, 'not_teamday'])
      expect(r.err).not.toContain('open this page')
    }
  })
  test('control characters are shown escaped; a page on another host is shown with a caution, not as the server\'s', async () => {
    answer(`${base}/cli/authorize/x\u001b[2J\u0007y`)
    const same = await cli(['login', '--no-browser'])
    expect(same.err).toContain(`${base}/cli/authorize/x%1B[2J%07y`)
    expect(same.err).not.toContain('\u001b')
    expect(same.err).not.toContain('is not on')
    answer('https://teamday.evil.example/cli/authorize/x')
    const other = await cli(['login', '--no-browser'])
    expect(other.err).toContain('https://teamday.evil.example/cli/authorize/x')
    expect(other.err).toContain(`This page is not on ${new URL(base).host}: open it yourself only if teamday.evil.example is that server's public address.`)
  })
})

describe('create commands print the new id alone (help: "prints the new task\'s id")', () => {
  test('tasks, agents, spaces create: the id on stdout, the sentence on stderr; --json the body', async () => {
    handler = (_req, path) =>
      path === '/api/v1/tasks'
        ? Response.json({ success: true, id: 'task_new1', title: 'T' }, { status: 201 })
        : path === '/api/v1/agents'
          ? Response.json({ success: true, id: 'char_new1', name: 'A' }, { status: 201 })
          : Response.json({ success: true, space: { id: 'space_new1', name: 'S' } }, { status: 201 })
    for (const [argv, id, sentence] of [
      [['tasks', 'create', '--title', 'T'], 'task_new1', 'created task task_new1 (T)'],
      [['agents', 'create', '--name', 'A'], 'char_new1', 'created agent char_new1 (A)'],
      [['spaces', 'create', '--name', 'S'], 'space_new1', 'created space space_new1 (S)'],
    ] as const) {
      const r = await cli([...argv])
      expect(r.code).toBe(0)
      expect(r.out).toBe(`${id}\n`)
      expect(r.err).toBe(`${sentence}\n`)
      const j = await cli([...argv, '--json'])
      expect(j.err).toBe('')
      expect(JSON.stringify(j.json)).toContain(id)
    }
  })
})

describe('agents execute --stream reads one event no further than 64 Mi characters', () => {
  test('a server that never ends an event: exit 5, stream_event_too_large, naming the server and the execution; the stream is not read on', async () => {
    let sent = 0
    let cancelled = false
    const mib = new TextEncoder().encode('x'.repeat(1024 * 1024))
    handler = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new TextEncoder().encode('event: meta\ndata: {"executionId":"exec_big1"}\n\nevent: message\ndata: '))
          },
          pull(c) {
            sent++
            c.enqueue(mib)
          },
          cancel() {
            cancelled = true
          },
        }),
        { headers: { 'content-type': 'text/event-stream', 'x-execution-id': 'exec_big1' } },
      )
    for (const json of [false, true]) {
      sent = 0
      cancelled = false
      const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--stream', ...(json ? ['--json'] : [])])
      expect(r.code).toBe(5)
      expect(r.err).toContain(`${base} sent a stream event of more than 67,108,864 characters (execution exec_big1)`)
      expect(r.err).toContain('teamday executions get exec_big1')
      if (json) expect(JSON.parse(r.out.trim().split('\n').at(-1)!)).toMatchObject({ error: true, code: 'stream_event_too_large', exitCode: 5 })
      // Read no further than the limit (and what the network had on the way): the connection is
      // given up, and the server stops sending.
      const atEnd = sent
      await Bun.sleep(300)
      expect(sent).toBeLessThan(200)
      expect(sent - atEnd).toBeLessThan(5)
    }
  })
})

describe('a compressed answer', () => {
  const list = JSON.stringify([{ id: 'task_1', title: 'Compressed', status: 'pending', priority: 'medium', createdAt: '2026-12-01T00:00:00.000Z', updatedAt: '2026-12-01T00:00:00.000Z' }])
  const encode: Record<string, (b: Uint8Array<ArrayBuffer>) => Uint8Array> = {
    gzip: (b) => Bun.gzipSync(b),
    deflate: (b) => require('node:zlib').deflateSync(b),
    'deflate (raw, as some servers send it)': (b) => Bun.deflateSync(b),
    br: (b) => require('node:zlib').brotliCompressSync(b),
    zstd: (b) => Bun.zstdCompressSync(b),
  }
  const garbage = new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
  test('in each coding the client asks for is read as it was sent', async () => {
    for (const [coding, f] of Object.entries(encode)) {
      let asked = ''
      handler = (req) => ((asked = req.headers.get('accept-encoding') ?? ''), new Response(f(new TextEncoder().encode(list)) as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/json', 'content-encoding': coding.split(' ')[0]!, 'x-total-count': '1' } }))
      const r = await cli(['tasks', 'list', '--json'])
      expect([coding, r.code, r.err]).toEqual([coding, 0, ''])
      expect(r.json.tasks ?? r.json).toMatchObject([{ id: 'task_1', title: 'Compressed' }])
      expect(asked).toContain('gzip')
    }
  })
  test("one that does not decode: exit 5, answer_undecodable, in the client's words (which server, what to check), not retried; a stream's names its execution", async () => {
    for (const coding of ['gzip', 'deflate', 'br', 'zstd']) {
      hits = 0
      handler = () => new Response(garbage, { headers: { 'content-type': 'application/json', 'content-encoding': coding } })
      const r = await cli(['tasks', 'list', '--json'])
      expect([coding, r.code]).toEqual([coding, 5])
      expect(r.err).toContain(`the answer from ${base} could not be decompressed: it says Content-Encoding ${coding}, and its body is not that`)
      expect(r.err).toContain('Check --url / TEAMDAY_URL and any proxy')
      expect(JSON.parse(r.out.trim())).toMatchObject({ error: true, code: 'answer_undecodable', exitCode: 5 })
      expect(hits).toBe(1)
    }
    handler = () => new Response(garbage, { headers: { 'content-type': 'text/event-stream', 'content-encoding': 'gzip', 'x-execution-id': 'exec_gz1' } })
    const s = await cli(['agents', 'execute', 'a', '--message', 'm', '--stream'])
    expect(s.code).toBe(5)
    expect(s.err).toContain(`the answer from ${base} could not be decompressed`)
    expect(s.err).toContain('teamday executions get exec_gz1')
  })
  // Only request()'s read of a 2xx-or-not answer and a stream's reader said so: every other read
  // of an answer's body (a stream's refusal, a 502/504/429 looked at before a retry, a 401 looked
  // at for token_expired, the sign-in's refresh) surfaced Bun's "ZlibError fetching …" with exit 1.
  test('one that does not decode, wherever its body is read: a refused stream, a gateway answer before a retry, a 401, a refresh', async () => {
    const gz = { 'content-type': 'application/json', 'content-encoding': 'gzip' }
    const said = `the answer from ${base} could not be decompressed: it says Content-Encoding gzip, and its body is not that (ZlibError)`
    handler = () => new Response(garbage, { status: 404, headers: gz })
    const refused = await cli(['agents', 'execute', 'a', '--message', 'm', '--stream', '--json'])
    expect([refused.code, refused.err]).toEqual([5, expect.stringContaining(said)])
    expect(refused.json).toMatchObject({ error: true, code: 'answer_undecodable', exitCode: 5 })
    for (const status of [502, 504, 429]) {
      hits = 0
      handler = () => new Response(garbage, { status, headers: gz })
      const r = await cli(['tasks', 'list', '--retries', '2', '--json'])
      expect([status, r.code, r.json?.code]).toEqual([status, 5, 'answer_undecodable'])
      expect(r.err).toContain(said)
      expect(r.err).not.toContain('verbose')
      expect(hits).toBe(1)
    }
    const { ApiClient } = await import('../src/client/http')
    const { LoginSession } = await import('../src/client/login-session')
    const stored = { accessToken: TOKEN, refreshToken: 'tdr_' + 'B'.repeat(43), expiresAt: '2999-01-01T00:00:00.000Z', userId: 'user_1', organizationId: 'org_1', savedAt: '2026-12-01T00:00:00.000Z' }
    const login = new LoginSession(join(dir, 'credentials.json'), base, stored)
    handler = () => new Response(garbage, { status: 401, headers: gz })
    const client = new ApiClient({ baseUrl: base, token: TOKEN, tokenSource: 'test', login, retries: 0, warn: () => {} })
    await expect(client.request('GET', '/api/v1/tasks', { expect: 'list' })).rejects.toMatchObject({ code: 'answer_undecodable', message: expect.stringContaining(said) })
    handler = () => new Response(garbage, { status: 200, headers: gz })
    await expect(login.refresh()).rejects.toMatchObject({ code: 'answer_undecodable', message: expect.stringContaining(said) })
  })
  test("bun src/main.ts: after Bun's own line, the client's words, not Bun's advice to developers", async () => {
    handler = () => new Response(garbage, { headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' } })
    const p = Bun.spawn([process.execPath, 'src/main.ts', 'tasks', 'list', '--retries', '0'], {
      cwd: join(import.meta.dir, '..'),
      env: { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: dir, TEAMDAY_URL: base, TEAMDAY_TOKEN: TOKEN },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const err = await new Response(p.stderr).text()
    expect(await p.exited).toBe(5)
    expect(err).toContain('could not be decompressed: it says Content-Encoding gzip, and its body is not that (ZlibError)')
    expect(err).not.toContain('verbose: true')
    expect(err).not.toContain('broke off')
  }, 30_000)
})

describe("network failures in plain words, not Bun's texts for developers", () => {
  test('refused, reset, DNS', async () => {
    const refused = await cli(['tasks', 'list', '--retries', '0'], { TEAMDAY_URL: 'http://127.0.0.1:9' })
    expect(refused.code).toBe(5)
    expect(refused.err).toContain('cannot reach the server at http://127.0.0.1:9: connection refused')
    expect(refused.err).not.toContain('Is the computer able')
    const raw = rawServer(() => null)
    try {
      const reset = await cli(['tasks', 'list', '--retries', '0'], { TEAMDAY_URL: `http://127.0.0.1:${raw.port}` })
      expect(reset.code).toBe(5)
      expect(reset.err).toContain('the connection was closed before the answer was complete')
      expect(reset.err).not.toContain('verbose')
    } finally {
      raw.stop(true)
    }
    const dns = await cli(['tasks', 'list', '--retries', '0'], { TEAMDAY_URL: 'http://no-such-host.invalid' })
    expect(dns.code).toBe(5)
    expect(dns.err).toMatch(/does not resolve|could not be resolved/)
    expect(dns.err).not.toContain('getaddrinfo')
  })
})

describe("README's list of --json error codes", () => {
  test('names every code the client gives a failure of its own', async () => {
    const { readdirSync, readFileSync } = await import('node:fs')
    const root = join(import.meta.dir, '..')
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    const bullet = readme.slice(readme.indexOf('- **Errors with `--json`.**'), readme.indexOf('- **Not a teamday server.**'))
    const codes = new Set<string>(['server', 'failed', 'usage', 'config', 'execution_failed', 'execution_cancelled'])
    for (const folder of ['src/client', 'src/cli/client']) {
      for (const f of readdirSync(join(root, folder))) {
        const text = readFileSync(join(root, folder, f), 'utf8')
        for (const m of text.matchAll(/, '([a-z]+(?:_[a-z]+)+)'\)/g)) codes.add(m[1]!)
      }
    }
    expect(codes.size).toBeGreaterThan(14)
    const missing = [...codes].filter((c) => !bullet.includes(`\`${c}\``))
    expect(missing).toEqual([])
  })
})

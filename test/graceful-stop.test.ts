/**
 * `teamday serve`'s graceful stop (src/cli/admin/graceful-stop.ts), in process, on the suite's
 * backend (TEAMDAY_TEST_DATABASE=postgres: PostgreSQL): requests in flight when the stop begins
 * get their normal answer, a new connection is refused from the first moment, and the database
 * closes only after the last answer. The slow requests are synchronous executes whose model
 * answers after a pause (the provider double's PAUSE), running on the app's real engine. The
 * last test runs `teamday serve` itself in process (its signals an EventEmitter) on a database of
 * the suite's backend: the wiring, not only the function.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gracefulStop } from '../src/cli/admin/graceful-stop'
import { serve } from '../src/cli/admin/serve'
import type { ClientIo } from '../src/cli/common'
import { run } from '../src/main'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { createTestDatabase, ON_PG, urlFor } from './helpers/pg'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

let double: ProviderDouble | undefined
let t: TestApp | undefined

afterEach(async () => {
  double?.stop()
  double = undefined
  t = undefined
})

interface Answer {
  status: number
  body: any
}

/** A served app, an agent, and `n` synchronous executes in flight (their model calls received). */
async function inFlight(pauses: number[]) {
  double = startProviderDouble()
  t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxConcurrentExecutions: 10, userRateLimit: null } })
  const a = await makeActor(t, { role: 'member' })
  const agent = await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Slow agent', systemPrompt: 'x' } })
  expect(agent.status).toBe(201)
  t.app.listen({ hostname: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${t.app.server!.port}`
  const headers = { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }
  const answers = pauses.map(async (ms, i): Promise<Answer> => {
    const res = await fetch(`${base}/api/v1/agents/${agent.body.id}/execute`, { method: 'POST', headers, body: JSON.stringify({ message: `PAUSE ${ms} run ${i}` }) })
    const text = await res.text()
    return { status: res.status, body: JSON.parse(text) }
  })
  // Every run is at its model (so each request is in flight, and none is queued).
  const deadline = Date.now() + 10_000
  while (double.requests.length < pauses.length && Date.now() < deadline) await Bun.sleep(10)
  expect(double.requests.length).toBe(pauses.length)
  return { base, headers, answers: Promise.all(answers) }
}

/** What a new connection gets: its status, or the connection error's code. */
async function knock(base: string): Promise<number | string> {
  return fetch(`${base}/api/health`).then(
    (r) => r.status,
    (e) => String((e as { code?: string }).code ?? e),
  )
}

/** gracefulStop of the served test app (t), with this engine (the app's own by default); `closed()` says whether the database was closed. */
function stopApp(engine?: { shutdown(graceMs: number): Promise<void> }) {
  const app = t!
  let closed = false
  const stopping = gracefulStop({
    servers: [app.app],
    engine: engine ?? app.rt.engine,
    close: async () => {
      closed = true
      await app.rt.close()
    },
    log: app.rt.log,
    graceMs: 10_000,
    drainMs: 5_000,
  })
  return { stopping, closed: () => closed }
}

/**
 * One keep-alive connection that sends its next request the moment an answer is in: how many
 * answers it got, and how it ended (closed by the server after a `Connection: close` answer, or
 * an error such as a reset with a request sent and unanswered).
 */
function busyConnection(port: number, request: string) {
  let answers = 0
  let closes = 0
  const ended = new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let buffer = ''
    let pending = false
    const send = () => {
      pending = true
      socket.write(request)
    }
    socket.on('connect', send)
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1')
      for (;;) {
        const head = buffer.indexOf('\r\n\r\n')
        if (head < 0) return
        const length = Number(/content-length: *(\d+)/i.exec(buffer.slice(0, head))?.[1] ?? 0)
        if (buffer.length < head + 4 + length) return
        const closing = /\r\nconnection: *close/i.test(buffer.slice(0, head))
        buffer = buffer.slice(head + 4 + length)
        answers++
        pending = false
        if (closing) {
          closes++
          socket.end()
          return resolve('closed by an answer')
        }
        send()
      }
    })
    socket.on('error', (e) => resolve(String((e as { code?: string }).code ?? e)))
    socket.on('close', () => resolve(pending ? 'closed under a request' : 'closed'))
  })
  return { ended, answers: () => answers, closes: () => closes }
}

describe('graceful stop', () => {
  // The stop closed a kept-alive connection as idle under a request its client had just sent: a
  // reset, the request lost (8 of 8 busy connections at every stop, found from outside).
  test('busy keep-alive connections: their answers say Connection: close for a moment before the listener closes, so none is reset under a request', async () => {
    t = await makeTestApp()
    t.app.listen({ hostname: '127.0.0.1', port: 0 })
    const port = t.app.server!.port!
    const clients = Array.from({ length: 6 }, () => busyConnection(port, `GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n`))
    // Every connection busy (answered at least once, its next request sent) before the stop:
    // waited for, as a fixed pause can pass on a loaded machine before a connection is even open.
    for (const end = Date.now() + 10_000; clients.some((c) => c.answers() === 0) && Date.now() < end; ) await Bun.sleep(10)
    expect(clients.map((c) => c.answers() > 0)).toEqual(Array(6).fill(true))
    const app = t
    const stopping = gracefulStop({ servers: [app.app], engine: app.rt.engine, close: () => app.rt.close(), log: app.rt.log, graceMs: 1000, drainMs: 1000, closing: { drain: app.rt.drain, closingMs: 250 } })
    // Meanwhile readiness says this instance is going.
    const ready = await fetch(`http://127.0.0.1:${port}/api/health/ready`)
    void ready
    const ends = await Promise.all(clients.map((c) => c.ended))
    await stopping
    expect(ends).toEqual(Array(6).fill('closed by an answer'))
    for (const c of clients) expect(c.answers()).toBeGreaterThan(1)
    expect(await knock(`http://127.0.0.1:${port}`)).toBe('ECONNREFUSED')
  })


  test('in-flight requests get their normal answers, new connections are refused at once, the database closes after the last answer', async () => {
    const { base, answers } = await inFlight([400, 700, 1000])
    const { stopping, closed } = stopApp()
    // From the first moment: a load balancer's next connection goes elsewhere.
    expect(await knock(base)).toBe('ECONNREFUSED')
    const got = await answers
    await stopping
    for (const g of got) {
      expect(g.status).toBe(200)
      expect(g.body.success).toBe(true)
      expect(g.body.result).toStartWith('Echo: PAUSE')
    }
    // Closed, and after the answers: a request that found the database closed would be a 500.
    expect(closed()).toBe(true)
    expect(await knock(base)).toBe('ECONNREFUSED')
  })

  test('an engine that fails to stop does not close the database under requests still in flight', async () => {
    const { base, answers } = await inFlight([500, 800])
    // e.g. failing this instance's queued runs hit a statement timeout
    const { stopping, closed } = stopApp({ shutdown: async () => Promise.reject(new Error('canceling statement due to statement timeout')) })
    const stopped = await stopping.then(() => 'stopped', (e) => String(e))
    const got = await answers
    expect(got.map((g) => [g.status, g.body.code])).toEqual([
      [200, undefined],
      [200, undefined],
    ])
    expect(stopped).toBe('stopped')
    expect(closed()).toBe(true)
    expect(t!.logs.some((l) => l.includes('engine_shutdown_failed'))).toBe(true)
    expect(await knock(base)).toBe('ECONNREFUSED')
  })

  test('a request still in flight after the drain bound is cut, and the stop ends; a listener already stopped is left alone', async () => {
    const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Promise<Response>(() => {}) })
    // Beside it, an idle Elysia app (serve's API listener once a certificate reload has moved its
    // requests to another): stopped at once. Asked to stop again with the cut, it printed
    // "Elysia isn't running…" and a stack trace to stdout.
    const idle = new Elysia().get('/', () => 'ok').listen({ hostname: '127.0.0.1', port: 0 })
    const printed: unknown[][] = []
    const consoleLog = console.log
    console.log = (...args: unknown[]) => void printed.push(args)
    const hanging = fetch(`http://127.0.0.1:${server.port}/`).then(
      (r) => r.status,
      (e) => String((e as { code?: string }).code ?? e),
    )
    await Bun.sleep(50)
    const logs: string[] = []
    const { createLogger } = await import('../src/logger')
    let closed = false
    // The request hangs for ever: only the drain bound (300 ms) ends the stop (waited for up to
    // 10 s, as a loaded machine can be seconds late).
    let timer: ReturnType<typeof setTimeout> | undefined
    const ended = await Promise.race([
      gracefulStop({ servers: [idle, server], engine: { shutdown: async () => {} }, close: async () => void (closed = true), log: createLogger('debug', (l) => logs.push(l)), graceMs: 0, drainMs: 300 }).then(() => 'stopped'),
      new Promise<string>((r) => (timer = setTimeout(() => r('still stopping after 10 s'), 10_000))),
    ]).finally(() => {
      clearTimeout(timer)
      console.log = consoleLog
    })
    expect(ended).toBe('stopped')
    expect(printed.map((args) => String(args[0]))).toEqual([])
    expect(idle.server).toBeNull()
    expect(closed).toBe(true)
    expect(await hanging).toBe('ECONNRESET')
    expect(logs.some((l) => l.includes('http_drain_timeout'))).toBe(true)
  })

  test('teamday serve on SIGHUP (its terminal went away): the same graceful stop, logged, then ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'teamday-hup-'))
    const db = ON_PG ? urlFor(await createTestDatabase()) : join(dir, 'teamday.db')
    const out: string[] = []
    const logs: string[] = []
    const io: ClientIo = {
      out: (s) => void out.push(s),
      err: (s) => void logs.push(s),
      env: { TEAMDAY_ENCRYPTION_KEY: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64'), TEAMDAY_LOG_LEVEL: 'info', TEAMDAY_LOG_FORMAT: 'json' },
    }
    const signals = new EventEmitter()
    try {
      const serving = serve({ values: { host: '127.0.0.1', port: '0', db }, positionals: [], io }, signals as unknown as NodeJS.Process)
      const deadline = Date.now() + 20_000
      while (!out.some((l) => /listening on http:\/\/[^:]+:\d+/.test(l)) && Date.now() < deadline) await Bun.sleep(20)
      const port = /listening on http:\/\/[^:]+:(\d+)/.exec(out.join('\n'))![1]
      expect((await fetch(`http://127.0.0.1:${port}/api/health`)).status).toBe(200)
      signals.emit('SIGHUP')
      await serving
      expect(out.join('\n')).toContain('teamday stopped')
      expect(await knock(`http://127.0.0.1:${port}`)).toBe('ECONNREFUSED')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)

  test('teamday serve on SIGTERM: answers a quarter second more with Connection: close, then refuses new connections, answers the requests in flight, then ends', async () => {
    double = startProviderDouble()
    const dir = mkdtempSync(join(tmpdir(), 'teamday-stop-'))
    const db = ON_PG ? urlFor(await createTestDatabase()) : join(dir, 'teamday.db')
    const out: string[] = []
    const io: ClientIo = {
      out: (s) => void out.push(s),
      err: (s) => void out.push(s),
      env: {
        TEAMDAY_ENCRYPTION_KEY: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64'),
        OPENAI_BASE_URL: double.openaiBaseUrl,
        OPENAI_API_KEY: 'sk-test',
        TEAMDAY_DEFAULT_MODEL: 'test-model',
        TEAMDAY_LOG_LEVEL: 'silent',
      },
    }
    const signals = new EventEmitter()
    try {
      const serving = serve({ values: { host: '127.0.0.1', port: '0', db }, positionals: [], io }, signals as unknown as NodeJS.Process)
      const deadline = Date.now() + 20_000
      while (!out.some((l) => /listening on http:\/\/[^:]+:\d+/.test(l)) && Date.now() < deadline) await Bun.sleep(20)
      const port = /listening on http:\/\/[^:]+:(\d+)/.exec(out.join('\n'))![1]
      const base = `http://127.0.0.1:${port}`
      const minted: string[] = []
      expect(await run(['tokens', 'create', '--email', 'admin@localhost', '--name', 'stop test', '--db', db], { ...io, out: (s) => void minted.push(s) })).toBe(0)
      const headers = { authorization: `Bearer ${minted.join('').trim()}`, 'content-type': 'application/json' }
      const agent = await fetch(`${base}/api/v1/agents`, { method: 'POST', headers, body: JSON.stringify({ name: 'Slow agent', systemPrompt: 'x' }) })
      expect(agent.status).toBe(201)
      const agentId = ((await agent.json()) as { id: string }).id
      const asked = double.requests.length
      const answers = [600, 900].map(async (ms) => {
        const res = await fetch(`${base}/api/v1/agents/${agentId}/execute`, { method: 'POST', headers, body: JSON.stringify({ message: `PAUSE ${ms}` }) })
        return { status: res.status, body: (await res.json()) as any }
      })
      while (double.requests.length < asked + 2) await Bun.sleep(10)
      signals.emit('SIGTERM')
      const first = await fetch(`${base}/api/health`)
      expect([first.status, first.headers.get('connection')]).toEqual([200, 'close'])
      // Then the listener closes (a quarter second on): knocked at until it refuses, as on a loaded
      // machine that quarter second can run late; meanwhile only that Connection: close answer. A
      // knock that was in the listener's queue as it closed is reset by the kernel (ECONNRESET,
      // seen under load): the next one is refused.
      let knocked = await knock(base)
      for (const end = Date.now() + 10_000; (knocked === 200 || knocked === 'ECONNRESET') && Date.now() < end; knocked = await knock(base)) await Bun.sleep(50)
      expect(knocked).toBe('ECONNREFUSED')
      for (const a of await Promise.all(answers)) {
        expect(a.status).toBe(200)
        expect(a.body.result).toStartWith('Echo: PAUSE')
      }
      await serving
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)
})


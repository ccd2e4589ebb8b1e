/**
 * A streamed execute whose client reads nothing is dropped (src/modules/executions/sse.ts); its
 * connection was left open after the drop, with what the kernel held for it, until the idle
 * timeout: 30 s after the last byte its client took (found 2026-12-05). A client that closes its
 * connection mid-stream is seen within a turn of the event loop, and nothing more is written for
 * it. Over a real socket: the in-process handler has no connection to close.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { executionStream } from '../src/modules/executions/sse'
import type { Execution } from '../src/db/schema'
import { agent, getExec, oaiDone, oaiStop, oaiText, oaiUsage, startScripted, until, type Scripted } from './helpers/scripted-provider'

let s: Scripted
let t: TestApp
let a: Actor
let agentId: string
beforeAll(async () => {
  s = startScripted()
  t = await makeTestApp({ config: { openaiBaseUrl: s.openaiBaseUrl, defaultModel: 'test-model' } })
  a = await makeActor(t)
  agentId = (await agent(t, a)).id
}, 30_000)
afterAll(() => s.stop())

/**
 * The model: `deltas` text deltas of `piece` as fast as it can (500 an SSE chunk, no pause), then
 * its answer's end held until `release()`. And the app listening on a real socket, with a raw
 * connection to it.
 */
function floodingModelAndSocket(piece: string, deltas: number) {
  let release!: () => void
  const held = new Promise<void>((r) => (release = r))
  s.handler = () => {
    const enc = new TextEncoder()
    let i = 0
    const body = new ReadableStream({
      async pull(c) {
        if (i < deltas) {
          let chunk = ''
          for (let k = 0; k < 500 && i < deltas; k++, i++) chunk += oaiText(piece)
          c.enqueue(enc.encode(chunk))
          return
        }
        await held
        c.enqueue(enc.encode(oaiStop() + oaiUsage() + oaiDone))
        c.close()
      },
    })
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
  }
  const app = t.app as unknown as { listen(o: object): unknown; stop(force?: boolean): Promise<unknown>; server: { port: number; pendingRequests: number } | null }
  app.listen({ hostname: '127.0.0.1', port: 0 })
  const sock = connect(app.server!.port, '127.0.0.1')
  sock.on('error', () => {})
  return { release, app, sock }
}

test('a stream dropped for a client that reads nothing has its connection closed within seconds; the run goes on and completes', async () => {
  // JSON writes a control character as six bytes (\u0001): each delta is an event of about 240
  // bytes for 24 characters, so the answer passes the backlog allowed more than twice within the
  // run's character limit, in few parts. Then the model holds its answer's end until released.
  const piece = '\u0001'.repeat(24)
  const deltas = 80_000
  expect(deltas * 240).toBeGreaterThan(2 * t.rt.config.outputLimits.streamBacklogBytes)
  const { release, app, sock } = floodingModelAndSocket(piece, deltas)
  try {
    const body = JSON.stringify({ message: 'go', stream: true })
    sock.write(`POST /api/v1/agents/${agentId}/execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    // Never reads a byte.
    sock.pause()
    // The access log's line of the request is written when its stream ends: here, its drop.
    const dropped = () => t.logs.some((l) => l.includes('"msg":"request"') && l.includes('/execute'))
    await until(dropped, 60_000)
    // And the server's log says it ended the answer early, and why (as for its other early ends).
    const early = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'answer_ended_early')
    expect(early.map((l) => [l.path, l.reason.split(':')[0]])).toEqual([[`/api/v1/agents/${agentId}/execute`, 'client_stopped_reading']])
    expect(early[0].reason).toMatch(/bytes of events waited for it/)
    const droppedAt = Date.now()
    // Closed 1 to 5 s after the drop (Bun looks at timeouts every 4 s); it was closed by the idle
    // timeout, 30 s after the last byte taken (at least 2 s before the drop).
    await until(() => app.server!.pendingRequests === 0, 10_000)
    const [id] = (await t.req('GET', `/api/v1/executions?agentId=${agentId}`, { token: a.token })).body.map((e: { id: string }) => e.id)
    expect((await getExec(t, a, id)).status).toBe('running')
    release()
    // The rest of 80,000 deltas to take in: seconds on a quiet machine, more than 10 under a
    // parallel CI pass with other load (it failed there at 10 s).
    await until(async () => (await getExec(t, a, id)).status === 'completed', 40_000)
    expect((await getExec(t, a, id)).result).toBe(piece.repeat(deltas))
  } finally {
    release()
    sock.destroy()
    await app.stop(true)
  }
}, 120_000)

// A model that answered faster than its parts were handled kept the run's loop in microtasks
// (src/engine/run.ts RUN_TURN_MS): the server saw the client's close only when the provider's
// buffer ran dry, and wrote nearly the whole answer, 19 MB of events, for a connection closed
// after its first megabyte.
test('a client that closes its connection mid-stream: nothing more is written for it (not megabytes later); the run goes on and completes', async () => {
  const piece = '\u0001'.repeat(24)
  const deltas = 80_000
  const { release, app, sock } = floodingModelAndSocket(piece, deltas)
  // What the client took before it closed: it reads until a megabyte has come, then closes.
  let received = 0
  let head = ''
  sock.on('data', (d: Buffer) => {
    if (received === 0) head = d.toString('latin1', 0, 2000)
    received += d.length
    if (received >= 1 << 20 && !sock.destroyed) sock.destroy()
  })
  const logged = t.logs.length
  const line = () => t.logs.slice(logged).find((l) => l.includes('"msg":"request"') && l.includes('/execute'))
  try {
    const body = JSON.stringify({ message: 'go', stream: true })
    sock.write(`POST /api/v1/agents/${agentId}/execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    // The access log's line of the request is written when its stream ends: here, the close.
    await until(() => line() !== undefined, 60_000)
    expect(sock.destroyed).toBe(true)
    const written = JSON.parse(line()!).bytes as number
    // Written after the client's last read: what the socket's buffers held then, and a turn's
    // events at most (it was 18 MB of the 19 MB answer). The answer is far larger.
    expect(deltas * 240).toBeGreaterThan(16 * (1 << 20))
    expect(written - received).toBeLessThan(2 * (1 << 20))
    const id = /x-execution-id: (\S+)/i.exec(head)![1]!
    expect((await getExec(t, a, id)).status).toBe('running')
    release()
    await until(async () => (await getExec(t, a, id)).status === 'completed', 30_000)
    expect((await getExec(t, a, id)).result).toBe(piece.repeat(deltas))
  } finally {
    release()
    sock.destroy()
    await app.stop(true)
  }
}, 120_000)

// After its client went away each further event of the run was still made ready for it (`shown`
// reads the database for a tool call) and then thrown away.
test('once its client is gone, the stream does not prepare the run\'s further events', async () => {
  let prepared = 0
  const stream = executionStream(async (e) => {
    prepared++
    return e
  }, t.rt.config.outputLimits)
  const res = stream.response({ id: 'exec_1', chatId: null, sessionId: null, agentId: null, model: 'm' } as unknown as Execution, new Request('http://x/'))
  const reader = res.body!.getReader()
  stream.push({ type: 'text', text: 'one' })
  await until(() => prepared === 1)
  expect(new TextDecoder().decode((await reader.read()).value)).toContain('stream open')
  await reader.cancel()
  for (let i = 0; i < 100; i++) stream.push({ type: 'tool_start', id: `call_${i}`, name: 'lookup', input: {} })
  await Bun.sleep(20)
  expect(prepared).toBe(1)
})

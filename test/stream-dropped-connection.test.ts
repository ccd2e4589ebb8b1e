/**
 * A streamed execute whose client reads nothing is dropped (src/modules/executions/sse.ts); its
 * connection was left open after the drop, with what the kernel held for it, until the idle
 * timeout: 30 s after the last byte its client took (found 2026-12-05). Over a real socket: the
 * in-process handler has no connection to close.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
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

test('a stream dropped for a client that reads nothing has its connection closed within seconds; the run goes on and completes', async () => {
  // JSON writes a control character as six bytes (\u0001): each delta is an event of about 240
  // bytes for 24 characters, so the answer passes the backlog allowed more than twice within the
  // run's character limit, in few parts. Then the model holds its answer's end until released.
  const piece = '\u0001'.repeat(24)
  const deltas = 80_000
  expect(deltas * 240).toBeGreaterThan(2 * t.rt.config.outputLimits.streamBacklogBytes)
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
  try {
    const body = JSON.stringify({ message: 'go', stream: true })
    sock.write(`POST /api/v1/agents/${agentId}/execute HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${a.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    // Never reads a byte.
    sock.pause()
    // The access log's line of the request is written when its stream ends: here, its drop.
    const dropped = () => t.logs.some((l) => l.includes('"msg":"request"') && l.includes('/execute'))
    await until(dropped, 60_000)
    const droppedAt = Date.now()
    // Closed 1 to 5 s after the drop (Bun looks at timeouts every 4 s); it was closed by the idle
    // timeout, 30 s after the last byte taken (at least 2 s before the drop).
    await until(() => app.server!.pendingRequests === 0, 10_000)
    const [id] = (await t.req('GET', `/api/v1/executions?agentId=${agentId}`, { token: a.token })).body.map((e: { id: string }) => e.id)
    expect((await getExec(t, a, id)).status).toBe('running')
    release()
    await until(async () => (await getExec(t, a, id)).status === 'completed', 10_000)
    expect((await getExec(t, a, id)).result).toBe(piece.repeat(deltas))
  } finally {
    release()
    sock.destroy()
    await app.stop(true)
  }
}, 90_000)

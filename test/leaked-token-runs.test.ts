// Runs started with a token that leaked stop with it: a leak report (or a rotation's reuse, which
// means the same) cancels the runs the token started that are still queued or running, delegated
// children included; a plain revocation leaves runs alone (a CI job revokes its own token at its
// end), and another token's runs go on.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, makeToken, type TestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'
import { agent, until } from './helpers/scripted-provider'

let double: ProviderDouble
beforeAll(() => {
  double = startProviderDouble()
})
afterAll(() => double.stop())

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
let ip = 0
const nextIp = () => `198.51.100.${++ip}`


const app = () => makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxConcurrentExecutions: 2 } })
const start = async (t: TestApp, token: string, agentId: string, message: string) => {
  const r = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token, body: { message, async: true } })
  expect(r.status).toBe(202)
  return r.body.executionId as string
}

describe('runs of a leaked token', () => {
  test('a leak report cancels its running and queued runs (and their delegated children) within a second; another token of the same person keeps its run', async () => {
    const t = await app()
    const a = await makeActor(t, { role: 'admin' })
    const leaked = await makeToken(t, a)
    const other = await makeToken(t, a)
    const child = await agent(t, a)
    const root = await agent(t, a, { subagentIds: [child.id] })
    const show = async (id: string) => (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution

    const tree = await start(t, leaked.token, root.id, `DELEGATE ${child.id} SLOW`)
    let kid: any
    await until(async () => {
      kid = (await t.req('GET', `/api/v1/executions?parentExecutionId=${tree}`, { token: a.token })).body[0]
      return kid?.status === 'running'
    })
    const kept = await start(t, other.token, root.id, 'HANG')
    await until(async () => (await show(kept)).status === 'running')
    const queued = await start(t, leaked.token, root.id, 'HANG')
    expect((await show(queued)).status).toBe('pending')

    const abortedBefore = double.aborted
    const report = await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [leaked.token] }, ip: nextIp() })
    expect(report.status).toBe(202)
    for (const id of [tree, kid.id, queued]) {
      expect(await show(id)).toMatchObject({ status: 'cancelled', error: expect.stringContaining(`token that started it (${leaked.id}) was reported leaked`) })
    }
    // The instance running them aborts their model calls on its next check (every 250 ms), not
    // timed here (a loaded machine can be a second late): the child's SLOW answer ends on its own
    // only after 10 s, and then not as an abort, so without the check this fails.
    // (The root waits on its child's answer: the child's is the one model call under way.)
    await until(() => double.aborted > abortedBefore && t.rt.engine.runningCount === 1 && t.rt.engine.queued === 0)
    // Their log says why; the other token's run goes on.
    const log = (await t.req('GET', `/api/v1/executions/${tree}/logs`, { token: a.token })).body
    expect(JSON.stringify(log)).toContain('leak_report')
    expect((await show(kept)).status).toBe('running')
    await t.req('POST', `/api/v1/executions/${kept}/cancel`, { token: a.token })
    await t.rt.engine.shutdown(0)
  })

  test('a leak report stops the runs of tokens the leaked one made, and its own, also when those tokens were revoked before (the runs went on); audited with the runs it cancelled', async () => {
    const t = await app()
    const a = await makeActor(t, { role: 'admin' })
    const leaked = await makeToken(t, a)
    const made = (await t.req('POST', '/api/v1/tokens', { token: leaked.token, body: { name: 'made by the leaked one' } })).body
    const ag = await agent(t, a)
    const madeRun = await start(t, made.token, ag.id, 'HANG')
    const ownRun = await start(t, leaked.token, ag.id, 'HANG')
    const show = async (id: string) => (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution
    await until(async () => (await show(madeRun)).status === 'running' && (await show(ownRun)).status === 'running')
    // Both revoked plainly first: their runs go on.
    for (const id of [made.id, leaked.id]) expect((await t.req('DELETE', `/api/v1/tokens/${id}`, { token: a.token })).status).toBe(200)
    await sleep(300)
    expect([(await show(madeRun)).status, (await show(ownRun)).status]).toEqual(['running', 'running'])
    expect((await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [leaked.token] }, ip: nextIp() })).status).toBe(202)
    expect([(await show(madeRun)).status, (await show(ownRun)).status]).toEqual(['cancelled', 'cancelled'])
    const events = (await t.req('GET', '/api/v1/audit-events?type=token.leak_reported', { token: a.token })).body.events
    expect(events).toHaveLength(1)
    expect(events[0].details.executionsCancelled.sort()).toEqual([madeRun, ownRun].sort())
    await until(() => t.rt.engine.runningCount === 0)
    await t.rt.engine.shutdown(0)
  })

  test('a plain revocation (DELETE, tokens/self) leaves the runs it started running', async () => {
    const t = await app()
    const a = await makeActor(t, { role: 'admin' })
    const job = await makeToken(t, a)
    const ag = await agent(t, a)
    const run = await start(t, job.token, ag.id, 'HANG')
    await until(async () => (await t.req('GET', `/api/v1/executions/${run}`, { token: a.token })).body.execution.status === 'running')
    expect((await t.req('DELETE', '/api/v1/tokens/self', { token: job.token })).status).toBe(200)
    await sleep(600)
    expect((await t.req('GET', `/api/v1/executions/${run}`, { token: a.token })).body.execution.status).toBe('running')
    await t.req('POST', `/api/v1/executions/${run}/cancel`, { token: a.token })
    await t.rt.engine.shutdown(0)
  })

  test("a late rotation of a rotated token, by another of the owner's tokens, stops no run of its family (no secret was presented)", async () => {
    const t = await app()
    const a = await makeActor(t, { role: 'admin' })
    const first = await makeToken(t, a)
    const ag = await agent(t, a)
    const rotated = await t.req('POST', `/api/v1/tokens/${first.id}/rotate`, { token: first.token, body: {} })
    expect(rotated.status).toBe(201)
    const run = await start(t, rotated.body.token, ag.id, 'HANG')
    await until(async () => (await t.req('GET', `/api/v1/executions/${run}`, { token: a.token })).body.execution.status === 'running')
    // Minutes later, the first token is rotated again by id (a stale page or script): it once
    // cancelled the successor's runs as a leak.
    t.clock.advance(5 * 60_000)
    const stale = await t.req('POST', `/api/v1/tokens/${first.id}/rotate`, { token: a.token, body: {} })
    expect([stale.status, stale.body.code]).toEqual([409, 'invalid_state'])
    await sleep(600)
    expect((await t.req('GET', `/api/v1/executions/${run}`, { token: a.token })).body.execution.status).toBe('running')
    await t.req('POST', `/api/v1/executions/${run}/cancel`, { token: a.token })
    await t.rt.engine.shutdown(0)
  })

  test('a request still open when its token is revoked ends within about a second: a stream with an error event, a synchronous execute with 401; the runs go on', async () => {
    const t = await app()
    const a = await makeActor(t, { role: 'admin' })
    const streamer = await makeToken(t, a)
    const waiter = await makeToken(t, a)
    const ag = await agent(t, a)
    const res = await t.app.handle(
      new Request(`http://localhost/api/v1/agents/${ag.id}/execute`, { method: 'POST', headers: { authorization: `Bearer ${streamer.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'HANG', stream: true }) }),
    )
    expect(res.status).toBe(200)
    const reader = res.body!.getReader()
    let text = ''
    while (!text.includes('event: meta')) text += new TextDecoder().decode((await reader.read()).value)
    const streamed = /"executionId":"(exec_\w+)"/.exec(text)![1]!
    const waiting = t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: waiter.token, body: { message: 'HANG' } })
    await until(() => t.rt.engine.runningCount === 2)
    expect(t.rt.revocations.size).toBe(2)

    expect((await t.req('DELETE', `/api/v1/tokens/${streamer.id}`, { token: a.token })).status).toBe(200)
    expect((await t.req('DELETE', `/api/v1/tokens/${waiter.id}`, { token: a.token })).status).toBe(200)
    // Both end at the revocation watch's next check (about a second), not timed here (a loaded
    // machine can be seconds late): their runs HANG, so without the watch neither ever ends.
    let ended = false
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        text += new TextDecoder().decode(value)
      }
    })()
    void Promise.allSettled([reading, waiting]).then(() => (ended = true))
    await until(() => ended)
    await reading
    const waited = await waiting
    const last = text.trim().split('\n\n').at(-1)!
    expect(last).toContain('event: error')
    expect(last).toContain('"code":"token_revoked"')
    expect(last).toContain(streamed)
    expect(waited.status).toBe(401)
    expect(waited.body.code).toBe('token_revoked')
    // As every token_revoked 401; no expiry of a token that no longer works.
    expect(waited.headers.get('www-authenticate')).toBe('Bearer realm="teamday", error="invalid_token", error_description="Token revoked"')
    expect(waited.headers.get('teamday-token-expiration')).toBeNull()
    const waitedId = waited.body.details.executionId
    // Both runs go on (a plain revocation); nothing is watched any more.
    for (const id of [streamed, waitedId]) expect((await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution.status).toBe('running')
    expect(t.rt.revocations.size).toBe(0)
    await t.rt.engine.shutdown(0)
  })

  test("a queued run's stream says pending when its token is revoked", async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxConcurrentExecutions: 1 } })
    const a = await makeActor(t, { role: 'admin' })
    const streamer = await makeToken(t, a)
    const ag = await agent(t, a)
    await start(t, a.token, ag.id, 'HANG')
    await until(() => t.rt.engine.runningCount === 1)
    const res = await t.app.handle(
      new Request(`http://localhost/api/v1/agents/${ag.id}/execute`, { method: 'POST', headers: { authorization: `Bearer ${streamer.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'HANG', stream: true }) }),
    )
    expect(t.rt.engine.queued).toBe(1)
    expect((await t.req('DELETE', `/api/v1/tokens/${streamer.id}`, { token: a.token })).status).toBe(200)
    const text = await res.text()
    const last = text.trim().split('\n\n').at(-1)!
    expect(last).toContain('"code":"token_revoked"')
    expect(last).toContain('"status":"pending"')
    await t.rt.engine.shutdown(0)
  })

  test('a stream that ends by itself, or whose client goes away, is no longer watched', async () => {
    const t = await app()
    const a = await makeActor(t, { role: 'admin' })
    const ag = await agent(t, a)
    const done = await t.app.handle(
      new Request(`http://localhost/api/v1/agents/${ag.id}/execute`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'hello', stream: true }) }),
    )
    expect(await done.text()).toContain('event: result')
    expect(t.rt.revocations.size).toBe(0)
    const gone = await t.app.handle(
      new Request(`http://localhost/api/v1/agents/${ag.id}/execute`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'HANG', stream: true }) }),
    )
    expect(t.rt.revocations.size).toBe(1)
    await gone.body!.cancel()
    expect(t.rt.revocations.size).toBe(0)
    expect((await t.req('POST', '/api/v1/agents/' + ag.id + '/execute', { token: a.token, body: { message: 'hi' } })).status).toBe(200)
    expect(t.rt.revocations.size).toBe(0)
    await t.rt.engine.shutdown(0)
  })
})

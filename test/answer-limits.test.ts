/**
 * What bounds one run's answer in memory (found from outside, 2026-12-05): a provider that
 * streams on without end grew the answer until the run's timeout (gigabytes; on PostgreSQL its
 * record then failed on jsonb's limit and lost it whole), and each event of a streamed answer
 * waited in memory for a client that never read it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { agents } from '../src/db/schema'
import { MAX_ANSWER_CHARS, MAX_STREAMED_PARTS } from '../src/engine/run'
import { MAX_STREAM_BACKLOG_BYTES, STREAM_STALL_MS } from '../src/modules/executions/sse'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { parseSse, startProviderDouble, type ProviderDouble } from './helpers/providers'

let double: ProviderDouble
let t: TestApp
let a: Actor
let agentId: string
beforeAll(async () => {
  double = startProviderDouble()
  t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
  a = await makeActor(t)
  const now = new Date(t.clock.now())
  agentId = (await t.db.insert(agents).values({ id: newId('char'), organizationId: a.organizationId, userId: a.userId, name: 'Agent', slug: 'agent', visibility: 'organization', createdAt: now, updatedAt: now }).returning().get()).id
}, 30_000)
afterAll(() => double.stop())

const execute = (body: object) => t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body })
/** A streamed execute's response, its body left to the test to read or not. */
const streamed = (message: string) =>
  t.app.handle(
    new Request(`http://localhost/api/v1/agents/${agentId}/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ message }),
    }),
  )
const execution = async (id: string) => (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution

describe("a run's answer", () => {
  // ENDLESS answers in words of 50 KiB: the one that crosses the limit is kept up to it.
  test('past MAX_ANSWER_CHARS: the run stops (failed, 502 saying why), keeps the answer up to it, and the provider request is abandoned', async () => {
    const abortedBefore = double.aborted
    const r = await execute({ message: 'ENDLESS' })
    expect([r.status, r.body.code]).toEqual([502, 'bad_gateway'])
    expect(r.body.message).toContain(`the model's output passed ${MAX_ANSWER_CHARS.toLocaleString('en-US')} characters`)
    const row = await execution(r.body.details.executionId)
    expect([row.status, row.errorCode]).toEqual(['failed', 'bad_gateway'])
    expect(row.result.length).toBe(MAX_ANSWER_CHARS)
    const deadline = Date.now() + 3000
    while (double.aborted === abortedBefore && Date.now() < deadline) await Bun.sleep(20)
    expect(double.aborted).toBeGreaterThan(abortedBefore)
    // Up to the limit is an answer like any other.
    const fits = await execute({ message: `BIG ${Math.floor(MAX_ANSWER_CHARS / 1024)}` })
    expect([fits.status, fits.body.result.length]).toEqual([200, MAX_ANSWER_CHARS])
  }, 60_000)

  // Counted per run, a parent took each sub-agent's answer into its context (its tool result, its
  // stored tool calls) besides its own: a tree held up to TEAMDAY_MAX_DELEGATIONS_PER_RUN times
  // the limit. A tree's runs now share it.
  test("a delegation tree shares the limit: a sub-agent's answer counts against it, and its parent writing on past it stops there", async () => {
    const now = new Date(t.clock.now())
    const child = (await t.db.insert(agents).values({ id: newId('char'), organizationId: a.organizationId, userId: a.userId, name: 'Child', slug: 'child', visibility: 'organization', createdAt: now, updatedAt: now }).returning().get()).id
    const parent = (await t.db.insert(agents).values({ id: newId('char'), organizationId: a.organizationId, userId: a.userId, name: 'Parent', slug: 'parent', visibility: 'organization', subagentIds: [child], createdAt: now, updatedAt: now }).returning().get()).id
    // Under the limit alone (1,536,000 characters); with the parent's answer repeating it, past it.
    const kib = 1500
    const r = await t.req('POST', `/api/v1/agents/${parent}/execute`, { token: a.token, body: { message: `DELEGATE ${child} BIG ${kib}` } })
    expect([r.status, r.body.code]).toEqual([502, 'bad_gateway'])
    expect(r.body.message).toContain(`the model's output passed ${MAX_ANSWER_CHARS.toLocaleString('en-US')} characters`)
    const root = await execution(r.body.details.executionId)
    const kids = (await t.req('GET', `/api/v1/executions?parentExecutionId=${root.id}`, { token: a.token })).body
    expect(kids.map((k: { status: string }) => k.status)).toEqual(['completed'])
    expect(kids[0].result.length).toBe(kib * 1024)
    expect(root.result.startsWith('Delegated: xxx')).toBe(true)
    // What the tree's models wrote in all (the parent's delegate call's input too): the limit.
    const total = kids[0].result.length + root.result.length
    expect(total).toBeLessThanOrEqual(MAX_ANSWER_CHARS)
    expect(total).toBeGreaterThan(MAX_ANSWER_CHARS - 200)
  }, 60_000)

  // Reasoning was not counted: an endless one took the server to gigabytes and "Out of memory".
  test('endless reasoning counts too: stopped at the same limit, the provider request abandoned', async () => {
    const abortedBefore = double.aborted
    const r = await execute({ message: 'ENDLESS_REASONING' })
    expect([r.status, r.body.code]).toEqual([502, 'bad_gateway'])
    expect(r.body.message).toContain(`the model's output passed ${MAX_ANSWER_CHARS.toLocaleString('en-US')} characters`)
    const deadline = Date.now() + 3000
    while (double.aborted === abortedBefore && Date.now() < deadline) await Bun.sleep(20)
    expect(double.aborted).toBeGreaterThan(abortedBefore)
  }, 60_000)

  // Each streamed part is kept by the AI SDK until the run ends: a flood of tiny ones under the
  // character limit held 885 MB for one run.
  test('past MAX_STREAMED_PARTS tiny deltas: stopped too', async () => {
    const r = await execute({ message: `WORDS ${MAX_STREAMED_PARTS + 10}`, async: true })
    const id = r.body.executionId
    const deadline = Date.now() + 50_000
    while (['pending', 'running'].includes((await execution(id)).status) && Date.now() < deadline) await Bun.sleep(100)
    const row = await execution(id)
    expect([row.status, row.errorCode, row.result.length]).toEqual(['failed', 'bad_gateway', 2 * MAX_STREAMED_PARTS])
    expect(row.error).toContain(`the model's output passed ${MAX_STREAMED_PARTS.toLocaleString('en-US')} streamed parts`)
  }, 60_000)

  test('streamed to a client that never reads: dropped once MAX_STREAM_BACKLOG_BYTES wait for it, untaken for STREAM_STALL_MS; the run completes all the same', async () => {
    // About 100 bytes of events per 2-character delta: well past the backlog allowed, for longer.
    const n = Math.ceil((MAX_STREAM_BACKLOG_BYTES / 100) * 3)
    const res = await streamed(`WORDS ${n}`)
    expect(res.status).toBe(200)
    const id = res.headers.get('x-execution-id')!
    const deadline = Date.now() + 45_000
    while ((await execution(id)).status !== 'completed' && Date.now() < deadline) await Bun.sleep(100)
    expect((await execution(id)).result.length).toBe(2 * n)
    // The stream was dropped: what waited for its reader went with it (Bun resets the connection).
    let got = 0
    let failed = false
    const reader = res.body!.getReader()
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        got += value.byteLength
      }
    } catch {
      failed = true
    }
    expect(failed).toBe(true)
    expect(got).toBeLessThan(MAX_STREAM_BACKLOG_BYTES)
  }, 60_000)

  // A reader slower than the model was dropped as one that had stopped (found from outside: 1 MB/s).
  test('streamed to a client that reads, more slowly than the model writes: kept, every event to the result', async () => {
    const n = Math.ceil((MAX_STREAM_BACKLOG_BYTES / 100) * 1.5)
    const res = await streamed(`WORDS ${n}`)
    const reader = res.body!.getReader()
    const chunks: Uint8Array[] = []
    let got = 0
    let paused = 0
    // How much the reader had taken when the run ended (watched apart: a slow look-up must not stall the reader).
    let gotAtEnd = -1
    let reading = true
    const watch = (async () => {
      while (reading && gotAtEnd < 0) {
        await Bun.sleep(100)
        if ((await execution(res.headers.get('x-execution-id')!)).status === 'completed') gotAtEnd = got
      }
    })()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      chunks.push(value)
      got += value.byteLength
      // About 2 MB/s: well behind the model until its run has ended.
      if (got - paused > 80_000) {
        paused = got
        await Bun.sleep(40)
      }
    }
    reading = false
    await watch
    const events = parseSse(Buffer.concat(chunks).toString('utf8'))
    expect(gotAtEnd).toBeGreaterThan(0)
    expect(gotAtEnd).toBeLessThan(got - MAX_STREAM_BACKLOG_BYTES / 2)
    expect(events.at(-1)!.event).toBe('result')
    expect(events.at(-1)!.data.result.length).toBe(2 * n)
  }, 60_000)

  test('streamed to a client that reads: every event, to the result', async () => {
    const n = Math.ceil((MAX_STREAM_BACKLOG_BYTES / 100) * 1.5)
    const res = await streamed(`WORDS ${n}`)
    const events = parseSse(await res.text())
    expect(events.at(-1)!.event).toBe('result')
    expect(events.at(-1)!.data.result.length).toBe(2 * n)
  }, 60_000)
})

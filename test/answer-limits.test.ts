/**
 * What bounds one run's answer in memory (found from outside, 2026-12-05): a provider that
 * streams on without end grew the answer until the run's timeout (gigabytes; on PostgreSQL its
 * record then failed on jsonb's limit and lost it whole), and each event of a streamed answer
 * waited in memory for a client that never read it.
 *
 * The app runs with small output limits (Config.outputLimits, src/engine/output-limits.ts), so
 * that each bound is reached with kilobytes through the same code a server runs with its
 * defaults (megabytes; the first test checks those are what README says).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { agents } from '../src/db/schema'
import { loadConfig } from '../src/config'
import type { OutputLimits } from '../src/engine/output-limits'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { parseSse, startProviderDouble, type ProviderDouble } from './helpers/providers'
import { until } from './helpers/scripted-provider'

/**
 * A thousandth or so of a server's: 120 KiB characters (two words of 50 KiB and part of a third),
 * 8,192 parts; a stream's reader 64 KiB behind and idle for 1 s is dropped, one 256 KiB behind
 * whatever it does. Each stream event of a 2-character delta is about 100 bytes.
 */
const LIMITS: OutputLimits = { answerChars: 120 * 1024, streamedParts: 8192, streamBacklogBytes: 64 * 1024, streamBacklogHardBytes: 256 * 1024, streamStallMs: 1_000 }
const { answerChars: MAX_CHARS, streamedParts: MAX_PARTS, streamBacklogBytes: BACKLOG, streamBacklogHardBytes: HARD_BACKLOG, streamStallMs: STALL_MS } = LIMITS

let double: ProviderDouble
let t: TestApp
let a: Actor
let agentId: string
beforeAll(async () => {
  double = startProviderDouble()
  t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', outputLimits: LIMITS } })
  a = await makeActor(t)
  const now = new Date(t.clock.now())
  agentId = (await t.db.insert(agents).values({ id: newId('char'), organizationId: a.organizationId, userId: a.userId, name: 'Agent', slug: 'agent', visibility: 'organization', createdAt: now, updatedAt: now }).returning().get()).id
}, 30_000)
afterAll(() => double.stop())

test("a server's limits are README's: 2,097,152 characters in 262,144 streamed parts; a stream 8 MiB behind untaken for 2 s, or 32 MiB behind, is dropped", async () => {
  const limits = loadConfig({}).outputLimits
  expect(limits).toEqual({ answerChars: 2_097_152, streamedParts: 262_144, streamBacklogBytes: 8 * 1024 * 1024, streamBacklogHardBytes: 32 * 1024 * 1024, streamStallMs: 2_000 })
  const readme = (await Bun.file(join(import.meta.dir, '../README.md')).text()).replace(/\s+/g, ' ')
  const MiB = 1024 * 1024
  expect(readme).toContain(`is at most ${limits.answerChars.toLocaleString('en-US')} characters (answers, reasoning and tool calls' names, ids and input together, and what a provider sends beside them that the run keeps, such as Anthropic's redacted thinking and signatures, its citations (\`citations_delta\`) and the results of tools it says it ran itself) in at most ${limits.streamedParts.toLocaleString('en-US')} streamed parts`)
  expect(readme).toContain(`once ${limits.streamBacklogBytes / MiB} MiB of events wait for it and it has taken none for ${limits.streamStallMs / 1000} s (or ${limits.streamBacklogHardBytes / MiB} MiB wait, however it reads)`)
  // And the test app's are its own (not a server's).
  expect(t.rt.config.outputLimits).toEqual(LIMITS)
})

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
  // What "one run's limit" counts, said and held: the model's steps in this run, not the earlier
  // turns of a session it continues (input, bounded by TEAMDAY_MAX_HISTORY_CHARS).
  test('a run continuing a session has the whole limit: earlier turns at the limit each do not count against it, and README says so', async () => {
    const session = `limits-${Date.now()}-${Math.random().toString(36).slice(2)}`
    for (let i = 0; i < 3; i++) {
      const r = await execute({ message: `BIG ${Math.floor(MAX_CHARS / 1024)}`, sessionId: session })
      expect([i, r.status, r.body.result.length]).toEqual([i, 200, MAX_CHARS])
    }
    const readme = (await Bun.file(join(import.meta.dir, '../README.md')).text()).replace(/\s+/g, ' ')
    expect(readme).toContain('the earlier turns of a session it continues are not')
    expect(readme).toContain('bounded by `TEAMDAY_MAX_HISTORY_CHARS`')
  })

  // ENDLESS answers in words of 50 KiB: the one that crosses the limit is kept up to it.
  test('past the character limit: the run stops (failed, 502 saying why), keeps the answer up to it, and the provider request is abandoned', async () => {
    const abortedBefore = double.aborted
    const r = await execute({ message: 'ENDLESS' })
    expect([r.status, r.body.code]).toEqual([502, 'bad_gateway'])
    expect(r.body.message).toContain(`the model's output passed ${MAX_CHARS.toLocaleString('en-US')} characters`)
    const row = await execution(r.body.details.executionId)
    expect([row.status, row.errorCode]).toEqual(['failed', 'bad_gateway'])
    expect(row.result.length).toBe(MAX_CHARS)
    // The double sees the abort when the connection closes: a moment later, more on a loaded machine.
    await until(() => double.aborted > abortedBefore)
    // Up to the limit is an answer like any other.
    const fits = await execute({ message: `BIG ${Math.floor(MAX_CHARS / 1024)}` })
    expect([fits.status, fits.body.result.length]).toEqual([200, MAX_CHARS])
  })

  // Counted per run, a parent took each sub-agent's answer into its context (its tool result, its
  // stored tool calls) besides its own: a tree held up to TEAMDAY_MAX_DELEGATIONS_PER_RUN times
  // the limit. A tree's runs now share it.
  test("a delegation tree shares the limit: a sub-agent's answer counts against it, and its parent writing on past it stops there", async () => {
    const now = new Date(t.clock.now())
    const child = (await t.db.insert(agents).values({ id: newId('char'), organizationId: a.organizationId, userId: a.userId, name: 'Child', slug: 'child', visibility: 'organization', createdAt: now, updatedAt: now }).returning().get()).id
    const parent = (await t.db.insert(agents).values({ id: newId('char'), organizationId: a.organizationId, userId: a.userId, name: 'Parent', slug: 'parent', visibility: 'organization', subagentIds: [child], createdAt: now, updatedAt: now }).returning().get()).id
    // Under the limit alone (three quarters of it); with the parent's answer repeating it, past it.
    const kib = Math.floor((MAX_CHARS * 0.75) / 1024)
    const r = await t.req('POST', `/api/v1/agents/${parent}/execute`, { token: a.token, body: { message: `DELEGATE ${child} BIG ${kib}` } })
    expect([r.status, r.body.code]).toEqual([502, 'bad_gateway'])
    expect(r.body.message).toContain(`the model's output passed ${MAX_CHARS.toLocaleString('en-US')} characters`)
    const root = await execution(r.body.details.executionId)
    const kids = (await t.req('GET', `/api/v1/executions?parentExecutionId=${root.id}`, { token: a.token })).body
    expect(kids.map((k: { status: string }) => k.status)).toEqual(['completed'])
    expect(kids[0].result.length).toBe(kib * 1024)
    expect(root.result.startsWith('Delegated: xxx')).toBe(true)
    // What the tree's models wrote in all (the parent's delegate call's input too): the limit.
    const total = kids[0].result.length + root.result.length
    expect(total).toBeLessThanOrEqual(MAX_CHARS)
    expect(total).toBeGreaterThan(MAX_CHARS - 200)
  })

  // Reasoning was not counted: an endless one took the server to gigabytes and "Out of memory".
  test('endless reasoning counts too: stopped at the same limit, the provider request abandoned', async () => {
    const abortedBefore = double.aborted
    const r = await execute({ message: 'ENDLESS_REASONING' })
    expect([r.status, r.body.code]).toEqual([502, 'bad_gateway'])
    expect(r.body.message).toContain(`the model's output passed ${MAX_CHARS.toLocaleString('en-US')} characters`)
    // The double sees the abort when the connection closes: a moment later, more on a loaded machine.
    await until(() => double.aborted > abortedBefore)
  })

  // Each streamed part is kept by the AI SDK until the run ends: a flood of tiny ones under the
  // character limit held 885 MB for one run.
  test('past the limit of streamed parts, in tiny deltas far under the character limit: stopped too', async () => {
    expect(2 * (MAX_PARTS + 10)).toBeLessThan(MAX_CHARS)
    const r = await execute({ message: `WORDS ${MAX_PARTS + 10}`, async: true })
    const id = r.body.executionId
    const deadline = Date.now() + 20_000
    while (['pending', 'running'].includes((await execution(id)).status) && Date.now() < deadline) await Bun.sleep(50)
    const row = await execution(id)
    expect([row.status, row.errorCode, row.result.length]).toEqual(['failed', 'bad_gateway', 2 * MAX_PARTS])
    expect(row.error).toContain(`the model's output passed ${MAX_PARTS.toLocaleString('en-US')} streamed parts`)
  })
})

describe('a streamed answer whose reader falls behind', () => {
  /** Reads `res` to its end, or to its failure (a dropped stream: Bun resets the connection), calling `each` after every chunk. */
  const readAll = async (res: Response, each: (got: number) => Promise<void> = async () => {}) => {
    const chunks: Uint8Array[] = []
    let got = 0
    let failed = false
    const reader = res.body!.getReader()
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        chunks.push(value)
        got += value.byteLength
        await each(got)
      }
    } catch {
      failed = true
    }
    return { got, failed, events: failed ? [] : parseSse(Buffer.concat(chunks).toString('utf8')) }
  }
  const completed = async (id: string, words: number) => {
    const deadline = Date.now() + 20_000
    while ((await execution(id)).status !== 'completed' && Date.now() < deadline) await Bun.sleep(50)
    expect((await execution(id)).result.length).toBe(2 * words)
  }

  test('a client that never reads: dropped once the backlog allowed waits for it, untaken for the stall time; the run completes all the same', async () => {
    // Three times the backlog allowed, then the model pauses past the stall time before its last word.
    const n = Math.ceil((BACKLOG / 100) * 3)
    expect(n * 100).toBeLessThan(HARD_BACKLOG)
    const res = await streamed(`WORDS ${n} HOLD ${STALL_MS + 500}`)
    expect(res.status).toBe(200)
    await completed(res.headers.get('x-execution-id')!, n)
    // The stream was dropped: what waited for its reader went with it.
    const { got, failed } = await readAll(res)
    expect(failed).toBe(true)
    expect(got).toBeLessThan(BACKLOG)
  })

  test('a client that reads, but falls behind by more than the hard bound: dropped as well; the run completes', async () => {
    // Twice the hard bound, taken a chunk every 20 ms: never idle for the stall time, ever further behind.
    const n = Math.ceil((HARD_BACKLOG / 100) * 2)
    expect(2 * n).toBeLessThan(MAX_CHARS)
    expect(n).toBeLessThan(MAX_PARTS)
    const res = await streamed(`WORDS ${n}`)
    const read = readAll(res, () => Bun.sleep(20))
    await completed(res.headers.get('x-execution-id')!, n)
    const { got, failed } = await read
    expect(failed).toBe(true)
    expect(got).toBeLessThan(n * 100 - HARD_BACKLOG)
  })

  // A reader slower than the model was dropped as one that had stopped (found from outside: 1 MB/s).
  test('a client that reads, more slowly than the model writes: kept, every event to the result', async () => {
    const n = Math.ceil((BACKLOG / 100) * 2.5)
    expect(n * 100).toBeLessThan(HARD_BACKLOG)
    const res = await streamed(`WORDS ${n}`)
    const id = res.headers.get('x-execution-id')!
    let got = 0
    // How much the reader had taken when the run ended (watched apart: a slow look-up must not stall the reader).
    let gotAtEnd = -1
    let reading = true
    const watch = (async () => {
      while (reading && gotAtEnd < 0) {
        await Bun.sleep(50)
        if ((await execution(id)).status === 'completed') gotAtEnd = got
      }
    })()
    // About 200 KB/s (a pause of 40 ms each 8 KB): well behind the model until its run has ended.
    let paused = 0
    const { events, failed } = await readAll(res, async (n) => {
      got = n
      if (got - paused > 8_000) {
        paused = got
        await Bun.sleep(40)
      }
    })
    reading = false
    await watch
    expect(failed).toBe(false)
    expect(gotAtEnd).toBeGreaterThan(0)
    expect(gotAtEnd).toBeLessThan(got - BACKLOG / 2)
    expect(events.at(-1)!.event).toBe('result')
    expect(events.at(-1)!.data.result.length).toBe(2 * n)
  })

  // Found reading the code for clock jumps (2026-12-05): how long a reader had taken nothing was
  // measured with the wall clock, so a clock stepped forward (NTP, a VM resumed, an operator's
  // `date -s`) made every reader then behind by the backlog allowed look stalled for that long,
  // and dropped it; one stepped back kept a stopped reader past its stall time.
  test('the wall clock stepped an hour forward while a reader pauses for less than the stall time: kept', async () => {
    const n = Math.ceil((BACKLOG / 100) * 2.5)
    expect(n * 100).toBeLessThan(HARD_BACKLOG)
    const res = await streamed(`WORDS ${n}`)
    const wall = Date.now
    let stepped = false
    try {
      const { events, failed } = await readAll(res, async () => {
        if (stepped) return
        stepped = true
        // A pause of a third of the stall time, the model writing on past the backlog allowed;
        // in its middle (once the writer has seen this chunk taken), the clock is stepped.
        await Bun.sleep(STALL_MS / 6)
        const offset = 3_600_000
        Date.now = () => wall() + offset
        await Bun.sleep(STALL_MS / 6)
      })
      expect(stepped).toBe(true)
      expect(failed).toBe(false)
      expect(events.at(-1)!.event).toBe('result')
      expect(events.at(-1)!.data.result.length).toBe(2 * n)
    } finally {
      Date.now = wall
    }
  })

  test('a client that reads: every event, to the result', async () => {
    const n = Math.ceil((BACKLOG / 100) * 3)
    const res = await streamed(`WORDS ${n}`)
    const events = parseSse(await res.text())
    expect(events.at(-1)!.event).toBe('result')
    expect(events.at(-1)!.data.result.length).toBe(2 * n)
  })
})

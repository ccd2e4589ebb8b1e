import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { agents, executionLogs, executions } from '../src/db/schema'
import { eq } from 'drizzle-orm'

import { leaseTime, renewLeases, startLeaseSweep, sweepLapsed } from '../src/engine/leases'
import { ageLeases } from './helpers/leases'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { parseSse, startProviderDouble, type ProviderDouble } from './helpers/providers'
import { freshPgSchema, ON_PG, sqliteOnly } from './helpers/pg'
import { oaiChunk, oaiDone, oaiFull, oaiStop, oaiUsage, rawStream, startScripted, type Scripted } from './helpers/scripted-provider'

let double: ProviderDouble
let scripted: Scripted
beforeAll(() => {
  double = startProviderDouble()
  scripted = startScripted()
})
afterAll(() => {
  double.stop()
  scripted.stop()
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function agent(t: TestApp, owner: Actor, o: Partial<typeof agents.$inferInsert> = {}) {
  const now = new Date(t.clock.now())
  return await t.db
    .insert(agents)
    .values({ id: newId('char'), organizationId: owner.organizationId, userId: owner.userId, name: 'Agent', slug: `a-${Math.random()}`, visibility: 'organization', createdAt: now, updatedAt: now, ...o })
    .returning()
    .get()
}

const app = (extra = {}) => makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', ...extra } })
const exec = (t: TestApp, a: Actor, id: string, body: object) => t.req('POST', `/api/v1/agents/${id}/execute`, { token: a.token, body })
const get = async (t: TestApp, a: Actor, id: string) => (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution

/** Waits for `fn` to hold: generous (10 s), since a loaded 2-core CI machine can be seconds behind. */
async function until(fn: () => Promise<boolean> | boolean, ms = 10_000) {
  const end = Date.now() + ms
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`condition not met in ${ms} ms: ${fn.toString().slice(0, 200)}`)
    await sleep(20)
  }
}

describe('delegation', () => {
  test('a two-level delegation tree: child executions at depth 1 and 2, results flow back', async () => {
    const t = await app()
    const a = await makeActor(t)
    const c = await agent(t, a, { name: 'Leaf' })
    const b = await agent(t, a, { name: 'Middle', subagentIds: [c.id] })
    const root = await agent(t, a, { name: 'Root', subagentIds: [b.id] })
    const r = await exec(t, a, root.id, { message: `DELEGATE ${b.id} DELEGATE ${c.id} hi` })
    expect(r.status).toBe(200)
    expect(r.body.result).toBe('Delegated: Delegated: Echo: hi (user turns: 1)')
    const tree = await t.req('GET', `/api/v1/executions/${r.body.executionId}/tree`, { token: a.token })
    expect(tree.status).toBe(200)
    const node = tree.body.tree
    expect(node).toMatchObject({ agentId: root.id, delegationDepth: 0, parentExecutionId: null })
    expect(node.toolCalls[0]).toMatchObject({ tool: 'delegate', arguments: { agentId: b.id } })
    expect(node.children).toHaveLength(1)
    expect(node.children[0]).toMatchObject({ agentId: b.id, agentName: 'Middle', delegationDepth: 1, parentExecutionId: node.id, status: 'completed' })
    expect(node.children[0].children[0]).toMatchObject({ agentId: c.id, delegationDepth: 2, status: 'completed', result: 'Echo: hi (user turns: 1)', children: [] })
    const kids = await t.req('GET', `/api/v1/executions?parentExecutionId=${node.id}`, { token: a.token })
    expect(kids.body.map((e: any) => e.id)).toEqual([node.children[0].id])
    const logs = await t.req('GET', `/api/v1/executions/${node.id}/logs`, { token: a.token })
    expect(logs.body.logs.map((l: any) => l.event)).toEqual(['started', 'tool_call', 'delegated', 'tool_result', 'completed'])
  })

  // Children of one parent to the same sub-agent shared one session: each one's model request
  // carried every earlier sibling's turns, a request size growing with the square of the siblings.
  test("each delegated child has a conversation of its own: a sub-agent called again by the same parent gets only its own message", async () => {
    const t = await app()
    const a = await makeActor(t)
    const child = await agent(t, a, { name: 'Child' })
    const root = await agent(t, a, { name: 'Root', subagentIds: [child.id], maxTurns: 4 })
    const before = double.requests.length
    // LOOP: the root delegates `ping` on each of its turns.
    const r = await exec(t, a, root.id, { message: 'LOOP' })
    // It loops until its turns are used up (max_turns_reached).
    expect([r.status, r.body.code]).toEqual([422, 'max_turns_reached'])
    const kids = (await t.req('GET', `/api/v1/executions?parentExecutionId=${r.body.details.executionId}`, { token: a.token })).body
    expect(kids.length).toBeGreaterThanOrEqual(3)
    const childRequests = double.requests.slice(before).filter((q) => (q.body.messages as { role: string; content: unknown }[]).at(-1)?.content === 'ping')
    expect(childRequests).toHaveLength(kids.length)
    for (const q of childRequests) expect((q.body.messages as { role: string; content: unknown }[]).filter((m) => m.role !== 'system')).toEqual([{ role: 'user', content: 'ping' }])
    for (const k of kids) expect(k.result).toBe('Echo: ping (user turns: 1)')
    expect(new Set(kids.map((k: { sessionId: string }) => k.sessionId)).size).toBe(kids.length)
  })

  // The run's `tool_call` line is written before its tool runs (src/engine/run.ts), so that what
  // a tool records comes after it by construction. The run wrote it as it read the call from the
  // model's stream, while the AI SDK ran the step's tools once the model's answer was in: a
  // tool that logs at once (a delegation refused for its depth) wrote its line first whenever
  // the run's write was the slower (a PostgreSQL round trip on a busy connection; here, 50 ms).
  test("a tool's own log lines come after the run's tool_call line of that call, however slow that line's write", async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: scripted.openaiBaseUrl, defaultModel: 'test-model', maxDelegationDepth: 0 } })
    const a = await makeActor(t)
    const leaves: Awaited<ReturnType<typeof agent>>[] = []
    for (let i = 0; i < 3; i++) leaves.push(await agent(t, a, { name: `Leaf ${i}` }))
    const root = await agent(t, a, { name: 'Root', subagentIds: leaves.map((l) => l.id) })
    const call = (index: number) => ({ index, id: `call_${index}`, type: 'function', function: { name: 'delegate', arguments: JSON.stringify({ agentId: leaves[index]!.id, message: `m${index}` }) } })
    scripted.handler = async (_req, body) => {
      if ((body.messages as { role: string }[]).some((m) => m.role === 'tool')) return rawStream(oaiFull('done'))
      return rawStream([oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: leaves.map((_, i) => call(i)) }, finish_reason: null }] }), oaiStop('tool_calls'), oaiUsage(), oaiDone])
    }
    // The run's database, whose writes of a tool_call line take 50 ms.
    const db = t.rt.db as unknown as { insert: (table: unknown) => any }
    const insert = db.insert.bind(db)
    db.insert = (table) => {
      const q = insert(table)
      if (table !== executionLogs) return q
      const values = q.values.bind(q)
      q.values = (v: { event: string }) => {
        const stmt = values(v)
        const run = stmt.run.bind(stmt)
        if (v.event === 'tool_call') stmt.run = async () => (await sleep(50), run())
        return stmt
      }
      return q
    }
    const r = await exec(t, a, root.id, { message: 'go' })
    expect([r.status, r.body.result]).toEqual([200, 'done'])
    const logs: { event: string; data: Record<string, string> }[] = (await t.req('GET', `/api/v1/executions/${r.body.executionId}/logs`, { token: a.token })).body.logs
    const at = (event: string, key: string, value: string) => logs.findIndex((l) => l.event === event && l.data[key] === value)
    leaves.forEach((leaf, i) => {
      const called = at('tool_call', 'toolCallId', `call_${i}`)
      const refused = at('delegation_refused', 'agentId', leaf.id)
      expect([i, called > 0, refused > called, at('tool_result', 'toolCallId', `call_${i}`) > refused]).toEqual([i, true, true, true])
    })
    expect(logs.map((l) => l.event).filter((e) => e === 'tool_call')).toHaveLength(3)
    expect([logs[0]!.event, logs.at(-1)!.event]).toEqual(['started', 'completed'])
  })

  // The tool named its sub-agents by bare ids ({"enum":["char_…","char_…"]}): the model could not
  // tell them apart, and one that named a sub-agent by its slug was refused.
  test("the delegate tool tells the model each sub-agent it offers (id, name, slug, role, description, shortened; never its system prompt, nor a sub-agent hidden from the run's user), and takes a slug for its sub-agent's id", async () => {
    const t = await app()
    const a = await makeActor(t, { role: 'member' })
    const b = await makeActor(t, { role: 'member' })
    const long = `Knows who reports to whom.\n\n${'Ask it about teams. '.repeat(40)}`
    const org = await agent(t, a, { name: 'Org chart', slug: 'org', role: 'Org  expert', description: long, systemPrompt: 'SECRET-PROMPT-OF-ORG' })
    const writer = await agent(t, a, { name: 'Writer', slug: 'writer', description: 'Writes prose' })
    const hidden = await agent(t, b, { name: 'B private helper', slug: 'b-private', description: 'Private to B', visibility: 'private' })
    const root = await agent(t, a, { name: 'Root', subagentIds: [org.id, writer.id, hidden.id] })
    const before = double.requests.length
    const r = await exec(t, a, root.id, { message: 'DELEGATE org hello' })
    expect(r.status).toBe(200)
    const first = double.requests.slice(before).find((q) => JSON.stringify(q.body.messages).includes('DELEGATE org hello'))!
    const delegate = first.body.tools.find((x: any) => x.function.name === 'delegate').function
    expect(delegate.parameters.properties.agentId.enum).toEqual([org.id, writer.id])
    const lines = (delegate.description as string).split('\n')
    const cut = long.replace(/\s+/g, ' ').trim().slice(0, 199)
    expect(lines.slice(1)).toEqual([`- ${org.id} "Org chart" (slug: org): role: Org expert; description: ${cut}…`, `- ${writer.id} "Writer" (slug: writer): description: Writes prose`])
    // The root's requests (the child's carries its own system prompt, as it should).
    const rootRequests = JSON.stringify(double.requests.slice(before).filter((q) => q.body.messages[0].content === 'You are Root.'))
    expect(rootRequests).toContain('Org chart')
    for (const never of ['SECRET-PROMPT-OF-ORG', hidden.id, 'B private helper', 'b-private', 'Private to B']) expect(rootRequests).not.toContain(never)
    // The slug is taken for its sub-agent: the call runs it, and is recorded (and shown) by its id.
    expect(r.body.result).toBe('Delegated: Echo: hello (user turns: 1)')
    const x = await get(t, a, r.body.executionId)
    expect(x.toolCalls[0]).toMatchObject({ tool: 'delegate', arguments: { agentId: org.id, message: 'hello' } })
    const tree = (await t.req('GET', `/api/v1/executions/${r.body.executionId}/tree`, { token: a.token })).body.tree
    expect(tree.children.map((c: any) => c.agentId)).toEqual([org.id])
    // A slug of no offered sub-agent is refused as an unknown id is: B's private helper's too.
    for (const ref of ['nope', 'b-private']) {
      const no = await exec(t, a, root.id, { message: `DELEGATE ${ref} hi` })
      expect(no.body.result).toBe(`Delegated: Error: ${ref} is not one of this agent's sub-agents.`)
      expect((await t.req('GET', `/api/v1/executions/${no.body.executionId}/tree`, { token: a.token })).body.tree.children).toEqual([])
    }
  })

  test('delegation past TEAMDAY_MAX_DELEGATION_DEPTH is refused; disallowedTools removes delegate', async () => {
    const t = await app({ maxDelegationDepth: 1 })
    const a = await makeActor(t)
    const c = await agent(t, a)
    const b = await agent(t, a, { subagentIds: [c.id] })
    const root = await agent(t, a, { subagentIds: [b.id] })
    const r = await exec(t, a, root.id, { message: `DELEGATE ${b.id} DELEGATE ${c.id} hi` })
    expect(r.body.result).toContain('delegation refused')
    const tree = (await t.req('GET', `/api/v1/executions/${r.body.executionId}/tree`, { token: a.token })).body.tree
    expect(tree.children[0].children).toEqual([])
    const locked = await agent(t, a, { subagentIds: [b.id], disallowedTools: ['delegate'] })
    const r2 = await exec(t, a, locked.id, { message: `DELEGATE ${b.id} hi` })
    expect(r2.body.result).toStartWith('Echo:')
    expect(double.requests.at(-1)!.body.tools).toBeUndefined()
    const deep = await exec(t, a, c.id, { message: 'x', delegationDepth: 2 })
    expect(deep.status).toBe(422)
    expect(deep.body.details[0].field).toBe('delegationDepth')
  })

  test('TEAMDAY_MAX_DELEGATIONS_PER_RUN bounds the child runs of one tree; the next run has its own budget', async () => {
    const t = await app({ maxDelegationsPerRun: 3 })
    const a = await makeActor(t)
    const c = await agent(t, a)
    const looper = await agent(t, a, { subagentIds: [c.id], maxTurns: 6 })
    for (let round = 0; round < 2; round++) {
      const r = await exec(t, a, looper.id, { message: 'LOOP' })
      expect([r.status, r.body.code]).toEqual([422, 'max_turns_reached'])
      const e = await get(t, a, r.body.details.executionId)
      expect(e.toolCalls).toHaveLength(6)
      for (const call of e.toolCalls.slice(0, 3)) expect(call.result).toStartWith('Echo: ping')
      for (const call of e.toolCalls.slice(3)) expect(call.result).toContain('the limit for one run (TEAMDAY_MAX_DELEGATIONS_PER_RUN)')
      const kids = (await t.req('GET', `/api/v1/executions?parentExecutionId=${e.id}`, { token: a.token })).body
      expect(kids).toHaveLength(3)
      const logs = (await t.req('GET', `/api/v1/executions/${e.id}/logs`, { token: a.token })).body.logs
      expect(logs.filter((l: any) => l.event === 'delegation_refused').map((l: any) => l.data?.reason ?? l.details?.reason)).toEqual(['tree_limit', 'tree_limit', 'tree_limit'])
    }
  })

  // A call refused for its depth took one of the tree's TEAMDAY_MAX_DELEGATIONS_PER_RUN, as did one
  // refused for its sub-agent: a tree whose children tried to go one level too deep ran out of
  // budget for children it never had.
  test("TEAMDAY_MAX_DELEGATIONS_PER_RUN counts the children a tree started: not a call refused for its depth or its sub-agent; a child whose model is not served is recorded, and counts", async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: scripted.openaiBaseUrl, defaultModel: 'test-model', maxDelegationsPerRun: 3, maxDelegationDepth: 1 } })
    const a = await makeActor(t)
    const leaf = await agent(t, a, { name: 'Leaf', systemPrompt: 'LEAF' })
    const middle = await agent(t, a, { name: 'Middle', systemPrompt: 'MIDDLE', subagentIds: [leaf.id] })
    const gone = await agent(t, a, { name: 'Gone', systemPrompt: 'GONE' })
    // Its model goes to Anthropic, which is not configured: recorded as a failed child.
    const unserved = await agent(t, a, { name: 'Unserved', model: 'claude-unserved-1' })
    const root = await agent(t, a, { name: 'Root', systemPrompt: 'ROOT', subagentIds: [middle.id, gone.id, unserved.id] })
    const call = (index: number, name: string, args: object) => ({ index, id: `call_${index}`, type: 'function', function: { name, arguments: JSON.stringify(args) } })
    const calls = (list: object[]) => rawStream([oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: list }, finish_reason: null }] }), oaiStop('tool_calls'), oaiUsage(), oaiDone])
    scripted.handler = async (_req, body) => {
      const messages = body.messages as { role: string; content: unknown }[]
      const who = String(messages.find((m) => m.role === 'system')?.content ?? '')
      const answered = messages.some((m) => m.role === 'tool')
      if (who.startsWith('ROOT')) {
        if (answered) return rawStream(oaiFull('root done'))
        // Archived after the run listed it: that call is refused for its sub-agent.
        await t.db.update(agents).set({ archived: true, archivedAt: new Date(t.clock.now()) }).where(eq(agents.id, gone.id)).run()
        return calls([
          call(0, 'delegate', { agentId: middle.id, message: 'first' }),
          call(1, 'delegate', { agentId: gone.id, message: 'archived meanwhile' }),
          call(2, 'delegate', { agentId: unserved.id, message: 'no provider' }),
          call(3, 'delegate', { agentId: middle.id, message: 'second' }),
          call(4, 'delegate', { agentId: middle.id, message: 'one too many' }),
        ])
      }
      // Each middle child asks for a grandchild at depth 2, past TEAMDAY_MAX_DELEGATION_DEPTH = 1.
      if (who.startsWith('MIDDLE')) return answered ? rawStream(oaiFull('middle done')) : calls([call(0, 'delegate', { agentId: leaf.id, message: 'too deep' })])
      return rawStream(oaiFull(`unexpected ${who}`))
    }
    const r = await exec(t, a, root.id, { message: 'go' })
    expect([r.status, r.body.result]).toEqual([200, 'root done'])
    const e = await get(t, a, r.body.executionId)
    const results = e.toolCalls.map((c: any) => String(c.result))
    expect(results[0]).toBe('middle done')
    expect(results[1]).toContain('not found, archived, or not visible')
    expect(results[2]).toContain('claude-unserved-1')
    expect(results[3]).toBe('middle done')
    expect(results[4]).toContain('the limit for one run (TEAMDAY_MAX_DELEGATIONS_PER_RUN)')
    const kids = (await t.req('GET', `/api/v1/executions?parentExecutionId=${e.id}`, { token: a.token })).body
    expect(kids.map((k: any) => [k.message, k.status]).sort()).toEqual([
      ['first', 'completed'],
      ['no provider', 'failed'],
      ['second', 'completed'],
    ])
    // Each middle child's call was refused for its depth (checked before the tree's count, which
    // the database answers as the child is recorded): neither took one of the tree's 3.
    const first = kids.find((k: any) => k.message === 'first')
    expect((await get(t, a, first.id)).toolCalls.map((c: any) => c.result)).toEqual([`Error: delegation refused: Delegation limit: execution ${first.id} is at depth 1; a child of it would be at depth 2, past the deepest a delegation tree may go (TEAMDAY_MAX_DELEGATION_DEPTH = 1). Nothing was started. Answer without delegating.`])
    const firstLogs = (await t.req('GET', `/api/v1/executions/${first.id}/logs`, { token: a.token })).body.logs
    expect(firstLogs.find((l: any) => l.event === 'delegation_refused')?.data).toEqual({ agentId: leaf.id, depth: 2, max: 1 })
    const second = kids.find((k: any) => k.message === 'second')
    expect((await get(t, a, second.id)).toolCalls.map((c: any) => c.result)[0]).toContain('(TEAMDAY_MAX_DELEGATION_DEPTH = 1). Nothing was started.')
    expect(await t.db.select().from(executions).where(eq(executions.parentExecutionId, first.id)).all()).toEqual([])
    const logs = (await t.req('GET', `/api/v1/executions/${e.id}/logs`, { token: a.token })).body.logs
    expect(logs.filter((l: any) => l.event === 'delegation_refused').map((l: any) => l.data.reason)).toEqual(['not_visible', 'tree_limit'])
    expect(logs.filter((l: any) => l.event === 'delegated')).toHaveLength(3)
    // Each recorded child has a session of its own.
    expect(new Set(kids.map((k: any) => k.sessionId)).size).toBe(3)
  })

  // A run out of turns while its model still called tools has no final answer: it was
  // `completed` with result "" (null in GET), which a client could not tell from an empty answer.
  test('maxTurns stops the tool loop: a run that used its turns without a final answer fails, max_turns_reached, alike in the answer, the stream and GET', async () => {
    const t = await app()
    const a = await makeActor(t)
    const c = await agent(t, a)
    const looper = await agent(t, a, { subagentIds: [c.id], maxTurns: 2 })
    const said = 'The run reached its turn limit (maxTurns = 2) without a final answer: the model was still calling tools at its last turn. Raise the agent\'s maxTurns (at most 500) or ask for less in one message.'
    const r = await exec(t, a, looper.id, { message: 'LOOP' })
    const id = r.body.details?.executionId
    expect([r.status, r.body.code, r.body.message, r.body.details]).toEqual([422, 'max_turns_reached', `Execution ${id} failed: ${said}`, { executionId: id, status: 'failed' }])
    const e = await get(t, a, id)
    expect([e.status, e.errorCode, e.error, e.result]).toEqual(['failed', 'max_turns_reached', said, null])
    expect(e.toolCalls).toHaveLength(2)
    const logs = (await t.req('GET', `/api/v1/executions/${e.id}/logs`, { token: a.token })).body.logs
    expect(logs.filter((l: any) => ['max_turns_reached', 'completed'].includes(l.event)).map((l: any) => [l.event, l.level, l.data])).toEqual([['max_turns_reached', 'error', { maxTurns: 2, message: said }]])
    // The stream ends with the same failure, as an `error` event, never a `result`.
    const s = await t.app.handle(new Request(`http://localhost/api/v1/agents/${looper.id}/execute`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'LOOP', stream: true }) }))
    const events = parseSse(await s.text())
    expect(events.some((ev) => ev.event === 'result')).toBe(false)
    const last = events.at(-1)!
    expect(last.event).toBe('error')
    expect(last.data).toMatchObject({ code: 'max_turns_reached', status: 'failed', message: `Execution ${last.data.executionId} failed: ${said}` })
    expect(await get(t, a, last.data.executionId)).toMatchObject({ status: 'failed', errorCode: 'max_turns_reached', error: said })
    // An agent without maxTurns has the default, 10, and the message says it is the default.
    const unbounded = await agent(t, a, { subagentIds: [c.id] })
    const d = await exec(t, a, unbounded.id, { message: 'LOOP' })
    expect([d.status, d.body.code]).toEqual([422, 'max_turns_reached'])
    expect(d.body.message).toContain('(maxTurns = 10, the default: the agent sets none)')
    expect((await get(t, a, d.body.details.executionId)).toolCalls).toHaveLength(10)
  })
})

describe('cancel', () => {
  test('cancel mid-stream stops the stream, the provider request and running children within 1 s', async () => {
    const t = await app()
    const a = await makeActor(t)
    const b = await agent(t, a)
    const root = await agent(t, a, { subagentIds: [b.id] })
    const res = await t.app.handle(
      new Request(`http://localhost/api/v1/agents/${root.id}/execute`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: `DELEGATE ${b.id} SLOW`, stream: true }) }),
    )
    const reader = res.body!.getReader()
    const first = new TextDecoder().decode((await reader.read()).value) + new TextDecoder().decode((await reader.read()).value)
    const id = /"executionId":"(exec_\w+)"/.exec(first)![1]!
    let child: any
    await until(async () => {
      const kids = (await t.req('GET', `/api/v1/executions?parentExecutionId=${id}`, { token: a.token })).body
      child = kids[0]
      return child?.status === 'running'
    })
    await sleep(250) // a few words streamed
    const abortedBefore = double.aborted
    const c = await t.req('POST', `/api/v1/executions/${id}/cancel`, { token: a.token })
    expect(c.status).toBe(200)
    expect(c.body.execution.status).toBe('cancelled')
    // The stream ends with the cancel: not timed here (a loaded machine can take a second to write
    // the run's end); a child left running would answer on for 10 s, and its provider request
    // would end without the abort waited for below.
    let rest = ''
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      rest += new TextDecoder().decode(value)
    }
    expect(parseSse(rest).at(-1)).toMatchObject({ event: 'error', data: { status: 'cancelled' } })
    // Cancelled during its delegate call: that tool_use block is stopped before the error (it was
    // left open: a client pairing blocks waited on it).
    const blocks = parseSse(first + rest).filter((e) => e.event === 'message')
    const started_ = blocks.filter((e) => e.data.type === 'content_block_start').map((e) => e.data.index)
    const stopped = blocks.filter((e) => e.data.type === 'content_block_stop').map((e) => e.data.index)
    expect(blocks.some((e) => e.data.content_block?.type === 'tool_use')).toBe(true)
    expect(stopped.sort()).toEqual(started_.sort())
    expect((await get(t, a, child.id)).status).toBe('cancelled')
    await until(() => double.aborted > abortedBefore)
    // cancelling again is a no-op; a finished one is 409
    const again = await t.req('POST', `/api/v1/executions/${id}/cancel`, { token: a.token })
    expect(again.status).toBe(200)
    expect(again.body.execution.status).toBe('cancelled')
    const done = await exec(t, a, b.id, { message: 'quick' })
    const late = await t.req('POST', `/api/v1/executions/${done.body.executionId}/cancel`, { token: a.token })
    expect(late.status).toBe(409)
    expect(late.body.code).toBe('invalid_state')
  })

  test('the cancel answer is the run as it ended: its message, its partial answer, and what a later GET shows', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const slow = await exec(t, a, ag.id, { message: 'SLOW', async: true })
    const id = slow.body.executionId
    // A few words streamed (one every 100 ms): the run has them once it has relayed them. A fixed
    // sleep was not enough on a loaded machine, where the run may not even have reached the model.
    // (Counted from whenever this subscribes: two words relayed means the run holds at least "w0 w1 ".)
    let words = 0
    const unsubscribe = t.rt.engine.subscribe(id, (e) => {
      if (e.type === 'text') words += (e.text.match(/\S+/g) ?? []).length
    })
    await until(() => words >= 2)
    unsubscribe()
    const c = await t.req('POST', `/api/v1/executions/${id}/cancel`, { token: a.token })
    expect(c.status).toBe(200)
    const answered = c.body.execution
    expect(answered.status).toBe('cancelled')
    expect(answered.messages.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([['user', 'SLOW']])
    expect(answered.result).toStartWith('w0 w1 ')
    // Nothing changes after the answer: it was the final row.
    await sleep(100)
    expect(await get(t, a, id)).toEqual(answered)
  })

  test('concurrency limit queues as pending; cancelling the running one lets the next run', async () => {
    const t = await app({ maxConcurrentExecutions: 1 })
    const a = await makeActor(t)
    const viewer = await makeActor(t, { role: 'viewer' })
    const ag = await agent(t, a)
    const slow = await exec(t, a, ag.id, { message: 'SLOW', async: true })
    // A millisecond later: runs created in the same millisecond are not ordered among themselves.
    t.clock.advance(1)
    const next = await exec(t, a, ag.id, { message: 'after', async: true })
    await until(async () => (await get(t, a, slow.body.executionId)).status === 'running')
    await sleep(100)
    expect((await get(t, a, next.body.executionId)).status).toBe('pending')
    const denied = await t.req('POST', `/api/v1/executions/${slow.body.executionId}/cancel`, { token: viewer.token })
    expect(denied.status).toBe(403)
    await t.req('POST', `/api/v1/executions/${slow.body.executionId}/cancel`, { token: a.token })
    await until(async () => (await get(t, a, next.body.executionId)).status === 'completed')
    expect((await get(t, a, slow.body.executionId)).status).toBe('cancelled')
  })
})

describe('executions list and visibility', () => {
  test('bare array, filters, limit; members see own + shared agents; admins all; other org 404', async () => {
    const t = await app()
    const a = await makeActor(t)
    const m2 = await makeActor(t)
    const admin = await makeActor(t, { role: 'admin' })
    const other = await makeActor(t, { org: 'other' })
    const shared = await agent(t, a)
    const priv = await agent(t, a, { visibility: 'private' })
    const e1 = await exec(t, a, shared.id, { message: 'one' })
    const e2 = await exec(t, a, priv.id, { message: 'two' })
    await exec(t, a, priv.id, { message: 'FAIL' })
    const mine = await t.req('GET', '/api/v1/executions', { token: a.token })
    expect(Array.isArray(mine.body)).toBe(true)
    expect(mine.body).toHaveLength(3)
    expect((await t.req('GET', '/api/v1/executions?status=failed', { token: a.token })).body).toHaveLength(1)
    expect((await t.req('GET', `/api/v1/executions?agentId=${priv.id}`, { token: a.token })).body).toHaveLength(2)
    expect((await t.req('GET', '/api/v1/executions?limit=1', { token: a.token })).body).toHaveLength(1)
    expect((await t.req('GET', '/api/v1/executions?since=2999-01-01T00:00:00Z', { token: a.token })).body).toHaveLength(0)
    const bad = await t.req('GET', '/api/v1/executions?limit=500', { token: a.token })
    expect(bad.status).toBe(422)
    expect((await t.req('GET', '/api/v1/executions?since=yesterday', { token: a.token })).status).toBe(422)
    const theirs = await t.req('GET', '/api/v1/executions', { token: m2.token })
    expect(theirs.body.map((e: any) => e.id)).toEqual([e1.body.executionId])
    expect((await t.req('GET', `/api/v1/executions/${e2.body.executionId}`, { token: m2.token })).status).toBe(404)
    expect((await t.req('GET', '/api/v1/executions', { token: admin.token })).body).toHaveLength(3)
    expect((await t.req('GET', `/api/v1/executions/${e1.body.executionId}`, { token: other.token })).status).toBe(404)
    expect((await t.req('GET', `/api/v1/executions/${e1.body.executionId}/tree`, { token: other.token })).status).toBe(404)
    expect((await t.req('POST', `/api/v1/executions/${e1.body.executionId}/cancel`, { token: other.token })).status).toBe(404)
  })
})

describe('Anthropic provider', async () => {
  const anth = (extra = {}) => makeTestApp({ config: { anthropicApiKey: 'sk-ant-test', anthropicBaseUrl: double.anthropicBaseUrl, ...extra } })

  test('claude-* models run through the Anthropic Messages API, sync and stream, with tool calls', async () => {
    const t = await anth({ openaiBaseUrl: double.openaiBaseUrl })
    const a = await makeActor(t)
    const leaf = await agent(t, a, { model: 'gpt-test' })
    const ag = await agent(t, a, { model: 'claude-test', systemPrompt: 'Be brief.', subagentIds: [leaf.id] })
    const r = await exec(t, a, ag.id, { message: 'bonjour' })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ result: 'Echo: bonjour (user turns: 1)', usage: { inputTokens: 13, outputTokens: 5 } })
    const sent = double.requests.at(-1)!
    expect(sent.path).toBe('/v1/messages')
    expect(JSON.stringify(sent.body.system)).toContain('Be brief.')
    const s = await t.app.handle(new Request(`http://localhost/api/v1/agents/${ag.id}/execute`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ message: `DELEGATE ${leaf.id} hey` }) }))
    const events = parseSse(await s.text())
    const tool = events.find((e) => e.data.type === 'content_block_start' && e.data.content_block?.type === 'tool_use')
    expect(tool?.data.content_block.name).toBe('delegate')
    expect(events.some((e) => e.data.type === 'content_block_stop')).toBe(true)
    expect(events.at(-1)).toMatchObject({ event: 'result', data: { result: 'Delegated: Echo: hey (user turns: 1)' } })
    // the gpt-* sub-agent went to the OpenAI-compatible endpoint
    expect(double.requests.some((q) => q.path === '/v1/chat/completions' && q.body.model === 'gpt-test')).toBe(true)
  })

  test('TEAMDAY_PROVIDER forces a provider; forcing an unconfigured one fails the execution (422 model_not_served)', async () => {
    const t = await anth({ provider: 'openai' })
    const a = await makeActor(t)
    const ag = await agent(t, a, { model: 'claude-test' })
    const r = await exec(t, a, ag.id, { message: 'x' })
    expect(r.status).toBe(422)
    expect(r.body.code).toBe('model_not_served')
    expect(r.body.message).toContain('TEAMDAY_PROVIDER=openai')
    const t2 = await anth()
    const a2 = await makeActor(t2)
    const r2 = await exec(t2, a2, (await agent(t2, a2, { model: 'claude-test' })).id, { message: 'FAIL' })
    expect(r2.status).toBe(502)
    expect(r2.body.message).toContain('upstream exploded')
  })
})

describe('operations', () => {
  test('a renewal never shortens a lease: one that read the clock earlier and lands later leaves the later one (two renewals in flight at once, a test and the watcher under a loaded CI, failed two live runs)', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const now = t.clock.now()
    const id = newId('exec')
    // The later renewal (a minute's lease, as of now) landed first.
    await t.db.insert(executions).values({ id, organizationId: a.organizationId, userId: a.userId, agentId: ag.id, agentName: 'A', agentVisibility: 'organization', chatId: 'c', sessionId: 'c', message: 'm', status: 'running', instanceId: 'inst_a', leaseExpiresAt: leaseTime(now, 60_000), createdAt: new Date(now), updatedAt: new Date(now) } as any).run()
    const lease = async () => (await t.db.select({ lease: executions.leaseExpiresAt }).from(executions).where(eq(executions.id, id)).get())!.lease!.getTime()
    const before = await lease()
    await renewLeases(t.rt.db, [id], 'inst_a', () => now, 1000)
    expect(await lease()).toBe(before)
  })

  // What `teamday serve` runs at start-up and every half lease (src/cli/admin/serve.ts).
  const sweepOf = (t: TestApp, clock = t.clock) => ({ db: t.rt.db, clock, log: t.rt.log, instanceId: t.rt.engine.instanceId, leaseMs: t.rt.config.executionLeaseMs })

  test('restart after a crash: the previous process\'s unfinished runs fail once their lease lapses (TEAMDAY_EXECUTION_LEASE_MS, 30 s), those without a lease at once', async () => {
    const t = await app()
    expect(t.rt.config.executionLeaseMs).toBe(30_000) // the default the README names
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const now = t.clock.now()
    const ids: string[] = []
    // What a crashed process left: a running and a queued run whose leases it renewed a moment
    // ago, a running one from before leases (none), and one that completed.
    for (const [status, lease] of [['running', now + 30_000], ['pending', now + 30_000], ['running', null], ['completed', null]] as const) {
      const id = newId('exec')
      const at = new Date(now)
      await t.db.insert(executions).values({ id, organizationId: a.organizationId, userId: a.userId, agentId: ag.id, agentName: ag.name, agentVisibility: 'organization', chatId: 'c', sessionId: 'c', status, message: 'm', instanceId: 'inst_crashed', leaseExpiresAt: lease === null ? null : (leaseTime(now, lease - now) as unknown as Date), createdAt: at, updatedAt: at }).run()
      ids.push(id)
    }
    const statuses = async () => (await Promise.all(ids.map((id) => get(t, a, id)))).map((e) => e.status)
    // The start: the crashed process could be a live neighbour (--reuse-port) until its leases lapse.
    const sweep = await startLeaseSweep(sweepOf(t))
    sweep.stop()
    expect(sweep.interrupted).toBe(1)
    expect(await statuses()).toEqual(['running', 'pending', 'failed', 'completed'])
    await ageLeases(t, 25_000)
    expect(await sweepLapsed(sweepOf(t))).toBe(0)
    await ageLeases(t, 5_001)
    expect(await sweepLapsed(sweepOf(t))).toBe(2)
    expect(await statuses()).toEqual(['failed', 'failed', 'failed', 'completed'])
    const r = await get(t, a, ids[0]!)
    expect(r.error).toContain('lease lapsed')
  })

  // serve's first housekeeping pass ran with the start's sweep, between its listening line and its
  // first answers: it now comes once the start is over (src/cli/admin/serve.ts).
  test('what rides on the sweep (the housekeeping) is told of the start alsoFirstAfterMs after the start-up sweep, not with it; a stop before then cancels it', async () => {
    const t = await app()
    const ticks: number[] = []
    const periodic = { tick: () => void ticks.push(Date.now()), stop: async () => {} }
    const told = await startLeaseSweep({ ...sweepOf(t), also: [periodic], alsoFirstAfterMs: 50 })
    expect(ticks).toHaveLength(0)
    for (const end = Date.now() + 10_000; ticks.length === 0 && Date.now() < end; ) await Bun.sleep(10)
    await told.stop()
    expect(ticks).toHaveLength(1)
    const cancelled = await startLeaseSweep({ ...sweepOf(t), also: [periodic], alsoFirstAfterMs: 50 })
    await cancelled.stop()
    await Bun.sleep(200)
    expect(ticks).toHaveLength(1)
    // Without it, with the sweep, as before (the tests' runtimes, any other caller).
    const atOnce = await startLeaseSweep({ ...sweepOf(t), also: [periodic] })
    await atOnce.stop()
    expect(ticks).toHaveLength(2)
  })

  test("this instance's own run that its engine no longer holds (its end could not be recorded: the database out of reach, a full disk) fails once its lease lapses; one it runs does not", async () => {
    const t = await app()
    const a = await makeActor(t, { role: 'admin' })
    const ag = await agent(t, a)
    const live = (await exec(t, a, ag.id, { message: 'HANG', async: true })).body.executionId
    await until(async () => (await get(t, a, live)).status === 'running')
    // What a failed record leaves: a row of this instance, `running`, that nothing here runs.
    const orphan = newId('exec')
    const at = new Date(t.clock.now())
    await t.db.insert(executions).values({ id: orphan, organizationId: a.organizationId, userId: a.userId, agentId: ag.id, agentName: ag.name, agentVisibility: 'organization', chatId: 'c', sessionId: 'c', status: 'running', message: 'm', instanceId: t.rt.engine.instanceId, leaseExpiresAt: leaseTime(t.clock.now(), 30_000) as unknown as Date, createdAt: at, updatedAt: at }).run()
    const sweep = { ...sweepOf(t), held: () => t.rt.engine.held() }
    expect(t.rt.engine.held()).toEqual([live])
    expect(await sweepLapsed(sweep)).toBe(0)
    await ageLeases(t, 30_001)
    await t.db.update(executions).set({ leaseExpiresAt: leaseTime(t.clock.now(), -1) as unknown as Date }).where(eq(executions.id, live)).run()
    expect(await sweepLapsed(sweep)).toBe(1)
    expect(await get(t, a, orphan)).toMatchObject({ status: 'failed', error: expect.stringContaining('lease lapsed') })
    expect((await get(t, a, live)).status).toBe('running')
    await t.req('POST', `/api/v1/executions/${live}/cancel`, { token: a.token })
  })

  test('a second process on the same database (--reuse-port) leaves the first one\'s running and queued runs alone; once the first stops renewing its leases, they fail', async () => {
    const key = crypto.getRandomValues(new Uint8Array(32))
    const config = { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxConcurrentExecutions: 1, executionLeaseMs: 1000 }
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'teamday-two-'))
    // One SQLite file, or one PostgreSQL schema: two runtimes, each with its own connection and engine.
    const where = ON_PG ? { pg: await freshPgSchema() } : { dbPath: join(dir, 'shared.db') }
    const first = await makeTestApp({ ...where, key, config })
    const second = await makeTestApp({ ...where, key, config })
    try {
      const a = await makeActor(first, { role: 'admin' })
      const ag = await agent(first, a)
      const running = (await exec(first, a, ag.id, { message: 'HANG', async: true })).body.executionId
      await until(async () => (await get(first, a, running)).status === 'running')
      const queued = (await exec(first, a, ag.id, { message: 'HANG too', async: true })).body.executionId
      expect((await get(first, a, queued)).status).toBe('pending')
      // The second process starts, as `teamday serve` does, and sweeps every half lease (500 ms).
      const sweep = await startLeaseSweep(sweepOf(second, first.clock))
      expect(sweep.interrupted).toBe(0)
      await sleep(700) // the first process's watcher checks its rows every 250 ms
      sweep.stop()
      expect([first.rt.engine.runningCount, first.rt.engine.queued]).toEqual([1, 1])
      expect([(await get(second, a, running)).status, (await get(second, a, queued)).status]).toEqual(['running', 'pending'])
      // Time passes; the first process renews its leases (its watcher does, every lease/3).
      await ageLeases(first, 5_000)
      await first.rt.engine.renewLeases()
      expect(await sweepLapsed(sweepOf(second, first.clock))).toBe(0)
      // The first process dies (kill -9: it renews nothing more); its leases lapse.
      first.rt.engine.renewLeases = async () => {}
      await ageLeases(first, 1_001)
      expect(await sweepLapsed(sweepOf(second, first.clock))).toBe(2)
      for (const id of [running, queued]) expect(await get(second, a, id)).toMatchObject({ status: 'failed', error: expect.stringContaining('lease lapsed') })
      // (Not dead here, only silent: it sees the rows end and stops, its model call with it.)
      await until(() => first.rt.engine.runningCount === 0 && first.rt.engine.queued === 0)
    } finally {
      await Promise.all([first.rt.engine.shutdown(0), second.rt.engine.shutdown(0)])
      if (!ON_PG) await Promise.all([first.rt.close(), second.rt.close()])
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('graceful shutdown: running executions that outlive the grace period fail (a waiting caller gets 503 with Retry-After); new ones get 503', async () => {
    const t = await app()
    const a = await makeActor(t)
    const ag = await agent(t, a)
    const slow = await exec(t, a, ag.id, { message: 'SLOW', async: true })
    const waiting = exec(t, a, ag.id, { message: 'SLOW' })
    await until(async () => (await get(t, a, slow.body.executionId)).status === 'running')
    await until(async () => (await t.req('GET', '/api/v1/executions?status=running', { token: a.token })).body.length === 2)
    await t.rt.engine.shutdown(100)
    expect(await get(t, a, slow.body.executionId)).toMatchObject({ status: 'failed', error: 'Execution interrupted by server shutdown' })
    // Every 503 says when to come back: the interrupted synchronous run's had no Retry-After.
    const interrupted = await waiting
    expect([interrupted.status, interrupted.body.code, interrupted.headers.get('retry-after')]).toEqual([503, 'service_unavailable', '5'])
    const late = await exec(t, a, ag.id, { message: 'x' })
    expect([late.status, late.headers.get('retry-after')]).toEqual([503, '5'])
  })
})

describe('cancel through another instance', () => {
  test.skipIf(sqliteOnly('two connections to one SQLite file; on PostgreSQL test/pg-instances.test.ts cancels across instances'))('a cancel recorded by another instance on the same database stops the run here within 1 s', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs')
    const { join } = await import('node:path')
    const { tmpdir } = await import('node:os')
    const dir = mkdtempSync(join(tmpdir(), 'teamday-engine-'))
    try {
      const key = crypto.getRandomValues(new Uint8Array(32))
      const config = { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' }
      const one = await makeTestApp({ dbPath: join(dir, 'shared.db'), key, config })
      const two = await makeTestApp({ dbPath: join(dir, 'shared.db'), key, config }) // its own connection and engine
      const a = await makeActor(one, { role: 'admin' })
      const ag = await agent(one, a)
      const abortedBefore = double.aborted
      const started = await one.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: a.token, body: { message: 'HANG', async: true } })
      expect(started.status).toBe(202)
      const id = started.body.executionId
      await until(async () => (await get(two, a, id))?.status === 'running')
      const finished = one.rt.engine.wait(id)!
      expect(finished).toBeDefined()
      let row: Awaited<typeof finished> | undefined
      void finished.then((r) => (row = r))
      const c = await two.req('POST', `/api/v1/executions/${id}/cancel`, { token: a.token })
      expect(c.status).toBe(200)
      expect(c.body.execution.status).toBe('cancelled')
      // Stopped by this instance's check of its rows (every Engine.CANCEL_POLL_MS, 250 ms), not
      // timed here (a loaded machine can be a second late): nothing else stops a HANG run within
      // the wait (its lease is 30 s, its timeout 5 min), so without the check this fails.
      await until(() => row !== undefined)
      expect(row!.status).toBe('cancelled')
      await until(() => double.aborted > abortedBefore)
      expect((await get(one, a, id)).status).toBe('cancelled')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

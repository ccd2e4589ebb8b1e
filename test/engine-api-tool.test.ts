/**
 * The `teamday_api` tool (src/engine/api-tool.ts): a run in a space whose secrets hold
 * TEAMDAY_TOKEN calls this server's /api/v1 in-process with that token, under every rule an
 * outside client meets (scopes, role, rate limit, revocation, audit), and the token is nowhere the
 * model, the client or the logs can see it. The model's side is scripted (test/helpers/scripted-provider.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { executionLogs, executions, secrets } from '../src/db/schema'
import { apiCaller, MAX_API_RESULT_CHARS, refusedPath } from '../src/engine/api-tool'
import { makeActor, makeToken, type Actor, type TestApp } from './helpers/app'
import { agentApiToolWorkload, atRestApp, expectNoPlaintext, readAtRest } from './helpers/at-rest'
import { parseSse, startProviderDouble, type ProviderDouble } from './helpers/providers'
import { agent, exec, getExec, getLogs, makeTestApp, oaiChunk, oaiDone, oaiFull, oaiStop, oaiUsage, rawStream, startScripted, type Scripted } from './helpers/scripted-provider'

let p: Scripted
let double: ProviderDouble
beforeAll(() => {
  p = startScripted()
  double = startProviderDouble()
})
afterAll(() => {
  p.stop()
  double.stop()
})

type Call = Record<string, unknown> | (() => Promise<Record<string, unknown>>)

const toolCall = (id: string, name: string, args: object) => [
  oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id, type: 'function', function: { name, arguments: JSON.stringify(args) } }] }, finish_reason: null }] }),
  oaiStop('tool_calls'),
  oaiUsage(),
  oaiDone,
]

/** The model asks for `calls` one after another (each after the previous result), then answers `final`. */
function script(calls: Call[], final = 'done') {
  p.handler = async (_req, body) => {
    const n = (body.messages as any[]).filter((m) => m.role === 'tool').length
    if (n < calls.length && body.tools?.some((t: any) => t.function?.name === 'teamday_api')) {
      const c = calls[n]!
      return rawStream(toolCall(`call_${n}`, 'teamday_api', typeof c === 'function' ? await c() : c))
    }
    return rawStream(oaiFull(final))
  }
}

interface World {
  t: TestApp
  admin: Actor
  spaceId: string
  ag: Awaited<ReturnType<typeof agent>>
}

/** An admin, a space (holding TEAMDAY_TOKEN = `token` unless null), an agent of the admin's. */
async function world(token: (t: TestApp, admin: Actor) => Promise<string | null>, config = {}): Promise<World & { token: string | null }> {
  const t = await makeTestApp({ config: { openaiBaseUrl: p.openaiBaseUrl, defaultModel: 'test-model', ...config } })
  const admin = await makeActor(t, { role: 'admin' })
  const space = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Ops', visibility: 'organization' } })
  const spaceId = space.body.space.id as string
  const value = await token(t, admin)
  if (value !== null) {
    const set = await t.req('POST', `/api/v1/spaces/${spaceId}/secrets`, { token: admin.token, body: { secrets: { TEAMDAY_TOKEN: value, OTHER: 'x' } } })
    expect(set.status).toBeLessThan(300)
  }
  const ag = await agent(t, admin, { name: 'Operator' })
  return { t, admin, spaceId, ag, token: value }
}

const results = (row: any) => (row.toolCalls as any[]).map((c) => String(c.result))
const rawRows = async (t: TestApp, id: string) => JSON.stringify({ x: await t.db.select().from(executions).where(eq(executions.id, id)).all(), l: await t.db.select().from(executionLogs).where(eq(executionLogs.executionId, id)).all() })
/** The token, or a long piece of it, is in `text`. */
const holds = (text: string, token: string) => [token, token.slice(3), token.slice(0, 16), token.slice(-16)].some((x) => text.includes(x))

describe('teamday_api: the token\'s rights, as for any client', () => {
  test("a viewer's token lists agents (200) and cannot create one (403); the token is nowhere: row, logs, stream, server log, model", async () => {
    let viewer!: Actor
    const w = await world(async (t) => (viewer = await makeActor(t, { role: 'viewer' })).token)
    script([{ method: 'GET', path: '/api/v1/agents' }, { method: 'POST', path: '/api/v1/agents', body: { name: 'Sneaky' } }], 'all done')
    const before = p.requests.length
    const r = await exec(w.t, w.admin, w.ag.id, { message: 'list the agents', spaceId: w.spaceId, stream: true })
    expect(r.status).toBe(200)
    const events = parseSse(r.text)
    const id = events.find((e) => e.event === 'meta')!.data.executionId
    const row = await getExec(w.t, w.admin, id)
    expect(row.status).toBe('completed')
    expect(row.result).toBe('all done')
    const [list, create] = results(row)
    expect(list).toStartWith('HTTP 200\n')
    expect(JSON.parse(list!.slice('HTTP 200\n'.length)).agents.map((a: any) => a.name)).toContain('Operator')
    expect(create).toStartWith('HTTP 403\n')
    expect(JSON.parse(create!.slice('HTTP 403\n'.length))).toMatchObject({ error: true, statusCode: 403, code: 'forbidden' })
    expect(row.toolCalls.map((c: any) => c.tool)).toEqual(['teamday_api', 'teamday_api'])
    // Nothing was created.
    expect((await w.t.req('GET', '/api/v1/agents', { token: w.admin.token })).body.agents.map((a: any) => a.name)).not.toContain('Sneaky')
    // The execution's log records each call: method, path, status.
    const logs = await getLogs(w.t, w.admin, id)
    expect(logs.filter((l: any) => l.event === 'api_call').map((l: any) => l.data)).toEqual([
      { method: 'GET', path: '/api/v1/agents', status: 200 },
      { method: 'POST', path: '/api/v1/agents', status: 403 },
    ])
    // The stream relayed the tool calls (tool_use blocks).
    expect(r.text).toContain('teamday_api')
    const model = JSON.stringify(p.requests.slice(before))
    expect(model).toContain('teamday_api')
    expect(model).toContain('HTTP 403')
    for (const [where, text] of Object.entries({ stream: r.text, row: JSON.stringify(row), logs: JSON.stringify(logs), raw: await rawRows(w.t, id), server: w.t.logs.join('\n'), model })) {
      expect({ where, leaked: holds(text, viewer.token) }).toEqual({ where, leaked: false })
    }
  })

  test("a token's scopes apply: one with agents:read only gets 403 insufficient_scope on tasks; a write is audited with the token as actor", async () => {
    let second!: { token: string; id: string }
    let narrow!: { token: string; id: string }
    const w = await world(async (t, admin) => {
      const member = await makeActor(t, { role: 'member' })
      narrow = await makeToken(t, member, { scopes: ['agents:read'] })
      second = await makeToken(t, admin)
      return second.token
    })
    script([{ method: 'POST', path: `/api/v1/spaces/${w.spaceId}/secrets`, body: { secrets: { FROM_AGENT: 'set by an agent' } } }])
    const row = (await exec(w.t, w.admin, w.ag.id, { message: 'set a secret', spaceId: w.spaceId })).body
    expect(row.status).toBe('completed')
    expect(results(await getExec(w.t, w.admin, row.executionId))[0]).toMatch(/^HTTP 20\d\n/)
    const audit = await w.t.req('GET', '/api/v1/audit-events', { token: w.admin.token, headers: {} })
    const mine = (audit.body.events as any[]).filter((e) => e.actorTokenId === second.id)
    expect(mine.map((e) => e.type)).toEqual(['secret.set'])
    expect(mine[0]).toMatchObject({ actorUserId: w.admin.userId, source: 'api', targetId: w.spaceId, userAgent: `teamday-agent (execution ${row.executionId})`, details: { keys: ['FROM_AGENT'] } })

    // The same space now holds the narrow token.
    await w.t.req('POST', `/api/v1/spaces/${w.spaceId}/secrets`, { token: w.admin.token, body: { secrets: { TEAMDAY_TOKEN: narrow.token } } })
    script([{ method: 'GET', path: '/api/v1/tasks' }, { method: 'GET', path: '/api/v1/agents' }])
    const again = await exec(w.t, w.admin, w.ag.id, { message: 'list tasks', spaceId: w.spaceId })
    const [tasks, agents] = results(await getExec(w.t, w.admin, again.body.executionId))
    expect(tasks).toStartWith('HTTP 403\n')
    expect(tasks).toContain('insufficient_scope')
    expect(agents).toStartWith('HTTP 200\n')
  })

  test('revoking the token makes the next call a 401 result, and the run still completes', async () => {
    let viewer!: Actor
    const w = await world(async (t) => (viewer = await makeActor(t, { role: 'viewer' })).token)
    script([
      { method: 'GET', path: '/api/v1/agents' },
      async () => {
        const revoked = await w.t.req('DELETE', `/api/v1/tokens/${viewer.tokenId}`, { token: w.admin.token })
        expect(revoked.status).toBe(200)
        return { method: 'GET', path: '/api/v1/agents' }
      },
    ])
    const r = await exec(w.t, w.admin, w.ag.id, { message: 'twice', spaceId: w.spaceId })
    expect(r.status).toBe(200)
    const [first, second] = results(await getExec(w.t, w.admin, r.body.executionId))
    expect(first).toStartWith('HTTP 200\n')
    expect(second).toStartWith('HTTP 401\n')
    expect(JSON.parse(second!.slice('HTTP 401\n'.length))).toMatchObject({ statusCode: 401, code: 'token_revoked' })
  })

  test('the rate limit of the token applies: past it the result is 429 with Retry-After', async () => {
    const w = await world(async (t) => (await makeActor(t, { role: 'member' })).token, { rateLimit: { limit: 5, windowMs: 60_000 }, userRateLimit: null })
    script([1, 2, 3, 4, 5, 6].map(() => ({ method: 'GET', path: '/api/v1/agents' })))
    const r = await exec(w.t, w.admin, w.ag.id, { message: 'thrice', spaceId: w.spaceId })
    expect(r.status).toBe(200)
    const out = results(await getExec(w.t, w.admin, r.body.executionId))
    expect(out.map((x) => x.split('\n')[0]!.split(' ')[1])).toEqual(['200', '200', '200', '200', '200', '429'])
    expect(out[5]).toMatch(/^HTTP 429 \(Retry-After: \d+ s\)\n/)
    expect(out[5]).toContain('rate_limited')
  })
})

describe('teamday_api: what it refuses, and how much it gives back', () => {
  test('paths outside /api/v1, sneaky paths, execute routes, token creation and rotation are refused without a request', async () => {
    const w = await world(async (t, admin) => admin.token)
    const refused = [
      { method: 'GET', path: '/api/tokens/list' },
      { method: 'GET', path: '/metrics' },
      { method: 'GET', path: 'api/v1/agents' },
      { method: 'GET', path: 'http://example.com/api/v1/agents' },
      { method: 'GET', path: '/api/v1/../tokens/list' },
      { method: 'GET', path: '/api/v1/%2e%2e/%2e%2e/metrics' },
      { method: 'GET', path: '/api/v1/agents%2F..%2F..%2Fmetrics' },
      { method: 'GET', path: '/api/v1/agents?limit=1' },
      { method: 'PUT', path: '/api/v1/agents' },
      { method: 'POST', path: '/api/v1/execute', body: { message: 'hi' } },
      { method: 'POST', path: `/api/v1/agents/${w.ag.id}/execute`, body: { message: 'again' } },
      { method: 'POST', path: `/api/v1/agents/${w.ag.id}/Execute/`, body: { message: 'again' } },
      { method: 'POST', path: '/api/v1/tokens', body: { name: 'new' } },
      { method: 'POST', path: `/api/v1/tokens/${w.admin.tokenId}/rotate`, body: {} },
      { method: 'GET', path: '/api/v1/agents', body: { a: 1 } },
    ]
    script([...refused, { method: 'GET', path: '/api/v1/executions', query: { limit: 1, status: 'completed' } }])
    const patient = await agent(w.t, w.admin, { name: 'Patient', maxTurns: 30 })
    const r = await exec(w.t, w.admin, patient.id, { message: 'try everything', spaceId: w.spaceId })
    expect(r.status).toBe(200)
    const out = results(await getExec(w.t, w.admin, r.body.executionId))
    expect(out).toHaveLength(refused.length + 1)
    for (const [i, x] of out.slice(0, -1).entries()) expect({ call: refused[i], refused: x.startsWith('Error: refused: ') }).toEqual({ call: refused[i], refused: true })
    expect(out[9]).toContain('`delegate`')
    // The query object becomes the query string.
    expect(out.at(-1)).toStartWith('HTTP 200\n')
    // Only the last call reached the API: one execution in all, and no new token.
    expect((await w.t.req('GET', '/api/v1/executions', { token: w.admin.token })).body).toHaveLength(1)
    expect((await w.t.req('GET', '/api/v1/tokens', { token: w.admin.token })).body.tokens).toHaveLength(1)
    const calls = (await getLogs(w.t, w.admin, r.body.executionId)).filter((l: any) => l.event === 'api_call')
    expect(calls.map((l: any) => l.data.status)).toEqual([...refused.map(() => null), 200])
  })

  test('a response longer than 64 KiB is cut with a note', async () => {
    const w = await world(async (t, admin) => admin.token)
    for (let i = 0; i < 30; i++) await agent(w.t, w.admin, { name: `Big ${i}`, systemPrompt: `prompt ${i} `.repeat(400) })
    script([{ method: 'GET', path: '/api/v1/agents', query: { limit: 100 } }, { method: 'GET', path: '/api/v1/agents', query: { limit: 1 } }])
    const r = await exec(w.t, w.admin, w.ag.id, { message: 'all of them', spaceId: w.spaceId })
    const [big, small] = results(await getExec(w.t, w.admin, r.body.executionId))
    expect(big).toStartWith('HTTP 200\n')
    expect(big).toContain('[truncated: the response was longer than 65536 characters')
    expect(big!.length).toBeLessThan(MAX_API_RESULT_CHARS + 400)
    expect(big!.length).toBeGreaterThan(MAX_API_RESULT_CHARS)
    expect(small).not.toContain('[truncated')
  })
})

describe('teamday_api: who gets it', () => {
  const offered = (body: any) => ((body.tools ?? []) as any[]).map((t) => t.function?.name ?? t.name)

  test('no tool without a space, without TEAMDAY_TOKEN in the space, with it only at the organization, or when disallowed', async () => {
    const w = await world(async () => null)
    const other = await w.t.req('POST', '/api/v1/spaces', { token: w.admin.token, body: { name: 'With token', visibility: 'organization' } })
    await w.t.req('POST', `/api/v1/spaces/${other.body.space.id}/secrets`, { token: w.admin.token, body: { secrets: { TEAMDAY_TOKEN: w.admin.token } } })
    await w.t.req('POST', `/api/v1/organizations/${w.admin.organizationId}/env`, { token: w.admin.token, body: { secrets: { TEAMDAY_TOKEN: w.admin.token } } })
    const leaf = await agent(w.t, w.admin, { name: 'Leaf' })
    const withSub = await agent(w.t, w.admin, { name: 'Boss', subagentIds: [leaf.id] })
    const refusing = await agent(w.t, w.admin, { name: 'Careful', disallowedTools: ['teamday_api'] })
    const seen: string[][] = []
    p.handler = (_req, body) => {
      seen.push(offered(body))
      return rawStream(oaiFull('ok'))
    }
    for (const [ag, spaceId] of [
      [w.ag.id, undefined],
      [w.ag.id, w.spaceId],
      [refusing.id, other.body.space.id],
      [w.ag.id, other.body.space.id],
      [withSub.id, other.body.space.id],
      [withSub.id, w.spaceId],
    ] as const) {
      const r = await exec(w.t, w.admin, ag, { message: 'hello', ...(spaceId && { spaceId }) })
      expect(r.status).toBe(200)
    }
    expect(seen).toEqual([[], [], [], ['teamday_api'], ['delegate', 'teamday_api'], ['delegate']])
  })

  test('a delegated sub-agent in the space gets the tool too; a secret that does not open gives no tool and says why in the log', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    const admin = await makeActor(t, { role: 'admin' })
    const viewer = await makeActor(t, { role: 'viewer' })
    const space = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'S', visibility: 'organization' } })).body.space
    await t.req('POST', `/api/v1/spaces/${space.id}/secrets`, { token: admin.token, body: { secrets: { TEAMDAY_TOKEN: viewer.token } } })
    const leaf = await agent(t, admin, { name: 'Leaf' })
    const root = await agent(t, admin, { name: 'Root', subagentIds: [leaf.id] })
    const r = await exec(t, admin, root.id, { message: `DELEGATE ${leaf.id} TEAMDAY_API GET /api/v1/tokens/self`, spaceId: space.id })
    expect(r.status).toBe(200)
    expect(r.body.result).toStartWith('Delegated: Delegated: HTTP 200')
    expect(r.body.result).toContain(viewer.tokenId)
    expect(holds(r.text, viewer.token)).toBe(false)

    // The sealed value no longer opens (copied from another row: its AAD names another key).
    await t.req('POST', `/api/v1/spaces/${space.id}/secrets`, { token: admin.token, body: { secrets: { OTHER: 'x' } } })
    const other = (await t.db.select().from(secrets).where(eq(secrets.key, 'OTHER')).get())!
    await t.db.update(secrets).set({ valueEnc: other.valueEnc }).where(eq(secrets.key, 'TEAMDAY_TOKEN')).run()
    const again = await exec(t, admin, root.id, { message: 'TEAMDAY_API GET /api/v1/agents', spaceId: space.id })
    expect(again.status).toBe(200)
    expect(again.body.result).toStartWith('Echo: ')
    const logs = await getLogs(t, admin, again.body.executionId)
    expect(logs.find((l: any) => l.event === 'api_tool_unavailable')?.data).toEqual({ secret: 'TEAMDAY_TOKEN', code: 'decryption_failed' })
    expect(t.logs.some((l) => l.includes('api_tool_unavailable'))).toBe(true)
  })

  test('the Anthropic provider gets the same tool', async () => {
    const t = await makeTestApp({ config: { anthropicApiKey: 'sk-ant-test-key-123456', anthropicBaseUrl: double.anthropicBaseUrl, defaultModel: 'claude-x' } })
    const admin = await makeActor(t, { role: 'admin' })
    const space = (await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'S', visibility: 'organization' } })).body.space
    await t.req('POST', `/api/v1/spaces/${space.id}/secrets`, { token: admin.token, body: { secrets: { TEAMDAY_TOKEN: admin.token } } })
    const ag = await agent(t, admin)
    const r = await exec(t, admin, ag.id, { message: 'TEAMDAY_API GET /api/v1/spaces', spaceId: space.id })
    expect(r.status).toBe(200)
    expect(r.body.result).toStartWith('Delegated: HTTP 200')
    expect(r.body.result).toContain(space.id)
    const req = double.requests.findLast((x) => x.path.endsWith('/messages'))!
    expect(req.body.tools.map((x: any) => x.name)).toEqual(['teamday_api'])
    expect(holds(JSON.stringify(double.requests), admin.token)).toBe(false)
  })
})

describe('teamday_api: the caller alone', () => {
  const TOKEN = 'td_' + 'A'.repeat(43)
  test('a response that echoes the token (or any token) is redacted; a header-unsafe value is refused without quoting it', async () => {
    const echo = apiCaller(async (req) => Response.json({ got: req.headers.get('authorization'), other: 'td_' + 'B'.repeat(43), ua: req.headers.get('user-agent') }), TOKEN, { executionId: 'exec_1' })
    const out = await echo({ method: 'GET', path: '/api/v1/tokens/self' }, undefined)
    expect(out.status).toBe(200)
    expect(out.result).not.toContain('AAAAAAAAAAAAAAAA')
    expect(out.result).not.toContain('BBBBBBBBBBBBBBBB')
    expect(out.result).toContain('teamday-agent (execution exec_1)')
    const bad = apiCaller(async () => Response.json({}), 'td_bad\nvalue-secret-123', { executionId: 'exec_1' })
    const refused = await bad({ method: 'GET', path: '/api/v1/agents' }, undefined)
    expect(refused.status).toBeNull()
    expect(refused.result).not.toContain('value-secret-123')
  })

  test('refusedPath', () => {
    expect(refusedPath('GET', '/api/v1/agents')).toBeNull()
    expect(refusedPath('DELETE', '/api/v1/tokens/pat_1')).toBeNull()
    expect(refusedPath('POST', '/api/v1/agents/a/execute')).toContain('delegate')
    expect(refusedPath('GET', '/api/v1/agents/a/execute')).toBeNull() // not a route: the API answers 404
    expect(refusedPath('GET', '/api/v1/a%ZZ')).toContain('percent-encoding')
    expect(refusedPath('GET', '/api/v1//agents')).toContain('segments')
  })
})

describe('teamday_api: nothing at rest', () => {
  test('the token a run used is in no database file (or dump) and no log line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apitool-at-rest-'))
    try {
      const t = await atRestApp(dir, { config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
      const admin = await makeActor(t, { role: 'admin' })
      const used = await agentApiToolWorkload(t, admin)
      expectNoPlaintext(await readAtRest(t, dir), used)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})


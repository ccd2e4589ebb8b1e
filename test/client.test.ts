import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { recordingIo } from './helpers/cli-io'
import { run } from '../src/main'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { until } from './helpers/scripted-provider'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

/**
 * The client commands (`teamday agents|executions|tasks|spaces|tokens|audit|whoami|health`)
 * run in-process through run(argv, io) against the app served on a real port.
 */

let double: ProviderDouble
let t: TestApp
let server: Server<unknown>
let base: string
let admin: Actor
let member: Actor
let viewer: Actor

beforeAll(async () => {
  double = startProviderDouble()
  t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
  t.clock.ms = Date.now() // the client compares Teamday-Token-Expiration with the real time
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', idleTimeout: 0, fetch: (req) => t.app.handle(req) })
  base = `http://127.0.0.1:${server.port}`
  admin = await makeActor(t, { role: 'admin' })
  member = await makeActor(t, { role: 'member' })
  viewer = await makeActor(t, { role: 'viewer' })
}, 60_000)

afterAll(() => {
  server.stop(true)
  double.stop()
})

interface Result {
  code: number
  out: string
  err: string
  json: any
}

/** Runs `teamday ARGV` as `who` (TEAMDAY_URL + TEAMDAY_TOKEN); asserts the token never shows. */
async function cli(argv: string[], o: { who?: Actor | null; env?: Record<string, string> } = {}): Promise<Result> {
  const who = o.who === undefined ? admin : o.who
  const { io, out: stdout, err: stderr } = recordingIo({ TEAMDAY_URL: base, ...(who ? { TEAMDAY_TOKEN: who.token } : {}), ...o.env })
  const code = await run(argv, io)
  const r = { code, out: stdout(), err: stderr(), json: undefined as any }
  for (const a of [admin, member, viewer]) {
    expect(r.out).not.toContain(a.token)
    expect(r.err).not.toContain(a.token)
  }
  try {
    r.json = JSON.parse(r.out)
  } catch {}
  return r
}

async function ok(argv: string[], o: Parameters<typeof cli>[1] = {}): Promise<Result> {
  const r = await cli(argv, o)
  if (r.code !== 0) throw new Error(`teamday ${argv.join(' ')} exited ${r.code}: ${r.err}`)
  return r
}

/** The API body of the same request, sent directly. */
async function api(path: string, who: Actor = admin) {
  return (await t.req('GET', path, { token: who.token })).body
}

describe('health and whoami', () => {
  test('health: exit 0, --json is the API body; needs no token', async () => {
    const r = await ok(['health'], { who: null })
    expect(r.out).toContain('ok: teamday')
    const j = await ok(['health', '--json'], { who: null })
    expect(j.json).toEqual(await (await t.app.handle(new Request('http://localhost/api/health'))).json())
  })

  test('whoami: the token in use, never its secret', async () => {
    const r = await ok(['whoami'])
    expect(r.out).toContain(admin.email)
    expect(r.out).toContain('admin')
    const j = await ok(['whoami', '--json'])
    expect(j.json.token).toMatchObject({ id: admin.tokenId, email: admin.email, role: 'admin', scopes: ['*'] })
    const direct = await api('/api/v1/tokens/self')
    expect({ ...j.json.token, lastUsedAt: null }).toEqual({ ...direct.token, lastUsedAt: null })
  })

  // Inside an agent run (its teamday_api calls) GET /tokens/self says what the run may use in
  // `scopes`, the token's own in `tokenScopes` and the run in `agentRun`: whoami showed only
  // `scopes`, so the token's own and the run's starter were nowhere in the table.
  test("whoami in an agent run: scopes (the run's), tokenScopes (the token's own) and agentRun; outside one, neither", async () => {
    // A server that takes each request for a run's, as the engine marks its teamday_api calls
    // (src/engine/run-requests.ts), the run started by an `agents:read`-only credential.
    const runs = (t.rt.engine as unknown as { runRequests: { mark: (r: Request, job: unknown, s: AbortSignal) => void } }).runRequests
    const job = { execution: { id: 'exec_inrun', scopeLimit: ['agents:read'] } }
    const inRun = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (req) => (runs.mark(req, job, req.signal), t.app.handle(req)) })
    try {
      const env = { TEAMDAY_URL: `http://127.0.0.1:${inRun.port}` }
      const j = await ok(['whoami', '--json'], { env })
      expect(j.json.token).toMatchObject({ id: admin.tokenId, scopes: ['agents:read'], tokenScopes: ['*'], agentRun: { executionId: 'exec_inrun', starterScopes: ['agents:read'] } })
      const r = await ok(['whoami'], { env })
      const row = (name: string) => new RegExp(`^${name} +(.*)$`, 'm').exec(r.out)?.[1]
      expect([row('scopes'), row('tokenScopes'), row('agentRun'), row('starterScopes')]).toEqual(['["agents:read"]', '["*"]', 'exec_inrun', '["agents:read"]'])
    } finally {
      inRun.stop(true)
    }
    // Outside a run the two are the same: one row, as before.
    const out = (await ok(['whoami'])).out
    expect(out).toContain('scopes')
    for (const name of ['tokenScopes', 'agentRun', 'starterScopes']) expect(out).not.toContain(name)
    expect((await ok(['whoami', '--json'])).json.token).toMatchObject({ scopes: ['*'], tokenScopes: ['*'], agentRun: null })
  })

  test('--url wins over TEAMDAY_URL, which wins over TEAMDAY_API_URL; /api/v1 suffix accepted', async () => {
    expect((await cli(['health', '--retries', '0', '--url', base], { env: { TEAMDAY_URL: 'http://127.0.0.1:9' } })).code).toBe(0)
    expect((await cli(['health', '--retries', '0'], { who: null, env: { TEAMDAY_URL: '', TEAMDAY_API_URL: `${base}/api/v1` } })).code).toBe(0)
    expect((await cli(['health', '--retries', '0'], { env: { TEAMDAY_API_URL: base, TEAMDAY_URL: 'http://127.0.0.1:9' } })).code).toBe(5)
  })

  test('TEAMDAY_API_TOKEN is read when TEAMDAY_TOKEN is unset', async () => {
    const r = await cli(['whoami', '--json'], { who: null, env: { TEAMDAY_API_TOKEN: member.token } })
    expect(r.code).toBe(0)
    expect(r.json.token.id).toBe(member.tokenId)
  })

  test('a blank TEAMDAY_TOKEN or TEAMDAY_URL (spaces, a tab) is unset, as an empty one is: the next source is used', async () => {
    // A CI variable holding a space: TEAMDAY_TOKEN=" " said "no token configured" with
    // TEAMDAY_API_TOKEN set, and TEAMDAY_URL=" " refused to run (exit 2) where "" fell through.
    for (const blank of ['', ' ', '\t']) {
      const r = await cli(['whoami', '--json'], { who: null, env: { TEAMDAY_TOKEN: blank, TEAMDAY_API_TOKEN: member.token } })
      expect({ blank, code: r.code, id: r.json?.token?.id }).toEqual({ blank, code: 0, id: member.tokenId })
      const h = await cli(['health', '--retries', '0'], { who: null, env: { TEAMDAY_URL: blank, TEAMDAY_API_URL: base } })
      expect({ blank, code: h.code }).toEqual({ blank, code: 0 })
    }
  })
})

describe('agents', () => {
  let agentId: string
  test('create, get, list, update, delete; --json equals the API body', async () => {
    const created = await ok(['agents', 'create', '--name', 'Reviewer', '--system-prompt', 'You review code.', '--role', 'Senior Dev', '--visibility', 'organization', '--tags', 'code,review', '--json'])
    agentId = created.json.id
    expect(created.json).toMatchObject({ success: true, name: 'Reviewer' })
    expect(created.json.agent).toMatchObject({ systemPrompt: 'You review code.', role: 'Senior Dev', tags: ['code', 'review'] })
    const plain = await ok(['agents', 'create', '--name', 'Second'])
    // The id alone on stdout (help: "prints the new agent's id"), the sentence on stderr.
    expect(plain.out).toMatch(/^char_\S+\n$/)
    expect(plain.err).toBe(`created agent ${plain.out.trim()} (Second)\n`)

    const got = await ok(['agents', 'get', agentId, '--json'])
    expect(got.json).toEqual(await api(`/api/v1/agents/${agentId}`))
    expect((await ok(['agents', 'get', agentId])).out).toMatch(/systemPrompt\s+You review code\./)

    const list = await ok(['agents', 'list', '--json'])
    expect(list.json).toEqual(await api('/api/v1/agents'))
    const table = (await ok(['agents', 'list'])).out
    expect(table.split('\n')[0]).toMatch(/^ID\s+NAME\s+ROLE/)
    expect(table).toContain('Reviewer')

    const upd = await ok(['agents', 'update', agentId, '--model', 'gpt-4o-mini', '--json'])
    expect(upd.json.agent.model).toBe('gpt-4o-mini')
    const del = await ok(['agents', 'delete', plain.out.trim()])
    expect(del.out).toContain('archived agent')
  })

  test('execute: sync prints the answer; --json is the API body', async () => {
    const r = await ok(['agents', 'execute', agentId, '--message', 'hello'])
    expect(r.out).toBe('Echo: hello (user turns: 1)\n')
    const j = await ok(['agents', 'execute', agentId, '-m', 'again', '--json'])
    expect(j.json).toMatchObject({ success: true, status: 'completed', result: 'Echo: again (user turns: 1)' })
    const direct = await api(`/api/v1/executions/${j.json.executionId}`)
    expect(direct.execution.result).toBe(j.json.result)
  })

  test('execute --session continues a conversation; --space is sent', async () => {
    const space = await ok(['spaces', 'create', '--name', 'Exec space', '--json'])
    const first = await ok(['agents', 'execute', agentId, '--message', 'one', '--space', space.json.space.id, '--json'])
    const second = await ok(['agents', 'execute', agentId, '--message', 'two', '--session', first.json.sessionId, '--json'])
    expect(second.json.result).toBe('Echo: two (user turns: 2)')
    expect((await api(`/api/v1/executions/${first.json.executionId}`)).execution.spaceId).toBe(space.json.space.id)
  })

  // The API's parentExecutionId had no option: a script could not attach a run to a tree.
  test('execute --parent-execution records the run under that execution, in its tree and its depth limit', async () => {
    const top = await ok(['agents', 'execute', agentId, '--message', 'top', '--json'])
    let parent: string = top.json.executionId
    for (const depth of [1, 2, 3]) {
      const child = await ok(['agents', 'execute', agentId, '--message', `level ${depth}`, '--parent-execution', parent, '--json'])
      expect((await api(`/api/v1/executions/${child.json.executionId}`)).execution).toMatchObject({ parentExecutionId: parent, delegationDepth: depth })
      parent = child.json.executionId
    }
    expect((await ok(['executions', 'tree', top.json.executionId, '--json'])).json.tree.children[0].children[0].children[0].id).toBe(parent)
    // One level past TEAMDAY_MAX_DELEGATION_DEPTH (3 here): the API's refusal, nothing started.
    const before = (await api(`/api/v1/executions?parentExecutionId=${parent}`)).length
    for (const mode of [[], ['--async'], ['--stream']]) {
      const past = await cli(['agents', 'execute', agentId, '--message', 'too deep', '--parent-execution', parent, '--json', ...mode])
      expect(past.code).toBe(2)
      expect(past.json).toMatchObject({ code: 'delegation_limit', details: { limit: 'TEAMDAY_MAX_DELEGATION_DEPTH', max: 3, depth: 4 } })
    }
    expect((await api(`/api/v1/executions?parentExecutionId=${parent}`)).length).toBe(before)
    // Under another user's execution (one the member may see: the agent is the organization's): refused, exit 3.
    const other = await cli(['agents', 'execute', agentId, '--message', 'graft', '--parent-execution', top.json.executionId, '--json'], { who: member })
    expect(other.code).toBe(3)
    expect(other.json.code).toBe('forbidden')
  })

  test('execute --parent-execution "" (an unset variable) is a usage error, not a top-level run', async () => {
    const r = await cli(['agents', 'execute', agentId, '--message', 'x', '--parent-execution', ''])
    expect(r.code).toBe(2)
    expect(r.err).toContain('--parent-execution is empty')
    expect((await ok(['help', 'agents'])).out).toContain('--parent-execution ID')
  })

  test('execute --stream prints the text as it arrives', async () => {
    const r = await ok(['agents', 'execute', agentId, '--message', 'streamed', '--stream'])
    expect(r.out).toBe('Echo: streamed (user turns: 1)\n')
    const j = await ok(['agents', 'execute', agentId, '--message', 'x', '--stream', '--json'])
    const events = j.out.trim().split('\n').map((l) => JSON.parse(l))
    expect(events[0].event).toBe('meta')
    expect(events.at(-1).event).toBe('result')
    expect(events.some((e: any) => e.data?.type === 'content_block_delta')).toBe(true)
  })

  test('execute --async prints the execution id; --wait polls to the end', async () => {
    const a = await ok(['agents', 'execute', agentId, '--message', 'later', '--async'])
    expect(a.out.trim()).toMatch(/^exec_\S+$/)
    const w = await ok(['agents', 'execute', agentId, '--message', 'waited', '--wait'])
    expect(w.out).toBe('Echo: waited (user turns: 1)\n')
    expect(w.err).toContain('waiting')
    const wj = await ok(['agents', 'execute', agentId, '--message', 'waited', '--async', '--wait', '--json'])
    expect(wj.json).toEqual(await api(`/api/v1/executions/${wj.json.execution.id}`))
  })

  test('a failed execution exits 1: sync, --stream and --wait', async () => {
    const sync = await cli(['agents', 'execute', agentId, '--message', 'please FAIL'])
    expect(sync.code).toBe(1)
    expect(sync.err).toContain('upstream exploded')
    const stream = await cli(['agents', 'execute', agentId, '--message', 'please FAIL', '--stream'])
    expect(stream.code).toBe(1)
    expect(stream.err).toMatch(/error: .*failed/)
    const wait = await cli(['agents', 'execute', agentId, '--message', 'please FAIL', '--wait'])
    expect(wait.code).toBe(1)
    expect(wait.err).toMatch(/execution exec_\S+ failed/)
  })

  test('--stream whose token is revoked while it streams exits 3 (authentication) with the new-token hint, as without --stream; the run goes on', async () => {
    const doomed = await makeToken(t, admin)
    const streaming = cli(['agents', 'execute', agentId, '--message', 'HANG', '--stream'], { env: { TEAMDAY_TOKEN: doomed.token } })
    await until(() => t.rt.engine.runningCount > 0)
    expect((await t.req('DELETE', `/api/v1/tokens/${doomed.id}`, { token: admin.token })).status).toBe(200)
    const r = await streaming
    expect(r.code).toBe(3)
    expect(r.err).toContain('Token revoked while this request was open')
    expect(r.err).not.toContain(doomed.token)
    const run = /execution (exec_\w+)/.exec(r.err)![1]!
    expect((await api(`/api/v1/executions/${run}`)).execution.status).toBe('running')
    await t.req('POST', `/api/v1/executions/${run}/cancel`, { token: admin.token })
  })

  test('--stream whose execution its caller may no longer see (its space made private meanwhile) exits 4 (not found), as without --stream; the run goes on', async () => {
    const sp = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Closing', visibility: 'organization' } })
    expect(sp.status).toBe(201)
    const streaming = cli(['agents', 'execute', agentId, '--message', 'HANG', '--stream', '--space', sp.body.space.id], { who: member })
    await until(() => t.rt.engine.runningCount > 0)
    expect((await t.req('PATCH', `/api/v1/spaces/${sp.body.space.id}`, { token: admin.token, body: { visibility: 'private' } })).status).toBe(200)
    const r = await streaming
    expect(r.code).toBe(4)
    expect(r.err).toContain('no longer visible to you')
    const run = /execution (exec_\w+)/.exec(r.err)![1]!
    expect((await api(`/api/v1/executions/${run}`)).execution.status).toBe('running')
    await t.req('POST', `/api/v1/executions/${run}/cancel`, { token: admin.token })
  })

  test('usage errors exit 2: missing --message, --stream with --async, no ID', async () => {
    expect((await cli(['agents', 'execute', agentId])).code).toBe(2)
    expect((await cli(['agents', 'execute', agentId, '-m', 'x', '--stream', '--async'])).code).toBe(2)
    const noId = await cli(['agents', 'get'])
    expect(noId.code).toBe(2)
    expect(noId.err).toContain('missing agent ID')
    expect((await cli(['agents', 'update', agentId])).err).toContain('nothing to update')
  })
})

describe('what a command prints cannot drive the terminal', () => {
  // A member names an agent with escape sequences (retitle the window, clear the screen, an 8-bit
  // CSI, a right-to-left override); an admin lists agents, or a model answers with them.
  const NAME = 'Evil\u001b]0;pwned\u0007\u001b[2J\r\u009b31m\u202eexe.txt'
  const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/

  test('tables, details, --json and streamed answers show control characters as \\u escapes', async () => {
    const created = await ok(['agents', 'create', '--name', NAME, '--json'], { who: member })
    const id = created.json.id
    // --json: still JSON, with the very same value.
    expect(created.json.name).toBe(NAME)
    expect(created.out).not.toMatch(RAW)
    const list = await ok(['agents', 'list'])
    expect(list.out).not.toMatch(RAW)
    // (A table cell shows any whitespace, the CR too, as one space.)
    expect(list.out).toContain('Evil\\u001b]0;pwned\\u0007\\u001b[2J \\u009b31m\\u202eexe.txt')
    const got = await ok(['agents', 'get', id])
    expect(got.out).not.toMatch(RAW)
    expect(got.out).toContain('Evil\\u001b]0;pwned\\u0007\\u001b[2J\\u000d\\u009b31m\\u202eexe.txt')
    // A model's answer, printed whole and streamed.
    const answer = await ok(['agents', 'execute', id, '--message', 'hi\u001b[31m'])
    expect(answer.out).toBe('Echo: hi\\u001b[31m (user turns: 1)\n')
    const streamed = await ok(['agents', 'execute', id, '--stream', '--message', 'x\u001b[1A'])
    expect(streamed.out).not.toMatch(RAW)
    expect(streamed.out).toContain('x\\u001b[1A')
    // An error message quoting input goes to stderr the same way.
    const missing = await cli(['agents', 'get', 'nope\u001b[2J'])
    expect(missing.code).not.toBe(0)
    expect(missing.err).not.toMatch(RAW)
  })
})

describe('by slug (issue 14)', () => {
  test('agents execute deploy-bot --space production: the docs\' recipe with slugs', async () => {
    const created = await ok(['agents', 'create', '--name', 'Deploy Bot', '--system-prompt', 'You deploy.', '--visibility', 'organization', '--json'])
    expect(created.json.agent.slug).toBe('deploy-bot')
    const space = await ok(['spaces', 'create', '--name', 'Prod', '--slug', 'production', '--json'])
    expect(space.json.space.slug).toBe('production')
    const r = await ok(['agents', 'execute', 'deploy-bot', '--message', 'Deploy 4f2a9c1', '--space', 'production', '--json'])
    expect(r.json.status).toBe('completed')
    const exec = (await api(`/api/v1/executions/${r.json.executionId}`)).execution
    expect(exec).toMatchObject({ agentId: created.json.id, spaceId: space.json.space.id })
    expect((await ok(['agents', 'execute', 'deploy-bot', '-m', 'hi'])).out).toBe('Echo: hi (user turns: 1)\n')
    expect((await ok(['agents', 'get', 'deploy-bot'])).out).toMatch(/slug\s+deploy-bot/)
    expect((await ok(['agents', 'update', 'deploy-bot', '--slug', 'deployer', '--json'])).json.agent.slug).toBe('deployer')
    expect((await ok(['spaces', 'get', 'production'])).out).toMatch(/slug\s+production/)
    const missing = await cli(['agents', 'execute', 'deploy-bot', '-m', 'x'])
    expect(missing.code).toBe(4)
  })
})

describe('members (organization admins)', () => {
  test('set-role and remove find a member by the address in another form (upper case, decomposed, full-width), as the server does', async () => {
    const nfc = 'ren\u00e9@b\u00fcro.test'
    const added = await ok(['members', 'add', '--email', nfc, '--role', 'viewer', '--json'])
    const id = added.json.member.userId
    expect((await ok(['members', 'set-role', nfc.normalize('NFD').toUpperCase(), '--role', 'member', '--json'])).json.member).toMatchObject({ userId: id, role: 'member' })
    expect((await ok(['members', 'remove', '\uff52\uff45\uff4e\u00e9@b\u00fcro.test'])).out).toContain(`removed ${nfc}`)
  })

  test('get: one member by user id or e-mail (in another form too); --json is the API body; not a member: exit 4; members are refused', async () => {
    const added = await ok(['members', 'add', '--email', 'Getme@Example.com', '--role', 'viewer', '--name', 'Get Me', '--json'])
    const id = added.json.member.userId
    const byId = await ok(['members', 'get', id])
    expect(byId.out).toMatch(/^email\s+getme@example\.com$/m)
    expect(byId.out).toMatch(new RegExp(`^userId\\s+${id}$`, 'm'))
    expect(byId.out).toMatch(/^role\s+viewer$/m)
    expect(byId.out).toMatch(/^lastSignInAt\s+-$/m)
    const json = await ok(['members', 'get', 'GETME@example.com', '--json'])
    expect(json.json).toEqual(await api(`/api/v1/organizations/${admin.organizationId}/members/${id}`))
    expect(json.json.member.name).toBe('Get Me')
    const stranger = await cli(['members', 'get', 'nobody@example.com'])
    expect([stranger.code, stranger.out]).toEqual([4, ''])
    expect(stranger.err).toContain('nobody@example.com is not a member')
    const gone = await cli(['members', 'get', 'user_doesnotexist000000'])
    expect(gone.code).toBe(4)
    const denied = await cli(['members', 'get', id], { who: member })
    expect(denied.code).toBe(3)
    expect((await ok(['members', 'remove', id])).out).toContain('removed getme@example.com')
  })

  test('list, add, set-role (by e-mail), remove; members and viewers are refused', async () => {
    const listed = await ok(['members', 'list'])
    expect(listed.out.split('\n')[0]).toMatch(/^EMAIL\s+USER ?ID\s+ROLE/i)
    expect(listed.out).toContain(admin.email)
    const added = await ok(['members', 'add', '--email', 'Newbie@Example.com', '--role', 'viewer', '--name', 'New Bie'])
    expect(added.out).toMatch(/^created user newbie@example\.com \(user_\w+\) as viewer/)
    const j = await ok(['members', 'list', '--json'])
    expect(j.json).toEqual(await api(`/api/v1/organizations/${admin.organizationId}/members`))
    const newbie = j.json.members.find((m: any) => m.email === 'newbie@example.com')
    expect((await ok(['members', 'set-role', 'newbie@example.com', '--role', 'member'])).out).toContain('newbie@example.com is now member')
    expect((await ok(['members', 'set-role', newbie.userId, '--role', 'viewer', '--json'])).json.member.role).toBe('viewer')
    const again = await cli(['members', 'add', '--email', 'newbie@example.com'])
    expect(again.code).toBe(1)
    expect(again.err).toContain('already')
    // The way to change the role, as a command (the API's message names its PATCH route).
    expect(again.err).toContain('To change their role: teamday members set-role newbie@example.com --role ROLE')
    expect((await cli(['members', 'add', '--email', 'newbie@example.com', '--role', 'admin', '--json'])).json.code).toBe('already_member')
    const last = await cli(['members', 'remove', admin.email])
    expect(last.code).toBe(1)
    expect(last.err).toContain('last admin')
    expect((await ok(['members', 'remove', 'newbie@example.com'])).out).toContain('removed newbie@example.com (was viewer)')
    expect((await cli(['members', 'remove', 'newbie@example.com'])).code).toBe(4)
    for (const who of [member, viewer]) {
      const r = await cli(['members', 'list'], { who })
      expect(r.code).toBe(3)
      expect(r.err).toContain('Forbidden: your role')
      // The way an admin changes it from any machine (the client command), not only on the server host.
      expect(r.err).toContain('teamday members set-role USER --role ROLE')
    }
  })
})

describe('executions', () => {
  test('list, get, tree, logs, cancel', async () => {
    const agent = await ok(['agents', 'create', '--name', 'Exec agent', '--json'])
    const ex = await ok(['agents', 'execute', agent.json.id, '--message', 'hi', '--json'])
    const id = ex.json.executionId
    const list = await ok(['executions', 'list', '--agent', agent.json.id, '--json'])
    expect(list.json).toEqual(await api(`/api/v1/executions?agentId=${agent.json.id}`))
    expect(list.json.map((e: any) => e.id)).toEqual([id])
    expect((await ok(['executions', 'list', '--agent', agent.json.id, '--status', 'completed', '--limit', '5'])).out).toContain(id)
    const get = await ok(['executions', 'get', id, '--json'])
    expect(get.json).toEqual(await api(`/api/v1/executions/${id}`))
    expect((await ok(['executions', 'get', id])).out).toMatch(/status\s+completed/)
    const tree = await ok(['executions', 'tree', id, '--json'])
    expect(tree.json).toEqual(await api(`/api/v1/executions/${id}/tree`))
    expect((await ok(['executions', 'tree', id])).out).toContain(`${id}  Exec agent  completed`)
    const logs = await ok(['executions', 'logs', id, '--json'])
    expect(logs.json).toEqual(await api(`/api/v1/executions/${id}/logs`))
    expect((await ok(['executions', 'logs', id])).out).toContain('started')
    // Cancelling a finished execution is a conflict: the operation failed (exit 1).
    const cancel = await cli(['executions', 'cancel', id])
    expect(cancel.code).toBe(1)
    expect(cancel.err).toContain('already completed')
  })

  test('cancel a running execution', async () => {
    const agent = await ok(['agents', 'create', '--name', 'Slow agent', '--json'])
    const started = await ok(['agents', 'execute', agent.json.id, '--message', 'HANG', '--async'])
    const id = started.out.trim()
    const r = await ok(['executions', 'cancel', id])
    expect(r.out).toBe(`execution ${id} is cancelled\n`)
  })
})

describe('tasks', () => {
  test('create, get, list, update, delete', async () => {
    const c = await ok(['tasks', 'create', '--title', 'Ship it', '--priority', 'high', '--metadata', '{"source":"ci"}', '--json'])
    expect(c.json).toMatchObject({ success: true, title: 'Ship it', priority: 'high', metadata: { source: 'ci' } })
    const id = c.json.id
    expect((await ok(['tasks', 'get', id, '--json'])).json).toEqual(await api(`/api/v1/tasks/${id}`))
    expect((await ok(['tasks', 'list', '--json'])).json).toEqual(await api('/api/v1/tasks'))
    expect((await ok(['tasks', 'list', '--priority', 'high'])).out).toContain('Ship it')
    const u = await ok(['tasks', 'update', id, '--status', 'completed', '--json'])
    expect(u.json.status).toBe('completed')
    expect(u.json.completedAt).not.toBeNull()
    expect((await ok(['tasks', 'delete', id])).out).toBe(`deleted task ${id}\n`)
    expect((await cli(['tasks', 'get', id])).code).toBe(4)
    expect((await cli(['tasks', 'create', '--title', 'x', '--metadata', 'nope'])).code).toBe(2)
  })

  test("the assignee is --assign-to or --assigned-to on create, update and list (TeamDay's CLI spells it --assigned-to)", async () => {
    const me = (await api('/api/v1/tokens/self')).token.userId
    const a = await ok(['tasks', 'create', '--title', 'Spelled one way', '--assigned-to', me, '--json'])
    expect(a.json.assignedTo).toBe(me)
    const b = await ok(['tasks', 'create', '--title', 'Spelled the other', '--assign-to', me, '--json'])
    expect(b.json.assignedTo).toBe(me)
    expect((await ok(['tasks', 'update', b.json.id, '--assigned-to', me, '--json'])).json.assignedTo).toBe(me)
    for (const spelling of ['--assign-to', '--assigned-to']) {
      const listed = (await ok(['tasks', 'list', spelling, me, '--json'])).json.map((t: { id: string }) => t.id)
      expect(listed).toEqual(expect.arrayContaining([a.json.id, b.json.id]))
    }
    expect((await cli(['tasks', 'create', '--title', 'x', '--assign-to', me, '--assigned-to', 'someone-else'])).code).toBe(2)
  })
})

describe('spaces and secrets', () => {
  test('create, get, list, update, delete', async () => {
    const c = await ok(['spaces', 'create', '--name', 'Marketing', '--description', 'Campaigns', '--json'])
    const id = c.json.space.id
    expect((await ok(['spaces', 'get', id, '--json'])).json).toEqual(await api(`/api/v1/spaces/${id}`))
    expect((await ok(['spaces', 'list', '--json'])).json).toEqual(await api('/api/v1/spaces'))
    expect((await ok(['spaces', 'list'])).out).toContain('Marketing')
    expect((await ok(['spaces', 'update', id, '--name', 'Growth', '--json'])).json.space.name).toBe('Growth')
    expect((await ok(['spaces', 'delete', id])).out).toContain('archived space')
  })

  test('secrets set (KEY=VALUE and KEY from the environment), list, delete; values never printed', async () => {
    const space = (await ok(['spaces', 'create', '--name', 'Secrets', '--json'])).json.space.id
    const set = await ok(['spaces', 'secrets', 'set', space, 'API_KEY=sk-very-secret-1', 'GH_TOKEN'], { env: { GH_TOKEN: 'ghp-very-secret-2' } })
    expect(set.out).toBe(`set API_KEY, GH_TOKEN on space ${space}\n`)
    const list = await ok(['spaces', 'secrets', 'list', space, '--json'])
    expect(list.json).toEqual(await api(`/api/v1/spaces/${space}/secrets`))
    expect(list.json.secrets).toEqual(['API_KEY', 'GH_TOKEN'])
    const del = await ok(['spaces', 'secrets', 'delete', space, 'GH_TOKEN'])
    expect(del.out).toContain('deleted GH_TOKEN')
    expect((await ok(['spaces', 'secrets', 'list', space])).out).toBe('API_KEY\n')
    const missing = await cli(['spaces', 'secrets', 'set', space, 'NOT_IN_ENV'])
    expect(missing.code).toBe(2)
    const bad = await cli(['spaces', 'secrets', 'set', space, '1BAD=sk-very-secret-3'])
    expect(bad.code).toBe(2)
    expect(bad.err).not.toContain('sk-very-secret-3')
  })

  test('secrets delete of a name the space does not have: exit 4, not_found, naming it (it was "deleted nothing", exit 0)', async () => {
    const space = (await ok(['spaces', 'create', '--name', 'Secrets gone', '--json'])).json.space.id
    await ok(['spaces', 'secrets', 'set', space, 'KEEP=1', 'DROP=2'])
    const none = await cli(['spaces', 'secrets', 'delete', space, 'NOPE'])
    expect([none.code, none.out]).toEqual([4, ''])
    expect(none.err).toStartWith(`error: space ${space} has no secret NOPE\n`)
    expect(none.err).toContain(`teamday spaces secrets list ${space}`)
    // Some there, some not: those are deleted and said on stdout; the missing ones fail the command.
    const some = await cli(['spaces', 'secrets', 'delete', space, 'DROP', 'NOPE', 'NOPE'])
    expect([some.code, some.out]).toEqual([4, `deleted DROP from space ${space}\n`])
    expect(some.err).toStartWith(`error: space ${space} has no secret NOPE (deleted DROP)\n`)
    expect((await ok(['spaces', 'secrets', 'list', space])).out).toBe('KEEP\n')
    // --json: stdout is one error object, as for the API's 404s (jq .code), with what happened.
    await ok(['spaces', 'secrets', 'set', space, 'DROP=2'])
    const json = await cli(['spaces', 'secrets', 'delete', space, 'DROP', 'NOPE', '--json'])
    expect(json.code).toBe(4)
    expect(json.json).toMatchObject({ error: true, code: 'not_found', exitCode: 4, deleted: ['DROP'], missing: ['NOPE'] })
    const gone = await cli(['spaces', 'secrets', 'delete', 'space_doesnotexist', 'KEEP', '--json'])
    expect([gone.code, gone.json.code]).toEqual([4, 'not_found'])
    // The other not-found of this side says the API's code too (it said "notFound").
    const member = await cli(['members', 'remove', 'nobody@example.com', '--json'])
    expect([member.code, member.json.code]).toEqual([4, 'not_found'])
    // All there: exit 0, as before.
    const all = await ok(['spaces', 'secrets', 'delete', space, 'KEEP', '--json'])
    expect(all.json).toEqual({ success: true, deleted: ['KEEP'] })
  })
})

describe('tokens and audit (client mode: no --email/--org/--db)', () => {
  test('create prints only the new token; list, rotate, revoke', async () => {
    const c = await ok(['tokens', 'create', '--name', 'ci', '--expires-in-days', '30', '--scopes', 'agents:read,tasks:read'])
    const token = c.out.trim()
    expect(token).toMatch(/^td_[A-Za-z0-9]{43}$/)
    expect(c.err).toContain('copy it now')
    const self = await cli(['whoami', '--json'], { who: null, env: { TEAMDAY_TOKEN: token } })
    expect(self.json.token.scopes).toEqual(['agents:read', 'tasks:read'])
    const id = self.json.token.id
    const list = await ok(['tokens', 'list', '--json'])
    expect(list.json).toEqual(await api('/api/v1/tokens'))
    expect((await ok(['tokens', 'list'])).out).toContain(id)
    const rotated = await ok(['tokens', 'rotate', id])
    expect(rotated.out.trim()).toMatch(/^td_[A-Za-z0-9]{43}$/)
    expect(rotated.out.trim()).not.toBe(token)
    const newId = (await cli(['whoami', '--json'], { who: null, env: { TEAMDAY_TOKEN: rotated.out.trim() } })).json.token.id
    const rev = await ok(['tokens', 'revoke', newId])
    expect(rev.out).toContain(`revoked token ${newId}`)
    expect((await cli(['tokens', 'revoke', 'pat_doesnotexist'])).code).toBe(4)
    expect((await cli(['tokens', 'create'])).code).toBe(2)
  })

  test('revoke of a token revoked earlier says when it was, not "revoked ... from now on" (the API answers 200 both times)', async () => {
    const token = (await ok(['tokens', 'create', '--name', 'old one', '--scopes', 'agents:read'])).out.trim()
    const id = (await ok(['whoami', '--json'], { who: null, env: { TEAMDAY_TOKEN: token } })).json.token.id
    // Revoked by someone five minutes ago, by the server's clock.
    const earlier = (t.clock.ms = Date.now() - 5 * 60_000)
    expect((await t.req('DELETE', `/api/v1/tokens/${id}`, { token: admin.token })).status).toBe(200)
    t.clock.ms = Date.now()
    const again = await ok(['tokens', 'revoke', id])
    expect(again.out.trim()).toBe(`token ${id} was already revoked at ${new Date(earlier).toISOString()}`)
    // Revoked just now (a retried DELETE whose first answer was lost finds that too): "revoked".
    const fresh = (await ok(['tokens', 'create', '--name', 'fresh', '--scopes', 'agents:read'])).out.trim()
    const freshId = (await ok(['whoami', '--json'], { who: null, env: { TEAMDAY_TOKEN: fresh } })).json.token.id
    expect((await ok(['tokens', 'revoke', freshId])).out).toContain(`revoked token ${freshId}; requests using it are refused from now on`)
    expect((await ok(['tokens', 'revoke', freshId])).out).toContain(`revoked token ${freshId}`)
  })

  test('revoke self: the token the command runs with gives itself up (a CI job at its end)', async () => {
    const token = (await ok(['tokens', 'create', '--name', 'job', '--scopes', 'agents:read'])).out.trim()
    const id = (await ok(['whoami', '--json'], { who: null, env: { TEAMDAY_TOKEN: token } })).json.token.id
    const rev = await ok(['tokens', 'revoke', 'self'], { who: null, env: { TEAMDAY_TOKEN: token } })
    expect(rev.out).toContain(`revoked token ${id}`)
    expect(rev.out + rev.err).not.toContain(token)
    const after = await cli(['whoami'], { who: null, env: { TEAMDAY_TOKEN: token } })
    expect(after.code).toBe(3)
    expect(after.err).toContain('this token has been revoked')
  })

  test('create with a token: no longer than that token lives (--expires-in-days ends with it), by default as long', async () => {
    const short = await makeToken(t, admin, { expiresInDays: 7 })
    const end = new Date(t.clock.now() + 7 * 86_400_000).toISOString()
    const year = await ok(['tokens', 'create', '--name', 'year', '--expires-in-days', '365', '--json'], { who: null, env: { TEAMDAY_TOKEN: short.token } })
    expect(year.json.expiresAt).toBe(end)
    const plain = await ok(['tokens', 'create', '--name', 'plain', '--json'], { who: null, env: { TEAMDAY_TOKEN: short.token } })
    expect(plain.json.expiresAt).toBe(end)
  })

  test('rotate self: the token the command runs with rotates itself; only the new one works then', async () => {
    const token = (await ok(['tokens', 'create', '--name', 'renewing job', '--scopes', 'agents:read,tokens:write'])).out.trim()
    const id = (await ok(['whoami', '--json'], { who: null, env: { TEAMDAY_TOKEN: token } })).json.token.id
    const rot = await ok(['tokens', 'rotate', 'self', '--expires-in-days', '30'], { who: null, env: { TEAMDAY_TOKEN: token } })
    const next = rot.out.trim()
    expect(next).toMatch(/^td_[A-Za-z0-9]{43}$/)
    expect(next).not.toBe(token)
    const who = (await ok(['whoami', '--json'], { who: null, env: { TEAMDAY_TOKEN: next } })).json.token
    expect([who.name, who.scopes]).toEqual(['renewing job', ['agents:read', 'tokens:write']])
    expect(who.id).not.toBe(id)
    expect((await cli(['whoami'], { who: null, env: { TEAMDAY_TOKEN: token } })).code).toBe(3)
  })

  test('audit list: --json equals the API body; members get exit 3', async () => {
    const r = await ok(['audit', 'list', '--type', 'token.created', '--json'])
    expect(r.json).toEqual(await api('/api/v1/audit-events?type=token.created'))
    expect(r.json.events.length).toBeGreaterThan(0)
    // The table (the events of the file's earlier tests share one clock instant, so which come
    // first among more than a page of them is the ids' order: ask for the type, as the JSON did).
    expect((await ok(['audit', 'list', '--type', 'token.created'])).out).toContain('token.created')
    // A type that is none (a typo): the server's 422 naming the types, exit 2, not "no audit events".
    const typo = await cli(['audit', 'list', '--type', 'token.revokd'])
    expect([typo.code, typo.out]).toEqual([2, ''])
    expect(typo.err).toContain('type "token.revokd" is not an audit event type; the types are: token.created')
    expect(typo.err).not.toContain('no audit events')
    const denied = await cli(['audit', 'list'], { who: member })
    expect(denied.code).toBe(3)
    expect(denied.err).toContain('Forbidden')
  })
})

describe('help', () => {
  test('teamday help lists the server/admin group and the client group', async () => {
    const r = await ok(['help'])
    expect(r.out).toContain('Server and administration')
    expect(r.out).toContain('Client (talk HTTP')
    for (const c of ['agents', 'executions', 'tasks', 'spaces', 'whoami', 'health']) expect(r.out).toContain(`teamday ${c}`)
    expect((await ok(['help', 'agents'])).out).toContain('teamday agents execute ID|SLUG --message M')
    expect((await ok(['tokens', 'help'])).out).toContain('teamday tokens rotate ID')
    expect((await ok(['spaces', 'secrets', '--help'])).out).toContain('KEY=VALUE')
  })
})

describe('a list with more than one page', () => {
  test('stdout holds only the header and the rows; the next --offset is on stderr, and only while more follow', async () => {
    const before = await cli(['tasks', 'list', '--limit', '1'])
    const total = Number(/of (\d+)/.exec(before.err)?.[1] ?? (before.out.split('\n').filter(Boolean).length - 1))
    for (const title of ['page one', 'page two', 'page three']) expect((await cli(['tasks', 'create', '--title', title])).code).toBe(0)
    const first = await cli(['tasks', 'list', '--limit', '2'])
    expect(first.out.trimEnd().split('\n')).toHaveLength(3)
    expect(first.err).toContain(`2 of ${total + 3} tasks shown; the next page: --cursor `)
    expect(first.err).toContain('(or --offset 2)')
    const last = await cli(['tasks', 'list', '--limit', '2', '--offset', String(total + 1)])
    expect([last.out.trimEnd().split('\n').length, last.err]).toEqual([3, ''])
    const beyond = await cli(['tasks', 'list', '--offset', '1000'])
    expect([beyond.out.trim(), beyond.err]).toEqual(['no tasks', ''])
    // The lists whose body carries the cursor say so too.
    for (const name of ['Pager one', 'Pager two']) expect((await cli(['agents', 'create', '--name', name])).code).toBe(0)
    const agents = await cli(['agents', 'list', '--limit', '1'])
    expect(agents.out.trimEnd().split('\n')).toHaveLength(2)
    expect(agents.err).toMatch(/^1 of \d+ agents shown; the next page: --cursor \S+ \(or --offset 1\)\n$/)
    // --json too, on stderr (stdout stays the JSON): tasks and executions are bare arrays, which
    // carry no sign of a next page.
    const json = await cli(['tasks', 'list', '--limit', '1', '--json'])
    expect(json.json).toHaveLength(1)
    expect(json.err).toMatch(/^1 of \d+ tasks shown; the next page: --cursor \S+ \(or --offset 1\)\n$/)
    expect((await cli(['agents', 'list', '--limit', '1', '--json'])).err).toMatch(/^1 of \d+ agents shown/)
    expect((await cli(['tasks', 'list', '--offset', '1000', '--json'])).err).toBe('')
    // audit list too: its "(1 of N; use --limit/--offset)" was a line of stdout among the rows,
    // with --offset on the last page as well.
    const events = (await ok(['audit', 'list', '--json'])).json.total as number
    const audit = await cli(['audit', 'list', '--limit', '1'])
    expect(audit.out.trimEnd().split('\n')).toHaveLength(2)
    expect(audit.err).toMatch(/^1 of \d+ audit events shown; the next page: --cursor \S+ \(or --offset 1\)\n$/)
    const auditJson = await cli(['audit', 'list', '--limit', '1', '--json'])
    expect(auditJson.json.events).toHaveLength(1)
    expect(auditJson.err).toMatch(/^1 of \d+ audit events shown/)
    const auditLast = await cli(['audit', 'list', '--limit', '1', '--offset', String(events - 1)])
    expect([auditLast.out.trimEnd().split('\n').length, auditLast.err]).toEqual([2, ''])
  })
})

describe('--cursor: a list walked by the API\'s cursor', () => {
  /** The cursor the note on stderr names, or null on the last page. */
  const noteCursor = (err: string): string | null => /the next page: --cursor (\S+)/.exec(err)?.[1] ?? null

  test('tasks (a bare array: the cursor of X-Next-Cursor): the pages follow on, a task created meanwhile is not shown twice', async () => {
    const space = (await ok(['spaces', 'create', '--name', `Cursor walk ${Date.now()}`])).out.trim()
    // A millisecond apart: the list's order is (createdAt, id), and the test clock stands still.
    const create = async (title: string) => {
      t.clock.ms += 1
      expect((await cli(['tasks', 'create', '--title', title, '--space', space])).code).toBe(0)
    }
    for (let i = 1; i <= 5; i++) await create(`walk ${i}`)
    const first = await ok(['tasks', 'list', '--space', space, '--limit', '2', '--json'])
    expect(first.json.map((x: any) => x.title)).toEqual(['walk 5', 'walk 4'])
    let next = noteCursor(first.err)
    expect(next).not.toBeNull()
    expect(first.err).toContain('(or --offset 2)')
    // Created at the top while the script pages: by --offset 2, "walk 4" would come again.
    await create('walk 6')
    const seen: string[] = first.json.map((x: any) => x.title)
    while (next) {
      const page = await ok(['tasks', 'list', '--space', space, '--limit', '2', '--cursor', next, '--json'])
      seen.push(...page.json.map((x: any) => x.title))
      // After a page read by --cursor, the cursor alone (its offset is not known).
      expect(page.err).not.toContain('--offset')
      next = noteCursor(page.err)
    }
    expect(seen).toEqual(['walk 5', 'walk 4', 'walk 3', 'walk 2', 'walk 1'])
    // The table too: the same rows as --json's, the note on stderr.
    const table = await ok(['tasks', 'list', '--space', space, '--limit', '2', '--cursor', noteCursor(first.err)!])
    expect(table.out).toContain('walk 3')
    expect(table.out).not.toContain('walk 4')
  })

  test('lists whose body holds nextCursor: the note names the same cursor, and --cursor asks for that page', async () => {
    // Two of each at least, whichever tests ran before.
    for (const name of ['Cursor agent one', 'Cursor agent two']) expect((await cli(['agents', 'create', '--name', name])).code).toBe(0)
    for (const name of ['Cursor space one', 'Cursor space two']) expect((await cli(['spaces', 'create', '--name', `${name} ${Date.now()}`])).code).toBe(0)
    for (const name of ['cursor-one', 'cursor-two']) expect((await cli(['tokens', 'create', '--name', name])).code).toBe(0)
    for (const email of ['cursor-one@example.com', 'cursor-two@example.com']) expect((await cli(['members', 'add', '--email', email])).code).toBe(0)
    for (const argv of [['agents', 'list'], ['spaces', 'list'], ['tokens', 'list'], ['audit', 'list'], ['members', 'list']]) {
      const first = await ok([...argv, '--limit', '1', '--json'])
      const key = Object.keys(first.json).find((k) => Array.isArray(first.json[k]))!
      expect(first.json.nextCursor, argv.join(' ')).toBeString()
      expect(noteCursor(first.err), argv.join(' ')).toBe(first.json.nextCursor)
      const second = await ok([...argv, '--limit', '1', '--cursor', first.json.nextCursor, '--json'])
      expect(second.json, argv.join(' ')).toEqual(await api(`${argv[0] === 'members' ? `/api/v1/organizations/${admin.organizationId}/members` : argv[0] === 'audit' ? '/api/v1/audit-events' : `/api/v1/${argv[0]}`}?limit=1&cursor=${encodeURIComponent(first.json.nextCursor)}`))
      expect(second.json[key][0], argv.join(' ')).not.toEqual(first.json[key][0])
    }
  })

  test('executions list takes --cursor too', async () => {
    const r = await cli(['executions', 'list', '--limit', '1', '--cursor', 'not-a-cursor', '--json'])
    // Sent as ?cursor= (the API's 400, exit 2), not refused as an unknown option (exit 2 too).
    expect(r.code).toBe(2)
    expect(r.json?.statusCode).toBe(400)
    expect(r.err + r.out).toContain('Invalid cursor')
  })

  test('an empty --cursor, and --cursor with an --offset above 0: usage errors, nothing sent', async () => {
    const empty = await cli(['tasks', 'list', '--cursor', ''])
    expect(empty.code).toBe(2)
    expect(empty.err).toContain('--cursor is empty')
    const both = await cli(['agents', 'list', '--cursor', 'abc', '--offset', '5'])
    expect(both.code).toBe(2)
    expect(both.err).toContain('--cursor and --offset')
    expect((await cli(['agents', 'list', '--cursor', 'abc', '--offset', '0'])).err).not.toContain('--cursor and --offset')
  })
})

describe('a reader that stops reading', () => {
  test('streamed text into a closed pipe ends the command quietly, exit 0 (it was EPIPE with a stack trace)', () => {
    const { mkdtempSync, readFileSync, rmSync } = require('node:fs') as typeof import('node:fs')
    const { join } = require('node:path') as typeof import('node:path')
    const dir = mkdtempSync(join(require('node:os').tmpdir(), 'teamday-epipe-'))
    const errFile = join(dir, 'err')
    // What `teamday agents execute … --stream | head -c 10` does to the command's writes (text
    // deltas as they arrive, the event loop turning between them).
    const script = `import { processIo } from ${JSON.stringify(join(import.meta.dir, '../src/cli/common'))}; for (let i = 0; i < 20000; i++) { processIo.write('x'.repeat(1000) + '\\n'); if (i % 50 === 0) await Bun.sleep(1) } console.error('not stopped')`
    const r = Bun.spawnSync(['bash', '-c', `"$BUN" -e "$SCRIPT" 2>"$ERR" | head -c 10 >/dev/null; echo "\${PIPESTATUS[0]}"`], { env: { ...process.env, BUN: process.execPath, SCRIPT: script, ERR: errFile } })
    expect([r.stdout.toString().trim(), readFileSync(errFile, 'utf8')]).toEqual(['0', ''])
    rmSync(dir, { recursive: true, force: true })
  })
})

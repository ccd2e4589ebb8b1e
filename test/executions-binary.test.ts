/**
 * The compiled binary runs an agent created through the API against an OpenAI-compatible
 * server (the provider double), streamed and not; then by slug (the docs' recipe), and adds and
 * removes a member over the API (the removed member's token stops at once). Needs a built binary:
 *
 *   npm run build && TEAMDAY_TEST_BINARY=dist/teamday bun test test/executions-binary.test.ts
 *
 * Skipped (and says so) without TEAMDAY_TEST_BINARY, so the unit suite does not depend on a build.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { adminTokenVia, SETUP_LINK } from './helpers/first-start'
import { parseSse, startProviderDouble } from './helpers/providers'
import { binaryInTempDir, startServer, type Served } from './helpers/spawn'

const binary = process.env.TEAMDAY_TEST_BINARY
const run = binary ? describe : describe.skip
if (!binary) console.warn('executions-binary: set TEAMDAY_TEST_BINARY=dist/teamday to run the compiled-binary execution test')

run('compiled binary executes an agent against an OpenAI-compatible server', () => {
  const double = startProviderDouble()
  const dir = binary ? binaryInTempDir(binary, 'teamday-exec-') : ''
  let server: Served | undefined
  afterAll(() => {
    server?.proc.kill('SIGKILL')
    double.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test('serve, create an agent, execute sync and streamed', async () => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, OPENAI_BASE_URL: double.openaiBaseUrl, TEAMDAY_DEFAULT_MODEL: 'test-model', TEAMDAY_DB: './data/teamday.db', TEAMDAY_MAX_HISTORY_CHARS: '200' }
    server = await startServer(['./teamday', 'serve', '--host', '127.0.0.1', '--port', '0'], { cwd: dir, env, ready: [SETUP_LINK] })
    const token = adminTokenVia(['./teamday'], null, { cwd: dir, env })
    const base = `${server.origin}/api/v1`
    const h = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
    const created = await fetch(`${base}/agents`, { method: 'POST', headers: h, body: JSON.stringify({ name: 'Binary Agent', systemPrompt: 'You are compiled.' }) })
    const agentBody: any = await created.json()
    expect(created.status).toBe(201)
    const agentId = agentBody.agent?.id ?? agentBody.id
    expect(agentId).toBeString()

    const sync = await fetch(`${base}/agents/${agentId}/execute`, { method: 'POST', headers: h, body: JSON.stringify({ message: 'from the binary' }) })
    const syncBody: any = await sync.json()
    expect(sync.status).toBe(200)
    expect(syncBody).toMatchObject({ success: true, status: 'completed', result: 'Echo: from the binary (user turns: 1)' })

    const streamed = await fetch(`${base}/agents/${agentId}/execute`, { method: 'POST', headers: { ...h, accept: 'text/event-stream' }, body: JSON.stringify({ message: 'streamed', sessionId: syncBody.sessionId }) })
    expect(streamed.headers.get('content-type')).toContain('text/event-stream')
    const events = parseSse(await streamed.text())
    expect(events[0]!.event).toBe('meta')
    expect(events.at(-1)!.event).toBe('result')
    expect(events.at(-1)!.data.result).toBe('Echo: streamed (user turns: 2)')

    const list = await fetch(`${base}/executions?agentId=${agentId}`, { headers: h })
    const rows: any = await list.json()
    expect(Array.isArray(rows)).toBe(true)
    expect(rows.length).toBe(2)

    // Issue 14: the docs' recipe with slugs, and members over the API.
    const post = (path: string, body: unknown, auth = h) => fetch(`${base}${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body) })
    const bot: any = await (await post('/agents', { name: 'Deploy Bot', systemPrompt: 'You deploy.', visibility: 'organization' })).json()
    expect(bot.agent.slug).toBe('deploy-bot')
    const prod: any = await (await post('/spaces', { name: 'Production' })).json()
    expect(prod.space.slug).toBe('production')
    const deploy = await post('/agents/deploy-bot/execute', { message: 'Deploy 4f2a9c1 to production', spaceId: 'production', stream: false })
    const deployBody: any = await deploy.json()
    expect(deploy.status).toBe(200)
    const exec: any = await (await fetch(`${base}/executions/${deployBody.executionId}`, { headers: h })).json()
    expect(exec.execution).toMatchObject({ agentId: bot.agent.id, spaceId: prod.space.id, status: 'completed' })

    const self: any = await (await fetch(`${base}/tokens/self`, { headers: h })).json()
    const members = `${base}/organizations/${self.token.organizationId}/members`
    const added = await fetch(members, { method: 'POST', headers: h, body: JSON.stringify({ email: 'ci@example.com', role: 'member' }) })
    const member: any = await added.json()
    expect(added.status).toBe(201)
    expect(member).toMatchObject({ createdUser: true, member: { email: 'ci@example.com', role: 'member' } })
    const cli = (...args: string[]) => Bun.spawnSync(['./teamday', ...args], { cwd: dir, env: { ...env, TEAMDAY_LOG_LEVEL: 'silent' } })
    const minted = cli('tokens', 'create', '--email', 'ci@example.com', '--name', 'ci')
    const ciToken = minted.stdout.toString().trim()
    expect(ciToken).toMatch(/^td_[A-Za-z0-9]{43}$/)
    const listed = cli('users', 'list', '--org', 'default')
    expect(listed.exitCode).toBe(0)
    expect(listed.stdout.toString()).toMatch(/ci@example\.com\s+user_\w+\s+member/)
    const ciAuth = { authorization: `Bearer ${ciToken}` }
    expect((await fetch(`${base}/agents`, { headers: ciAuth })).status).toBe(200)
    const last = await fetch(`${members}/${self.token.userId}`, { method: 'DELETE', headers: h })
    expect(((await last.json()) as any).code).toBe('last_admin')
    const removed = await fetch(`${members}/${member.member.userId}`, { method: 'DELETE', headers: h })
    expect(removed.status).toBe(200)
    const after = await fetch(`${base}/agents`, { headers: ciAuth })
    expect(after.status).toBe(401)
    // Removal revokes the member's tokens, and the answer says why (README: membership_revoked).
    expect(((await after.json()) as any).code).toBe('membership_revoked')
  }, 30_000)
})

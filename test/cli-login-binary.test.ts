/**
 * The compiled binary end to end: `teamday serve`, then `teamday login` (the browser step: the
 * test approves the printed code on the same database file, as the console page does), `whoami`
 * naming the stored login, `agents list` with it, `logout`. Needs a built binary:
 *
 *   npm run build && TEAMDAY_TEST_BINARY=dist/teamday bun test test/cli-login-binary.test.ts
 *
 * Skipped (and says so) without TEAMDAY_TEST_BINARY, so the unit suite does not depend on a build.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { readFileSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../src/config'
import { operatorContext } from '../src/context'
import { decideLogin } from '../src/modules/cli-auth/service'
import { findUserByEmail, listMemberships } from '../src/modules/users/service'
import { createRuntime } from '../src/runtime'
import { binaryInTempDir, spawnCollected, startServer, type Served } from './helpers/spawn'

const binary = process.env.TEAMDAY_TEST_BINARY
const run = binary ? describe : describe.skip
if (!binary) console.warn('cli-login-binary: set TEAMDAY_TEST_BINARY=dist/teamday to run the compiled-binary sign-in test')

run('compiled binary: teamday login against teamday serve', () => {
  const dir = binary ? binaryInTempDir(binary, 'teamday-login-bin-') : ''
  let server: Served | undefined
  afterAll(() => {
    server?.proc.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  test('login, whoami, agents list, logout', async () => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), TEAMDAY_DB: './data/teamday.db' }
    const made = Bun.spawnSync(['./teamday', 'users', 'create', '--email', 'dev@example.com', '--org', 'acme', '--role', 'member'], { cwd: dir, env })
    expect(made.exitCode).toBe(0)
    server = await startServer(['./teamday', 'serve', '--host', '127.0.0.1', '--port', '0'], { cwd: dir, env })
    const url = server.origin

    const login = spawnCollected(['./teamday', 'login', '--url', url, '--no-browser'], { cwd: dir, env })
    const code = (await login.waitFor(/\/cli\/authorize\/(tdc_[A-Za-z0-9]{43})/))[1]!
    // The browser step, on the server's database file (what the approval page's POST does).
    const rt = await createRuntime(loadConfig({ TEAMDAY_DB: join(dir, 'data/teamday.db'), TEAMDAY_LOG_LEVEL: 'silent' }), { create: false })
    try {
      const ctx = operatorContext(rt)
      const user = (await findUserByEmail(ctx, 'dev@example.com'))!
      const [m] = await listMemberships(ctx, user.id)
      await decideLogin(ctx, code, { userId: user.id, organizationId: m!.organization.id }, 'approve')
    } finally {
      rt.close()
    }
    expect(await login.exited()).toBe(0)
    expect(login.output()).toContain(`Signed in to ${url} as dev@example.com`)
    const file = join(dir, 'config', 'teamday', 'credentials.json')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).servers)).toEqual([url])

    const who = Bun.spawnSync(['./teamday', 'whoami', '--url', url], { cwd: dir, env })
    expect(who.exitCode).toBe(0)
    expect(who.stdout.toString()).toMatch(/source\s+teamday login/)
    expect(Bun.spawnSync(['./teamday', 'agents', 'list', '--url', url], { cwd: dir, env }).exitCode).toBe(0)
    const bye = Bun.spawnSync(['./teamday', 'logout', '--url', url], { cwd: dir, env })
    expect(bye.exitCode).toBe(0)
    expect(bye.stdout.toString()).toContain('the server revoked the session')
    expect(Bun.spawnSync(['./teamday', 'whoami', '--url', url], { cwd: dir, env }).exitCode).toBe(3)
  }, 60_000)
})

import { afterAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

/**
 * The quick start is `npm install && npm start`: no binary is built, so the `teamday` commands the
 * README and the server's first-start banner name (`users set-password`, the headless `tokens
 * create`) must run from the checkout too. `npm run -s teamday -- …` (README, Quick start) is
 * that command; `-s` keeps npm's own lines off stdout, so `tokens create` prints only the token.
 */

const ROOT = resolve(import.meta.dir, '..')
const dir = mkdtempSync(join(tmpdir(), 'teamday-npm-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const npmRun = (...args: string[]) =>
  spawnSync('npm', ['run', '-s', 'teamday', '--', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, TEAMDAY_LOG_LEVEL: 'warn', NODE_ENV: 'production' },
    timeout: 60_000,
  })

describe('npm run -s teamday -- …, from the checkout', () => {
  test('runs the admin commands of the quick start; tokens create prints only the token', () => {
    const db = join(dir, 'quick-start.db')
    const created = npmRun('users', 'create', '--email', 'ops@example.com', '--org', 'default', '--role', 'admin', '--db', db)
    expect(created.status).toBe(0)
    const token = npmRun('tokens', 'create', '--email', 'ops@example.com', '--name', 'ci', '--db', db)
    expect(token.status).toBe(0)
    expect(token.stdout).toMatch(/^td_[A-Za-z0-9]{43}\n$/)
    const list = npmRun('tokens', 'list', '--email', 'ops@example.com', '--json', '--db', db)
    expect(list.status).toBe(0)
    expect(JSON.parse(list.stdout)).toMatchObject({ tokens: [{ name: 'ci', status: 'active' }] })
  }, 120_000)
})

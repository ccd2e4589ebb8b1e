import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

/**
 * The command line as a process whose stdout cannot take what it prints (`> /dev/full`: ENOSPC,
 * a reader that closed the pipe: EPIPE). console.log dropped such a write: `teamday tokens create
 * > /dev/full` exited 0 and left an active token nobody had.
 */

const MAIN = resolve(import.meta.dir, '../src/main.ts')
const dir = mkdtempSync(join(tmpdir(), 'teamday-output-'))
const db = join(dir, 'teamday.db')
const env = { ...process.env, TEAMDAY_LOG_LEVEL: 'silent' }

let t: TestApp
let server: Server<unknown>
let admin: Actor

beforeAll(async () => {
  t = await makeTestApp()
  t.clock.ms = Date.now() // the client compares Teamday-Token-Expiration with the real time
  server = Bun.serve({ port: 0, hostname: '127.0.0.1', idleTimeout: 0, fetch: (req) => t.app.handle(req) })
  admin = await makeActor(t, { role: 'admin' })
  expect(await teamday(['users', 'create', '--email', 'ops@example.com', '--org', 'acme', '--db', db])).toMatchObject({ code: 0 })
}, 60_000)

afterAll(() => {
  server.stop(true)
  rmSync(dir, { recursive: true, force: true })
})

/** `teamday ARGV` as a process, its stdout into `stdout` (a file such as /dev/full, or a pipe that is read). */
async function teamday(argv: string[], o: { stdout?: string; env?: Record<string, string> } = {}): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn([process.execPath, MAIN, ...argv], { env: { ...env, ...o.env }, stdout: o.stdout ? Bun.file(o.stdout) : 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([o.stdout ? '' : new Response(proc.stdout as ReadableStream).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, out, err }
}

describe('stdout that cannot be written', () => {
  test('admin `tokens create > /dev/full`: exit 1, the token named as created and not received, with the command that revokes it; it stays active', async () => {
    const r = await teamday(['tokens', 'create', '--email', 'ops@example.com', '--name', 'full1', '--db', db], { stdout: '/dev/full' })
    expect(r.code).toBe(1)
    const id = /token (pat_\w+) was created, but could not write to standard output \(ENOSPC[^)]*\): nobody received it\. Revoke it: teamday tokens revoke (pat_\w+) --db (\S+)$/m.exec(r.err)
    expect(id, r.err).not.toBeNull()
    expect([id![2], id![3]]).toEqual([id![1], db])
    // Not revoked behind the operator's back: the message says so, and the listed command does it.
    const listed = await teamday(['tokens', 'list', '--email', 'ops@example.com', '--json', '--db', db])
    expect(JSON.parse(listed.out).tokens.find((x: { id: string }) => x.id === id![1])).toMatchObject({ name: 'full1', status: 'active' })
    expect((await teamday(['tokens', 'revoke', id![1], '--db', db])).code).toBe(0)
  })

  test('a token into a pipe its reader closed (EPIPE) is not delivered either: exit 1, not the quiet 0 of a list cut short', async () => {
    const r = Bun.spawnSync(['bash', '-c', `"$BUN" "$MAIN" tokens create --email ops@example.com --name piped --db "$DB" 2>"$DIR/err" | true; echo "\${PIPESTATUS[0]}"; cat "$DIR/err"`], {
      env: { ...env, BUN: process.execPath, MAIN, DB: db, DIR: dir },
    })
    const [code, ...err] = r.stdout.toString().trim().split('\n')
    expect(code).toBe('1')
    expect(err.join('\n')).toMatch(/token pat_\w+ was created, but could not write to standard output \(EPIPE[^)]*\): nobody received it/)
  })

  test('--version (answered before any command code loads) into /dev/full: exit 1 and says so (it was 0)', async () => {
    for (const arg of ['--version', '-v', 'version']) {
      const r = await teamday([arg], { stdout: '/dev/full' })
      expect([arg, r.code, r.err.trim()]).toEqual([arg, 1, 'error: could not write to standard output (ENOSPC)'])
    }
    expect((await teamday(['--version'])).out).toStartWith('teamday ')
  })

  test('with --json too: a failure whose JSON error meets a closed pipe keeps its exit code (it was 0, a token undelivered among them)', async () => {
    const piped = (args: string) =>
      Bun.spawnSync(['bash', '-c', `"$BUN" "$MAIN" ${args} 2>/dev/null | true; echo "\${PIPESTATUS[0]}"`], { env: { ...env, BUN: process.execPath, MAIN, DB: db } }).stdout.toString().trim()
    // A usage error (admin `tokens create` prints only the token: no --json) and a missing organization.
    expect(piped('tokens create --email ops@example.com --name piped-json --json --db "$DB"')).toBe('2')
    expect(piped('users list --org nowhere-at-all --json --db "$DB"')).toBe('1')
  })

  test('client `tokens create > /dev/full`: exit 1 naming the created token and its revoke command, not "copy it now"', async () => {
    const url = `http://127.0.0.1:${server.port}`
    const r = await teamday(['tokens', 'create', '--name', 'x', '--url', url], { stdout: '/dev/full', env: { TEAMDAY_TOKEN: admin.token } })
    expect(r.code).toBe(1)
    expect(r.err).not.toContain('copy it now')
    const id = new RegExp(`token (pat_\\w+) was created, but could not write to standard output \\(ENOSPC[^)]*\\): nobody received it\\. Revoke it: teamday tokens revoke (pat_\\w+) --url ${url}$`, 'm').exec(r.err)
    expect(id, r.err).not.toBeNull()
    expect(id![2]).toBe(id![1])
    const res = await t.app.handle(new Request(`http://localhost/api/v1/tokens/${id![1]}`, { headers: { authorization: `Bearer ${admin.token}` } }))
    expect(((await res.json()) as { token: { status: string } }).token.status).toBe('active')
  })

  test('client `tokens rotate self > /dev/full`: names the old token and says the new one is revoked with another token or in the console (the rotated one may revoke nothing but itself)', async () => {
    const url = `http://127.0.0.1:${server.port}`
    const made = await t.app.handle(new Request('http://localhost/api/v1/tokens', { method: 'POST', headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'rotating itself' }) }))
    const { token, id: oldId } = (await made.json()) as { token: string; id: string }
    const r = await teamday(['tokens', 'rotate', 'self', '--url', url], { stdout: '/dev/full', env: { TEAMDAY_TOKEN: token } })
    expect(r.code).toBe(1)
    const m = new RegExp(`token ${oldId} \\(the token this command ran with\\) was rotated: the new token (pat_\\w+) was created, but could not write to standard output \\(ENOSPC[^)]*\\): nobody received it, and the old one stops at \\S+\\. Revoke the new one with another token of yours \\(teamday tokens revoke (pat_\\w+) --url ${url}\\) or in the web console \\(Settings → Profile → Personal Access Tokens, the trash icon\\)$`, 'm').exec(r.err)
    expect(m, r.err).not.toBeNull()
    expect(m![2]).toBe(m![1])
    // The old token, rotated, could not revoke it: the advice does not send the user there.
    expect(r.err).not.toContain('while the old one works')
  })

  test('`users list`, `openapi` and `help` into /dev/full exit 1 and say so; into a reader that stops early, 0 as before', async () => {
    for (const argv of [['users', 'list', '--org', 'acme', '--db', db], ['openapi'], ['help']]) {
      const r = await teamday(argv, { stdout: '/dev/full' })
      expect([argv[0], r.code]).toEqual([argv[0], 1])
      expect(r.err).toMatch(/^error: could not write to standard output \(ENOSPC: no space left on device, write\)$/m)
    }
    const r = Bun.spawnSync(['bash', '-c', `"$BUN" "$MAIN" help | head -c 1 >/dev/null; echo "\${PIPESTATUS[0]}"`], { env: { ...env, BUN: process.execPath, MAIN } })
    expect(r.stdout.toString().trim()).toBe('0')
  })
})

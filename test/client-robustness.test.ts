import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ClientIo } from '../src/cli/client/common'
import { run } from '../src/main'

/**
 * The client against a scripted server (found from outside): tokens that cannot go in a header,
 * answers of the wrong shape, streams that stall, pages after a --json list, …
 */

const TOKEN = 'td_' + 'A'.repeat(43)
let server: Server<unknown>
let base: string
let hits = 0
/** What the scripted server answers next (path → Response); unset paths answer 404 teamday-style. */
let handler: (req: Request, path: string) => Response | Promise<Response> = () => new Response('{}')
const dir = join(tmpdir(), `teamday-robust-${process.pid}`)

beforeAll(() => {
  mkdirSync(dir, { recursive: true })
  server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    idleTimeout: 0,
    fetch(req) {
      hits++
      return handler(req, new URL(req.url).pathname)
    },
  })
  base = `http://127.0.0.1:${server.port}`
})

afterAll(() => {
  server.stop(true)
})

async function cli(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = []
  const err: string[] = []
  const io: ClientIo = { out: (s) => out.push(s + '\n'), err: (s) => err.push(s + '\n'), write: (s) => out.push(s), env: { TEAMDAY_URL: base, TEAMDAY_TOKEN: TOKEN, XDG_CONFIG_HOME: dir, ...env } }
  const code = await run(argv, io)
  const r = { code, out: out.join(''), err: err.join(''), json: undefined as any }
  expect(r.out + r.err).not.toContain(TOKEN)
  try {
    r.json = JSON.parse(r.out)
  } catch {}
  return r
}

describe('a token with a character no TeamDay token has', () => {
  test('exit 3 at once, no request, naming its source and the character, never the token', async () => {
    handler = () => Response.json([])
    hits = 0
    const zw = await cli(['tasks', 'list', '--retries', '3'], { TEAMDAY_TOKEN: TOKEN + '\u200b' })
    expect(zw.code).toBe(3)
    expect(zw.err).toContain('TEAMDAY_TOKEN')
    expect(zw.err).toContain('U+200B')
    expect(zw.err).toContain('never has')
    expect(zw.err).not.toContain('cannot reach')
    expect(zw.err).not.toContain('retrying')
    const api = await cli(['agents', 'list', '--json'], { TEAMDAY_TOKEN: '', TEAMDAY_API_TOKEN: 'td_ü' + 'A'.repeat(42) })
    expect(api.code).toBe(3)
    expect(api.json.code).toBe('token_invalid_character')
    expect(api.err).toContain('TEAMDAY_API_TOKEN')
    // Non-Latin-1 (Bun refused the header) and Latin-1 alike.
    const cjk = await cli(['whoami'], { TEAMDAY_TOKEN: TOKEN + '漢' })
    expect(cjk.code).toBe(3)
    // A token file ending in byte 0xff (not UTF-8).
    const file = join(dir, 'token-ff')
    writeFileSync(file, Buffer.concat([Buffer.from(TOKEN), Buffer.from([0xff])]))
    chmodSync(file, 0o600)
    const ff = await cli(['tasks', 'list', '--token-file', file])
    expect(ff.code).toBe(3)
    expect(ff.err).toContain(`--token-file ${file}`)
    expect(ff.err).toContain('never has')
    expect(hits).toBe(0)
  })
})

describe('BUN_CONFIG_VERBOSE_FETCH', () => {
  test('Bun prints no request of a client command: the token and a refresh token never show (bun src/main.ts)', async () => {
    handler = (req, path) => {
      if (path === '/api/auth/cli/refresh') return Response.json({ accessToken: 'tdo_' + 'N'.repeat(43), expiresAt: new Date(Date.now() + 900_000).toISOString() })
      return Response.json([], { headers: { 'x-total-count': '0' } })
    }
    const home = join(dir, 'verbose')
    mkdirSync(join(home, 'teamday'), { recursive: true, mode: 0o700 })
    const login = { accessToken: 'tdo_' + 'O'.repeat(43), refreshToken: 'tdr_' + 'R'.repeat(43), expiresAt: '2000-01-01T00:00:00.000Z', userId: 'u', organizationId: 'o', savedAt: '2000-01-01T00:00:00.000Z' }
    writeFileSync(join(home, 'teamday', 'credentials.json'), JSON.stringify({ version: 1, servers: { [base]: login } }), { mode: 0o600 })
    for (const [value, env] of [
      ['curl', { TEAMDAY_TOKEN: TOKEN }],
      ['1', { TEAMDAY_TOKEN: TOKEN }],
      ['curl', {}], // the stored login, refreshed first: the refresh body holds the refresh token
    ] as const) {
      // Asynchronous: the scripted server answers from this process.
      const p = Bun.spawn([process.execPath, 'src/main.ts', 'tasks', 'list'], {
        cwd: join(import.meta.dir, '..'),
        env: { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: home, TEAMDAY_URL: base, BUN_CONFIG_VERBOSE_FETCH: value, ...env },
        stdout: 'pipe',
        stderr: 'pipe',
      })
      const all = (await new Response(p.stdout).text()) + (await new Response(p.stderr).text())
      expect(await p.exited).toBe(0)
      expect(all).toContain('no tasks')
      for (const secret of [TOKEN, 'O'.repeat(43), 'R'.repeat(43), 'N'.repeat(43)]) expect(all).not.toContain(secret)
      expect(all).not.toContain('curl')
    }
  }, 30_000)
})

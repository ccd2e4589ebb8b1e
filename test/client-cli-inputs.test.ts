import { afterAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import type { ClientIo } from '../src/cli/common'
import { run } from '../src/main'

/**
 * What the client commands say and send, against a stub server that answers as told and records
 * each request: the next-page hint's grammar, the rate-limit hint, the secret-name rule, the
 * version and help with --json, long texts read from stdin or a file.
 */

interface Seen {
  method: string
  path: string
  body: any
}

let answer: (req: Request) => Response = () => Response.json({})
const seen: Seen[] = []
const server: Server<unknown> = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  fetch: async (req) => {
    const text = await req.text()
    seen.push({ method: req.method, path: new URL(req.url).pathname, body: text ? JSON.parse(text) : undefined })
    return answer(req)
  },
})
const base = `http://127.0.0.1:${server.port}`
afterAll(() => server.stop(true))

async function cli(argv: string[], o: { stdin?: string | Uint8Array[] } = {}) {
  seen.length = 0
  const out: string[] = []
  const err: string[] = []
  const io: ClientIo = {
    out: (s) => out.push(s.endsWith('\n') ? s : s + '\n'),
    err: (s) => err.push(s.endsWith('\n') ? s : s + '\n'),
    write: (s) => out.push(s),
    env: { TEAMDAY_URL: base, TEAMDAY_TOKEN: 'td_' + 'a'.repeat(40), TEAMDAY_LOG_LEVEL: 'silent' },
  }
  const code = await run(argv, io)
  return { code, out: out.join(''), err: err.join('') }
}

describe('the next-page hint', () => {
  test('one row without a total: "1 execution shown"; two: "2 executions shown"', async () => {
    answer = () => Response.json([{ id: 'exec_1', status: 'completed' }], { headers: { 'x-next-cursor': 'c1' } })
    const one = await cli(['executions', 'list', '--limit', '1'])
    expect(one.code).toBe(0)
    expect(one.err).toBe('1 execution shown; the next page: --offset 1\n')
    answer = () => Response.json([{ id: 'exec_1' }, { id: 'exec_2' }], { headers: { 'x-next-cursor': 'c1' } })
    const two = await cli(['executions', 'list', '--limit', '2', '--offset', '4'])
    expect(two.err).toBe('2 executions shown; the next page: --offset 6\n')
    // With a total the plural stays: "1 of 7 tasks".
    answer = () => Response.json([{ id: 'task_1' }], { headers: { 'x-next-cursor': 'c1', 'x-total-count': '7' } })
    expect((await cli(['tasks', 'list', '--limit', '1'])).err).toBe('1 of 7 tasks shown; the next page: --offset 1\n')
    answer = () => Response.json({ events: [{ id: 'ev_1' }], nextCursor: 'c1', total: null })
    expect((await cli(['audit', 'list', '--limit', '1'])).err).toBe('1 audit event shown; the next page: --offset 1\n')
  })
})

describe('still rate limited', () => {
  const limited = () => Response.json({ error: true, statusCode: 429, code: 'rate_limited', message: 'Too many requests', requestId: 'req_1' }, { status: 429, headers: { 'retry-after': '0' } })

  test('--retries 0: the hint says it was not retried, not "after the retries"', async () => {
    answer = limited
    const r = await cli(['agents', 'list', '--retries', '0'])
    expect(r.code).toBe(5)
    expect(seen).toHaveLength(1)
    expect(r.err).not.toContain('after the retries')
    expect(r.err).toContain('not retried (--retries 0)')
  })

  test('--retries 1: "after 1 retry"; 2: "after 2 retries"', async () => {
    answer = limited
    const one = await cli(['agents', 'list', '--retries', '1'])
    expect(one.code).toBe(5)
    expect(seen).toHaveLength(2)
    expect(one.err).toContain('Still rate limited after 1 retry;')
    const two = await cli(['agents', 'list', '--retries', '2'])
    expect(seen).toHaveLength(3)
    expect(two.err).toContain('Still rate limited after 2 retries;')
  })
})

describe('secret names: the server\'s rule, checked before sending', () => {
  test('lowercase, a leading _ or over 128 characters: exit 2, nothing sent, the value never echoed', async () => {
    answer = () => Response.json({ keys: ['X'] })
    for (const name of ['lower', 'Mixed_Case', '_LEADING', 'A'.repeat(129)]) {
      const set = await cli(['spaces', 'secrets', 'set', 'space_1', 'OK=1', `${name}=sk-value-never-shown`])
      expect(set.code).toBe(2)
      expect(seen).toHaveLength(0)
      expect(set.err).toContain('UPPER_SNAKE_CASE')
      expect(set.err).toContain('(KEY 2 of 2)')
      expect(set.err).not.toContain('sk-value-never-shown')
      const del = await cli(['spaces', 'secrets', 'delete', 'space_1', name])
      expect(del.code).toBe(2)
      expect(seen).toHaveLength(0)
    }
  })

  test('what the server accepts is sent', async () => {
    answer = () => Response.json({ keys: ['API_KEY', 'A', 'B2_X'] })
    const r = await cli(['spaces', 'secrets', 'set', 'space_1', 'API_KEY=1', 'A=2', `B2_X=3`, `${'C'.repeat(128)}=4`])
    expect(r.code).toBe(0)
    expect(Object.keys(seen[0]!.body.secrets)).toEqual(['API_KEY', 'A', 'B2_X', 'C'.repeat(128)])
  })
})

describe('--json with --version and help', () => {
  test('--version --json (and version, -v): one JSON object with the version and the commit', async () => {
    for (const argv of [['--version', '--json'], ['version', '--json'], ['-v', '--json']]) {
      const r = await cli(argv)
      expect(r.code).toBe(0)
      const body = JSON.parse(r.out)
      expect(body).toEqual({ name: 'teamday', version: expect.stringMatching(/^\d+\.\d+\.\d+/), commit: expect.any(String) })
    }
  })

  test('help --json, help CMD --json, CMD --help --json: exit 2 with the JSON error on stdout, not the text', async () => {
    for (const argv of [['help', '--json'], ['--help', '--json'], ['help', 'agents', '--json'], ['agents', '--help', '--json'], ['agents', 'list', '--help', '--json'], ['spaces', 'secrets', '-h', '--json']]) {
      const r = await cli(argv)
      expect(r.code).toBe(2)
      const body = JSON.parse(r.out)
      expect(body).toMatchObject({ error: true, code: 'usage', exitCode: 2 })
      expect(body.message).toContain('help has no --json form')
    }
    // Without --json, help is as it was.
    expect((await cli(['help', 'agents'])).out).toStartWith('usage:')
  })
})

import { afterAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { recordingIo } from './helpers/cli-io'
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
  const { io, out, err } = recordingIo(
    { TEAMDAY_URL: base, TEAMDAY_TOKEN: 'td_' + 'a'.repeat(40), TEAMDAY_LOG_LEVEL: 'silent' },
    {
      stdin: async function* () {
        const given = o.stdin ?? []
        for (const chunk of typeof given === 'string' ? [new TextEncoder().encode(given)] : given) yield chunk
      },
    },
  )
  const code = await run(argv, io)
  return { code, out: out(), err: err() }
}

describe('the next-page hint', () => {
  test('one row without a total: "1 execution shown"; two: "2 executions shown"', async () => {
    answer = () => Response.json([{ id: 'exec_1', status: 'completed' }], { headers: { 'x-next-cursor': 'c1' } })
    const one = await cli(['executions', 'list', '--limit', '1'])
    expect(one.code).toBe(0)
    expect(one.err).toBe('1 execution shown; the next page: --cursor c1 (or --offset 1)\n')
    answer = () => Response.json([{ id: 'exec_1' }, { id: 'exec_2' }], { headers: { 'x-next-cursor': 'c1' } })
    const two = await cli(['executions', 'list', '--limit', '2', '--offset', '4'])
    expect(two.err).toBe('2 executions shown; the next page: --cursor c1 (or --offset 6)\n')
    // With a total the plural stays: "1 of 7 tasks".
    answer = () => Response.json([{ id: 'task_1' }], { headers: { 'x-next-cursor': 'c1', 'x-total-count': '7' } })
    expect((await cli(['tasks', 'list', '--limit', '1'])).err).toBe('1 of 7 tasks shown; the next page: --cursor c1 (or --offset 1)\n')
    answer = () => Response.json({ events: [{ id: 'ev_1' }], nextCursor: 'c1', total: null })
    expect((await cli(['audit', 'list', '--limit', '1'])).err).toBe('1 audit event shown; the next page: --cursor c1 (or --offset 1)\n')
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

  // Past the API's 100 a request it was the server's 422 after the request, or past 1000 "unexpected argument".
  test('more than the API takes in one request: exit 2 saying the limit, nothing sent', async () => {
    answer = () => Response.json({ keys: [] })
    const names = Array.from({ length: 101 }, (_, i) => `K${i}`)
    const set = await cli(['spaces', 'secrets', 'set', 'space_1', ...names.map((k) => `${k}=v`)])
    const del = await cli(['spaces', 'secrets', 'delete', 'space_1', ...names])
    for (const r of [set, del]) {
      expect(r.code).toBe(2)
      expect(r.err).toContain('at most 100 secrets per command, the API\'s limit for one request (got 101)')
    }
    expect(seen).toHaveLength(0)
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

// `teamday --json --version` was "unknown command --json": only the command's own arguments took options.
describe('options before the command', () => {
  test('--json, --version and --help in any order before the command: --json --version is the JSON version', async () => {
    for (const argv of [['--json', '--version'], ['--json', '-v'], ['--version', '--json']]) {
      const r = await cli(argv)
      expect({ argv, code: r.code, err: r.err }).toEqual({ argv, code: 0, err: '' })
      expect(JSON.parse(r.out)).toEqual({ name: 'teamday', version: expect.stringMatching(/^\d+\.\d+\.\d+/), commit: expect.any(String) })
    }
    // help stays text only, whichever comes first.
    for (const argv of [['--json', 'help'], ['--json', '--help'], ['--json', 'help', 'agents'], ['--json', '--help', 'agents'], ['-h', '--json']]) {
      const r = await cli(argv)
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 })
      expect(JSON.parse(r.out)).toMatchObject({ error: true, code: 'usage', exitCode: 2, message: expect.stringContaining('help has no --json form') })
    }
    // --help before a command is its usage, as help COMMAND.
    const usage = await cli(['--help', 'agents'])
    expect(usage.code).toBe(0)
    expect(usage.out).toBe((await cli(['help', 'agents'])).out)
    expect((await cli(['-h'])).out).toBe((await cli(['help'])).out)
  })

  test("the common options before the command are the command's: --json, --url, --token-file, --retries", async () => {
    answer = () => Response.json([{ id: 'exec_1', status: 'completed' }])
    const json = await cli(['--json', 'executions', 'list'])
    expect(json.code).toBe(0)
    expect(JSON.parse(json.out)).toEqual([{ id: 'exec_1', status: 'completed' }])
    expect(seen.map((x) => `${x.method} ${x.path}`)).toEqual(['GET /api/v1/executions'])
    // A server named before the command is the one asked (TEAMDAY_URL names the stub: a dead one first).
    const other = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => Response.json({ status: 'ok', version: '9.9.9' }) })
    try {
      const health = await cli(['--url', `http://127.0.0.1:${other.port}`, '--json', 'health'])
      expect({ code: health.code, body: JSON.parse(health.out) }).toEqual({ code: 0, body: { status: 'ok', version: '9.9.9' } })
      const inline = await cli([`--url=http://127.0.0.1:${other.port}`, 'health', '--json'])
      expect(JSON.parse(inline.out).version).toBe('9.9.9')
    } finally {
      other.stop(true)
    }
    expect((await cli(['--retries', '0', '--json', 'executions', 'list'])).code).toBe(0)
    // The token file named before the command is the one read.
    const noFile = await cli(['--token-file', '/nonexistent/teamday-token', 'executions', 'list'])
    expect(noFile.code).not.toBe(0)
    expect(noFile.err).toContain('/nonexistent/teamday-token')
    expect(seen).toEqual([])
    // Checked as after the command: a value missing, an option twice, one a command does not take.
    const missing = await cli(['--retries', 'agents', 'list'])
    expect(missing.code).toBe(2)
    expect((await cli(['--json', 'agents', 'list', '--json'])).err).toContain("option '--json' is given more than once")
    expect((await cli(['--json=yes', 'health'])).err).toContain("option '--json' does not take a value")
    const admin = await cli(['--url', base, 'users', 'list'])
    expect(admin.code).toBe(2)
    expect(admin.err).toContain('unknown option --url for "teamday users')
    // Anything else before the command: an unknown option of the command named after it (a
    // misplaced one: test/cli.test.ts); before no command, an unknown command.
    const unknown = await cli(['--verbose', 'health'])
    expect(unknown.code).toBe(2)
    expect(unknown.err).toBe('error: unknown option --verbose before "teamday health". See "teamday help health".\n')
    expect((await cli(['--verbose', 'x'])).err).toContain('unknown command "--verbose"')
    // Options and no command, or nothing: the same usage error on stderr, its line then the
    // overview, exit 2; with --json its JSON on stdout too (`--url` alone had no error line, `--json` no overview).
    const nothing = await cli([])
    expect([nothing.code, nothing.out]).toEqual([2, ''])
    expect(nothing.err).toStartWith('error: no command given: see "teamday help"\n\n')
    expect(nothing.err).toContain('Client (talk HTTP')
    for (const argv of [['--url', base], ['--url'], [`--url=${base}`, '--retries', '1']]) {
      const r = await cli(argv)
      expect({ argv, code: r.code, out: r.out, err: r.err }).toEqual({ argv, code: 2, out: '', err: nothing.err })
    }
    const none = await cli(['--json'])
    expect({ code: none.code, body: JSON.parse(none.out), err: none.err }).toEqual({ code: 2, body: { error: true, code: 'usage', message: 'no command given: see "teamday help"', exitCode: 2 }, err: nothing.err })
  })
})

// `teamday agents --json` was "unknown agents command "--json"", where `teamday agents` is its usage.
describe('a command group followed only by options', () => {
  test('is the group alone: one usage error, its line then the usage on stderr, exit 2; with --json its JSON on stdout too, as `teamday --json` gives', async () => {
    // The group alone had its usage and no error line, where `teamday agents --json` had both.
    const alone = await cli(['agents'])
    expect([alone.code, alone.out]).toEqual([2, ''])
    expect(alone.err).toStartWith('error: no agents command given: see "teamday help agents"\n\nusage:')
    const secrets = await cli(['spaces', 'secrets'])
    expect([secrets.code, secrets.out]).toEqual([2, ''])
    expect(secrets.err).toStartWith('error: no spaces secrets command given: see "teamday help spaces"\n\nusage:')
    for (const argv of [['agents', '--url', base], ['agents', `--url=${base}`, '--retries', '1'], ['spaces', 'secrets', '--token-file', '/nonexistent/x'], ['agents', '--url']]) {
      const r = await cli(argv)
      const usage = argv[0] === 'agents' ? alone.err : (await cli(['spaces', 'secrets'])).err
      expect({ argv, code: r.code, out: r.out, err: r.err }).toEqual({ argv, code: 2, out: '', err: usage })
    }
    for (const [argv, group, topic] of [
      [['agents', '--json'], 'agents', 'agents'],
      [['agents', '--url', base, '--json'], 'agents', 'agents'],
      [['spaces', 'secrets', '--json'], 'spaces secrets', 'spaces'],
      [['tokens', '--json'], 'tokens', 'tokens'],
      // Admin mode's group, with the options that choose the database.
      [['users', '--db', '/nonexistent/teamday.db', '--json'], 'users', 'users'],
    ] as const) {
      const r = await cli([...argv])
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 })
      expect(JSON.parse(r.out)).toEqual({ error: true, code: 'usage', message: `no ${group} command given: see "teamday help ${topic}"`, exitCode: 2 })
      expect(r.err).toContain('usage:')
      expect(r.err).not.toContain('unknown')
      // The same stderr as the group alone.
      expect(r.err).toBe((await cli(argv.filter((a) => a !== '--json'))).err)
    }
    const none = await cli(['--json'])
    expect({ code: none.code, body: JSON.parse(none.out) }).toMatchObject({ code: 2, body: { error: true, code: 'usage' } })
    // Options then --help: the group's help (refused with --json, as every help is).
    expect(await cli(['agents', '--url', base, '--help'])).toMatchObject({ code: 0, out: (await cli(['agents', '--help'])).out })
    expect(JSON.parse((await cli(['agents', '--json', '--help'])).out).message).toContain('help has no --json form')
    // An option of a subcommand, with none given: which commands take it, to be written after one.
    const other = await cli(['agents', '--limit', '5'])
    expect({ code: other.code, out: other.out }).toEqual({ code: 2, out: '' })
    expect(other.err).toBe('error: no agents command given before --limit (an option of "teamday agents list": write it after the command). See "teamday help agents".\n')
  })
})

// `teamday agents --json list` was "unknown agents command "--json"", where `teamday --json agents
// list` and `teamday agents list --json` worked.
describe('options between a group and its subcommand', () => {
  const same = async (between: string[], after: string[]) => {
    const a = await cli(between)
    const requestsA = seen.map((x) => `${x.method} ${x.path}`)
    const b = await cli(after)
    expect({ argv: between, ...a, requests: requestsA }).toEqual({ argv: between, ...b, requests: seen.map((x) => `${x.method} ${x.path}`) })
    return a
  }

  test("are the command's, as before the group or after the subcommand", async () => {
    answer = () => Response.json({ agents: [{ id: 'char_1', name: 'Writer' }] })
    const listed = await same(['agents', '--json', 'list'], ['agents', 'list', '--json'])
    expect({ code: listed.code, body: JSON.parse(listed.out) }).toEqual({ code: 0, body: { agents: [{ id: 'char_1', name: 'Writer' }] } })
    await same(['agents', '--json', 'list'], ['--json', 'agents', 'list'])
    await same(['agents', `--url=${base}`, '--retries', '0', '--json', 'list', '--limit', '1'], ['agents', 'list', '--limit', '1', `--url=${base}`, '--retries', '0', '--json'])
    // Between each level of a nested group.
    answer = () => Response.json({ secrets: ['API_KEY'] })
    const secrets = await same(['spaces', '--json', 'secrets', '--retries', '0', 'list', 'sp_1'], ['spaces', 'secrets', 'list', 'sp_1', '--json', '--retries', '0'])
    expect(secrets.code).toBe(0)
    expect(seen.map((x) => `${x.method} ${x.path}`)).toEqual(['GET /api/v1/spaces/sp_1/secrets'])
    // A server named there is the one asked.
    const other = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => Response.json([{ id: 'exec_9', status: 'completed' }]) })
    try {
      answer = () => Response.json([])
      const named = await cli(['executions', '--url', `http://127.0.0.1:${other.port}`, '--json', 'list'])
      expect({ code: named.code, body: JSON.parse(named.out) }).toEqual({ code: 0, body: [{ id: 'exec_9', status: 'completed' }] })
      expect(seen).toEqual([])
    } finally {
      other.stop(true)
    }
    // The token file named there is the one read.
    const noFile = await cli(['agents', '--token-file', '/nonexistent/teamday-token', 'list'])
    expect(noFile.code).not.toBe(0)
    expect(noFile.err).toContain('/nonexistent/teamday-token')
    expect(seen).toEqual([])
  })

  test('are checked as after the subcommand: a missing value, a repeat, a value on a flag, an option the command does not take (exit 2)', async () => {
    for (const [between, after] of [
      [['agents', '--json', 'list', '--json'], ['agents', 'list', '--json', '--json']],
      [['agents', '--json=yes', 'list'], ['agents', 'list', '--json=yes']],
      [['agents', '--retries', '--json', 'list'], ['agents', 'list', '--retries', '--json']],
      [['agents', '--url', base, 'list', '--url', base], ['agents', 'list', '--url', base, '--url', base]],
      // Admin mode: an option its command does not take is that command's unknown option.
      [['users', '--url', base, 'list', '--org', 'acme'], ['users', 'list', '--org', 'acme', '--url', base]],
      [['users', '--token-file', '/x', 'list', '--org', 'acme'], ['users', 'list', '--org', 'acme', '--token-file', '/x']],
      [['tokens', '--db', '/nonexistent/teamday.db', '--json', 'list'], ['tokens', 'list', '--db', '/nonexistent/teamday.db', '--json']],
    ]) {
      const r = await same(between, after)
      expect({ argv: between, code: r.code }).toEqual({ argv: between, code: 2 })
      expect(seen).toEqual([])
    }
    expect((await cli(['agents', '--json', 'list', '--json'])).err).toContain("option '--json' is given more than once")
    expect((await cli(['users', '--url', base, 'list', '--org', 'acme'])).err).toContain('unknown option --url for "teamday users list"')
    expect((await cli(['tokens', '--db', '/nonexistent/teamday.db', 'list'])).err).toContain('missing required option --email')
    // Admin groups take the options that choose the database and the user there.
    const admin = await same(['users', '--db', '/nonexistent/teamday.db', '--json', 'list', '--org', 'acme'], ['users', 'list', '--org', 'acme', '--db', '/nonexistent/teamday.db', '--json'])
    expect(admin.code).toBe(1)
    expect(admin.err).toContain('/nonexistent/teamday.db')
    await same(['users', '--org', 'acme', '--db', '/nonexistent/teamday.db', 'list'], ['users', 'list', '--org', 'acme', '--db', '/nonexistent/teamday.db'])
    // An unknown option there: one line, with a guess; with --json, the JSON usage error.
    const typo = await cli(['agents', '--jsn', 'list'])
    expect({ code: typo.code, err: typo.err }).toEqual({ code: 2, err: 'error: unknown option --jsn for "teamday agents"; did you mean "--json"? See "teamday help agents".\n' })
    const json = await cli(['agents', '--json', '--name', 'x', 'create'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.out)).toEqual({ error: true, code: 'usage', message: 'no agents command given before --name (an option of "teamday agents create", "teamday agents update": write it after the command). See "teamday help agents".', exitCode: 2 })
  })
})

describe('long texts from a file or stdin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-texts-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const executed = () => Response.json({ result: 'done', executionId: 'exec_1' })
  // More than an argument may hold (~128 KB), as a nightly job's log.
  const log = 'line of a log\n'.repeat(20_000)

  test('agents execute --message-file FILE and -m - send the whole text as read', async () => {
    answer = executed
    const file = join(dir, 'log.txt')
    writeFileSync(file, log)
    const r = await cli(['agents', 'execute', 'bot', '--message-file', file])
    expect(r.code).toBe(0)
    expect(r.out).toBe('done\n')
    expect(seen[0]!.body.message).toBe(log)
    const piped = await cli(['agents', 'execute', 'bot', '-m', '-'], { stdin: [Buffer.from(log.slice(0, 1000)), Buffer.from(log.slice(1000))] })
    expect(piped.code).toBe(0)
    expect(seen[0]!.body.message).toBe(log)
    const fileDash = await cli(['agents', 'execute', 'bot', '--message-file', '-'], { stdin: 'héllo ✓' })
    expect(fileDash.code).toBe(0)
    expect(seen[0]!.body.message).toBe('héllo ✓')
  })

  test('the other long texts: --system-prompt-file, --description -, --instructions-file', async () => {
    const file = join(dir, 'prompt.md')
    writeFileSync(file, '# You review code\n')
    answer = () => Response.json({ id: 'char_1', name: 'A' })
    expect((await cli(['agents', 'create', '--name', 'A', '--system-prompt-file', file])).code).toBe(0)
    expect(seen[0]!.body).toEqual({ name: 'A', systemPrompt: '# You review code\n' })
    answer = () => Response.json({ agent: { id: 'char_1' } })
    expect((await cli(['agents', 'update', 'char_1', '--system-prompt', '-'], { stdin: 'new prompt' })).code).toBe(0)
    expect(seen[0]!.body).toEqual({ systemPrompt: 'new prompt' })
    answer = () => Response.json({ id: 'task_1', title: 'T' })
    expect((await cli(['tasks', 'create', '--title', 'T', '--description', '-'], { stdin: 'the details' })).code).toBe(0)
    expect(seen[0]!.body).toEqual({ title: 'T', description: 'the details' })
    expect((await cli(['tasks', 'update', 'task_1', '--description-file', file])).code).toBe(0)
    expect(seen[0]!.body).toEqual({ description: '# You review code\n' })
    answer = () => Response.json({ space: { id: 'space_1', name: 'S' } })
    expect((await cli(['spaces', 'create', '--name', 'S', '--instructions-file', file])).code).toBe(0)
    expect(seen[0]!.body).toEqual({ name: 'S', instructions: '# You review code\n' })
    expect((await cli(['spaces', 'update', 'space_1', '--instructions', '-'], { stdin: 'be brief' })).code).toBe(0)
    expect(seen[0]!.body).toEqual({ instructions: 'be brief' })
  })

  test('a missing file, an empty stdin or file, more than 1 MiB, not UTF-8: exit 2, a code, nothing sent', async () => {
    answer = executed
    const cases: [string[], string | Uint8Array[] | undefined, string, string][] = [
      [['--message-file', join(dir, 'nope.txt')], undefined, 'input_unreadable', 'no such file'],
      [['--message-file', dir], undefined, 'input_unreadable', 'directory'],
      [['-m', '-'], '', 'input_empty', 'stdin is empty'],
      [['--message-file', '-'], [], 'input_empty', 'stdin is empty'],
      [['--message-file', emptyFile()], undefined, 'input_empty', 'is empty'],
      [['-m', '-'], [new Uint8Array(600_000).fill(97), new Uint8Array(600_000).fill(97)], 'input_too_large', 'more than 1048576 bytes'],
      [['--message-file', bigFile()], undefined, 'input_too_large', 'more than 1048576 bytes'],
      [['-m', '-'], [new Uint8Array([0x68, 0xff, 0x69])], 'input_not_utf8', 'not UTF-8'],
    ]
    for (const [args, stdin, code, words] of cases) {
      const r = await cli(['agents', 'execute', 'bot', ...args, '--json'], { stdin })
      expect({ args, code: r.code }).toEqual({ args, code: 2 })
      expect(JSON.parse(r.out)).toMatchObject({ error: true, code, exitCode: 2 })
      expect(r.err).toContain(words)
      expect(seen).toHaveLength(0)
    }
    // Exactly 1 MiB is allowed.
    const r = await cli(['agents', 'execute', 'bot', '-m', '-'], { stdin: [new Uint8Array(1024 * 1024).fill(97)] })
    expect(r.code).toBe(0)
    expect(seen[0]!.body.message).toHaveLength(1024 * 1024)
  })

  test('usage errors: no message at all, an option with its -file twin, stdin asked for twice', async () => {
    answer = executed
    const none = await cli(['agents', 'execute', 'bot'])
    expect(none.code).toBe(2)
    expect(none.err).toContain('missing required option --message (or --message-file)')
    const both = await cli(['agents', 'execute', 'bot', '-m', 'hi', '--message-file', '-'], { stdin: 'x' })
    expect(both.code).toBe(2)
    expect(both.err).toContain('--message and --message-file cannot be used together')
    const twice = await cli(['tasks', 'create', '--title', 'T', '--description', '-', '--description-file', '-'], { stdin: 'x' })
    expect(twice.code).toBe(2)
    expect(seen).toHaveLength(0)
    // A message given as an argument is as before, "-" apart.
    expect((await cli(['agents', 'execute', 'bot', '-m', 'hello'])).code).toBe(0)
    expect(seen[0]!.body.message).toBe('hello')
  })

  function emptyFile(): string {
    const f = join(dir, 'empty.txt')
    writeFileSync(f, '')
    return f
  }

  function bigFile(): string {
    const f = join(dir, 'big.txt')
    writeFileSync(f, 'a'.repeat(1024 * 1024 + 1))
    return f
  }
})

describe('stdin of a real process', () => {
  test('teamday agents execute -m - < 300 KB: the whole text arrives (more than an argument may hold)', async () => {
    answer = () => Response.json({ result: 'done', executionId: 'exec_1' })
    seen.length = 0
    const text = 'x'.repeat(300_000) + '\n'
    const p = Bun.spawn([process.execPath, join(import.meta.dir, '..', 'src', 'main.ts'), 'agents', 'execute', 'bot', '-m', '-'], {
      stdin: new TextEncoder().encode(text),
      stdout: 'pipe',
      stderr: 'pipe',
      env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), TEAMDAY_URL: base, TEAMDAY_TOKEN: 'td_' + 'a'.repeat(40) },
    })
    expect(await p.exited).toBe(0)
    expect(await new Response(p.stdout).text()).toBe('done\n')
    expect(seen[0]!.body.message).toBe(text)
  }, 30_000)
})

describe('tasks: a blank assignee, and --unassign', () => {
  // The API refuses a blank assignedTo (422: null unassigns), and the client dropped an empty
  // list filter, so `tasks list --assigned-to "$WHO"` with WHO unset listed every task.
  test('--assigned-to "" or "  " (an unset variable) is a usage error, nothing sent', async () => {
    answer = () => Response.json({ id: 'task_1' })
    for (const argv of [
      ['tasks', 'update', 'task_1', '--assigned-to', ''],
      ['tasks', 'update', 'task_1', '--assign-to', '  '],
      ['tasks', 'create', '--title', 'x', '--assigned-to', ''],
      ['tasks', 'list', '--assigned-to', ''],
    ]) {
      const r = await cli(argv)
      expect([argv, r.code, seen.length]).toEqual([argv, 2, 0])
      expect(r.err).toContain('is empty (an unset variable?)')
      expect(r.err).toContain('--unassign')
    }
  })

  test('tasks update --unassign sends assignedTo: null; with an assignee it is a usage error', async () => {
    answer = () => Response.json({ id: 'task_1', title: 't', assignedTo: null })
    const r = await cli(['tasks', 'update', 'task_1', '--unassign'])
    expect(r.code).toBe(0)
    expect(seen).toEqual([{ method: 'PATCH', path: '/api/v1/tasks/task_1', body: { assignedTo: null } }])
    for (const extra of [['--assigned-to', 'user_x'], ['--assign-to', 'bot'], ['--assignee-type', 'agent']]) {
      const bad = await cli(['tasks', 'update', 'task_1', '--unassign', ...extra])
      expect([extra, bad.code, seen.length]).toEqual([extra, 2, 0])
      expect(bad.err).toContain('--unassign leaves the task without an assignee')
    }
  })
})

describe('list filters given empty', () => {
  // The client left an empty value out of the query: `tasks list --space "$SPACE"` with SPACE
  // unset listed every task. The API refuses an empty filter (422); the client says so first.
  test('are a usage error naming the option, nothing sent', async () => {
    answer = () => Response.json([])
    for (const argv of [
      ['tasks', 'list', '--space', ''],
      ['tasks', 'list', '--status', ''],
      ['executions', 'list', '--agent', ''],
      ['executions', 'list', '--since', ''],
      ['agents', 'list', '--q', ''],
      ['audit', 'list', '--type', ''],
      ['tokens', 'list', '--status', ''],
      // Not a filter, but the same mistake: the API refuses a blank spaceId (422) rather than run outside the space.
      ['agents', 'execute', 'bot', '--message', 'hi', '--space', ''],
    ]) {
      const r = await cli(argv)
      expect([argv, r.code, seen.length]).toEqual([argv, 2, 0])
      expect(r.err).toContain(`${argv.at(-2)} is empty (an unset variable?)`)
    }
  })
})

describe('agents execute --timeout', () => {
  // TeamDay's own CLI counts --timeout in milliseconds: `--timeout 60000` (a minute there) waited
  // 16.7 hours here. Units are accepted, and a plain number of 10000 or more is refused with both readings.
  test('units: 1500ms is 2 s, 90s, 15m, 2h; the answer waited for within that, named as given', async () => {
    answer = () => Response.json({ success: true, executionId: 'exec_t1', result: 'ok', sessionId: 's', chatId: 'c' })
    for (const given of ['1500ms', '90s', '15m', '2h', '900', ' 9999 ']) {
      const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--timeout', given])
      expect([given, r.code, seen.length]).toEqual([given, 0, 1])
    }
  })

  test('a plain 10000 or more is ambiguous (exit 2, nothing sent), saying both readings; a bad form or one out of 1 s - 24 h is exit 2 naming the form', async () => {
    const r = await cli(['agents', 'execute', 'a', '--message', 'm', '--timeout', '60000'])
    expect([r.code, seen.length]).toEqual([2, 0])
    expect(r.err).toContain("--timeout 60000 is ambiguous: here a plain number is seconds (16.7 hours), TeamDay's CLI reads it as milliseconds (60 s); write 60000ms or 60000s")
    for (const bad of ['0', '0ms', '25h', '86401s', '1.5m', 'ten', '90 s', '1e4']) {
      const b = await cli(['agents', 'execute', 'a', '--message', 'm', '--timeout', bad])
      expect([bad, b.code, seen.length]).toEqual([bad, 2, 0])
      expect(b.err).toContain('--timeout is seconds (e.g. 900), or a number with a unit: 1500ms, 90s, 15m, 2h; from 1 s to 24 h')
    }
    expect((await cli(['agents', 'execute', 'a', '--message', 'm', '--timeout', '60000s'])).code).toBe(0)
  })
})

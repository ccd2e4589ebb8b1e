/**
 * TeamDay's own CLI (TeamDay-AI/cli, also a `teamday`) spells commands and options this one
 * does not take: `auth login`, `agents exec ID MESSAGE`, `tasks complete ID`, `spaces set-secret`,
 * `chat`, `--format json`, `--api-url`. Each stays a usage error (exit 2, nothing sent), and says
 * what does it here (src/cli/teamday-cli-names.ts); every command it names is one this CLI has.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Io } from '../src/cli/common'
import { run } from '../src/main'

const dir = mkdtempSync(join(tmpdir(), 'teamday-names-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A server that would count any request sent: none may be (usage errors send nothing). */
let requests = 0
const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => (requests++, Response.json({ error: true }, { status: 500 })) })
afterAll(() => server.stop(true))

async function cli(argv: string[]) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), TEAMDAY_LOG_LEVEL: 'silent', TEAMDAY_URL: `http://127.0.0.1:${server.port}`, TEAMDAY_TOKEN: 'td_not-used' } }
  const code = await run(argv, io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

/** TeamDay CLI command line → what the error must name (the equivalent here). */
const SPELLINGS: [string[], string][] = [
  [['auth', 'login'], '"teamday auth login"; here: "teamday login"'],
  [['auth', 'logout'], '"teamday logout"'],
  [['auth', 'status'], '"teamday whoami"'],
  [['auth', 'create-token', 'ci', '--expires', '90'], '"teamday tokens create --name N'],
  [['auth', 'list-tokens'], '"teamday tokens list"'],
  [['auth', 'revoke-token', 'pat_x'], '"teamday tokens revoke ID"'],
  [['auth'], '"teamday login", "teamday whoami", "teamday logout" and "teamday tokens"'],
  [['agents', 'exec', 'bot', 'hello'], '"teamday agents execute ID --message M"'],
  [['agents', 'chat', 'bot'], '"teamday agents execute ID --message M --stream"'],
  [['chat'], '"teamday chat"; here: "teamday agents execute AGENT --message M --stream"'],
  [['chat', 'space_1', '--message', 'hi'], '"teamday chat"; here:'],
  [['characters', 'list'], '"teamday characters"; here: "teamday agents"'],
  [['config', 'set', 'api_url', 'http://x'], '--url URL or TEAMDAY_URL'],
  [['tasks', 'complete', 'task_1'], '"teamday tasks update ID --status completed"'],
  [['tasks', 'cancel', 'task_1'], '"teamday tasks update ID --status cancelled"'],
  [['spaces', 'set-secret', 'space_1', 'A=b'], '"teamday spaces secrets set SPACE KEY=VALUE…"'],
  [['spaces', 'remove-secret', 'space_1', 'A'], '"teamday spaces secrets delete SPACE KEY…"'],
  [['spaces', 'secrets', 'space_1'], '"teamday spaces secrets SPACE"; here: "teamday spaces secrets list SPACE"'],
  [['spaces', 'add-agent', 'space_1', 'bot'], '"teamday spaces update SPACE --add-agents ID,ID"'],
  [['spaces', 'remove-agent', 'space_1', 'bot'], '"teamday spaces update SPACE --remove-agents ID,ID"'],
  [['spaces', 'chat', 'space_1'], '"teamday agents execute AGENT --space SPACE --message M --stream"'],
  [['keys', 'status'], '"teamday keys" is a hosted TeamDay feature this server does not have'],
  [['mcps', 'list'], '"teamday mcps" is a hosted TeamDay feature'],
  [['spaces', 'ls', 'space_1'], '"teamday spaces ls" is a hosted TeamDay feature'],
  [['help', 'auth'], '"teamday auth"; here:'],
  [['executions', 'list', '--format', 'json'], 'unknown option --format for "teamday executions list": TeamDay\'s CLI option --format; here: --json'],
  [['agents', 'list', '--format=yaml'], 'TeamDay\'s CLI option --format; here: --json'],
  [['agents', 'list', '--api-url', 'http://x'], 'TeamDay\'s CLI option --api-url; here: --url URL'],
  [['agents', 'execute', 'bot', '-m', 'hi', '--no-stream'], 'TeamDay\'s CLI option --no-stream; here: leave it out'],
  [['agents', 'execute', 'bot', '-m', 'hi', '--chat', 'chat_1'], 'TeamDay\'s CLI option --chat; here: --session ID'],
]

describe("TeamDay CLI's spellings", () => {
  test.each(SPELLINGS)('teamday %j: a usage error naming what does it here, nothing sent', async (argv, says) => {
    const r = await cli(argv)
    expect(r.code).toBe(2)
    expect(r.out).toBe('')
    expect(r.err).toContain(says)
    // One line, no usage dump: as any unknown command.
    expect(r.err.trim().split('\n')).toHaveLength(1)
    expect(requests).toBe(0)
  })

  // TeamDay's `spaces secrets SPACE` lists a space's secrets: any unknown `spaces secrets X` was taken
  // for it, so a near miss of a subcommand here lost its "did you mean", and any other word was told only of TeamDay's.
  test('spaces secrets X: a near miss of a subcommand is "did you mean"; another word names both readings', async () => {
    const near = await cli(['spaces', 'secrets', 'sett', 'space_1', 'A=b'])
    expect([near.code, near.err]).toEqual([2, expect.stringContaining('did you mean "set"')])
    expect(near.err).not.toContain("TeamDay's CLI")
    const other = await cli(['spaces', 'secrets', 'remove', 'space_1', 'A'])
    expect(other.code).toBe(2)
    expect(other.err).toContain('"teamday spaces secrets list SPACE" (if "remove" is a space: the subcommands here are list, set, delete)')
    expect(requests).toBe(0)
  })

  test('agents execute ID MESSAGE (TeamDay\'s agents exec takes the message as an argument): the usage error says it is --message here', async () => {
    const r = await cli(['agents', 'execute', 'bot', 'hello there'])
    expect(r.code).toBe(2)
    expect(r.err).toStartWith('error: unexpected argument "hello there": the message is an option here: --message M (-m M)')
    // Another command's extra argument is said as before.
    expect((await cli(['agents', 'get', 'a', 'b'])).err).toStartWith('error: unexpected argument "b"\n')
    expect(requests).toBe(0)
  })

  test('with --json, the error object carries the same message', async () => {
    const r = await cli(['auth', 'login', '--json'])
    expect(r.code).toBe(2)
    expect(JSON.parse(r.out)).toMatchObject({ error: true, code: 'usage', exitCode: 2, message: expect.stringContaining('here: "teamday login"') })
  })

  test('every command named as the equivalent is one this CLI has (its --help exits 0)', async () => {
    const named = new Set<string>()
    for (const [argv] of SPELLINGS) {
      const here = ((await cli(argv)).err.split('; here: ')[1] ?? '').split('. See "teamday help')[0]!
      // The command's words: up to its first argument (ID, SPACE) or option.
      for (const m of here.matchAll(/"teamday ([a-z][a-z -]*?)(?= [A-Z]| -|")/g)) named.add(m[1]!)
    }
    expect([...named].sort()).toEqual(['agents', 'agents execute', 'login', 'logout', 'spaces secrets delete', 'spaces secrets list', 'spaces secrets set', 'spaces update', 'tasks update', 'tokens', 'tokens create', 'tokens list', 'tokens revoke', 'whoami'])
    for (const c of named) expect({ c, code: (await cli([...c.split(' '), '--help'])).code }).toEqual({ c, code: 0 })
  })

  test('other unknown words are as before: a guess when one is close, no TeamDay name for an inherited property', async () => {
    expect((await cli(['agentz', 'list'])).err).toBe('error: unknown command "agentz"; did you mean "agents"? See "teamday help".')
    expect((await cli(['constructor'])).err).toBe('error: unknown command "constructor". See "teamday help".')
    expect((await cli(['tasks', 'toString'])).err).toBe('error: unknown tasks command "toString". See "teamday help tasks".')
    expect((await cli(['agents', 'list', '--limt', '5'])).err).toContain('did you mean "--limit"?')
  })
})

import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Io } from '../src/cli/common'
import { allCommands, COMMAND_NAMES, commandsNamed, EXIT } from '../src/cli/registry'
import type { Command } from '../src/cli/spec'
import { databaseUnavailable } from '../src/db/unavailable'
import { run } from '../src/main'

/** The command registry: every command declared once; parsing, help and exit codes come from it. */

const dir = mkdtempSync(join(tmpdir(), 'teamday-registry-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function cli(...argv: string[]) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: { TEAMDAY_LOG_LEVEL: 'silent', TEAMDAY_URL: 'http://127.0.0.1:9' } }
  const code = await run(argv, io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

/** Every command that runs, with the words that name it. */
function leaves(c: Command, path: string[] = [c.name]): { path: string[]; cmd: Command }[] {
  return c.subcommands ? c.subcommands.flatMap((s) => leaves(s, [...path, s.name])) : [{ path, cmd: c }]
}

describe('every declared command', () => {
  const all = allCommands().flatMap((top) => leaves(top).map((l) => ({ ...l, mode: top.mode })))

  test('is built once, on first use, and found by its name (the names are known without building any)', () => {
    const tops = allCommands()
    expect(COMMAND_NAMES).toEqual([...new Set(tops.map((c) => c.name))])
    expect(COMMAND_NAMES).toContain('health')
    for (const name of COMMAND_NAMES) {
      const named = commandsNamed(name)
      expect(named.map((c) => c.name)).toEqual(named.map(() => name))
      // The same objects every time: a declaration is built once per process.
      for (const c of named) expect(tops).toContain(c)
      expect(commandsNamed(name)).toEqual(named)
    }
    expect(commandsNamed('tokens').map((c) => c.mode)).toEqual(['admin', 'client'])
    expect(commandsNamed('no-such-command')).toEqual([])
  })

  test('loads an implementation', async () => {
    expect(all.length).toBeGreaterThan(30)
    for (const { cmd } of all) expect(typeof (await cmd.load!())).toBe('function')
  })

  test('--help prints its usage on stdout with exit 0 and runs nothing (no database is opened)', async () => {
    for (const { path, mode } of all) {
      const db = join(dir, `${path.join('-')}.db`)
      // --db selects the admin mode of tokens/audit; no client command accepts it.
      const r = await cli(...path, '--help', ...(mode === 'admin' ? ['--db', db] : []))
      expect({ argv: path, code: r.code, err: r.err }).toEqual({ argv: path, code: 0, err: '' })
      expect(r.out).toStartWith('usage')
      expect(r.out).toContain(`teamday ${path.join(' ')}`)
      expect(existsSync(db)).toBe(false)
    }
  })

  test('help COMMAND shows the usage of each of its subcommands, in every mode it has', async () => {
    for (const top of allCommands()) {
      const r = await cli('help', top.name)
      expect(r.code).toBe(0)
      for (const { path } of leaves(top)) expect(r.out).toContain(`teamday ${path.join(' ')}`)
    }
    // Before the registry, `help migrate` printed the general help.
    expect((await cli('help', 'migrate')).out).toStartWith('usage:\n  teamday migrate [--db FILE]')
  })

  test('teamday help lists each command, and the exit codes from the one table', async () => {
    const r = await cli('help')
    for (const top of allCommands()) expect(r.out).toContain(`teamday ${top.name}`)
    expect(EXIT).toEqual({ ok: 0, failed: 1, usage: 2, auth: 3, notFound: 4, server: 5 })
    expect(r.out).toContain('exit codes: 0 ok, 1 operation failed, 2 usage, 3 authentication/permission, 4 not found, 5 server/network')
    // The README's table lists the same codes.
    const readme = readFileSync(resolve(import.meta.dir, '../README.md'), 'utf8')
    const rows = [...readme.matchAll(/^\| (\d) \| /gm)].map((m) => Number(m[1]))
    expect(rows).toEqual(Object.values(EXIT))
  })

  test('teamday help names every environment variable the server reads, and README describes each', async () => {
    const out = (await cli('help')).out
    const readme = readFileSync(resolve(import.meta.dir, '../README.md'), 'utf8')
    const config = readFileSync(resolve(import.meta.dir, '../src/config.ts'), 'utf8')
    // What src/config.ts reads (`env.NAME`) and Elysia's mode; TEAMDAY_TRUST_PROXY is read only to refuse it.
    const read = new Set([...config.matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!))
    read.delete('TEAMDAY_TRUST_PROXY')
    read.add('NODE_ENV')
    expect(read.size).toBeGreaterThan(35)
    for (const name of read) {
      expect({ name, inHelp: new RegExp(`\\b${name}\\b`).test(out) }).toEqual({ name, inHelp: true })
      expect({ name, inReadme: readme.includes(`\`${name}\``) }).toEqual({ name, inReadme: true })
    }
  })

  test('every TEAMDAY_ variable a message of the server or client names is one that is read', () => {
    // A 503 for PostgreSQL's statement timeout said to set TEAMDAY_DB_STATEMENT_TIMEOUT, which
    // nothing reads (the setting is TEAMDAY_DB_STATEMENT_TIMEOUT_MS).
    const src = resolve(import.meta.dir, '../src')
    const files = (readdirSync(src, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') || f.endsWith('.tsx')).map((f) => readFileSync(join(src, f), 'utf8'))
    const text = files.join('\n')
    const read = new Set([...text.matchAll(/\benv(?:\.|\[['"])(TEAMDAY_[A-Z0-9_]+)/g)].map((m) => m[1]!))
    // Build-time constants (`bun build --define`), not environment variables.
    const defines = new Set([...text.matchAll(/declare const (TEAMDAY_[A-Z0-9_]+)/g)].map((m) => m[1]!))
    const named = new Set([...text.matchAll(/\b(TEAMDAY_[A-Z0-9_]+)\b/g)].map((m) => m[1]!))
    const unknown = [...named].filter((n) => !read.has(n) && !defines.has(n))
    expect(unknown).toEqual([])
    expect(databaseUnavailable({ code: '57014' })).toContain('TEAMDAY_DB_STATEMENT_TIMEOUT_MS')
  })
})

describe('arguments are checked from the declarations, before the command loads', () => {
  test('a subcommand of the other mode is named as such', async () => {
    const admin = await cli('tokens', 'rotate', 'pat_x', '--db', join(dir, 'x.db'))
    expect(admin.code).toBe(2)
    expect(admin.err).toContain('unknown tokens command "rotate" in admin mode (rotate is a client command: run it without --db/--email/--org)')
  })

  test('an option of another subcommand is unknown here', async () => {
    const r = await cli('users', 'remove', '--email', 'a@b.c', '--org', 'x', '--role', 'admin', '--db', join(dir, 'y.db'))
    expect(r.code).toBe(2)
    expect(r.err).toBe('error: unknown option --role for "teamday users remove". See "teamday help users".')
    expect(existsSync(join(dir, 'y.db'))).toBe(false)
  })

  test('missing positionals and required options: exit 2 with the usage of that mode only', async () => {
    const r = await cli('tokens', 'revoke')
    expect(r.code).toBe(2)
    expect(r.err).toStartWith('error: missing token ID (see "teamday tokens list")\n\nusage: client mode')
    expect(r.err).not.toContain('admin mode')
    const secrets = await cli('spaces', 'secrets', 'set', 'space_x')
    expect(secrets.err).toStartWith('error: missing space ID and KEY=VALUE')
    const message = await cli('agents', 'execute', 'char_x', '--message', '')
    expect(message.err).toStartWith('error: missing required option --message')
  })
})

describe('lazy loading', () => {
  const MAIN = resolve(import.meta.dir, '../src/main.ts')
  /** The server-side modules a fresh process loaded to run `teamday ARGV`. */
  function loaded(argv: string[]): string[] {
    const script = `
      const { run } = await import(${JSON.stringify(MAIN)})
      await run(${JSON.stringify(argv)}, { out: () => {}, err: () => {}, env: { TEAMDAY_URL: 'http://127.0.0.1:9', TEAMDAY_LOG_LEVEL: 'silent' } })
      console.log(JSON.stringify(Object.keys(require.cache).filter((k) => /node_modules\\/(elysia|drizzle-orm)\\/|src\\/(app|runtime)\\.ts$/.test(k))))`
    const r = Bun.spawnSync([process.execPath, '-e', script], { cwd: dir, stderr: 'pipe' })
    expect(r.stderr.toString()).toBe('')
    return JSON.parse(r.stdout.toString())
  }

  test('--version, help and client commands load neither the server, drizzle nor Elysia', () => {
    for (const argv of [['--version'], ['help'], ['help', 'tokens'], ['health', '--retries', '0'], ['tokens', 'list', '--retries', '0'], ['users', 'create']]) {
      expect({ argv, loaded: loaded(argv) }).toEqual({ argv, loaded: [] })
    }
    // The check sees them when they are loaded: an admin command opens the database.
    expect(loaded(['migrate', '--db', join(dir, 'lazy.db')]).some((k) => k.includes('drizzle-orm'))).toBe(true)
  })
})

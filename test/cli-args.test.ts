import { describe, expect, test } from 'bun:test'
import { OptionValueError, parseArgv, UnknownOptionError } from '../src/cli/args'
import { UsageError } from '../src/cli/common'
import { ConfigError, describeDatabase } from '../src/config'
import { DATABASE_SECRET_PARAMS } from '../src/database-secrets'
import { holdsDatabaseSecret } from '../src/cli/admin/runtime'
import { databasePasswordWarning, isAdminMode, run, tokenArgumentError } from '../src/cli/run'
import { recordingIo } from './helpers/cli-io'
import { normalizeUrl } from '../src/client/config'
import { joinPath } from '../src/client/credentials'

const OPTS = { name: { type: 'string' }, message: { type: 'string', short: 'm' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const

describe('the option parser', () => {
  test('values as the next word or after =, flags, short aliases, positionals, -- ends options', () => {
    expect(parseArgv(['a', '--name', 'x', '--json', 'b', '-m', 'hi', '-h'], OPTS)).toEqual({ values: { name: 'x', json: true, message: 'hi', help: true }, positionals: ['a', 'b'] })
    expect(parseArgv(['--name=-dash', '-mhello'], OPTS).values).toEqual({ name: '-dash', message: 'hello' })
    expect(parseArgv(['--message='], OPTS).values).toEqual({ message: '' })
    expect(parseArgv(['--', '--json', '-m'], OPTS)).toEqual({ values: {}, positionals: ['--json', '-m'] })
    expect(parseArgv(['-'], OPTS).positionals).toEqual(['-'])
  })

  test('an unknown long or short option names itself as typed', () => {
    expect(() => parseArgv(['--limt', '5'], OPTS)).toThrow(UnknownOptionError)
    try {
      parseArgv(['--limt=5'], OPTS)
    } catch (e) {
      expect((e as UnknownOptionError).option).toBe('--limt')
    }
    try {
      parseArgv(['-x'], OPTS)
    } catch (e) {
      expect((e as UnknownOptionError).option).toBe('-x')
    }
    // Object.prototype's names are not options.
    expect(() => parseArgv(['--constructor'], OPTS)).toThrow(UnknownOptionError)
  })

  test('a missing value, a value on a flag, and a value that looks like an option are refused', () => {
    expect(() => parseArgv(['--name'], OPTS)).toThrow(new OptionValueError("option '--name <value>' needs a value"))
    expect(() => parseArgv(['--json=yes'], OPTS)).toThrow(new OptionValueError("option '--json' does not take a value"))
    expect(() => parseArgv(['--name', '--json'], OPTS)).toThrow(/write --name=--json/)
    expect(() => parseArgv(['-m'], OPTS)).toThrow(new OptionValueError("option '-m, --message <value>' needs a value"))
  })

  test('an option given twice is refused, naming it, however it is spelled (a second value replaced the first)', () => {
    for (const args of [['--name', 'a', '--name', 'b'], ['--name=a', '--name', 'a'], ['-m', 'a', '--message=b'], ['--message', 'a', '-mb']]) {
      const label = args[0]!.startsWith('--name') ? '--name' : '-m, --message'
      expect(() => parseArgv(args, OPTS)).toThrow(new OptionValueError(`option '${label}' is given more than once; give it once`))
    }
    expect(() => parseArgv(['--json', '--json'], OPTS)).toThrow(new OptionValueError("option '--json' is given more than once; give it once"))
    expect(() => parseArgv(['-h', '--help'], OPTS)).toThrow(new OptionValueError("option '-h, --help' is given more than once; give it once"))
    // After --, words are positionals: `--name` there is no second --name.
    expect(parseArgv(['--name', 'a', '--', '--name', 'b'], OPTS)).toEqual({ values: { name: 'a' }, positionals: ['--name', 'b'] })
  })
})

describe('errors across the two bundles of the compiled binary', () => {
  // The admin bundle carries its own copy of these classes; run.ts must still recognise them.
  test('a UsageError or ConfigError of another copy of the class is an instance', () => {
    const brand = (name: string) => Object.getOwnPropertySymbols(name === 'usage' ? new UsageError('x') : new ConfigError('x'))[0]!
    const foreignUsage = Object.assign(new Error('x'), { [brand('usage')]: true })
    const foreignConfig = Object.assign(new Error('x'), { [brand('config')]: true })
    expect(foreignUsage instanceof UsageError).toBe(true)
    expect(foreignConfig instanceof ConfigError).toBe(true)
    expect(new Error('x') instanceof UsageError).toBe(false)
    expect(foreignUsage instanceof ConfigError).toBe(false)
  })

  test('the command line bundle carries no server code: the admin entry is a bundle of its own', async () => {
    // bun build --compile cannot split code: a literal import of admin code anywhere in the command
    // line's files would pull the server (Elysia, drizzle, the model SDKs) into its bundle.
    const out = await Bun.build({ entrypoints: ['src/main.ts'], target: 'bun', format: 'cjs', define: { TEAMDAY_ADMIN_ENTRY: '"admin-entry.js"' } })
    expect(out.success).toBe(true)
    const code = await out.outputs[0]!.text()
    expect(code).not.toContain('node_modules/elysia')
    expect(code).not.toContain('node_modules/drizzle-orm')
    expect(code).not.toContain('src/app.ts')
    expect(code).toContain('src/cli/client/agents.ts')
    expect(code.length).toBeLessThan(200_000)
  })
})

describe('the checks every command passes before parsing (string tests before any regular expression)', () => {
  // The rules as they were written before the string tests: the checks must agree with them on every argument.
  const TOKEN_FLAGS = /^--?(token|api-token|access-token|bearer)(=|$)/i
  const TOKEN_LIKE = /^(Bearer\s+)?td[or]?_[A-Za-z0-9]{8,}$|td[or]?_[A-Za-z0-9]{43}(?![A-Za-z0-9])/
  const ADMIN = /^--(db|email|org)(=|$)/
  const full = `td_${'B'.repeat(43)}`
  const words = [
    'health', '--url', 'http://127.0.0.1:3000', '--token', '--TOKEN', '-token', '--Token=x', '--api-token', '--access-token=1', '--bearer', '-BEARER=x',
    '--tokens', '--token-file', '--token-id', '--bearer-x', 'token', 'bearer', '--x-token', '-\u212Aen', full, `tdo_${'a'.repeat(43)}`, `tdr_${'a'.repeat(43)}x`,
    `tdc_${'a'.repeat(43)}`, 'td_abcdefgh', 'td_abcdefg', 'Bearer td_abcdefgh', 'Bearer  tdr_12345678', 'bearer td_abcdefgh', `use ${full} please`,
    `x${full}`, `${full}_`, 'TD_abcdefgh', 'td-abcdefgh', '--db', '--db=x', '--dbx', '--email', '--email=a@b.c', '--emails', '--org', '--org=', '-db', '--DB', 'db', '--', '',
  ]

  test('tokenArgumentError refuses exactly what the token rules match, and names the option or the position', () => {
    for (const w of words) {
      const refused = tokenArgumentError(['agents', 'list', w])
      expect({ w, refused: refused !== null }).toEqual({ w, refused: TOKEN_FLAGS.test(w) || TOKEN_LIKE.test(w) })
      if (refused) expect(refused).toContain(TOKEN_FLAGS.test(w) ? `option ${w.split('=')[0]}` : 'argument 3 looks like a token')
      if (refused) expect(refused).not.toContain(full)
    }
  })

  test('isAdminMode: exactly --db, --email or --org, alone or with =', () => {
    for (const w of words) expect({ w, admin: isAdminMode(['tokens', 'list', w]) }).toEqual({ w, admin: ADMIN.test(w) })
    expect(isAdminMode([])).toBe(false)
  })
})

describe('joinPath (the credentials file path, without node:path)', () => {
  // The former expression, which the loop replaced: the same path for every base.
  const before = (base: string, ...names: string[]) => {
    const head = base.length > 1 ? base.replace(/[\\/]+$/, '') : base
    return [head === '/' ? '' : head, ...names].join('/')
  }
  test('one separator between the parts, trailing separators of the base dropped', () => {
    for (const base of ['', '/', '//', '///', 'a', 'a/', 'a//', 'a\\', '/home/u', '/home/u/', '/home/u\\/', '\\', 'rel/dir', '/a b/c']) {
      for (const names of [[], ['teamday'], ['teamday', 'credentials.json']]) expect({ base, names, p: joinPath(base, ...names) }).toEqual({ base, names, p: before(base, ...names) })
    }
    expect(joinPath('/home/u/', '.config')).toBe('/home/u/.config')
    expect(joinPath('/', 'teamday')).toBe('/teamday')
  })
})

test('short aliases: the last option that declares one wins, and an inherited property is no option', () => {
  const proto = { inherited: { type: 'boolean', short: 'i' } }
  const opts = Object.assign(Object.create(proto), { a: { type: 'boolean', short: 'x' }, b: { type: 'boolean', short: 'x' } })
  expect(parseArgv(['-x'], opts).values).toEqual({ b: true })
  expect(() => parseArgv(['-i'], opts)).toThrow(UnknownOptionError)
})

test('normalizeUrl drops trailing slashes, then a trailing /api/v1 or /api, as the former expressions did', () => {
  const before = (raw: string) => {
    const u = new URL(raw)
    return `${u.origin}${u.pathname.replace(/\/+$/, '').replace(/\/api(\/v1)?$/, '')}`
  }
  const urls = ['http://h', 'http://h/', 'http://h//', 'http://h/api', 'http://h/api/', 'http://h/api/v1', 'http://h/api/v1/', 'http://h/api/v1//', 'http://h/x/api/v1', 'http://h/api/v2',
    'http://h/apiv1', 'http://h/api/v1/api', 'http://h/api/api', 'http://h/v1', 'https://h:8443/p/', 'http://h/a%20b/api', 'http://h/API/V1', 'http://h/api/v1?x=1']
  for (const raw of urls) expect({ raw, u: normalizeUrl(raw, '--url') }).toEqual({ raw, u: before(raw) })
  expect(normalizeUrl('http://127.0.0.1:3000/api/v1/', '--url')).toBe('http://127.0.0.1:3000')
})

test("normalizeUrl's refusal of a URL that is no http(s) one never quotes its password or query (TEAMDAY_URL is printed in a CI job's log)", () => {
  const refusal = (raw: string) => {
    try {
      normalizeUrl(raw, 'TEAMDAY_URL')
    } catch (e) {
      return (e as Error).message
    }
    throw new Error(`${raw} was accepted`)
  }
  const ftp = refusal('ftp://ci:hunter2-s3cret@teamday.example.com/?token=q-s3cret')
  expect(ftp).toBe('TEAMDAY_URL must be an http(s) URL (got "ftp://teamday.example.com/")')
  expect(refusal('htps//ci:hunter2-s3cret@teamday.example.com')).not.toContain('hunter2')
  expect(refusal('http://ci:hunter2-s3cret@[teamday.example.com')).not.toContain('hunter2')
  // Typed without its scheme: `ops:` parses as the scheme and the password as the path's start.
  expect(refusal('ops:hunter2-s3cret@teamday.example.com')).not.toContain('hunter2')
  expect(refusal('ci:hunter2-s3cret@teamday.example.com:3000/?token=q-s3cret')).not.toContain('s3cret')
  // What holds no secret is quoted as typed, so that a typo shows.
  expect(refusal('localhost:3000')).toBe('TEAMDAY_URL must be an http(s) URL (got "localhost:3000")')
  expect(refusal('teamday')).toBe('TEAMDAY_URL must be an http(s) URL such as http://localhost:3000 (got "teamday")')
})

describe('a database password on the command line', () => {
  test('is warned about on stderr, never repeated: --to and --db of migrate-data and the admin commands, with = too', async () => {
    const url = 'postgres://teamday:hunter2-s3cret@127.0.0.1:1/teamday'
    const { io, out, err } = recordingIo({})
    const code = await run(['migrate-data', '--from', '/nonexistent/teamday.db', '--to', url], io)
    expect(code).not.toBe(0)
    expect(err()).toContain('warning: argument 5 holds a database password: on the command line it is saved in your shell history and visible to every user of this machine (ps, /proc).')
    expect(err()).toContain('PGPASSWORD=')
    expect(err() + out()).not.toContain('hunter2')
    expect(databasePasswordWarning(['users', 'list', '--org', 'o', `--db=${url}`])).toContain('argument 5 holds a database password')
    expect(databasePasswordWarning(['migrate', '--db', 'postgresql://teamday@db/teamday?password=hunter2'])).toContain('argument 3')
    expect(databasePasswordWarning(['migrate', '--db', 'POSTGRES://teamday:hunter2@db/teamday'])).toContain('argument 3')
  })

  test("each of the server's secret parameters is warned about, as the server masks it and leaves it out of the commands it suggests (one list)", () => {
    for (const name of DATABASE_SECRET_PARAMS) {
      const url = `postgres://teamday@db/teamday?sslmode=require&${name}=hunter2`
      expect({ name, warning: databasePasswordWarning(['migrate', '--db', url]) }).toEqual({ name, warning: expect.stringContaining('argument 3 holds a database password') })
      expect({ name, described: describeDatabase(url) }).toEqual({ name, described: `postgres://teamday@db/teamday?sslmode=require&${name}=***` })
      expect({ name, holds: holdsDatabaseSecret(url) }).toEqual({ name, holds: true })
    }
  })

  test('a URL without one (PGPASSWORD, TEAMDAY_DATABASE_URL) or no URL at all: no warning', () => {
    expect(databasePasswordWarning(['migrate-data', '--from', 'a.db', '--to', 'postgres://teamday@db:5432/teamday'])).toBeNull()
    expect(databasePasswordWarning(['migrate', '--db', 'postgres://teamday@db/teamday?sslmode=require'])).toBeNull()
    expect(databasePasswordWarning(['tasks', 'create', '--title', 'move to postgres: u:p@h'])).toBeNull()
    expect(databasePasswordWarning(['migrate', '--db', './data/teamday.db'])).toBeNull()
  })
})

import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { loadConfig } from '../src/config'
import { generateKey } from '../src/crypto/keys'
import { cliOn } from './helpers/cli'

const README = readFileSync(resolve(import.meta.dir, '../README.md'), 'utf8')

/** Settings an operator can get wrong by one character: refused at start, naming the setting, never taken for something else. */
describe('the database setting', () => {
  test('a URL of another scheme is refused, not opened as a SQLite file named after it', () => {
    for (const db of ['pg://postgres@127.0.0.1/teamday', 'mysql://x/y', 'https://example.com/db', 'postgress://u@h/d']) {
      expect(() => loadConfig({ TEAMDAY_DATABASE_URL: db })).toThrow('is not one teamday opens')
      expect(() => loadConfig({}, { dbPath: db })).toThrow('(--db, TEAMDAY_DATABASE_URL or TEAMDAY_DB)')
    }
    // Never the URL's password in the message: only its scheme.
    expect(() => loadConfig({ TEAMDAY_DATABASE_URL: 'mysql://root:s3cret@db/x' })).not.toThrow('s3cret')
    // What it opens: paths, sqlite:, postgres:// and postgresql://.
    for (const db of ['./data/teamday.db', '/var/lib/teamday/t.db', 'sqlite:./t.db', 'sqlite:///tmp/t.db', ':memory:', 'postgres://u@h/d', 'postgresql://u@h:5432/d']) {
      expect(() => loadConfig({ TEAMDAY_DATABASE_URL: db })).not.toThrow()
    }
  })
})

// Found by a review (2026-12-06): `TEAMDAY_DATABASE_URL=file:./x.db` (or `--db file:…`) was taken
// for a path, and a start made a folder named `file:.` and a new database in it; `?sslmode=bogus`
// failed every statement with "The database is not answering" (the driver tried TLS with it).
describe('file: URLs and sslmode', () => {
  test('a file: URL is the SQLite file it names, as sqlite: is; README says so', () => {
    for (const [given, path] of [
      ['file:./x.db', './x.db'],
      ['file:data/teamday.db', 'data/teamday.db'],
      ['file:/var/lib/teamday/t.db', '/var/lib/teamday/t.db'],
      ['file:///var/lib/teamday/t.db', '/var/lib/teamday/t.db'],
      ['file://localhost/var/lib/teamday/t.db', '/var/lib/teamday/t.db'],
      ['FILE:///srv/my%20data/t.db', '/srv/my data/t.db'],
    ] as const) {
      expect([given, loadConfig({ TEAMDAY_DATABASE_URL: given }).dbPath]).toEqual([given, path])
      expect([given, loadConfig({ TEAMDAY_DB: given }).dbPath]).toEqual([given, path])
      expect([given, loadConfig({}, { dbPath: given }).dbPath]).toEqual([given, path])
    }
    expect(README.includes('`file:FILE` (or `file:///ABSOLUTE/PATH`, percent-decoded')).toBe(true)
  })

  test("a file: URL teamday would not open as its writer means is refused, saying why: another host's, SQLite's URI parameters", () => {
    expect(() => loadConfig({ TEAMDAY_DATABASE_URL: 'file://nas/srv/t.db' })).toThrow('names a file on another host (nas)')
    expect(() => loadConfig({ TEAMDAY_DATABASE_URL: 'file:./x.db?mode=ro' })).toThrow("has SQLite's URI parameters (?mode=ro), which are not read")
    expect(() => loadConfig({ TEAMDAY_DATABASE_URL: 'file:./x%zz.db' })).toThrow('is not percent-encoded correctly')
    for (const empty of ['file:', 'file://', 'file://localhost']) expect(() => loadConfig({ TEAMDAY_DB: empty })).toThrow('names no file')
  })

  test('an sslmode libpq does not know is refused at start, naming the ones it does', () => {
    for (const mode of ['bogus', 'no-verify', 'REQUIRE', '']) {
      expect(() => loadConfig({ TEAMDAY_DATABASE_URL: `postgres://u@h/d?sslmode=${mode}` })).toThrow(`sslmode=${mode} is not one PostgreSQL knows: disable, allow, prefer, require, verify-ca or verify-full`)
    }
    // Never the URL's password in the message.
    expect(() => loadConfig({ TEAMDAY_DATABASE_URL: 'postgres://u:s3cret@h/d?sslmode=x' })).not.toThrow('s3cret')
    for (const mode of ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']) {
      expect(loadConfig({ TEAMDAY_DATABASE_URL: `postgres://u@h/d?sslmode=${mode}` }).dbPath).toBe(`postgres://u@h/d?sslmode=${mode}`)
    }
  })
})

describe('set but empty is unset', () => {
  test('TEAMDAY_DB= is the default database (it opened the current folder), HOST= listens on every interface', () => {
    const defaults = loadConfig({})
    expect(loadConfig({ TEAMDAY_DB: '' }).dbPath).toBe(defaults.dbPath)
    expect(loadConfig({ HOST: '' }).host).toBe('0.0.0.0')
  })

  test('every variable the server reads takes a blank value (empty, spaces, a tab) as unset', () => {
    // An env or compose file's `VAR= ` kept its space: TEAMDAY_DB=" " opened a file named " ",
    // HOST=" " listened nowhere, TEAMDAY_ACCESS_LOG=" " refused to start, where `VAR=` was the default.
    const config = readFileSync(resolve(import.meta.dir, '../src/config.ts'), 'utf8')
    const names = [...new Set([...config.matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!))]
    expect(names.length).toBeGreaterThan(35)
    // The settings: all but whether TEAMDAY_ENCRYPTION_KEY was set blank, which only has a start
    // say so (it changes no setting: the test below).
    const settings = (c: ReturnType<typeof loadConfig>) => JSON.stringify({ ...c, encryptionKeyBlank: undefined })
    const defaults = settings(loadConfig({}))
    const differ: string[] = []
    for (const name of names) {
      for (const blank of ['', ' ', '\t', '  ']) {
        let got: string
        try {
          got = settings(loadConfig({ [name]: blank }))
        } catch (e) {
          got = String(e)
        }
        if (got !== defaults) differ.push(`${name}=${JSON.stringify(blank)}`)
      }
    }
    expect(differ).toEqual([])
  })

  test('TEAMDAY_KEY_FILE= is the key file beside the database, not an in-memory key lost at the next start', () => {
    // An empty key file path is what an in-memory database gets: a random key nobody keeps. A file
    // database served so sealed its token names and secrets under a key gone at the next start.
    for (const db of ['./data/teamday.db', 'postgres://u@h/d']) {
      const defaults = loadConfig({ TEAMDAY_DB: db })
      expect(defaults.keyFile).not.toBe('')
      for (const blank of ['', ' ', '\t']) expect(loadConfig({ TEAMDAY_DB: db, TEAMDAY_KEY_FILE: blank }).keyFile).toBe(defaults.keyFile)
    }
    expect(loadConfig({ TEAMDAY_KEY_FILE: '/etc/teamday/key' }).keyFile).toBe('/etc/teamday/key')
  })

  test('TEAMDAY_LOG_LEVEL= is info (it refused to start), and the level is read in any case, as TEAMDAY_LOG_FORMAT is', () => {
    for (const blank of ['', ' ']) expect(loadConfig({ TEAMDAY_LOG_LEVEL: blank }).logLevel).toBe('info')
    expect(loadConfig({ TEAMDAY_LOG_LEVEL: 'WARN' }).logLevel).toBe('warn')
    expect(loadConfig({ TEAMDAY_LOG_FORMAT: 'JSON' }).logFormat).toBe('json')
    expect(() => loadConfig({ TEAMDAY_LOG_LEVEL: 'verbose' })).toThrow('TEAMDAY_LOG_LEVEL must be one of debug, info, warn, error, silent (got "verbose")')
  })
})

describe('PORT', () => {
  test('empty is unset (3000), not a random port', () => {
    expect(loadConfig({ PORT: '' }).port).toBe(3000)
    expect(loadConfig({ PORT: '8080' }).port).toBe(8080)
    // Each refusal names its setting.
    expect(() => loadConfig({ PORT: 'abc' })).toThrow('PORT must be an integer 0-65535 (got "abc")')
    expect(() => loadConfig({ TEAMDAY_METRICS_PORT: 'abc' })).toThrow('TEAMDAY_METRICS_PORT must be an integer 0-65535')
    expect(() => loadConfig({ PORT: '0x50' })).toThrow('PORT must be')
  })
})

describe('integer settings', () => {
  test('blank is the default, not 0; only decimal digits are taken (no 0x10, 1e3 or 1.0)', () => {
    const defaults = loadConfig({})
    for (const blank of [' ', '\t', '  ']) {
      const c = loadConfig({ TEAMDAY_MAX_DELEGATION_DEPTH: blank, TEAMDAY_MAX_HISTORY_CHARS: blank, TEAMDAY_MAX_DELEGATIONS_PER_RUN: blank })
      expect([c.maxDelegationDepth, c.maxHistoryChars, c.maxDelegationsPerRun]).toEqual([defaults.maxDelegationDepth, defaults.maxHistoryChars, defaults.maxDelegationsPerRun])
    }
    for (const bad of ['0x10', '1e3', '1.0', '+5', '-0', '0b1']) {
      expect(() => loadConfig({ TEAMDAY_MAX_HISTORY_CHARS: bad })).toThrow(`TEAMDAY_MAX_HISTORY_CHARS must be an integer 0-100000000 (got "${bad}")`)
    }
    expect(loadConfig({ TEAMDAY_MAX_HISTORY_CHARS: ' 100 ' }).maxHistoryChars).toBe(100)
    expect(loadConfig({ TEAMDAY_MAX_DELEGATION_DEPTH: '0' }).maxDelegationDepth).toBe(0)
  })
})

describe('model provider URLs', () => {
  test('OPENAI_BASE_URL and ANTHROPIC_BASE_URL must be http(s) URLs: refused at start, naming the variable', () => {
    for (const name of ['OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL']) {
      for (const bad of ['notaurl', 'localhost:11434', 'ftp://h/v1', 'http://']) expect(() => loadConfig({ [name]: bad })).toThrow(`${name} must be an http:// or https:// URL`)
    }
    // Never the value itself: it may hold a key.
    expect(() => loadConfig({ OPENAI_BASE_URL: 'sk-secret-key-1234' })).not.toThrow('sk-secret')
    expect(loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1' }).openaiBaseUrl).toBe('http://127.0.0.1:11434/v1')
    expect(loadConfig({ ANTHROPIC_BASE_URL: 'https://proxy.example.com' }).anthropicBaseUrl).toBe('https://proxy.example.com')
    expect(loadConfig({ OPENAI_API_KEY: 'k' }).openaiBaseUrl).toBe('https://api.openai.com/v1')
    expect(loadConfig({ OPENAI_BASE_URL: '' }).openaiBaseUrl).toBeUndefined()
  })
})

describe('TEAMDAY_PUBLIC_URL', () => {
  test('refused with credentials, a query or a fragment, or unparseable: the message never repeats a password or a query', () => {
    const refusal = (value: string) => {
      try {
        loadConfig({ TEAMDAY_PUBLIC_URL: value })
      } catch (e) {
        return (e as Error).message
      }
      throw new Error(`${value} was accepted`)
    }
    const withPassword = refusal('https://ops:hunter2-s3cret@teamday.example.com/td')
    expect(withPassword).toContain('TEAMDAY_PUBLIC_URL must be an http(s) URL without credentials, query or fragment')
    expect(withPassword).toContain('(got "https://teamday.example.com/td", with credentials)')
    expect(withPassword).not.toContain('hunter2')
    expect(withPassword).not.toContain('ops')
    expect(refusal('https://teamday.example.com/?token=td_s3cretvalue#frag')).not.toContain('s3cretvalue')
    expect(refusal('ftp://u:hunter2@teamday.example.com')).not.toContain('hunter2')
    expect(refusal('https://u:hunter2@[teamday.example.com')).not.toContain('hunter2')
    // Typed without its scheme: `ops:` parses as the scheme, the password as the path's start.
    expect(refusal('ops:hunter2-s3cret@teamday.example.com')).not.toContain('hunter2')
    // A typo without secrets is still quoted, as it was.
    expect(refusal('localhost:3000')).toContain('(got "localhost:3000")')
    expect(loadConfig({ TEAMDAY_PUBLIC_URL: 'https://teamday.example.com/td/' }).publicUrl).toBe('https://teamday.example.com/td')
  })
})

describe("README's Configuration table", () => {
  /** `| \`NAME\` | default | meaning |` rows: the default column as written. */
  const rows = new Map(
    [...README.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \| ([^|]+) \|/gm)].map((m) => [m[1]!, m[2]!.trim()]),
  )
  const policy = (p: { limit: number; windowMs: number } | null) => (p ? `${p.limit}/${p.windowMs / 1000}s` : 'off')

  test('each default the table gives in code is the one the server takes when the variable is unset', () => {
    const c = loadConfig({})
    const onOff = (b: boolean) => (b ? 'on' : 'off')
    const expected: Record<string, string> = {
      HOST: c.host,
      PORT: String(c.port),
      TEAMDAY_DB: c.dbPath,
      TEAMDAY_DB_STATEMENT_TIMEOUT_MS: String(c.dbStatementTimeoutMs),
      TEAMDAY_EXECUTION_LEASE_MS: String(c.executionLeaseMs),
      TEAMDAY_TRUSTED_PROXY_HOPS: String(c.trustedProxyHops),
      TEAMDAY_LOG_LEVEL: c.logLevel,
      TEAMDAY_LOG_FORMAT: c.logFormat,
      TEAMDAY_ACCESS_LOG: onOff(c.accessLog),
      TEAMDAY_METRICS_HOST: c.metricsHost,
      TEAMDAY_HSTS_MAX_AGE: String(c.hstsMaxAge),
      TEAMDAY_RATE_LIMIT: policy(c.rateLimit),
      TEAMDAY_MAX_TOKENS_PER_USER: String(c.maxTokensPerUser),
      TEAMDAY_COMPRESSION: onOff(c.compression),
      TEAMDAY_CACHE: onOff(c.cache),
      TEAMDAY_AUTH_FAILURE_LIMIT: policy(c.authFailureLimit),
      TEAMDAY_LEAK_REPORT_RATE_LIMIT: policy(c.leakReportRateLimit),
      TEAMDAY_CLI_LOGIN_RATE_LIMIT: policy(c.cliLoginRateLimit),
      TEAMDAY_CLI_POLL_RATE_LIMIT: policy(c.cliPollRateLimit),
      TEAMDAY_CONSOLE_RATE_LIMIT: policy(c.consoleRateLimit),
      TEAMDAY_MAX_CONCURRENT_EXECUTIONS: String(c.maxConcurrentExecutions),
      TEAMDAY_MAX_QUEUED_EXECUTIONS_PER_USER: String(c.maxQueuedExecutionsPerUser),
      TEAMDAY_EXECUTION_TIMEOUT_MS: String(c.executionTimeoutMs),
      TEAMDAY_MAX_HISTORY_CHARS: String(c.maxHistoryChars),
      TEAMDAY_MAX_DELEGATION_DEPTH: String(c.maxDelegationDepth),
      TEAMDAY_MAX_DELEGATIONS_PER_RUN: String(c.maxDelegationsPerRun),
    }
    const drift = Object.entries(expected).flatMap(([name, value]) => (rows.get(name) === `\`${value}\`` ? [] : [`${name}: README ${rows.get(name)}, server ${value}`]))
    expect(drift).toEqual([])
    // The per-user budget is 3 × the per-token one, as the table says.
    expect(rows.get('TEAMDAY_USER_RATE_LIMIT')).toBe('3 × `TEAMDAY_RATE_LIMIT`')
    expect(policy(c.userRateLimit)).toBe(`${c.rateLimit!.limit * 3}/${c.rateLimit!.windowMs / 1000}s`)
    // Unset ones are unset.
    for (const name of ['TEAMDAY_DATABASE_URL', 'TEAMDAY_ENCRYPTION_KEY', 'TEAMDAY_ENCRYPTION_KEYS_PREVIOUS', 'TEAMDAY_TRUSTED_PROXIES', 'TEAMDAY_CORS_ORIGINS', 'TEAMDAY_METRICS_PORT', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'TEAMDAY_MODEL_ALIASES', 'TEAMDAY_ADMIN_PASSWORD_FILE', 'TEAMDAY_TLS_CERT', 'TEAMDAY_TLS_KEY']) {
      expect({ name, default: rows.get(name) }).toEqual({ name, default: 'unset' })
    }
    expect([c.metricsPort, c.encryptionKey, c.corsOrigins, c.trustedProxies, c.modelAliases]).toEqual([null, undefined, [], [], []])
  })

  test('each range the table gives is the one the server enforces', () => {
    const ranges: [string, number, number][] = [
      ['TEAMDAY_DB_POOL', 1, 1000],
      ['TEAMDAY_DB_STATEMENT_TIMEOUT_MS', 100, 3600000],
      ['TEAMDAY_EXECUTION_TIMEOUT_MS', 100, 86400000],
      ['TEAMDAY_MAX_CONCURRENT_EXECUTIONS', 1, 1000],
      ['TEAMDAY_MAX_QUEUED_EXECUTIONS_PER_USER', 1, 100000],
      ['TEAMDAY_MAX_DELEGATION_DEPTH', 0, 20],
      ['TEAMDAY_EXECUTION_LEASE_MS', 1000, 3600000],
      ['TEAMDAY_TRUSTED_PROXY_HOPS', 0, 10],
      ['TEAMDAY_HSTS_MAX_AGE', 0, 63072000],
      ['TEAMDAY_MAX_TOKENS_PER_USER', 1, 100000],
      ['TEAMDAY_MAX_HISTORY_CHARS', 0, 100000000],
      ['TEAMDAY_MAX_DELEGATIONS_PER_RUN', 0, 10000],
      ['TEAMDAY_AUDIT_RETENTION_DAYS', 1, 36500],
      ['TEAMDAY_EXECUTION_RETENTION_DAYS', 1, 36500],
    ]
    for (const [name, min, max] of ranges) {
      const row = [...README.matchAll(new RegExp(`^\\| \`${name}\` \\|.*$`, 'gm'))][0]![0]
      const written = (n: number) => [String(n), n.toLocaleString('en-US')]
      expect({ name, inReadme: written(min).some((a) => written(max).some((b) => row.includes(`${a}–${b}`) || row.includes(`${a}-${b}`))) }).toEqual({ name, inReadme: true })
      expect(() => loadConfig({ [name]: String(min) })).not.toThrow()
      expect(() => loadConfig({ [name]: String(max) })).not.toThrow()
      expect(() => loadConfig({ [name]: String(max + 1) })).toThrow(name)
      if (min > 0) expect(() => loadConfig({ [name]: String(min - 1) })).toThrow(name)
    }
  })
})

// Blank is unset (above), but an operator who set TEAMDAY_ENCRYPTION_KEY meant a key: a secret
// that came through empty had the server take the key file without a word.
describe('TEAMDAY_ENCRYPTION_KEY set but blank', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-blank-key-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const db = join(dir, 't.db')
  const keyFile = join(dir, 'teamday.key')
  const SAID = 'TEAMDAY_ENCRYPTION_KEY is set but blank, which counts as unset: using the '
  const times = (text: string) => text.split(SAID).length - 1

  /** `teamday ARGS` as a process, with `key` as TEAMDAY_ENCRYPTION_KEY (undefined: not set at all). */
  async function teamday(args: string[], key: string | undefined, until?: RegExp): Promise<{ code: number | null; out: string; err: string }> {
    const env: Record<string, string | undefined> = { ...process.env, NODE_ENV: 'production', TEAMDAY_LOG_LEVEL: 'info', TEAMDAY_ENCRYPTION_KEY: key }
    if (key === undefined) delete env.TEAMDAY_ENCRYPTION_KEY
    const p = Bun.spawn([process.execPath, join(import.meta.dir, '../src/main.ts'), ...args], { env, stdout: 'pipe', stderr: 'pipe' })
    if (until) {
      // A server: stopped once its output says it listens (it runs until stopped).
      let out = ''
      const reader = p.stdout.getReader()
      for (const end = Date.now() + 15_000; !until.test(out) && Date.now() < end; ) {
        const { value, done } = await reader.read()
        if (done) break
        out += new TextDecoder().decode(value)
      }
      p.kill('SIGTERM')
      const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()])
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        out += new TextDecoder().decode(value)
      }
      return { code, out, err }
    }
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
    return { code, out, err }
  }

  test('is unset (the key file is used, or created), and every command that opens the key says so once, naming the key it uses', async () => {
    const created = await teamday(['migrate', '--db', db], ' ')
    expect(created.code).toBe(0)
    expect(times(created.err)).toBe(1)
    expect(created.err).toContain(`${SAID}new encryption key written to ${keyFile}`)
    expect(created.err).toContain('"encryption_key_blank"')
    for (const blank of ['', '\t']) {
      const again = await teamday(['migrate', '--db', db], blank)
      expect({ blank, code: again.code, times: times(again.err) }).toEqual({ blank, code: 0, times: 1 })
      expect(again.err).toContain(`${SAID}encryption key from ${keyFile}`)
    }
    const listed = await teamday(['audit', 'list', '--db', db], ' ')
    expect([listed.code, times(listed.err)]).toEqual([0, 1])
    const backup = await teamday(['backup', '--db', db, '--out', join(dir, 'b.db')], ' ')
    expect([backup.code, times(backup.err)]).toEqual([0, 1])
    expect(backup.err).toContain(`warning: ${SAID}encryption key from ${keyFile}`)
    const served = await teamday(['serve', '--db', db, '--host', '127.0.0.1', '--port', '23417'], ' ', /listening on/)
    expect(served.out).toContain(`encryption key from ${keyFile}`)
    expect(times(served.err)).toBe(1)
  }, 60_000)

  test('unset, or set to a key, says nothing of it', async () => {
    const own = join(dir, 'own.db')
    expect(times((await teamday(['migrate', '--db', own], generateKey())).err)).toBe(0)
    const other = join(dir, 'other.db')
    const r = await teamday(['migrate', '--db', other], undefined)
    expect([r.code, times(r.err)]).toEqual([0, 0])
    expect(r.err).not.toContain('encryption_key_blank')
  }, 60_000)
})

// Found upgrading a database of the 2026-12-06 build in place: that build (and every one before
// 2026-12-07) kept a `file:` URL's database in ./file:…/ under the working folder; this one, given
// the same setting, made a new empty database at the path the URL names.
describe('a file: URL whose database an older build kept under ./file:…', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-file-url-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('is refused, naming where the database is, and nothing is made at the named path', async () => {
    const left = join(dir, 'file:data', 'teamday.db')
    expect((await cliOn(left)('users', 'create', '--email', 'a@b.test', '--org', 'acme')).code).toBe(0)
    const main = resolve(import.meta.dir, '../src/main.ts')
    for (const argv of [['users', 'list', '--org', 'acme', '--db', 'file:data/teamday.db'], ['migrate', '--db', 'file:data/teamday.db']]) {
      const r = Bun.spawnSync([process.execPath, main, ...argv], { cwd: dir, env: { ...process.env, TEAMDAY_LOG_LEVEL: 'silent' }, stdout: 'pipe', stderr: 'pipe', timeout: 20_000 })
      expect(r.exitCode).toBe(2)
      expect(r.stderr.toString()).toContain(`names ${join(dir, 'data', 'teamday.db')}, which does not exist, and ${left} does`)
      expect(existsSync(join(dir, 'data'))).toBe(false)
    }
    // Once it is where the URL says, the URL opens it.
    expect(loadConfig({ TEAMDAY_DB: `file:${left}` }).dbPath).toBe(left)
  })
})

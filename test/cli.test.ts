import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../src/app'
import type { Io } from '../src/cli/common'
import { loadConfig } from '../src/config'
import { run } from '../src/main'
import { createRuntime, sqliteConnection } from '../src/runtime'
import { seedMembers, seedTokens } from '../bench/seed'

/** The admin CLI, run in-process through `run(argv, io)` against a real database file. */

const TOKEN_LINE = /^td_[A-Za-z0-9]{43}$/

interface Captured {
  code: number
  out: string
  err: string
}

let dir: string
let db: string
const env = { TEAMDAY_LOG_LEVEL: 'silent' }

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'teamday-cli-'))
  db = join(dir, 'data', 'teamday.db')
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

async function cli(...argv: string[]): Promise<Captured> {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (s) => out.push(s.endsWith('\n') ? s : s + '\n'), err: (s) => err.push(s.endsWith('\n') ? s : s + '\n'), env }
  const code = await run(argv, io)
  return { code, out: out.join(''), err: err.join('') }
}

/** Like cli() but always against this test's database file. */
const tcli = (...argv: string[]) => cli(...argv, '--db', db)

async function ok(...argv: string[]): Promise<string> {
  const r = await tcli(...argv)
  if (r.code !== 0) throw new Error(`teamday ${argv.join(' ')} exited ${r.code}: ${r.err}`)
  return r.out
}

async function createToken(email: string, name = 'ci', ...extra: string[]): Promise<string> {
  return (await ok('tokens', 'create', '--email', email, '--name', name, ...extra)).trim()
}

/** The HTTP app on the same database file, as `serve` builds it. */
async function openApp() {
  const rt = await createRuntime(loadConfig(env, { dbPath: db }))
  const app = createApp(rt)
  const get = async (path: string, token?: string) => {
    const res = await app.handle(new Request(`http://localhost${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }))
    return { status: res.status, body: (await res.json()) as any, headers: res.headers }
  }
  return { rt, app, get }
}

describe('users', () => {
  test('an empty file made beforehand (touch, a volume mount) becomes a private database: 0600 (it kept 0644, and SQLite gives -wal and -shm the mode of the database)', async () => {
    const file = join(dir, 'touched.db')
    writeFileSync(file, '', { mode: 0o644 })
    chmodSync(file, 0o644)
    const r = await cli('users', 'create', '--email', 'ada@example.com', '--org', 'acme', '--db', file)
    expect(r.code).toBe(0)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    // A database that holds data is left as it is (its mode is the operator's choice).
    chmodSync(file, 0o640)
    expect((await cli('users', 'create', '--email', 'bob@example.com', '--org', 'acme', '--db', file)).code).toBe(0)
    expect(statSync(file).mode & 0o777).toBe(0o640)
  })

  test('create makes the organization when missing, and the database files private', async () => {
    const r = await tcli('users', 'create', '--email', 'Ada@Example.com', '--org', 'acme', '--role', 'admin', '--name', 'Ada')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^created user ada@example\.com \(user_\w+\) as admin of organization acme \(new organization\)\n$/)
    // Which database it opened (a new one), and where the new key went: on stderr.
    expect(r.err).toBe(`using new database ${db} (new encryption key written to ${join(dir, 'data', 'teamday.key')}; back it up: without it sealed data is lost)\n`)
    expect(existsSync(db)).toBe(true)
    expect(existsSync(join(dir, 'data', 'teamday.key'))).toBe(true)
    expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700)
    expect(statSync(db).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'data', 'teamday.key')).mode & 0o777).toBe(0o600)

    // Into an existing organization: no "new".
    const r2 = await tcli('users', 'create', '--email', 'bob@example.com', '--org', 'acme')
    expect(r2.code).toBe(0)
    expect(r2.out).toMatch(/^created user bob@example\.com \(user_\w+\) as member of organization acme\n$/)
    expect(r2.err).toBe(`using database ${db} (encryption key from ${join(dir, 'data', 'teamday.key')})\n`)

    // An existing user into another organization: "added".
    const r3 = await tcli('users', 'create', '--email', 'bob@example.com', '--org', 'beta', '--role', 'viewer')
    expect(r3.code).toBe(0)
    expect(r3.out).toMatch(/^added user bob@example\.com \(user_\w+\) to organization beta \(new organization\) as viewer\n$/)
  })

  test('list --org SLUG: every member with e-mail, user id, role, name; --json; unknown organization exit 1', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme', '--role', 'admin', '--name', 'Ada')
    await ok('users', 'create', '--email', 'bob@example.com', '--org', 'acme', '--role', 'viewer')
    await ok('users', 'create', '--email', 'cy@example.com', '--org', 'other')
    const out = await ok('users', 'list', '--org', 'acme')
    const lines = out.trim().split('\n')
    expect(lines[0]).toMatch(/^EMAIL\s+USER ?ID\s+ROLE\s+NAME\s+JOINED ?AT$/i)
    expect(lines).toHaveLength(3)
    expect(out).toMatch(/ada@example\.com\s+user_\w+\s+admin\s+Ada/)
    expect(out).toMatch(/bob@example\.com\s+user_\w+\s+viewer/)
    expect(out).not.toContain('cy@example.com')
    const j = JSON.parse(await ok('users', 'list', '--org', 'acme', '--json'))
    expect(j.organization.slug).toBe('acme')
    expect(j.members.map((m: any) => [m.email, m.role]).sort()).toEqual([['ada@example.com', 'admin'], ['bob@example.com', 'viewer']])
    const missing = await tcli('users', 'list', '--org', 'nope')
    expect(missing.code).toBe(1)
    expect(missing.err).toContain('not found')
    expect((await tcli('users', 'list')).code).toBe(2)
  })

  test('list prints a page (100, --limit up to 1000), newest first; the next page by the --cursor it prints on stderr; every member once', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme', '--role', 'admin')
    const first = JSON.parse(await ok('users', 'list', '--org', 'acme', '--json'))
    const rt = await createRuntime(loadConfig(env, { dbPath: db }))
    await seedMembers(sqliteConnection(rt).sync, { organizationId: first.organization.id, userId: first.members[0].userId }, 249, { now: Date.now() - 60_000, step: 7 })
    await rt.close()
    // A table of 100 rows; how many there are and the next page's cursor on stderr (stdout: the rows only).
    const plain = await tcli('users', 'list', '--org', 'acme')
    expect(plain.code).toBe(0)
    expect(plain.out.trim().split('\n')).toHaveLength(101)
    const note = /100 of 250 members shown; older: the same command with --cursor (\S+)\n$/.exec(plain.err)
    expect(note).not.toBeNull()
    // Every member once, newest first, through the cursors (--json carries them).
    const seen: { email: string; joinedAt: string }[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page: any = JSON.parse(await ok('users', 'list', '--org', 'acme', '--json', '--limit', '40', ...(cursor ? ['--cursor', cursor] : [])))
      expect(page.total).toBe(250)
      seen.push(...page.members)
      cursor = page.nextCursor
      expect(++pages).toBeLessThan(20)
    } while (cursor)
    expect(pages).toBe(7)
    expect(new Set(seen.map((m) => m.email)).size).toBe(250)
    expect(seen.map((m) => m.joinedAt)).toEqual(seen.map((m) => m.joinedAt).sort().reverse())
    expect((await ok('users', 'list', '--org', 'acme', '--cursor', note![1]!)).trim().split('\n')).toHaveLength(101)
    // A --limit out of range, a cursor no listing printed: exit 2, nothing listed.
    for (const bad of [['--limit', '1001'], ['--limit', '0'], ['--cursor', 'bm90LWEtY3Vyc29y']]) {
      const r = await tcli('users', 'list', '--org', 'acme', ...bad)
      expect([bad, r.code, r.out]).toEqual([bad, 2, ''])
      expect(r.err).toContain(bad[0]!)
    }
  })

  test('create of an existing member fails with exit 1 and says "already"', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme')
    const r = await tcli('users', 'create', '--email', 'ADA@example.com', '--org', 'acme', '--role', 'admin')
    expect(r.code).toBe(1)
    expect(r.err).toContain('already')
    expect(r.err).toContain('set-role')
    expect(r.out).toBe('')
  })

  test('create rejects an invalid role, e-mail or slug with exit 2 (bad arguments) and a validation message naming the option', async () => {
    for (const [args, option] of [
      [['--email', 'ada@example.com', '--org', 'acme', '--role', 'owner'], ' (option --role)'],
      [['--email', 'not-an-email', '--org', 'acme'], ' (option --email)'],
      [['--email', 'bad email', '--org', 'acme'], ' (option --email)'],
      [['--email', 'ada@example.com', '--org', 'Bad Slug!'], ''],
    ] as const) {
      const r = await tcli('users', 'create', ...args)
      expect(r.code).toBe(2)
      expect(r.err).toMatch(/^error: Validation failed/m)
      expect(r.err.trimEnd().endsWith(option)).toBe(true)
    }
  })

  test('set-role changes the role the token acts with, on the next request', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme', '--role', 'admin')
    await ok('users', 'create', '--email', 'bob@example.com', '--org', 'acme', '--role', 'member')
    const adaToken = await createToken('ada@example.com')
    await createToken('bob@example.com')
    const { rt, get } = await openApp()
    try {
      // An admin may list the whole organization's tokens.
      const before = await get('/api/v1/tokens?all=true', adaToken)
      expect(before.status).toBe(200)
      expect(before.body.total).toBe(2)

      const r = await tcli('users', 'set-role', '--email', 'ada@example.com', '--org', 'acme', '--role', 'member')
      expect(r.code).toBe(0)
      expect(r.out).toContain('ada@example.com is now member of acme')

      // Only admins see the organization's tokens: now 403.
      const res = await get('/api/v1/tokens?all=true', adaToken)
      expect(res.status).toBe(403)
      expect(res.body.code).toBe('forbidden')
      expect((await get('/api/v1/tokens', adaToken)).status).toBe(200)
    } finally {
      rt.close()
    }
    // Unknown member / invalid role.
    expect((await tcli('users', 'set-role', '--email', 'ada@example.com', '--org', 'nope', '--role', 'admin')).code).toBe(1)
    const root = await tcli('users', 'set-role', '--email', 'ada@example.com', '--org', 'acme', '--role', 'root')
    expect([root.code, root.err.trim().split('\n').pop()]).toEqual([2, 'error: Validation failed: role must be one of admin, member, viewer (option --role)'])
    // --role is required for set-role.
    const missing = await tcli('users', 'set-role', '--email', 'ada@example.com', '--org', 'acme')
    expect(missing.code).toBe(2)
    expect(missing.err).toContain('--role')
    expect(missing.err).toContain('usage:')
  })

  test('remove takes the organization away: the token is refused', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme')
    const token = await createToken('ada@example.com')
    const { rt, get } = await openApp()
    try {
      expect((await get('/api/v1/tokens', token)).status).toBe(200)
      const r = await tcli('users', 'remove', '--email', 'ada@example.com', '--org', 'acme')
      expect(r.code).toBe(0)
      expect(r.out).toContain('removed ada@example.com from acme')
      const res = await get('/api/v1/tokens', token)
      expect(res.status).toBe(401)
      expect(res.body.error).toBe(true)
    } finally {
      rt.close()
    }
    // Removing again: not a member any more.
    const again = await tcli('users', 'remove', '--email', 'ada@example.com', '--org', 'acme')
    expect(again.code).toBe(1)
    expect(again.err).toContain('not a member')
  })
})

describe('tokens', () => {
  test('create prints only the token on stdout', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme')
    const r = await tcli('tokens', 'create', '--email', 'ada@example.com', '--name', 'laptop')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^td_[A-Za-z0-9]{43}\n$/)
    expect(r.out.trim()).toMatch(TOKEN_LINE)
    expect(r.out.split('\n').filter(Boolean)).toHaveLength(1)

    const { rt, get } = await openApp()
    try {
      const res = await get('/api/v1/tokens', r.out.trim())
      expect(res.status).toBe(200)
      expect(res.body.success).toBe(true)
      expect(res.body.tokens.map((t: any) => t.name)).toEqual(['laptop'])
    } finally {
      rt.close()
    }
  })

  test('create needs --org when the user is in several organizations', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme')
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'beta')
    const r = await tcli('tokens', 'create', '--email', 'ada@example.com', '--name', 'x')
    expect(r.code).toBe(2)
    expect(r.out).toBe('')
    expect(r.err).toContain('--org')
    expect(r.err).toContain('acme')
    expect(r.err).toContain('beta')
    expect(r.err).toContain('usage:')

    const withOrg = await tcli('tokens', 'create', '--email', 'ada@example.com', '--name', 'x', '--org', 'beta')
    expect(withOrg.code).toBe(0)
    expect(withOrg.out.trim()).toMatch(TOKEN_LINE)

    // An organization the user is not in.
    await ok('users', 'create', '--email', 'bob@example.com', '--org', 'gamma')
    const notMember = await tcli('tokens', 'create', '--email', 'ada@example.com', '--name', 'x', '--org', 'gamma')
    expect(notMember.code).toBe(1)
    expect(notMember.out).toBe('')
    expect(notMember.err).toContain('not a member')
  })

  test('create checks --expires-in-days: 7-365', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme')
    for (const days of ['400', '6', '366']) {
      const r = await tcli('tokens', 'create', '--email', 'ada@example.com', '--name', 'x', '--expires-in-days', days)
      expect(r.code).toBe(2)
      expect(r.out).toBe('')
      expect(r.err).toContain('7')
      expect(r.err).toContain('365')
      expect(r.err).toContain('(option --expires-in-days)')
    }
    for (const days of ['7', '365']) {
      const r = await tcli('tokens', 'create', '--email', 'ada@example.com', '--name', `d${days}`, '--expires-in-days', days)
      expect(r.code).toBe(0)
      expect(r.out.trim()).toMatch(TOKEN_LINE)
    }
    const list = JSON.parse(await ok('tokens', 'list', '--email', 'ada@example.com', '--json'))
    const byName = Object.fromEntries(list.tokens.map((t: any) => [t.name, t]))
    const days = (t: any) => Math.round((Date.parse(t.expiresAt) - Date.parse(t.createdAt)) / 86_400_000)
    expect(days(byName.d7)).toBe(7)
    expect(days(byName.d365)).toBe(365)

    // The name: 1-100 characters here too (the CLI has no request schema in front of the service).
    const longName = await tcli('tokens', 'create', '--email', 'ada@example.com', '--name', 'n'.repeat(101))
    expect(longName.code).toBe(2)
    expect(longName.err).toContain('name must be 1-100 characters')
    // Scopes the server does not know: the same exit 2 as in client mode.
    const scopes = await tcli('tokens', 'create', '--email', 'ada@example.com', '--name', 'x', '--scopes', 'foo:bar')
    expect([scopes.code, scopes.out]).toEqual([2, ''])
    expect(scopes.err).toContain('unknown scope(s) "foo:bar"')
    expect(scopes.err).toContain('(option --scopes)')

    // Not a number at all: a usage error.
    const nan = await tcli('tokens', 'create', '--email', 'ada@example.com', '--name', 'x', '--expires-in-days', 'soon')
    expect(nan.code).toBe(2)
    expect(nan.err).toContain('usage:')
  })

  test('create for an unknown user fails with exit 1', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme')
    const r = await tcli('tokens', 'create', '--email', 'ghost@example.com', '--name', 'x')
    expect(r.code).toBe(1)
    expect(r.out).toBe('')
    expect(r.err).toContain('not found')
  })

  test('list shows the tokens, masked, never the plaintext or the hash', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme')
    const token = await createToken('ada@example.com', 'laptop')
    const hash = new Bun.CryptoHasher('sha256').update(token).digest('hex')
    const hashB64 = new Bun.CryptoHasher('sha256').update(token).digest('base64')

    const plain = await tcli('tokens', 'list', '--email', 'ada@example.com')
    expect(plain.code).toBe(0)
    expect(plain.out).toContain('laptop')
    expect(plain.out).toContain('MASKEDTOKEN')
    expect(plain.out).toContain('active')
    expect(plain.out).toContain(`${token.slice(0, 7)}…${token.slice(-4)}`)

    const json = await tcli('tokens', 'list', '--email', 'ada@example.com', '--json')
    expect(json.code).toBe(0)
    const parsed = JSON.parse(json.out)
    expect(parsed.total).toBe(1)
    expect(parsed.tokens).toHaveLength(1)
    const t = parsed.tokens[0]
    expect(t.id).toMatch(/^pat_/)
    expect(t.name).toBe('laptop')
    expect(t.status).toBe('active')
    expect(t.maskedToken).toBe(`${token.slice(0, 7)}…${token.slice(-4)}`)
    expect(t).not.toHaveProperty('tokenHash')
    expect(t).not.toHaveProperty('hash')
    for (const out of [plain.out, json.out]) {
      expect(out).not.toContain(token)
      expect(out).not.toContain(token.slice(3))
      expect(out).not.toContain(hash)
      expect(out).not.toContain(hashB64)
    }

    const none = await tcli('tokens', 'list', '--email', 'ada@example.com', '--json')
    expect(JSON.parse(none.out).tokens).toHaveLength(1)
    await ok('users', 'create', '--email', 'bob@example.com', '--org', 'acme')
    expect(await ok('tokens', 'list', '--email', 'bob@example.com')).toContain('has no tokens')
  })

  test('list prints a page of the user\'s tokens in every organization (100, --limit up to 1000), newest first; the next by --cursor', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme')
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'beta')
    const members = async (org: string) => JSON.parse(await ok('users', 'list', '--org', org, '--json'))
    const [acme, beta] = [await members('acme'), await members('beta')]
    const userId = acme.members[0].userId
    const rt = await createRuntime(loadConfig(env, { dbPath: db }))
    // Interleaved in time: the list's order is the tokens', not the organizations'.
    await seedTokens(sqliteConnection(rt).sync, rt.box, { organizationId: acme.organization.id, userId }, 80, { now: Date.now() - 60_000, step: 10 })
    await seedTokens(sqliteConnection(rt).sync, rt.box, { organizationId: beta.organization.id, userId }, 80, { now: Date.now() - 60_005, step: 10 })
    await rt.close()
    const plain = await tcli('tokens', 'list', '--email', 'ada@example.com')
    expect(plain.code).toBe(0)
    expect(plain.out.trim().split('\n')).toHaveLength(101)
    expect(plain.err).toMatch(/100 of 160 tokens shown; older: the same command with --cursor \S+\n$/)
    const seen: { id: string; createdAt: string; organizationId: string }[] = []
    let cursor: string | null = null
    do {
      const page: any = JSON.parse(await ok('tokens', 'list', '--email', 'ada@example.com', '--json', '--limit', '70', ...(cursor ? ['--cursor', cursor] : [])))
      expect(page.total).toBe(160)
      seen.push(...page.tokens)
      cursor = page.nextCursor
    } while (cursor)
    expect(new Set(seen.map((tk) => tk.id)).size).toBe(160)
    expect(seen.map((tk) => tk.createdAt)).toEqual(seen.map((tk) => tk.createdAt).sort().reverse())
    expect(new Set(seen.slice(0, 10).map((tk) => tk.organizationId)).size).toBe(2)
    const bad = await tcli('tokens', 'list', '--email', 'ada@example.com', '--cursor', 'bm90LWEtY3Vyc29y')
    expect([bad.code, bad.out]).toEqual([2, ''])
    expect(bad.err).toContain('--cursor')
  })

  test('revoke: the token is refused by the HTTP app with token_revoked', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme')
    const token = await createToken('ada@example.com', 'doomed')
    const keep = await createToken('ada@example.com', 'kept')
    const { tokens } = JSON.parse(await ok('tokens', 'list', '--email', 'ada@example.com', '--json'))
    const id = tokens.find((t: any) => t.name === 'doomed').id

    const { rt, get } = await openApp()
    try {
      expect((await get('/api/v1/tokens', token)).status).toBe(200)
      const r = await tcli('tokens', 'revoke', id)
      expect(r.code).toBe(0)
      expect(r.out).toContain(`revoked token ${id}`)

      // Same app instance, still open: the very next request is refused.
      const res = await get('/api/v1/tokens', token)
      expect(res.status).toBe(401)
      expect(res.body.code).toBe('token_revoked')
      expect(res.headers.get('www-authenticate')).toStartWith('Bearer')
      expect((await get('/api/v1/tokens', keep)).status).toBe(200)
    } finally {
      rt.close()
    }

    // A fresh app on the same file agrees.
    const fresh = await openApp()
    try {
      const res = await fresh.get('/api/v1/tokens', token)
      expect(res.status).toBe(401)
      expect(res.body.code).toBe('token_revoked')
    } finally {
      fresh.rt.close()
    }

    const again = await tcli('tokens', 'revoke', id)
    expect(again.code).toBe(0)
    expect(again.out).toContain('already revoked')
    const listed = JSON.parse(await ok('tokens', 'list', '--email', 'ada@example.com', '--json'))
    expect(listed.tokens.find((t: any) => t.id === id).status).toBe('revoked')

    const unknown = await tcli('tokens', 'revoke', 'pat_doesnotexist')
    expect(unknown.code).toBe(1)
    expect(unknown.err).toContain('not found')
    const missing = await tcli('tokens', 'revoke')
    expect(missing.code).toBe(2)
    expect(missing.err).toContain('usage:')
  })
})

describe('migrate and openapi', () => {
  test('migrate applies once, then says up to date', async () => {
    const first = await tcli('migrate')
    expect(first.code).toBe(0)
    expect(first.out).toMatch(/^applied \d+ migration\(s\) to /)
    expect(first.out).not.toMatch(/^applied 0 /)
    const second = await tcli('migrate')
    expect(second.code).toBe(0)
    expect(second.out).toContain('is up to date')
  })

  test('openapi --out writes an OpenAPI 3.1 document', async () => {
    const file = join(dir, 'openapi.json')
    const r = await cli('openapi', '--out', file)
    expect(r.code).toBe(0)
    expect(r.out).toContain(`wrote ${file}`)
    const doc = JSON.parse(readFileSync(file, 'utf8'))
    expect(typeof doc.openapi).toBe('string')
    expect(doc.openapi).toStartWith('3.1')
    expect(Object.keys(doc.paths)).toContain('/api/v1/tokens')

    // Without --out: the document on stdout.
    const stdout = await cli('openapi')
    expect(stdout.code).toBe(0)
    expect(JSON.parse(stdout.out).openapi).toStartWith('3.1')
  })
})

describe('arguments', () => {
  test('an option given twice is a usage error naming it, before anything is opened or created', async () => {
    const r = await cli('users', 'create', '--email', 'x@ex.com', '--email', 'y@ex.com', '--org', 'acme', '--db', db)
    expect(r.code).toBe(2)
    expect(r.err).toStartWith("error: option '--email' is given more than once; give it once\n\nusage:")
    expect(existsSync(db)).toBe(false)
    const other = join(dir, 'other.db')
    await ok('users', 'create', '--email', 'x@ex.com', '--org', 'acme')
    const twoDbs = await cli('users', 'list', '--org', 'acme', '--db', db, '--db', other)
    expect([twoDbs.code, twoDbs.out]).toEqual([2, ''])
    expect(twoDbs.err).toStartWith("error: option '--db' is given more than once; give it once")
    expect(existsSync(other)).toBe(false)
  })

  test('--version prints the version', async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dir, '..', 'package.json'), 'utf8'))
    for (const flag of ['--version', '-v', 'version']) {
      const r = await cli(flag)
      expect(r.code).toBe(0)
      // Run from source: no commit was stamped in (scripts/build.ts does that with --define).
      expect(r.out.trim()).toBe(`teamday ${pkg.version} (commit unknown)`)
      expect(r.err).toBe('')
    }
  })

  test('help prints usage on stdout with exit 0; no command at all is a usage error, on stderr', async () => {
    const help = await cli('help')
    expect(help.code).toBe(0)
    expect(help.out).toContain('teamday serve')
    expect(help.out).toContain('teamday tokens create')
    expect((await cli('help', 'tokens')).out).toContain('teamday tokens revoke')
    expect(help.out).toContain('teamday migrate-data --from FILE --to postgres://URL [--replace]')
    const moving = (await cli('help', 'migrate-data')).out
    expect(moving).toContain('not copied: rate_limit_counters')
    expect(moving).toContain('every\n      instance needs the key FILE was sealed with')
    const none = await cli()
    expect(none.code).toBe(2)
    expect(none.out).toBe('')
    expect(none.err).toContain('teamday serve')
    // Help about help is the overview (it was "unknown command "help"; did you mean "help"?", exit 2).
    for (const again of [['help', 'help'], ['help', '--help'], ['--help', 'help']]) {
      const r = await cli(...again)
      expect([again.join(' '), r.code, r.out === help.out]).toEqual([again.join(' '), 0, true])
    }
  })

  test('help on an unknown topic: exit 2, one line with a guess', async () => {
    const r = await cli('help', 'tokns')
    expect(r.code).toBe(2)
    expect(r.out).toBe('')
    expect(r.err).toBe('error: unknown command "tokns"; did you mean "tokens"? See "teamday help".\n')
  })

  // Unknown commands and options: one line, a guess when one is close, and where to look.
  const unknown: [string, string[], string][] = [
    ['unknown command', ['frobnicate'], 'unknown command "frobnicate". See "teamday help".'],
    ['mistyped command', ['userz', 'create'], 'unknown command "userz"; did you mean "users"? See "teamday help".'],
    ['unknown users subcommand', ['users', 'delete', '--email', 'a@b.c', '--org', 'x'], 'unknown users command "delete". See "teamday help users".'],
    ['mistyped users subcommand', ['users', 'craete', '--email', 'a@b.c', '--org', 'x'], 'unknown users command "craete"; did you mean "create"? See "teamday help users".'],
    ['unknown tokens subcommand', ['tokens', 'rotate'], 'unknown tokens command "rotate" in admin mode (rotate is a client command: run it without --db/--email/--org). See "teamday help tokens".'],
    ['unknown flag', ['users', 'create', '--email', 'a@b.c', '--org', 'x', '--colour', 'red'], 'unknown option --colour for "teamday users create". See "teamday help users".'],
    ['mistyped flag', ['users', 'create', '--emial', 'a@b.c', '--org', 'x'], 'unknown option --emial for "teamday users create"; did you mean "--email"? See "teamday help users".'],
    ['unknown flag on tokens', ['tokens', 'list', '--email', 'a@b.c', '--all'], 'unknown option --all for "teamday tokens list". See "teamday help tokens".'],
    ['unknown flag on migrate', ['migrate', '--force'], 'unknown option --force for "teamday migrate". See "teamday help migrate".'],
    ['--name on remove', ['users', 'remove', '--email', 'a@b.c', '--org', 'x', '--name', 'N'], 'unknown option --name for "teamday users remove". See "teamday help users".'],
  ]
  for (const [what, argv, message] of unknown) {
    test(`${what} -> exit 2, one line on stderr`, async () => {
      const r = await tcli(...argv)
      expect(r.code).toBe(2)
      expect(r.out).toBe('')
      expect(r.err).toBe(`error: ${message}\n`)
    })
  }

  const bad: [string, string[], RegExp][] = [
    ['missing --email (users)', ['users', 'create', '--org', 'acme'], /missing required option --email/],
    ['missing --email (tokens create)', ['tokens', 'create', '--name', 'x'], /missing required option --email/],
    ['missing --email (tokens list)', ['tokens', 'list'], /missing required option --email/],
    ['missing --org', ['users', 'create', '--email', 'a@b.c'], /missing required option --org/],
    ['missing --name', ['tokens', 'create', '--email', 'a@b.c'], /missing required option --name/],
    ['flag without value', ['users', 'create', '--email'], /email/],
    ['stray positional', ['users', 'create', 'extra', '--email', 'a@b.c', '--org', 'x'], /unexpected argument|extra/],
  ]
  for (const [what, argv, message] of bad) {
    test(`${what} -> exit 2 and usage on stderr`, async () => {
      const r = await tcli(...argv)
      expect(r.code).toBe(2)
      expect(r.out).toBe('')
      expect(r.err).toMatch(/^error: /)
      expect(r.err).toMatch(message)
      expect(r.err).toContain('usage')
    })
  }

  test('--db given empty (`--db "$DB"` with DB unset): exit 2 saying so; no default database created (it made ./data/teamday.db and a key)', async () => {
    const cwd = process.cwd()
    const here = mkdtempSync(join(tmpdir(), 'teamday-emptydb-'))
    process.chdir(here)
    try {
      for (const argv of [['users', 'create', '--email', 'a@b.c', '--org', 'acme', '--db', ''], ['users', 'list', '--org', 'acme', '--db=']]) {
        const r = await cli(...argv)
        expect([r.code, r.out]).toEqual([2, ''])
        expect(r.err).toStartWith('error: --db is empty (an unset variable?)')
      }
      expect(readdirSync(here)).toEqual([])
    } finally {
      process.chdir(cwd)
      rmSync(here, { recursive: true, force: true })
    }
  })

  test('bad arguments leave no database behind', async () => {
    await tcli('users', 'create', '--org', 'acme')
    await tcli('tokens', 'create', '--email', 'a@b.c')
    expect(existsSync(db)).toBe(false)
  })
})

describe('while another connection holds the database open', () => {
  test('admin commands work beside a running runtime, and it sees their effect at once', async () => {
    const { rt, get } = await openApp()
    try {
      expect(rt.migrationsApplied).toBeGreaterThan(0)
      // A read transaction held open on the server's connection (WAL): the CLI still writes.
      const sqlite = sqliteConnection(rt).client
      sqlite.exec('BEGIN')
      expect((sqlite.query('SELECT count(*) AS n FROM users').get() as { n: number }).n).toBe(0)
      await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme', '--role', 'admin')
      // The open snapshot does not see it yet; after it ends, the server does.
      expect((sqlite.query('SELECT count(*) AS n FROM users').get() as { n: number }).n).toBe(0)
      sqlite.exec('COMMIT')
      expect((sqlite.query('SELECT count(*) AS n FROM users').get() as { n: number }).n).toBe(1)
      await ok('users', 'create', '--email', 'bob@example.com', '--org', 'acme')
      const token = await createToken('ada@example.com', 'live')
      expect(token).toMatch(TOKEN_LINE)
      expect((await get('/api/v1/tokens', token)).status).toBe(200)

      await ok('users', 'set-role', '--email', 'bob@example.com', '--org', 'acme', '--role', 'viewer')
      const listed = JSON.parse(await ok('tokens', 'list', '--email', 'ada@example.com', '--json'))
      expect(listed.tokens).toHaveLength(1)
      const migrate = await tcli('migrate')
      expect(migrate.code).toBe(0)
      expect(migrate.out).toContain('up to date')

      await ok('tokens', 'revoke', listed.tokens[0].id)
      const res = await get('/api/v1/tokens', token)
      expect(res.status).toBe(401)
      expect(res.body.code).toBe('token_revoked')

      await ok('users', 'remove', '--email', 'bob@example.com', '--org', 'acme')
      // The runtime's own connection still works after the CLI closed its connections.
      expect((await get('/api/health')).status).toBe(200)
    } finally {
      rt.close()
    }
  })

  test('and the server side can write while the CLI reads and writes', async () => {
    await ok('users', 'create', '--email', 'ada@example.com', '--org', 'acme')
    const token = await createToken('ada@example.com', 'a')
    const { rt, app } = await openApp()
    try {
      // Create through HTTP (a write on the runtime's connection), interleaved with CLI writes.
      for (let i = 0; i < 3; i++) {
        const res = await app.handle(
          new Request('http://localhost/api/v1/tokens', {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ name: `http-${i}` }),
          }),
        )
        expect(res.status).toBe(201)
        await createToken('ada@example.com', `cli-${i}`)
      }
      const listed = JSON.parse(await ok('tokens', 'list', '--email', 'ada@example.com', '--json'))
      expect(listed.total).toBe(7)
    } finally {
      rt.close()
    }
  })
})

// `teamday --db FILE tokens list --email E` was "unknown command "--db"": only the client's
// common options could come before the command's name.
describe('the options that choose the database and user, before the command', () => {
  test('--db, --email, --org (and --json) before the name are the command\'s, as after it: same output, same mode', async () => {
    await ok('users', 'create', '--email', 'a@ex.com', '--org', 'acme')
    const token = await createToken('a@ex.com')
    for (const [before, after] of [
      [['--db', db, 'users', 'list', '--org', 'acme'], ['users', 'list', '--org', 'acme', '--db', db]],
      [[`--db=${db}`, '--org', 'acme', '--json', 'users', 'list'], ['users', 'list', '--org', 'acme', '--json', '--db', db]],
      // --db or --email before `tokens` chooses its admin mode.
      [['--db', db, 'tokens', 'list', '--email', 'a@ex.com'], ['tokens', 'list', '--email', 'a@ex.com', '--db', db]],
      [['--email', 'a@ex.com', '--db', db, 'tokens', 'list'], ['tokens', 'list', '--email', 'a@ex.com', '--db', db]],
      [['--json', '--db', db, 'audit', 'list', '--limit', '2'], ['audit', 'list', '--limit', '2', '--json', '--db', db]],
      [['--db', db, 'migrate'], ['migrate', '--db', db]],
    ]) {
      const early = await cli(...before!)
      const late = await cli(...after!)
      expect({ before, code: early.code, out: early.out, err: early.err }).toEqual({ before, code: 0, out: late.out, err: late.err })
    }
    expect((await cli('--db', db, 'tokens', 'list', '--email', 'a@ex.com')).out).toContain('ci')
    const revoked = await cli('--db', db, 'tokens', 'revoke', (await cli('--db', db, '--json', 'tokens', 'list', '--email', 'a@ex.com')).out.match(/"id": "(pat_\w+)"/)![1]!)
    expect(revoked.code).toBe(0)
    expect((await (await openApp()).get('/api/v1/tokens/self', token)).status).toBe(401)
  })

  test('checked as after the command: twice, a value missing, one the command does not take, a mode\'s other command (exit 2, nothing opened)', async () => {
    const cases: [string[], string][] = [
      [['--db', db, 'users', 'list', '--org', 'acme', '--db', db], "error: option '--db' is given more than once; give it once"],
      // No command: the overview on stderr.
      [['--org', 'acme', '--db'], 'Server and administration'],
      [['--email', 'a@ex.com', '--db', db, 'migrate'], 'error: unknown option --email for "teamday migrate"'],
      [['--db', db, 'tokens', 'rotate', 'pat_1'], 'error: unknown tokens command "rotate" in admin mode (rotate is a client command: run it without --db/--email/--org)'],
      [['--db', db, 'agents', 'list'], 'error: unknown option --db for "teamday agents list"'],
    ]
    for (const [argv, said] of cases) {
      const r = await cli(...argv)
      expect({ argv, code: r.code, out: r.out }).toEqual({ argv, code: 2, out: '' })
      expect(r.err).toContain(said)
    }
    expect(existsSync(db)).toBe(false)
  })

  test('a misplaced option: which command takes it, to be written after it; an unknown one with a guess; a command taken as a value (exit 2)', async () => {
    const cases: [string[], string][] = [
      [
        ['--db', db, '--limit', '5', 'audit', 'list'],
        'error: option --limit before the command: it is an option of "teamday audit list": write it after the command (only --json, --url, --token-file, --retries, --env-file, --db, --email, --org, --help and --version may come before it). See "teamday help audit".\n',
      ],
      [['--db', db, '--name', 'ci', 'tokens', 'create', '--email', 'a@ex.com'], 'error: option --name before the command: it is an option of "teamday tokens create": write it after the command'],
      [['--db', db, '--emial', 'a@ex.com', 'tokens', 'list'], 'error: unknown option --emial before "teamday tokens"; did you mean "--email"? See "teamday help tokens".\n'],
      [['--db', 'tokens', 'list', '--email', 'a@ex.com'], 'error: option --db took "tokens" as its value, leaving "list" as the command: give --db its value (teamday --db VALUE tokens …). See "teamday help tokens".\n'],
    ]
    for (const [argv, said] of cases) {
      const r = await cli(...argv)
      expect({ argv, code: r.code, out: r.out }).toEqual({ argv, code: 2, out: '' })
      if (said.endsWith('\n')) expect(r.err).toBe(said)
      else expect(r.err).toStartWith(said)
    }
    // With --json, the JSON usage error on stdout.
    const json = await cli('--json', '--db', db, '--limit', '5', 'audit', 'list')
    expect(json.code).toBe(2)
    expect(JSON.parse(json.out)).toMatchObject({ error: true, code: 'usage', exitCode: 2, message: expect.stringContaining('option --limit before the command') })
    // Nothing before a word that is no command and names none: still an unknown command.
    expect((await cli('--db', db, 'tokenz', 'list')).err).toBe('error: unknown command "tokenz"; did you mean "tokens"? See "teamday help".\n')
    expect(existsSync(db)).toBe(false)
  })
})

import { sqliteConnection } from '../src/runtime'
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { changeSignal, closeDatabase, openDatabase } from '../src/db/client'
import { memberships, personalAccessTokens } from '../src/db/schema'
import { findCliAccessTokenForAuth, findTokenForAuth } from '../src/auth/lookup'
import { hashToken } from '../src/auth/tokens'
import { agentsVersionScope, readVersion } from '../src/db/versions'
import { decideLogin } from '../src/modules/cli-auth/service'
import { makeActor, makeTestApp } from './helpers/app'
import { sqliteOnly } from './helpers/pg'

const READ_CACHE_SQLITE_ONLY = sqliteOnly('SQLite\'s row cache, statement cache and data_version; PostgreSQL keeps no row cache')

const dir = mkdtempSync(join(tmpdir(), 'teamday-readcache-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const dbFile = () => join(dir, `t${++n}.db`)

/** Another process writing to the database file, as the admin CLI does while the server runs. */
function writeFromAnotherProcess(file: string, statement: string) {
  const script = `const { Database } = require('bun:sqlite'); const d = new Database(${JSON.stringify(file)}); d.exec('PRAGMA busy_timeout = 5000'); d.exec(${JSON.stringify(statement)}); d.close()`
  const r = Bun.spawnSync([process.execPath, '-e', script], { stderr: 'pipe' })
  if (r.exitCode !== 0) throw new Error(r.stderr.toString())
}

/** The next event-loop turn: commits by other connections are sampled at most once per turn. */
const nextTurn = () => new Promise<void>((r) => setImmediate(r))

/** A database file with a table x, opened, and its change signal. */
function signalOnNewFile() {
  const file = dbFile()
  const db = openDatabase(file)
  db.client.exec('CREATE TABLE x (v INTEGER)')
  return { file, db, s: changeSignal(db) }
}

describe.skipIf(READ_CACHE_SQLITE_ONLY)('database change signal', () => {
  test('file database: unchanged without commits; changes on a commit by this connection at once, by another connection or process from the next turn', async () => {
    const { file, db, s } = signalOnNewFile()
    const g0 = s.generation()
    db.client.query('SELECT count(*) FROM x').get()
    await nextTurn()
    expect(s.generation()).toBe(g0) // reads are not changes

    db.client.exec('INSERT INTO x VALUES (1)')
    const g1 = s.generation()
    expect(g1).not.toBe(g0) // its own write: at once, in the same turn
    await nextTurn()
    expect(s.generation()).toBe(g1)

    const other = openDatabase(file)
    other.client.exec('INSERT INTO x VALUES (2)')
    await nextTurn()
    const g2 = s.generation()
    expect(g2).not.toBe(g1)

    writeFromAnotherProcess(file, 'INSERT INTO x VALUES (3)')
    await nextTurn()
    const g3 = s.generation()
    expect(g3).not.toBe(g2)
    await nextTurn()
    expect(s.generation()).toBe(g3)

    // A checkpoint that restarts the WAL is followed by a commit: still seen.
    other.client.exec('PRAGMA wal_checkpoint(TRUNCATE)')
    await nextTurn()
    const g4 = s.generation()
    other.client.exec('INSERT INTO x VALUES (4)')
    await nextTurn()
    expect(s.generation()).not.toBe(g4)
    closeDatabase(other)
    closeDatabase(db)
  })

  test('a sample that fails (SQLITE_BUSY, an I/O error) is no sample: the next look in the same turn asks data_version again', async () => {
    const { file, db, s } = signalOnNewFile()
    await nextTurn()
    const g0 = s.generation()
    await nextTurn()
    writeFromAnotherProcess(file, 'INSERT INTO x VALUES (1)')
    // The turn's first look fails (the request that made it gets its 503)...
    const stmt = (s as any).stmt
    const values = stmt.values
    stmt.values = () => {
      stmt.values = values
      throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })
    }
    expect(() => s.generation()).toThrow('database is locked')
    // ...and the next request of the same turn must not be answered from before the commit.
    expect(s.generation()).not.toBe(g0)
    closeDatabase(db)
  })

  test('data_version is sampled once per turn: a commit by another connection in the same turn is seen from the next one', async () => {
    const { file, db, s } = signalOnNewFile()
    await nextTurn()
    const g0 = s.generation()
    const other = openDatabase(file)
    other.client.exec('INSERT INTO x VALUES (1)')
    expect(s.generation()).toBe(g0)
    await nextTurn()
    expect(s.generation()).not.toBe(g0)
    closeDatabase(other)
    closeDatabase(db)
  })

  test('a look made by a timer (a housekeeping pass, a lease sweep) is not reused for a request sent after a later commit: the request is read in a later phase of the loop than the sample\'s end', async () => {
    const { file, db, s } = signalOnNewFile()
    const seen: number[] = []
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => (seen.push(s.generation()), new Response('ok')) })
    try {
      const answered = new Promise<number>((ok) => {
        setTimeout(() => {
          const sampled = s.generation() // the timer's look: the turn's sample
          // Another process commits (the admin CLI revoking a token) while the timer runs...
          writeFromAnotherProcess(file, 'INSERT INTO x VALUES (1)')
          // ...then a client sends a request, which is on the socket before the timer ends.
          Bun.spawn(['curl', '-s', '-o', '/dev/null', `http://127.0.0.1:${server.port}/`]).exited.then(() => ok(sampled))
          const until = performance.now() + 400
          while (performance.now() < until) {}
        }, 10)
      })
      const sampled = await answered
      expect(seen).toHaveLength(1)
      expect(seen[0]).not.toBe(sampled)
    } finally {
      server.stop(true)
      closeDatabase(db)
    }
  })

  test('in-memory database: unchanged without writes, changed by each write', async () => {
    const db = openDatabase(':memory:')
    db.client.exec('CREATE TABLE x (v INTEGER)')
    const s = changeSignal(db)
    const g0 = s.generation()
    await nextTurn()
    expect(s.generation()).toBe(g0)
    db.client.exec('INSERT INTO x VALUES (1)')
    expect(s.generation()).not.toBe(g0)
  })

  test('a closed database never reports "unchanged"', () => {
    const db = openDatabase(dbFile())
    const s = changeSignal(db)
    closeDatabase(db)
    expect(s.generation()).not.toBe(s.generation())
  })
})

describe.skipIf(READ_CACHE_SQLITE_ONLY)('token look-ups are cached, and every change is seen by the next request', () => {
  const setup = async () => {
    const file = dbFile()
    const t = await makeTestApp({ dbPath: file })
    const admin = await makeActor(t, { role: 'admin' })
    const member = await makeActor(t, { role: 'member' })
    return { t, file, admin, member, get: (token: string) => t.req('GET', '/api/v1/agents', { token }) }
  }

  test('repeated authenticated requests commit nothing (no write per request)', async () => {
    const { t, member, get } = await setup()
    expect((await get(member.token)).status).toBe(200) // the first use records last use once
    const s = changeSignal(sqliteConnection(t.rt))
    const g = s.generation()
    for (let i = 0; i < 20; i++) expect((await get(member.token)).status).toBe(200)
    expect(s.generation()).toBe(g)
  })

  test('revoked by another process (the admin CLI on the same file): 401 on the next request', async () => {
    const { file, member, get } = await setup()
    expect((await get(member.token)).status).toBe(200)
    expect((await get(member.token)).status).toBe(200)
    writeFromAnotherProcess(file, `UPDATE personal_access_tokens SET revoked_at = 1 WHERE id = '${member.tokenId}'`)
    const res = await get(member.token)
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('token_revoked')
  })

  test('role lowered through another connection: 403 on the next write', async () => {
    const { t, file, member } = await setup()
    const create = () => t.req('POST', '/api/v1/agents', { token: member.token, body: { name: 'A' } })
    expect((await create()).status).toBe(201)
    const other = openDatabase(file)
    other.sync.update(memberships).set({ role: 'viewer' }).where(eq(memberships.userId, member.userId)).run()
    const res = await create()
    expect(res.status).toBe(403)
    expect(res.body.code).toBe('forbidden')
    closeDatabase(other)
  })

  test('membership removed through another connection: 401 membership_revoked on the next request', async () => {
    const { file, member, get } = await setup()
    expect((await get(member.token)).status).toBe(200)
    const other = openDatabase(file)
    other.sync.delete(memberships).where(eq(memberships.userId, member.userId)).run()
    const res = await get(member.token)
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('membership_revoked')
    closeDatabase(other)
  })

  test('revoked through the API: the next request is refused (same process)', async () => {
    const { t, admin, member, get } = await setup()
    expect((await get(member.token)).status).toBe(200)
    const del = await t.req('DELETE', `/api/v1/tokens/${member.tokenId}?`, { token: member.token })
    expect(del.status).toBe(200)
    expect((await get(member.token)).status).toBe(401)
    expect((await get(admin.token)).status).toBe(200)
  })

  test('while nothing is committed the look-up (a PAT, a CLI access token) answers with one frozen row; after a commit, a new one with the change', async () => {
    const { t, file, member } = await setup()
    const hash = hashToken(member.token)
    const db = sqliteConnection(t.rt).db
    const first = await findTokenForAuth(db, hash)
    expect(first?.id).toBe(member.tokenId)
    expect(Object.isFrozen(first)).toBe(true)
    expect(await findTokenForAuth(db, hash)).toBe(first!) // mapped once, shared
    writeFromAnotherProcess(file, `UPDATE personal_access_tokens SET revoked_at = 5 WHERE id = '${member.tokenId}'`)
    await nextTurn()
    const after = await findTokenForAuth(db, hash)
    expect(after).not.toBe(first!)
    expect(after?.revokedAt?.getTime()).toBe(5)
    expect(first?.revokedAt).toBeNull()

    // A CLI session's access token (tdo_): its look-up is shared the same way.
    const { body } = await t.req('POST', '/api/auth/cli/initiate')
    await decideLogin(t.ctx, body.code, { userId: member.userId, organizationId: member.organizationId }, 'approve')
    const cli = hashToken((await t.req('GET', `/api/auth/cli/poll?code=${body.code}`)).body.accessToken)
    const session = await findCliAccessTokenForAuth(db, cli)
    expect(session?.kind).toBe('cli')
    expect(Object.isFrozen(session)).toBe(true)
    expect(await findCliAccessTokenForAuth(db, cli)).toBe(session!)
  })

  test('a shared read (a token, a data version) asked again before any commit runs no statement: the same object; a write by the connection, a commit elsewhere or a transaction reads again', async () => {
    const { t, file, member } = await setup()
    const conn = sqliteConnection(t.rt)
    const db = conn.db
    const hash = hashToken(member.token)
    const scope = agentsVersionScope(member.organizationId)
    const first = await findTokenForAuth(db, hash)
    const version = await readVersion(db, scope)
    let statements = 0
    let observed = 0
    const prepare = conn.client.prepare
    const onQuery = conn.onQuery
    conn.client.prepare = ((...a: Parameters<typeof prepare>) => {
      statements++
      return prepare(...a)
    }) as typeof prepare
    conn.onQuery = (seconds) => {
      observed++
      onQuery?.(seconds)
    }
    try {
      for (let i = 0; i < 3; i++) {
        expect(await findTokenForAuth(db, hash)).toBe(first!)
        expect(await readVersion(db, scope)).toBe(version)
      }
      expect(statements).toBe(0)
      // Still told to the metrics as statements, as the row cache's answers always were.
      expect(observed).toBe(6)
      // A write by this connection: the next read runs and sees it.
      await db.update(personalAccessTokens).set({ revokedAt: new Date(9) }).where(eq(personalAccessTokens.id, member.tokenId))
      statements = 0
      expect((await findTokenForAuth(db, hash))?.revokedAt?.getTime()).toBe(9)
      expect(statements).toBe(1)
      // A commit by another process: seen from the next turn.
      writeFromAnotherProcess(file, `UPDATE personal_access_tokens SET revoked_at = 5 WHERE id = '${member.tokenId}'`)
      await nextTurn()
      expect((await findTokenForAuth(db, hash))?.revokedAt?.getTime()).toBe(5)
      // Inside a transaction its handle reads: the transaction sees its own write.
      await conn.transaction(async (tx) => {
        await tx.update(personalAccessTokens).set({ revokedAt: null }).where(eq(personalAccessTokens.id, member.tokenId))
        expect((await findTokenForAuth(tx, hash))?.revokedAt).toBeNull()
      })
      expect((await findTokenForAuth(db, hash))?.revokedAt).toBeNull()
    } finally {
      conn.client.prepare = prepare
      conn.onQuery = onQuery
    }
  })

  test('a token expiring while cached is refused at its expiry (the clock is checked on every request)', async () => {
    const { t, member, get } = await setup()
    expect((await get(member.token)).status).toBe(200)
    const row = t.db.select().from(personalAccessTokens).where(eq(personalAccessTokens.id, member.tokenId)).get()!
    t.clock.ms = row.expiresAt.getTime() + 1
    const res = await get(member.token)
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('token_expired')
  })
})

describe.skipIf(READ_CACHE_SQLITE_ONLY)("a token's GET: one shared row while nothing is committed, shown at each request's time", () => {
  const setup = async () => {
    const file = dbFile()
    const t = await makeTestApp({ dbPath: file })
    const admin = await makeActor(t, { role: 'admin' })
    const member = await makeActor(t, { role: 'member', token: { expiresInDays: 30 } })
    // The member's token gets a last address and user agent (sealed) to show.
    await t.req('GET', '/api/v1/tokens/self', { token: member.token, ip: '203.0.113.7', headers: { 'user-agent': 'teamday-cli/1.0' } })
    return { t, file, admin, member, get: () => t.req('GET', `/api/v1/tokens/${member.tokenId}`, { token: admin.token }) }
  }

  test('repeated GETs open no sealed value and write no instant again: the same answer, from the shared row', async () => {
    const { t, member, get } = await setup()
    const first = await get()
    expect(first.status).toBe(200)
    expect(first.body.token).toMatchObject({ id: member.tokenId, status: 'active', lastUsedIp: '203.0.113.7', lastUsedUserAgent: 'teamday-cli/1.0' })
    expect((await get()).status).toBe(200) // the admin's own first use is recorded by then
    // Opened values of the member's token, counted from here (the box caches plaintexts, but
    // showing the token still asked it for each of three fields on every request).
    const opened: string[] = []
    const open = t.rt.box.open.bind(t.rt.box)
    t.rt.box.open = (sealed: string, aad: string) => {
      if (aad.endsWith(`:${member.tokenId}`)) opened.push(aad)
      return open(sealed, aad)
    }
    const g = changeSignal(sqliteConnection(t.rt)).generation()
    const answers = []
    for (let i = 0; i < 5; i++) answers.push(await get())
    expect(changeSignal(sqliteConnection(t.rt)).generation()).toBe(g)
    for (const a of answers) expect(a.text).toBe(first.text)
    expect(opened).toEqual([])
  })

  test('a change committed by another process is shown by the next GET', async () => {
    const { file, member, get } = await setup()
    expect((await get()).body.token.status).toBe('active')
    expect((await get()).body.token.revokedAt).toBeNull()
    writeFromAnotherProcess(file, `UPDATE personal_access_tokens SET revoked_at = 5 WHERE id = '${member.tokenId}'`)
    await nextTurn()
    const after = (await get()).body.token
    expect(after.status).toBe('revoked')
    expect(after.revokedAt).toBe(new Date(5).toISOString())
  })

  test('status and end follow the clock with no commit between: a grace period ends, a token expires', async () => {
    const { t, file, member, get } = await setup()
    const row = t.db.select().from(personalAccessTokens).where(eq(personalAccessTokens.id, member.tokenId)).get()!
    // A rotation's grace period: revoked an hour from now, so it stops then, not at its expiry.
    const graceEnd = t.clock.ms + 3_600_000
    writeFromAnotherProcess(file, `UPDATE personal_access_tokens SET revoked_at = ${graceEnd}, revoked_reason = 'rotated' WHERE id = '${member.tokenId}'`)
    await nextTurn()
    // A moment before its end (the admin's own use is recorded at the new time: a commit).
    t.clock.ms = graceEnd - 1
    const before = (await get()).body.token
    expect(before).toMatchObject({ status: 'active', expiresAt: new Date(graceEnd).toISOString(), revokedAt: new Date(graceEnd).toISOString() })
    const g = changeSignal(sqliteConnection(t.rt)).generation()
    t.clock.ms = graceEnd
    const ended = (await get()).body.token
    expect(ended).toMatchObject({ status: 'revoked', expiresAt: row.expiresAt.toISOString(), revokedAt: new Date(graceEnd).toISOString() })
    expect(changeSignal(sqliteConnection(t.rt)).generation()).toBe(g)

    // Without a grace period: active, then expired at its expiry (30 days: the admin's own token
    // lasts 90).
    writeFromAnotherProcess(file, `UPDATE personal_access_tokens SET revoked_at = NULL WHERE id = '${member.tokenId}'`)
    await nextTurn()
    t.clock.ms = row.expiresAt.getTime() - 1
    expect((await get()).body.token).toMatchObject({ status: 'active', expiresAt: row.expiresAt.toISOString(), revokedAt: null })
    const g2 = changeSignal(sqliteConnection(t.rt)).generation()
    t.clock.ms = row.expiresAt.getTime()
    expect((await get()).body.token).toMatchObject({ status: 'expired', expiresAt: row.expiresAt.toISOString() })
    expect(changeSignal(sqliteConnection(t.rt)).generation()).toBe(g2)
  })
})

describe.skipIf(READ_CACHE_SQLITE_ONLY)('statement reuse', () => {
  test('the same SQL text reuses one compiled statement; bound parameters or a full cache do not', () => {
    const db = openDatabase(':memory:')
    const c = db.client
    expect(c.prepare('SELECT 1')).toBe(c.prepare('SELECT 1'))
    expect(c.prepare('SELECT ?', [1])).not.toBe(c.prepare('SELECT ?', [1]))
    const first = c.prepare('SELECT 0')
    for (let i = 1; i <= 600; i++) c.prepare(`SELECT ${i}`)
    expect(c.prepare('SELECT 0')).not.toBe(first) // forgotten past the bound, compiled again
    closeDatabase(db)
  })

  test('two drizzle queries with the same text, one inside the other\'s result handling, both read their own rows', () => {
    const db = openDatabase(':memory:')
    db.client.exec('CREATE TABLE x (v INTEGER)')
    db.client.exec('INSERT INTO x VALUES (1), (2), (3)')
    const outer = db.client.prepare('SELECT v FROM x WHERE v >= ? ORDER BY v').all(2) as { v: number }[]
    const inner = outer.map((r) => (db.client.prepare('SELECT v FROM x WHERE v >= ? ORDER BY v').all(r.v) as { v: number }[]).map((x) => x.v))
    expect(outer.map((r) => r.v)).toEqual([2, 3])
    expect(inner).toEqual([[2, 3], [3]])
    closeDatabase(db)
  })
})

describe.skipIf(READ_CACHE_SQLITE_ONLY)('rows of SELECT statements kept until the next commit', () => {
  const q = (db: ReturnType<typeof openDatabase>, min: number) => db.client.prepare('SELECT v FROM x WHERE v >= ? ORDER BY v').values(min)

  test('served from memory while nothing is committed; a commit by another connection or process is seen from the next turn', async () => {
    const file = dbFile()
    const db = openDatabase(file)
    db.client.exec('CREATE TABLE x (v INTEGER)')
    db.client.exec('INSERT INTO x VALUES (1)')
    const first = q(db, 0)
    expect(q(db, 0)).toBe(first) // the very same rows: no statement ran
    const other = openDatabase(file)
    other.client.exec('INSERT INTO x VALUES (2)')
    await nextTurn()
    expect(q(db, 0)).toEqual([[1], [2]])
    writeFromAnotherProcess(file, 'DELETE FROM x WHERE v = 1')
    await nextTurn()
    expect(q(db, 0)).toEqual([[2]])
    db.client.exec('UPDATE x SET v = 3')
    expect(q(db, 0)).toEqual([[3]])
    closeDatabase(other)
    closeDatabase(db)
  })

  test('inside a transaction every read runs: the transaction sees its own writes', () => {
    for (const file of [dbFile(), ':memory:']) {
      const db = openDatabase(file)
      db.client.exec('CREATE TABLE x (v INTEGER)')
      expect(q(db, 0)).toEqual([])
      db.client.transaction(() => {
        db.client.exec('INSERT INTO x VALUES (7)')
        expect(q(db, 0)).toEqual([[7]])
      })()
      expect(q(db, 0)).toEqual([[7]])
      closeDatabase(db)
    }
  })

  test('statements that write are never answered from memory (INSERT … RETURNING)', () => {
    const db = openDatabase(dbFile())
    db.client.exec('CREATE TABLE x (v INTEGER)')
    const ins = db.client.prepare('INSERT INTO x VALUES (1) RETURNING v')
    ins.values()
    ins.values()
    expect(q(db, 0)).toEqual([[1], [1]])
    closeDatabase(db)
  })

  test('kept rows belong to their statement and to the exact parameters: 1 and "1", "a" and ["a"] differ', () => {
    const db = openDatabase(dbFile())
    // No column type: SQLite compares 1 and '1' as different values.
    db.client.exec("CREATE TABLE k (v, w); INSERT INTO k VALUES (1, 'number'), ('1', 'text'), ('[\"a\"]', 'json text'), ('a', 'plain')")
    const byV = (v: unknown) => db.client.prepare('SELECT w FROM k WHERE v = ?').values(v as any)
    const byVAgain = (v: unknown) => db.client.prepare('SELECT w || \'!\' FROM k WHERE v = ?').values(v as any)
    expect(byV(1)).toEqual([['number']])
    expect(byV('1')).toEqual([['text']])
    expect(byV(1)).toEqual([['number']])
    expect(byV('a')).toEqual([['plain']])
    expect(byV('["a"]')).toEqual([['json text']])
    // The same parameters through another statement: its own rows.
    expect(byVAgain('1')).toEqual([['text!']])
    expect(byV('1')).toEqual([['text']])
    closeDatabase(db)
  })

  test('single rows are kept, per parameters; results of several rows or over a mebibyte are not', () => {
    const db = openDatabase(dbFile())
    db.client.exec('CREATE TABLE x (v INTEGER)')
    db.client.exec('WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) INSERT INTO x SELECT i FROM n')
    const two = q(db, 299)
    expect(two).toEqual([[299], [300]])
    expect(q(db, 299)).not.toBe(two) // more than one row: read again, never kept
    const single = q(db, 300)
    expect(single).toEqual([[300]])
    expect(q(db, 300)).toBe(single) // one row: kept
    const big = q(db, 0)
    expect(big.length).toBe(300)
    expect(q(db, 0)).not.toBe(big)
    // One row, but over a mebibyte of text (an execution's output, say): not kept either.
    db.client.exec('CREATE TABLE y (t TEXT)')
    db.client.prepare('INSERT INTO y VALUES (?)').run('x'.repeat(600_000))
    const wide = () => db.client.prepare('SELECT t FROM y').values()
    const one = wide()
    expect(one[0]![0]).toHaveLength(600_000)
    expect(wide()).not.toBe(one)
    closeDatabase(db)
  })
})

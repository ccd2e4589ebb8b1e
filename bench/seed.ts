// Fast seeding for benchmarks and tests: realistic rows of every listed table, inserted through
// the drizzle schema (its column names and encodings; SQL defaults for what a row leaves out), on
// SQLite in one transaction per call, on PostgreSQL in one COPY per call. Row i is created `step`
// ms before row i + 1, ending at `now`.
import { hashToken, tokenHint } from '../src/auth/tokens'
import type { SecretBox } from '../src/crypto/secretbox'
import type { SQLQueryBindings } from 'bun:sqlite'
import { getTableColumns, getTableName, is } from 'drizzle-orm'
import { PgDatabase, type PgColumn, type PgTable } from 'drizzle-orm/pg-core'
import type postgres from 'postgres'
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core'
import type { SyncDb } from '../src/db/connection'
import { sqliteTables } from '../src/db/schema'
import * as pgTables from '../src/db/schema/pg'
import { newId } from '../src/ids'

export interface SeedOwner {
  organizationId: string
  userId: string
}

export interface SeedOptions {
  /** created_at of the newest row (ms). */
  now: number
  /** ms between consecutive rows (default 1000). */
  step?: number
}

/** A small deterministic generator: the same seed gives the same rows. */
function rng(seed: number) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 4294967296
  }
}
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!

/**
 * Where seeded rows go: a SQLite database's synchronous handle, or a PostgreSQL database's
 * drizzle handle (a test app's `db` is the one or the other: test/helpers/app.ts).
 */
type DB = SyncDb

type TableName = 'tasks' | 'agents' | 'spaces' | 'executions' | 'personalAccessTokens' | 'auditEvents' | 'users' | 'memberships'

/**
 * Inserts `n` rows made by `make` into the table `name` of the database's own dialect; resolves
 * to their ids once they are committed.
 *
 * SQLite: in one transaction (synchronously, before this returns). Column names and value
 * encodings (dates to ms, JSON columns to text, booleans to 0/1) come from the drizzle table; the
 * statement is prepared once and run per row, about six times faster than drizzle's multi-row
 * insert. PostgreSQL: the same rows in one COPY … FROM STDIN (copyRows).
 */
async function insertAll(db: DB, name: TableName, n: number, make: (i: number) => Record<string, unknown>): Promise<string[]> {
  const ids: string[] = []
  if (n <= 0) return ids
  const first = make(0)
  if (is(db, PgDatabase)) {
    const rows = Array.from({ length: n }, (_, i) => (i === 0 ? first : make(i)))
    await copyRows((db as unknown as { $client: postgres.Sql }).$client, pgTables[name] as PgTable, rows)
    return rows.map((r) => r.id as string)
  }
  const table = sqliteTables[name] as SQLiteTable
  const columns = getTableColumns(table) as Record<string, SQLiteColumn>
  const keys = Object.keys(first)
  const names = keys.map((k) => `"${columns[k]!.name}"`).join(', ')
  const stmt = db.$client.prepare(`insert into "${getTableName(table)}" (${names}) values (${keys.map(() => '?').join(', ')})`)
  const encode = (row: Record<string, unknown>) => keys.map((k) => (row[k] == null ? null : (columns[k]!.mapToDriverValue(row[k]) as SQLQueryBindings)))
  db.$client.transaction(() => {
    for (let i = 0; i < n; i++) {
      const row = i === 0 ? first : make(i)
      ids.push(row.id as string)
      stmt.run(...encode(row))
    }
  })()
  return ids
}

/** A value in COPY's text format: \N for null, backslash escapes for the characters it gives meaning. */
function copyText(v: unknown): string {
  if (v === null || v === undefined) return '\\N'
  const s = typeof v === 'boolean' ? (v ? 't' : 'f') : typeof v === 'object' ? JSON.stringify(v) : String(v)
  return s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'))
}

/**
 * Rows (the keys of the first, as the drizzle table names its columns) into a PostgreSQL table
 * in one COPY … FROM STDIN: values encoded by the table's columns (timestamps to ISO-8601, JSON
 * to text), columns left out take their SQL defaults. Tens of times faster than multi-row
 * INSERTs built by drizzle (a benchmark's or a plan test's tens of thousands of rows in seconds).
 */
export async function copyRows(client: postgres.Sql, table: PgTable, rows: Record<string, unknown>[]): Promise<void> {
  if (rows.length === 0) return
  const columns = getTableColumns(table) as Record<string, PgColumn>
  // Generated columns (content_bytes) are PostgreSQL's to compute.
  const keys = Object.keys(rows[0]!).filter((k) => columns[k]!.generated === undefined)
  const names = keys.map((k) => `"${columns[k]!.name}"`).join(', ')
  const stream = await client.unsafe(`COPY "${getTableName(table)}" (${names}) FROM STDIN`).writable()
  const done = new Promise<void>((resolve, reject) => {
    stream.on('finish', resolve)
    stream.on('error', reject)
  })
  const CHUNK = 1000
  for (let i = 0; i < rows.length; i += CHUNK) {
    const lines = rows.slice(i, i + CHUNK).map((row) => keys.map((k) => copyText(row[k] == null ? null : columns[k]!.mapToDriverValue(row[k]))).join('\t') + '\n')
    if (!stream.write(lines.join(''))) await new Promise((r) => stream.once('drain', r))
  }
  stream.end()
  await done
}

const at = (o: SeedOptions, n: number, i: number) => new Date(o.now - (n - 1 - i) * (o.step ?? 1000))

const TASK_STATUSES = ['pending', 'pending', 'in_progress', 'completed', 'completed', 'completed', 'cancelled'] as const
const PRIORITIES = ['low', 'medium', 'medium', 'high', 'urgent'] as const
const CATEGORIES = ['support', 'engineering', 'sales', 'marketing', 'research', 'legal', 'ops', 'finance', 'hr', 'data']
const VISIBILITIES = ['organization', 'organization', 'private', 'public', 'unlisted'] as const

export async function seedTasks(db: DB, owner: SeedOwner, n: number, o: SeedOptions & { agentIds?: string[]; spaceIds?: string[] }): Promise<string[]> {
  const r = rng(n + 1)
  return insertAll(
    db,
    'tasks',
    n,
    (i) => {
      const created = at(o, n, i)
      const status = pick(r, TASK_STATUSES)
      const agent = o.agentIds?.length && r() < 0.4 ? pick(r, o.agentIds) : null
      return {
        id: newId('task'),
        organizationId: owner.organizationId,
        createdBy: owner.userId,
        title: `Task ${i}: review the quarterly report section ${i % 97}`,
        description: r() < 0.7 ? `Check the figures of section ${i % 97} against the ledger and note any difference larger than one percent.` : null,
        status,
        priority: pick(r, PRIORITIES),
        assignedTo: agent,
        assigneeType: agent ? ('agent' as const) : null,
        spaceId: o.spaceIds?.length && r() < 0.3 ? pick(r, o.spaceIds) : null,
        dueDate: r() < 0.5 ? new Date(created.getTime() + 7 * 86_400_000) : null,
        completedAt: status === 'completed' ? created : null,
        metadata: { source: 'seed', batch: i % 10 },
        createdAt: created,
        updatedAt: created,
      }
    },
  )
}

export async function seedAgents(db: DB, owner: SeedOwner, n: number, o: SeedOptions): Promise<string[]> {
  const r = rng(n + 2)
  return insertAll(
    db,
    'agents',
    n,
    (i) => {
      const created = at(o, n, i)
      const archived = r() < 0.05
      const id = newId('char')
      return {
        id,
        organizationId: owner.organizationId,
        userId: owner.userId,
        name: `Code Reviewer ${i}`,
        // Unique in the organization, also when a test seeds the same organization twice.
        slug: `code-reviewer-${i}-${id.slice(5, 13).toLowerCase()}`,
        role: 'Senior Developer',
        systemPrompt: 'You review code for quality, security, and best practices. Point out bugs first, then style.',
        description: `Reviews pull requests for team ${i % 50}`,
        category: pick(r, CATEGORIES),
        visibility: pick(r, VISIBILITIES),
        model: 'gpt-4o-mini',
        tags: ['review', 'security'],
        archived,
        archivedAt: archived ? created : null,
        createdAt: created,
        updatedAt: created,
      }
    },
  )
}

export async function seedSpaces(db: DB, owner: SeedOwner, n: number, o: SeedOptions): Promise<string[]> {
  const r = rng(n + 3)
  return insertAll(
    db,
    'spaces',
    n,
    (i) => {
      const created = at(o, n, i)
      const archived = r() < 0.05
      const id = newId('space')
      return {
        id,
        organizationId: owner.organizationId,
        createdBy: owner.userId,
        name: `Project ${i}`,
        slug: `project-${i}-${id.slice(6, 14).toLowerCase()}`,
        description: `Workspace of project ${i}`,
        visibility: pick(r, ['organization', 'private', 'public'] as const),
        instructions: 'Always answer in English.',
        archived,
        archivedAt: archived ? created : null,
        createdAt: created,
        updatedAt: created,
      }
    },
  )
}

export async function seedExecutions(db: DB, owner: SeedOwner, n: number, o: SeedOptions & { agentIds: string[] }): Promise<string[]> {
  const r = rng(n + 4)
  return insertAll(
    db,
    'executions',
    n,
    (i) => {
      const created = at(o, n, i)
      const chat = newId('exec')
      return {
        id: newId('exec'),
        organizationId: owner.organizationId,
        userId: owner.userId,
        agentId: pick(r, o.agentIds),
        agentName: 'Code Reviewer',
        agentVisibility: 'organization',
        chatId: chat,
        sessionId: chat,
        status: pick(r, ['completed', 'completed', 'completed', 'failed', 'cancelled'] as const),
        message: `Review pull request #${i}`,
        result: 'Looks good; two nits in the error handling.',
        messages: [
          { role: 'user' as const, content: `Review pull request #${i}`, timestamp: created.toISOString() },
          { role: 'assistant' as const, content: 'Looks good; two nits in the error handling.', timestamp: created.toISOString() },
        ],
        model: 'gpt-4o-mini',
        provider: 'openai',
        startedAt: created,
        completedAt: created,
        executionTime: 1200,
        tokensInput: 800,
        tokensOutput: 240,
        createdAt: created,
        updatedAt: created,
      }
    },
  )
}

export async function seedTokens(db: DB, box: SecretBox, owner: SeedOwner, n: number, o: SeedOptions): Promise<string[]> {
  return insertAll(
    db,
    'personalAccessTokens',
    n,
    (i) => {
      const created = at(o, n, i)
      const id = newId('pat')
      // Not a usable token: a unique random value stands in for the secret.
      const secret = `seed_${crypto.randomUUID()}`
      return {
        id,
        userId: owner.userId,
        organizationId: owner.organizationId,
        tokenHash: hashToken(secret),
        hint: tokenHint(secret),
        nameEnc: box.seal(`ci token ${i}`, `pat.name:${id}`),
        scopes: ['*'],
        createdAt: created,
        expiresAt: new Date(o.now + 90 * 86_400_000),
        familyId: id,
      }
    },
  )
}

export async function seedAudit(db: DB, owner: SeedOwner, n: number, o: SeedOptions & { tokenIds?: string[] }): Promise<string[]> {
  const r = rng(n + 5)
  return insertAll(
    db,
    'auditEvents',
    n,
    (i) => ({
      id: newId('evt'),
      organizationId: owner.organizationId,
      type: pick(r, ['token.created', 'token.revoked', 'token.new_ip', 'scope.denied', 'secret.set']),
      actorUserId: owner.userId,
      source: 'api',
      tokenId: o.tokenIds?.length ? pick(r, o.tokenIds) : null,
      targetType: 'token',
      requestId: newId('req'),
      createdAt: at(o, n, i),
    }),
  )
}

/** `n` users, members of the owner's organization (role member); resolves to the users' ids. */
export async function seedMembers(db: DB, owner: SeedOwner, n: number, o: SeedOptions): Promise<string[]> {
  const ids = await insertAll(db, 'users', n, (i) => {
    const id = newId('user')
    return { id, email: `member-${i}-${id.slice(5, 13).toLowerCase()}@example.com`, name: `Member ${i}`, createdAt: at(o, n, i) }
  })
  await insertAll(db, 'memberships', n, (i) => ({ id: newId('mem'), organizationId: owner.organizationId, userId: ids[i]!, role: 'member', createdAt: at(o, n, i), updatedAt: at(o, n, i) }))
  return ids
}

/**
 * Copies every row of a seeded SQLite database into a PostgreSQL database (same ids, token
 * hashes and sealed values: the same token and key work on both), migrating it first. Rows are
 * read through the SQLite schema (decoded: dates, JSON, booleans) and written through the
 * PostgreSQL one, table by table in multi-row inserts of up to 60,000 values, with foreign-key
 * triggers off for the session (session_replication_role = replica: tables in any order; needs
 * a superuser, as a benchmark's database server has). For benchmarks: fast, not a migration tool.
 */
export async function copyToPostgres(src: DB, url: string): Promise<Record<string, number>> {
  const { openPostgres } = await import('../src/db/pg')
  const { runPgMigrations } = await import('../src/db/migrate')
  const conn = openPostgres(url, { pool: 1, statementTimeoutMs: 600_000 })
  try {
    await runPgMigrations(conn)
  } finally {
    await conn.close()
  }
  const { is } = await import('drizzle-orm')
  const { SQLiteTable } = await import('drizzle-orm/sqlite-core')
  const { drizzle } = await import('drizzle-orm/postgres-js')
  const postgres = (await import('postgres')).default
  const lite = await import('../src/db/schema/sqlite')
  const pg = (await import('../src/db/schema/pg')) as Record<string, unknown>
  const client = postgres(url, { max: 1, onnotice: () => {}, connection: { session_replication_role: 'replica' } })
  const target = drizzle({ client })
  const counts: Record<string, number> = {}
  try {
    for (const [name, table] of Object.entries(lite)) {
      if (!is(table, SQLiteTable)) continue
      const to = pg[name]
      if (!to) throw new Error(`no PostgreSQL table for ${name}`)
      const rows = src.select().from(table).all() as Record<string, unknown>[]
      counts[getTableName(table)] = rows.length
      if (rows.length === 0) continue
      const chunk = Math.max(1, Math.floor(60_000 / Object.keys(rows[0]!).length))
      for (let i = 0; i < rows.length; i += chunk) {
        await target.insert(to as any).values(rows.slice(i, i + chunk)).onConflictDoNothing().execute()
      }
    }
    // Statistics and the visibility map, as a database in use has them (autovacuum vacuums and
    // analyzes a table that grew; on a machine where it is off, nothing would: every plan would
    // be a guess and every index-only scan would read the table too).
    await client.unsafe('VACUUM (ANALYZE)')
    // Identity columns go on from the largest copied value.
    for (const c of await client`SELECT table_name, column_name FROM information_schema.columns WHERE is_identity = 'YES' AND table_schema = current_schema()`) {
      await client.unsafe(`SELECT setval(pg_get_serial_sequence('"${c.table_name}"', '${c.column_name}'), coalesce((SELECT max("${c.column_name}") FROM "${c.table_name}"), 0) + 1, false)`)
    }
  } finally {
    await client.end({ timeout: 5 })
  }
  return counts
}

/**
 * PostgreSQL for tests: which backend the HTTP suite runs on, whether a server answers, and a
 * fresh schema per app in a database of this test process's own (created on first use with C
 * collation, dropped when the run ends: test/helpers/preload.ts).
 *
 * - `TEAMDAY_TEST_DATABASE=postgres` runs the whole suite on PostgreSQL (.ci/run's second pass).
 * - `TEAMDAY_TEST_PG_URL` is the server (default postgres://postgres@127.0.0.1:5432/postgres);
 *   tests create and drop only databases named teamday_t_<time>_<random> (and, from before the
 *   time was in the name, teamday_t_<random>).
 */
import postgres from 'postgres'
import { PG_MIGRATION_LOCK, runPgMigrations } from '../../src/db/migrate'
import { openPostgres } from '../../src/db/pg'

export const PG_ADMIN_URL = process.env.TEAMDAY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const ON_PG = process.env.TEAMDAY_TEST_DATABASE === 'postgres'

/** A URL on the same server naming another database. */
export function urlFor(database: string): string {
  const u = new URL(PG_ADMIN_URL)
  u.pathname = `/${database}`
  return u.toString()
}

let available: Promise<boolean> | undefined

/** Whether PostgreSQL answers (asked once per process, 2 s at most). */
export function pgAvailable(): Promise<boolean> {
  available ??= (async () => {
    const sql = postgres(PG_ADMIN_URL, { max: 1, connect_timeout: 2, onnotice: () => {} })
    try {
      await sql`SELECT 1`
      return true
    } catch {
      return false
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {})
    }
  })()
  return available
}

const said = new Set<string>()

/**
 * For files whose tests need PostgreSQL: true when it answers. When it does not, CI fails (the
 * machine must have it: .ci/run) and anywhere else the file's tests are skipped with one line.
 */
export async function needPostgres(what: string): Promise<boolean> {
  if (await pgAvailable()) return true
  if (process.env.CI) throw new Error(`PostgreSQL does not answer at ${PG_ADMIN_URL} (needed by ${what}); start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`)
  if (!said.has('all')) {
    said.add('all')
    console.warn(`PostgreSQL does not answer at ${PG_ADMIN_URL}: skipping the PostgreSQL tests (set TEAMDAY_TEST_PG_URL or start it)`)
  }
  return false
}

let database: Promise<string> | undefined
const created: string[] = []
let schemas = 0

/**
 * A fresh database of this process's own on the test server (dropped by dropTestDatabases); C
 * collation, or `icuLocale`'s (ICU): a database created with a locale such as en-US, as a
 * distribution's default may give, where ORDER BY on text is not the byte order of C and SQLite.
 */
export async function createTestDatabase(o: { icuLocale?: string } = {}): Promise<string> {
  // When it was made, in the name: a run whose end could not drop it leaves it to a later run's sweep (dropStale).
  const name = `teamday_t_${Date.now().toString(36)}_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} })
  try {
    const locale = o.icuLocale ? `LOCALE_PROVIDER icu ICU_LOCALE '${o.icuLocale.replace(/[^A-Za-z-]/g, '')}' LOCALE 'C.UTF-8'` : `LC_COLLATE 'C' LC_CTYPE 'C'`
    await admin.unsafe(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' ${locale}`)
  } finally {
    await admin.end({ timeout: 1 })
  }
  created.push(name)
  return name
}

/** A new schema with every migration applied (catalog work: the slow part of a test app); in `inDatabase`, else this process's test database. */
export async function migratedSchema(inDatabase?: string): Promise<{ url: string; schema: string }> {
  database ??= createTestDatabase()
  const url = urlFor(inDatabase ?? (await database))
  const schema = `app${++schemas}`
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  try {
    await sql.unsafe(`CREATE SCHEMA ${schema}`)
  } finally {
    await sql.end({ timeout: 1 })
  }
  const conn = openPostgres(url, { pool: 1, statementTimeoutMs: 60_000, schema })
  try {
    await runPgMigrations(conn)
  } finally {
    await conn.close()
  }
  return { url, schema }
}

/** Schemas made ahead, while tests run (each used once). */
const spare: Promise<{ url: string; schema: string }>[] = []
const SPARE = 2

/**
 * A fresh schema in this process's test database, its tables already migrated (the app's own
 * start-up then finds nothing to apply): where one test app's tables go. Two more are prepared
 * in the background meanwhile.
 */
export async function freshPgSchema(): Promise<{ url: string; schema: string }> {
  const next = spare.shift() ?? migratedSchema()
  while (spare.length < SPARE) {
    const p = migratedSchema()
    p.catch(() => {})
    spare.push(p)
  }
  return next
}

const opened: { close(): Promise<void> }[] = []

/** A runtime on a test database, closed before the database is dropped. */
export function closeAtEnd(rt: { close(): Promise<void> }): void {
  opened.push(rt)
}

/**
 * Drops every database this process created, once the schemas being prepared are ready and every
 * runtime on them has closed its pool (so no connection dies mid-statement).
 */
export async function dropTestDatabases(): Promise<void> {
  // Each step bounded, the whole well inside the preload hook's 240 s: a PostgreSQL pass on a
  // machine at load average 10-15 failed on that hook's timeout (which step was slow, it did not
  // say). A cleanup that is late is said and left to a later run's sweep, not a failed run.
  await bounded('the schemas still being prepared', Promise.allSettled(spare.splice(0)), 30_000)
  await bounded('closing the test runtimes', Promise.allSettled(opened.splice(0).map((rt) => rt.close())), 30_000)
  if (created.length > 0) await dropDatabases(created.splice(0), 120_000)
  await bounded('dropping stale test databases', dropStale(), 30_000)
}

async function bounded(what: string, work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)))
  const out = await Promise.race([work.then(() => 'done' as const, (e) => e), late])
  clearTimeout(timer)
  if (out === 'late') console.error(`test/helpers/pg.ts: ${what} took over ${ms / 1000} s; going on (what is left is dropped by a later run)`)
  else if (out !== 'done') console.error(`test/helpers/pg.ts: ${what} failed: ${out instanceof Error ? out.message : String(out)}`)
}

/** How old a test database is before any run drops it (none runs that long: CI takes ~20 min). */
const STALE_MS = 6 * 3600_000

/**
 * Test databases whose name says they were made over STALE_MS ago (a run whose end was cut
 * short, or late): dropped without FORCE, so one somebody is still connected to is left alone.
 */
async function dropStale(): Promise<void> {
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} })
  try {
    const rows = await admin<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname ~ '^teamday_t_[0-9a-z]+_[0-9a-f]+$'`
    for (const { datname } of rows) {
      const made = parseInt(datname.split('_')[2]!, 36)
      if (!(Date.now() - made > STALE_MS)) continue
      await admin.unsafe(`DROP DATABASE IF EXISTS ${datname}`).catch(() => {})
    }
  } finally {
    await admin.end({ timeout: 1 })
  }
}

/**
 * Drops these databases of the test server, whoever is still connected to them; gives up waiting
 * after `withinMs` (said on stderr), inside the hooks that call it: each drop is a checkpoint, and
 * on a machine at load average 10-15 one drop outlasted a binary test's 90 s hook. What is left
 * is dropped by a later run (dropStale).
 */
export async function dropDatabases(names: readonly string[], withinMs = 45_000): Promise<void> {
  await bounded(`dropping ${names.length} test database(s)`, dropNow(names), withinMs)
}

async function dropNow(names: readonly string[]): Promise<void> {
  // Four at a time: a whole PostgreSQL pass creates hundreds, and one after another their drops
  // (each a checkpoint and a file removal) outlasted the run's last hook on a loaded machine.
  const admin = postgres(PG_ADMIN_URL, { max: 4, onnotice: () => {} })
  try {
    const left = [...names]
    const worker = async () => {
      for (let name = left.shift(); name !== undefined; name = left.shift()) await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    }
    await Promise.all([worker(), worker(), worker(), worker()])
  } finally {
    await admin.end({ timeout: 1 })
  }
}

/**
 * For tests of what exists only on SQLite (its files, WAL, VACUUM INTO backups, EXPLAIN QUERY
 * PLAN, triggers set through its own client): true on the PostgreSQL pass, so the test is
 * skipped there with `test.skipIf(sqliteOnly('why'))`. Each such test is listed, with its reason,
 * in test/skip-allowlist-pg.txt (.ci/run fails on a skip that is not).
 */
export function sqliteOnly(reason: string): boolean {
  if (!reason) throw new Error('sqliteOnly needs the reason')
  return ON_PG
}

/** pg_dump on PATH, else PostgreSQL 15's (Debian's layout). */
function pgDumpBinary(): string {
  return Bun.which('pg_dump') ?? '/usr/lib/postgresql/15/bin/pg_dump'
}

/**
 * A plain-text `pg_dump` of a database (of one schema when given): what a backup of it holds,
 * for the at-rest scans (test/helpers/at-rest.ts). Throws when pg_dump fails or dumps no table.
 */
export async function pgDump(url: string, schema?: string): Promise<string> {
  const args = [pgDumpBinary(), '--no-owner', '--no-privileges', ...(schema ? ['--schema', schema] : []), url]
  const p = Bun.spawn(args, { stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(p.stdout).arrayBuffer(), new Response(p.stderr).text(), p.exited])
  if (code !== 0) throw new Error(`pg_dump failed (${code}): ${err}`)
  const text = Buffer.from(out).toString('latin1')
  if (!/^COPY /m.test(text)) throw new Error(`pg_dump of ${schema ?? 'the database'} holds no table data`)
  return text
}

/**
 * Holds teamday's migration lock (pg_advisory_xact_lock) in a transaction of its own on `url`,
 * as an instance migrating does, after running `meanwhile` in it (what that migration commits);
 * resolves once the lock is held. `release()` commits and ends it.
 */
export async function holdMigrationLock(url: string, meanwhile?: (tx: postgres.TransactionSql) => Promise<unknown>): Promise<{ release: () => Promise<void> }> {
  const holder = postgres(url, { max: 1, onnotice: () => {} })
  let done!: () => void
  const released = new Promise<void>((r) => (done = r))
  let locked!: () => void
  const isLocked = new Promise<void>((r) => (locked = r))
  const held = holder.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${PG_MIGRATION_LOCK})`
    await meanwhile?.(tx)
    locked()
    await released
  })
  await isLocked
  return {
    release: async () => {
      done()
      await held
      await holder.end({ timeout: 1 })
    },
  }
}


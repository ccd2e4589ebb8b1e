/**
 * The two dialects' schemas describe the same database (Homarr's schema parity test): the same
 * tables, columns (kind, nullability, default present, enum values), primary keys, unique and
 * plain indexes, foreign keys with their ON DELETE; and each table's row type is identical, so a
 * service typed against SQLite's tables reads the same rows from PostgreSQL's (checked by tsc
 * below). Runs without a server.
 */
import { describe, expect, test } from 'bun:test'
import { getTableConfig as pgConfig, type PgTable } from 'drizzle-orm/pg-core'
import { getTableConfig as liteConfig, type SQLiteTable } from 'drizzle-orm/sqlite-core'
import * as pg from '../src/db/schema/pg'
import * as lite from '../src/db/schema/sqlite'
import { TABLE_NAMES } from '../src/db/schema'

// ── row types: tsc fails on any difference ──────────────────────────────────────────────────
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Same<N extends (typeof TABLE_NAMES)[number]> = Equal<(typeof lite)[N]['$inferSelect'], (typeof pg)[N]['$inferSelect']> &
  Equal<(typeof lite)[N]['$inferInsert'], (typeof pg)[N]['$inferInsert']>
const rowTypesMatch: { [N in (typeof TABLE_NAMES)[number]]: Same<N> } = {
  organizations: true,
  users: true,
  memberships: true,
  personalAccessTokens: true,
  agents: true,
  spaces: true,
  secrets: true,
  tasks: true,
  auditEvents: true,
  idempotencyKeys: true,
  sessions: true,
  oneTimeLinks: true,
  signInFailures: true,
  cliLoginCodes: true,
  cliSessions: true,
  cliAccessTokens: true,
  settings: true,
  rateLimitCounters: true,
  executions: true,
  executionLogs: true,
}

/** What a column holds, the same word for both dialects' column classes. */
const KIND: Record<string, string> = {
  SQLiteText: 'text',
  PgText: 'text',
  SQLiteInteger: 'integer',
  PgInteger: 'integer',
  SQLiteTimestamp: 'timestamp',
  PgTimestamp: 'timestamp',
  SQLiteTextJson: 'json',
  PgJsonb: 'json',
  SQLiteBoolean: 'boolean',
  PgBoolean: 'boolean',
}

type Cfg = ReturnType<typeof liteConfig> | ReturnType<typeof pgConfig>

function describeTable(c: Cfg) {
  const columns = c.columns
    .map((col) => ({
      name: col.name,
      kind: KIND[col.columnType] ?? `unknown ${col.columnType}`,
      notNull: col.notNull,
      primary: col.primary,
      hasDefault: col.hasDefault,
      enumValues: col.enumValues ?? null,
    }))
    .sort((a, b) => a.name.localeCompare(b.name))
  const indexes = c.indexes
    .map((i) => ({ name: i.config.name ?? '', unique: !!i.config.unique, columns: i.config.columns.map((x: any) => x.name) }))
    .sort((a, b) => a.name.localeCompare(b.name))
  const foreignKeys = c.foreignKeys
    .map((fk) => {
      const r = fk.reference()
      return { columns: r.columns.map((x) => x.name), table: (r.foreignTable as any)[Symbol.for('drizzle:Name')], foreignColumns: r.foreignColumns.map((x) => x.name), onDelete: fk.onDelete ?? 'no action' }
    })
    .sort((a, b) => a.columns.join().localeCompare(b.columns.join()))
  const primaryKeys = c.primaryKeys.map((p) => p.columns.map((x) => x.name))
  const uniques = c.uniqueConstraints.map((u) => u.columns.map((x) => x.name))
  return { name: c.name, columns, indexes, foreignKeys, primaryKeys, uniques }
}

describe('schema parity: src/db/schema/sqlite.ts and src/db/schema/pg.ts', () => {
  test('row and insert types are identical for every table (tsc)', () => {
    expect(Object.values(rowTypesMatch).every((v) => v === true)).toBe(true)
  })

  test('the same tables, and TABLE_NAMES lists them all', () => {
    const tablesOf = (m: object) => Object.entries(m).filter(([, v]) => typeof v === 'object' && v !== null && Symbol.for('drizzle:Name') in v).map(([k]) => k).sort()
    expect(tablesOf(lite)).toEqual([...TABLE_NAMES].sort())
    expect(tablesOf(pg)).toEqual([...TABLE_NAMES].sort())
  })

  for (const name of TABLE_NAMES) {
    test(`${name}: columns, nullability, defaults, keys, indexes, foreign keys`, () => {
      const a = describeTable(liteConfig(lite[name] as SQLiteTable))
      const b = describeTable(pgConfig(pg[name] as PgTable))
      expect(b).toEqual(a)
      expect(a.columns.every((c) => !c.kind.startsWith('unknown'))).toBe(true)
    })
  }
})

describe('services read the tables where they use them', () => {
  test('no module-level alias of a table or object of its columns (they would keep SQLite\'s tables on PostgreSQL)', async () => {
    const { Glob } = await import('bun')
    const names = TABLE_NAMES.join('|')
    const alias = new RegExp(`^(export )?(const|let|var) \\w+ = (${names})\\b`)
    const columns = new RegExp(`^(export )?(const|let|var) \\w+ = [^(]*\\b(${names})\\.\\w+`)
    const bad: string[] = []
    for await (const file of new Glob('src/**/*.ts').scan({ cwd: `${import.meta.dir}/..` })) {
      if (file.startsWith('src/db/schema/')) continue
      const text = await Bun.file(`${import.meta.dir}/../${file}`).text()
      text.split('\n').forEach((line, i) => {
        if (alias.test(line) || columns.test(line)) bad.push(`${file}:${i + 1}: ${line.trim()}`)
      })
    }
    expect(bad).toEqual([])
  })
})

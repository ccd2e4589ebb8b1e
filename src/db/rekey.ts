import { and, asc, eq, gt, ne, Param, sql } from 'drizzle-orm'
import type { SQLiteColumn, SQLiteTable } from 'drizzle-orm/sqlite-core'
import { DecryptionError, type SecretBox } from '../crypto/secretbox'
import type { Db, DbConnection } from './connection'
import { auditEvents, cliLoginCodes, cliSessions, idempotencyKeys, personalAccessTokens, secrets, sessions } from './schema'
import { prepared } from './prepared'
import { REKEYED_REQUEST_HASH } from '../idempotency/service'
import { unsealedAuditDetails, unsealedAuditText } from '../audit/log'
import { moveKeyCheck } from './settings'

/**
 * `teamday rekey`: after a key rotation, every value sealed under an older key is sealed again
 * under the current one, with the AAD it was sealed with, and then the key check moves to the
 * current key; all in one transaction (on PostgreSQL under the transaction lock every instance
 * takes, src/db/pg.ts). Afterwards the old keys open nothing the database holds and may be dropped.
 *
 * Nothing is lost: a value no configured key opens stops the whole run (rolled back), naming its
 * table, column and row. Rows are read in keyset batches, so memory stays bounded whatever the
 * table's size. A value changed meanwhile by a server's write outside any transaction (a token's
 * last use, on PostgreSQL) is not overwritten: each update applies only if the row still holds
 * the value that was read, and the row is read again otherwise.
 */

type Row = Record<string, unknown>

/** A column the code seals with `box.seal`, and the AAD its sealing code gives (it must stay the same). */
interface SealedColumn {
  column: SQLiteColumn
  aad: (row: Row) => string
  /** What a build that stored the column unsealed wrote there, as text, to be sealed now; null for a sealed value or none. */
  unsealed?: (value: unknown) => string | null
}

/** A table with sealed columns: its key (the keyset order) and what else the AADs name. */
interface SealedTable {
  table: SQLiteTable
  id: SQLiteColumn
  also?: Record<string, SQLiteColumn>
  /** By drizzle's property name (a row's field, update's key); messages give the SQL name. */
  columns: Record<string, SealedColumn>
  /** Rows per batch: fewer where one value may be large (a stored response body). */
  batch: number
}

const BATCH = 500

/**
 * Every sealed column, with its AAD, as the code that seals it writes it (`grep -rn 'seal(' src`):
 * tokens (src/modules/tokens/service.ts, src/auth/lookup.ts), CLI sign-in (src/modules/cli-auth),
 * console sessions (src/console/session.ts), secrets (src/modules/spaces/secrets.ts), audit
 * events (src/audit/log.ts), idempotent responses (src/idempotency/service.ts). The key check
 * (settings) is moved last (src/db/settings.ts). Built per call: the tables are the dialect's.
 */
function sealedTables(): Record<string, SealedTable> {
  const byId = (prefix: string) => (r: Row) => `${prefix}:${r.id}`
  return {
    personal_access_tokens: {
      table: personalAccessTokens,
      id: personalAccessTokens.id,
      columns: {
        nameEnc: { column: personalAccessTokens.nameEnc, aad: byId('pat.name') },
        lastUsedIpEnc: { column: personalAccessTokens.lastUsedIpEnc, aad: byId('pat.ip') },
        lastUsedUaEnc: { column: personalAccessTokens.lastUsedUaEnc, aad: byId('pat.ua') },
      },
      batch: BATCH,
    },
    secrets: {
      table: secrets,
      id: secrets.id,
      also: { organizationId: secrets.organizationId, scope: secrets.scope, key: secrets.key },
      columns: { valueEnc: { column: secrets.valueEnc, aad: (r) => `secret:${r.organizationId}:${r.scope}:${r.key}` } },
      batch: BATCH,
    },
    audit_events: {
      table: auditEvents,
      id: auditEvents.id,
      columns: {
        // Written unsealed by builds before 2026-11-23's sealing: sealed here (src/audit/log.ts).
        ip: { column: auditEvents.ip, aad: byId('audit.ip'), unsealed: unsealedAuditText },
        userAgent: { column: auditEvents.userAgent, aad: byId('audit.ua'), unsealed: unsealedAuditText },
        // A JSON column holding the sealed string (drizzle maps it both ways).
        details: { column: auditEvents.details, aad: byId('audit.details'), unsealed: unsealedAuditDetails },
      },
      batch: BATCH,
    },
    idempotency_keys: {
      table: idempotencyKeys,
      id: idempotencyKeys.id,
      columns: { responseBody: { column: idempotencyKeys.responseBody, aad: byId('idem') } },
      batch: 20,
    },
    sessions: {
      table: sessions,
      id: sessions.id,
      columns: {
        ipEnc: { column: sessions.ipEnc, aad: byId('session.ip') },
        userAgentEnc: { column: sessions.userAgentEnc, aad: byId('session.ua') },
      },
      batch: BATCH,
    },
    cli_login_codes: {
      table: cliLoginCodes,
      id: cliLoginCodes.id,
      columns: {
        requestIpEnc: { column: cliLoginCodes.requestIpEnc, aad: byId('clic.ip') },
        requestUaEnc: { column: cliLoginCodes.requestUaEnc, aad: byId('clic.ua') },
      },
      batch: BATCH,
    },
    cli_sessions: {
      table: cliSessions,
      id: cliSessions.id,
      columns: {
        userAgentEnc: { column: cliSessions.userAgentEnc, aad: byId('clis.ua') },
        createdIpEnc: { column: cliSessions.createdIpEnc, aad: byId('clis.cip') },
        lastUsedIpEnc: { column: cliSessions.lastUsedIpEnc, aad: byId('clis.ip') },
      },
      batch: BATCH,
    },
  }
}

/** A value that cannot be re-sealed (no configured key opens it, or it is not a sealed value): nothing was changed. */
export class RekeyError extends Error {}

export interface RekeyReport {
  /** The key everything is sealed under now. */
  keyId: string
  /** Values re-sealed, per table (every table with sealed columns, 0 included), the key check's under settings. */
  resealed: { table: string; values: number }[]
  total: number
}

/** Re-seals every value not under the current key, then moves the key check; one transaction. */
export function rekeyDatabase(conn: DbConnection, box: SecretBox, now: number): Promise<RekeyReport> {
  return conn.transaction(async (tx) => {
    const resealed: RekeyReport['resealed'] = []
    for (const [name, plan] of Object.entries(sealedTables())) resealed.push({ table: name, values: await resealTable(tx, box, name, plan) })
    resealed.push({ table: 'settings', values: (await moveKeyCheck(tx, box, now)) ? 1 : 0 })
    // Idempotency keys' request hashes are digests under the key that made them, not sealed
    // values: nothing can re-make them (the request is not stored), so during a rotation (older
    // keys configured) they are marked as no longer comparable (src/idempotency/service.ts
    // REKEYED_REQUEST_HASH). A run with the current key alone has no older digests to mark.
    if (box.hasPreviousKeys) await tx.update(idempotencyKeys).set({ requestHash: REKEYED_REQUEST_HASH }).where(ne(idempotencyKeys.requestHash, REKEYED_REQUEST_HASH)).run()
    return { keyId: box.currentKeyId, resealed, total: resealed.reduce((n, t) => n + t.values, 0) }
  })
}

/** One table, batch by batch in key order; returns how many values it re-sealed. */
async function resealTable(tx: Db, box: SecretBox, name: string, plan: SealedTable): Promise<number> {
  let count = 0
  let after = ''
  for (;;) {
    const rows = await readRows(tx, plan, gt(plan.id, after), plan.batch)
    if (rows.length === 0) return count
    // Issued together: PostgreSQL pipelines them on the transaction's connection.
    const counts = await Promise.all(rows.map((row) => resealRow(tx, box, name, plan, row)))
    count += counts.reduce((a, b) => a + b, 0)
    after = String(rows[rows.length - 1]!.id)
  }
}

function readRows(tx: Db, plan: SealedTable, where: ReturnType<typeof gt>, limit: number): Promise<Row[]> {
  const fields: Record<string, SQLiteColumn> = { id: plan.id, ...plan.also }
  for (const [column, c] of Object.entries(plan.columns)) fields[column] = c.column
  return tx.select(fields).from(plan.table).where(where).orderBy(asc(plan.id)).limit(limit).all() as Promise<Row[]>
}

/**
 * Re-seals the row's stale values in one update that applies only while the row still holds
 * what was read; when another write got there first, reads the row again (a few times at most).
 */
async function resealRow(tx: Db, box: SecretBox, name: string, plan: SealedTable, first: Row): Promise<number> {
  let row: Row | undefined = first
  for (let attempt = 0; attempt < 5 && row; attempt++) {
    const stale = staleColumns(plan, row, box)
    if (stale.length === 0) return 0
    const values: Row = { id: row.id }
    for (const column of stale) {
      values[`new_${column}`] = resealValue(box, name, column, plan, row)
      values[`old_${column}`] = row[column]
    }
    if ((await updateFor(tx, name, plan, stale).all(values)).length > 0) return stale.length
    row = (await readRows(tx, plan, eq(plan.id, row.id), 1))[0]
  }
  if (!row) return 0
  throw new RekeyError(`${name} row ${String(first.id)} kept changing while it was re-sealed; run teamday rekey again. Nothing was changed.`)
}

/**
 * The update of some of a table's sealed columns, prepared once per handle (building it with the
 * query builder for each of 100,000 rows was most of a rekey's time). The WHERE's placeholders
 * are Params of their column, so that a JSON column's value is mapped there as in the SET.
 */
function updateFor(tx: Db, name: string, plan: SealedTable, stale: string[]): { all(values: Row): Promise<unknown[]> | unknown[] } {
  return prepared(tx, `rekey.${name}.${stale.join(',')}`, () => {
    const set: Row = {}
    const unchanged = [eq(plan.id, sql.placeholder('id'))]
    for (const column of stale) {
      const c = plan.columns[column]!.column
      // update's set maps a placeholder through its column itself.
      set[column] = sql.placeholder(`new_${column}`)
      unchanged.push(eq(c, new Param(sql.placeholder(`old_${column}`), c)))
    }
    return tx.update(plan.table).set(set).where(and(...unchanged)).returning({ id: plan.id }).prepare()
  })
}

function staleColumns(plan: SealedTable, row: Row, box: SecretBox): string[] {
  return Object.entries(plan.columns).filter(([column, c]) => (c.unsealed?.(row[column]) ?? null) !== null || isStale(box, row[column])).map(([column]) => column)
}

/** A sealed value under another key than the current one (null: nothing sealed there). */
const isStale = (box: SecretBox, v: unknown) => typeof v === 'string' && box.isStale(v)

function resealValue(box: SecretBox, name: string, column: string, plan: SealedTable, row: Row): string {
  const unsealed = plan.columns[column]!.unsealed?.(row[column]) ?? null
  if (unsealed !== null) return box.seal(unsealed, plan.columns[column]!.aad(row))
  try {
    return box.reseal(row[column] as string, plan.columns[column]!.aad(row))
  } catch (e) {
    if (!(e instanceof DecryptionError)) throw e
    throw new RekeyError(`cannot open ${name}.${plan.columns[column]!.column.name} of row ${String(row.id)}: ${e.message}. Nothing was changed.`)
  }
}

import { sql } from 'drizzle-orm'
import { afterOtherRequests } from '../../next-turn'
import { recordAudit } from '../../audit/log'
import type { Ctx } from '../../context'
import type { Db } from '../../db/connection'
import { auditEvents, dbTime, idIn } from '../../db/schema'

/**
 * Deleting audit events recorded before an instant: by the hourly housekeeping when
 * TEAMDAY_AUDIT_RETENTION_DAYS is set (src/housekeeping.ts), and by `teamday audit prune --before`.
 */

/**
 * Rows per statement: one batch holds the write lock (SQLite has one writer) for some tens of
 * milliseconds at most (5-64 ms measured on the shared 2-core machine; 2,000 took up to 85 ms).
 */
export const AUDIT_PRUNE_BATCH = 1000

/**
 * The statement deleting up to `limit` of the oldest events recorded before `before` (found on
 * audit_time_idx), returning the organization of each one deleted. Deleting the same rows twice
 * (two instances at once) deletes nothing the second time.
 */
export function auditEventsBefore(db: Db, before: number, limit: number) {
  const a = auditEvents
  return db
    .delete(a)
    .where(idIn(a.id, sql`SELECT ${a.id} FROM ${a} WHERE ${a.createdAt} < ${dbTime(before)} ORDER BY ${a.createdAt}, ${a.id} LIMIT ${sql.raw(String(Math.trunc(limit)))}`))
    .returning({ organizationId: a.organizationId })
}

/** Runs auditEventsBefore: the organization of each event deleted. */
export function deleteAuditEventsBefore(db: Db, before: number, limit: number): Promise<{ organizationId: string | null }[]> {
  return auditEventsBefore(db, before, limit).all()
}

/**
 * Deletes every event recorded before `before`, batch after batch (yielding between them so that
 * other work gets the database), until a batch comes back short or `stopped()` says so. Returns
 * how many it deleted per organization (`null`: the events without one).
 */
export async function deleteAllAuditEventsBefore(db: Db, before: number, stopped: () => boolean = () => false): Promise<Map<string | null, number>> {
  const counts = new Map<string | null, number>()
  for (;;) {
    const rows = await deleteAuditEventsBefore(db, before, AUDIT_PRUNE_BATCH)
    for (const r of rows) counts.set(r.organizationId, (counts.get(r.organizationId) ?? 0) + 1)
    if (rows.length < AUDIT_PRUNE_BATCH || stopped()) return counts
    await afterOtherRequests()
  }
}

/**
 * `teamday audit prune --before`: deletes the events recorded before `before` and records that it
 * did, so that the trail shows it was pruned: an `audit.pruned` event in each organization that
 * lost events (its admins read it in their own log), and one without an organization (the
 * operator's `teamday audit list`) with the total. Returns the total.
 */
export async function pruneAuditEvents(ctx: Ctx, before: number): Promise<{ deleted: number; organizations: number }> {
  const counts = await deleteAllAuditEventsBefore(ctx.db, before)
  const iso = new Date(before).toISOString()
  let deleted = 0
  for (const [organizationId, n] of counts) {
    deleted += n
    if (organizationId !== null) await recordAudit(ctx, { type: 'audit.pruned', organizationId, details: { before: iso, deleted: n } })
  }
  const organizations = [...counts.keys()].filter((k) => k !== null).length
  await recordAudit(ctx, { type: 'audit.pruned', organizationId: null, details: { before: iso, deleted, organizations } })
  return { deleted, organizations }
}

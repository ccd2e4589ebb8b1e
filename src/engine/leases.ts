import { and, inArray, isNull, lt, ne, or } from 'drizzle-orm'
import type { Db } from '../db/connection'
import { executions } from '../db/schema'
import { ACTIVE, addLog } from './store'

/**
 * Execution leases, for several instances on one PostgreSQL: each unfinished execution names the
 * instance that queued or runs it (`instance_id`) and holds a lease (`lease_expires_at`) that
 * instance renews while it works (Engine, every lease/3). An instance that dies (kill -9, a lost
 * machine) stops renewing; once its leases lapse, any other instance fails those executions
 * (`failLapsed`, at start-up and every lease/2), and no instance fails another's runs while that
 * one renews their leases, as `failInterrupted` (everything unfinished, at start-up) would: that
 * one stays SQLite's, where one process serves the file. An instance cut off from the database
 * for longer than a lease cannot be told from a dead one: its runs are failed by the others, and
 * it stops them when it reads their rows again (Engine's watcher).
 */

/** Renews the leases of the executions this instance queues or runs. */
export async function renewLeases(db: Db, ids: readonly string[], instanceId: string, now: number, leaseMs: number): Promise<void> {
  if (ids.length === 0) return
  await db
    .update(executions)
    .set({ instanceId, leaseExpiresAt: new Date(now + leaseMs) })
    .where(and(inArray(executions.id, [...ids]), inArray(executions.status, ACTIVE)))
    .run()
}

/**
 * Fails unfinished executions whose lease lapsed (or that never had one), except `self`'s: the
 * instance sweeping is alive, so its own runs are too, even when it could not renew their leases
 * (a database outage longer than a lease). Returns how many.
 */
export async function failLapsed(db: Db, now: number, self: string | null, reason = 'interrupted: the instance running it stopped, or could not reach the database, for longer than its lease (its lease lapsed)'): Promise<number> {
  const at = new Date(now)
  const rows = await db
    .update(executions)
    .set({ status: 'failed', error: reason, errorCode: 'service_unavailable', completedAt: at, updatedAt: at })
    .where(and(inArray(executions.status, ACTIVE), or(isNull(executions.leaseExpiresAt), lt(executions.leaseExpiresAt, at)), self === null ? undefined : or(isNull(executions.instanceId), ne(executions.instanceId, self))))
    .returning({ id: executions.id })
    .all()
  for (const r of rows) await addLog(db, r.id, now, 'error', 'interrupted', { reason })
  return rows.length
}

import { sql } from 'drizzle-orm'
import { executions } from '../../src/db/schema'
import type { TestClock, TestApp } from './app'

/**
 * Time passing for execution leases: `clock` moves `ms` on; on PostgreSQL, whose leases are
 * written and judged by the database's clock (src/engine/leases.ts), which no test moves, every
 * stored lease is moved `ms` back instead, as far from the database's now as it would be then.
 */
export async function ageLeases(t: TestApp, ms: number, clock: TestClock = t.clock): Promise<void> {
  clock.advance(ms)
  if (t.backend === 'pg') await t.rt.db.update(executions).set({ leaseExpiresAt: sql.raw(`lease_expires_at - interval '${Math.trunc(ms)} milliseconds'`) as unknown as Date }).run()
}

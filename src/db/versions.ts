import { eq, sql } from 'drizzle-orm'
import type { DB } from './client'
import { prepared } from './prepared'
import { readCache } from '../cache/read-cache'
import { settings } from './schema'

/**
 * Data versions, kept in the database so every instance sharing it sees a change on its next
 * request. A cached response is keyed by the version it was built from; a write bumps the
 * version (the cache's one invalidation point) and older entries are never read again.
 * Reading a version costs no statement while nothing was committed (src/cache/read-cache.ts).
 */
export function readVersion(db: DB, scope: string): string {
  return readCache(db).get(`version:${scope}`, () => loadVersion(db, scope))!
}

function loadVersion(db: DB, scope: string): string {
  const row = prepared(db, 'versions.read', () =>
    db.select({ value: settings.value }).from(settings).where(eq(settings.key, sql.placeholder('key'))).prepare(),
  ).get({ key: `version:${scope}` })
  return row?.value ?? '0'
}

export function bumpVersion(db: DB, scope: string, now: number): void {
  db.insert(settings)
    .values({ key: `version:${scope}`, value: '1', updatedAt: new Date(now) })
    .onConflictDoUpdate({
      target: settings.key,
      set: { value: sql`CAST(CAST(${settings.value} AS INTEGER) + 1 AS TEXT)`, updatedAt: new Date(now) },
    })
    .run()
}

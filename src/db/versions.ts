import { eq, sql } from 'drizzle-orm'
import type { Db } from './connection'
import { prepared } from './prepared'
import { settings } from './schema'

/**
 * Data versions, kept in the database so every instance sharing it sees a change on its next
 * request. A cached response is keyed by the version it was built from; a write bumps the
 * version (the cache's one invalidation point) and older entries are never read again.
 * Reading a version costs no statement while nothing was committed (the connection's row cache,
 * src/db/sqlite.ts).
 *
 * The bump is done by the database, not by the services: a trigger on the agents table
 * (migration agents_version_trigger, both dialects) upserts the organization's version row in
 * every statement that inserts, updates or deletes its agents. The change and the new version
 * commit together whatever wrote the row (a crash or a failure between two statements left the
 * change under the old version before), and on PostgreSQL the version row stays locked only
 * inside that statement's own commit, never across a round trip to the application.
 */
export async function readVersion(db: Db, scope: string): Promise<string> {
  const row = await prepared(db, 'versions.read', () =>
    db.select({ value: settings.value }).from(settings).where(eq(settings.key, sql.placeholder('key'))).prepare(),
    { shared: true },
  ).get({ key: versionKey(scope) })
  return row?.value ?? '0'
}

/** The settings row of a version. */
export function versionKey(scope: string): string {
  return `version:${scope}`
}

/**
 * The version an organization's agent list cache is keyed by. Also read by the token look-up in
 * its own statement (src/auth/lookup.ts, src/auth/pg-lookup.ts), so a cached list costs one read
 * (on PostgreSQL, no round trip of its own).
 */
export function agentsVersionScope(organizationId: string): string {
  return `agents:${organizationId}`
}

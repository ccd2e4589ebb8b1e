import { and, asc, count, eq, inArray, lt, ne, not, sql } from 'drizzle-orm'
import { connectionOf, type Db } from '../db/connection'
import { dialect, executions, type Execution } from '../db/schema'
import { leaseTime } from './leases'

/**
 * The execution queue is the database: a top-level execution waits as a `pending` row until a
 * claim marks it `running`. The limit (TEAMDAY_MAX_CONCURRENT_EXECUTIONS) counts the running
 * top-level executions of the whole database, so it holds across every instance on it; delegated
 * children (`delegated`) run inside their parent's slot and are neither queued nor counted.
 *
 * Fair order, across the whole database: the organization with the fewest running executions
 * first; among those, the one whose latest start is the oldest (none yet: first), so with one
 * free slot organizations take turns instead of one member's backlog running to its end; then
 * the oldest pending execution (created_at, then seq: the creation order, so runs created in one
 * millisecond keep it, where a random id would shuffle them). Rows whose lease lapsed (their instance died,
 * src/engine/leases.ts) are skipped: they are about to be failed, and must not hold the head.
 */

/** Running top-level executions in the database. */
export async function runningTopLevel(db: Db): Promise<number> {
  const row = await db.select({ n: count() }).from(executions).where(and(eq(executions.status, 'running'), eq(executions.delegated, false))).get()
  return row?.n ?? 0
}

/**
 * Pending top-level executions that may run (their owner's lease holds). `NOT (lease < now)`
 * rather than `lease >= now`: a range the planner could use would draw SQLite to
 * executions_lease_idx and a sort, away from executions_queue_idx, which has the waiting rows in
 * organization order (test/execution-queue.test.ts checks the plans).
 */
const waiting = (now: number) => and(isWaiting(), not(lt(executions.leaseExpiresAt, leaseTime(now))))

/**
 * Pending and top-level. On PostgreSQL as literals, the very predicate of executions_waiting_idx
 * (a partial index of the waiting rows in queue order): a prepared statement's generic plan may
 * use a partial index only when the query implies its WHERE without knowing the parameters.
 */
const isWaiting = () =>
  dialect === 'pg' ? sql`${executions.status} = 'pending' AND ${executions.delegated} = false` : and(eq(executions.status, 'pending'), eq(executions.delegated, false))

/**
 * The organization whose execution runs next, in fair order. Its keys are computed once per
 * organization with waiting executions (not once per waiting execution; those are read in
 * organization order from executions_queue_idx, no sort): the running count is a range of
 * executions_queue_idx too, the latest start one seek in executions_org_started_idx.
 */
export function fairOrganizationQuery(db: Db, now: number) {
  const p = db
    .select({ org: executions.organizationId, first: sql<number>`min(${executions.createdAt})`.as('first'), firstSeq: sql<number>`min(${executions.seq})`.as('first_seq') })
    .from(executions)
    .where(waiting(now))
    .groupBy(executions.organizationId)
    .as('p')
  const running = sql`(SELECT count(*) FROM ${executions} r WHERE r.status = 'running' AND r.delegated = false AND r.organization_id = ${p.org})`
  const lastStart = sql`(SELECT max(r.started_at) FROM ${executions} r WHERE r.organization_id = ${p.org} AND r.delegated = false)`
  return db
    .select({ org: p.org })
    .from(p)
    .orderBy(sql`${running} ASC`, sql`${lastStart} ASC NULLS FIRST`, asc(p.first), asc(p.firstSeq), asc(p.org))
    .limit(1)
}

/**
 * The pending top-level execution that runs next, whoever owns it: the fair organization's
 * oldest waiting one (its first entry in executions_queue_idx), in one statement.
 */
export function fairHeadQuery(db: Db, now: number) {
  return db
    .select({ id: executions.id, instanceId: executions.instanceId })
    .from(executions)
    .where(and(eq(executions.organizationId, sql`(${fairOrganizationQuery(db, now)})`), waiting(now)))
    .orderBy(asc(executions.createdAt), asc(executions.seq))
    .limit(1)
}

/** The fair head, locked for this claim on PostgreSQL. */
export function fairHead(tx: Db, now: number): Promise<Pick<Execution, 'id' | 'instanceId'> | undefined> {
  const q = fairHeadQuery(tx, now)
  // A row another statement holds (a cancel being recorded, a lease renewal) is skipped rather
  // than waited for.
  if (dialect === 'pg') return ((q as unknown as { for(s: 'update', o: { skipLocked: true }): typeof q }).for('update', { skipLocked: true })).get()
  return q.get()
}

/**
 * Claims the next execution for `instanceId`, in one write transaction: counts the running
 * top-level executions; below `limit`, picks the fair head and, when this instance owns it and
 * `mine(id)` says it waits here, marks it running (startedAt now) and returns it. Otherwise
 * nothing: a head owned by another instance is left to that instance, which claims it on its
 * next poll (runs never move between live instances: their waiters listen where they were made).
 *
 * Why no second lock: on SQLite the transaction is BEGIN IMMEDIATE (one writer); on PostgreSQL
 * every transaction first takes one advisory transaction lock (src/db/pg.ts, PgConnection
 * .transaction), shared by every instance on the schema. Either way no other claim, on any
 * instance, runs between this count and this update, so two instances never both take the last
 * slot. `FOR UPDATE SKIP LOCKED` on the pick guards against the writes that take no transaction.
 */
export async function claimNext(db: Db, instanceId: string, limit: number, now: number, mine: (id: string) => boolean): Promise<Execution | undefined> {
  // Cheap early out, outside any transaction: every slot is taken.
  if ((await runningTopLevel(db)) >= limit) return undefined
  return connectionOf(db).transaction(async (tx) => {
    if ((await runningTopLevel(tx)) >= limit) return undefined
    const head = await fairHead(tx, now)
    if (!head || head.instanceId !== instanceId || !mine(head.id)) return undefined
    const at = new Date(now)
    return tx
      .update(executions)
      .set({ status: 'running', startedAt: at, updatedAt: at })
      .where(and(eq(executions.id, head.id), eq(executions.status, 'pending')))
      .returning()
      .get()
  })
}

/**
 * Of the given executions (queued here), those no longer pending, with their rows: ended
 * (cancelled or failed elsewhere), or `running`, claimed by this instance by a claim whose
 * answer was lost (its COMMIT applied, the connection gone before the answer came).
 */
export function claimedOrSettledOf(db: Db, ids: readonly string[]): Promise<Execution[]> {
  if (ids.length === 0) return Promise.resolve([])
  return db
    .select()
    .from(executions)
    .where(and(inArray(executions.id, [...ids]), ne(executions.status, 'pending')))
    .all()
}

import { sql } from 'drizzle-orm'
import type { Db } from '../../db/connection'
import { dbTime, dialect, executions, idIn, type ExecutionStatus } from '../../db/schema'

/**
 * Retention of finished executions (TEAMDAY_EXECUTION_RETENTION_DAYS, applied by the hourly
 * housekeeping, src/housekeeping.ts). A delegation tree (a top-level run and every run recorded
 * under it: delegated sub-agents, and runs the API attached with parentExecutionId, all of which
 * name its id as their root) goes as a whole, once every run in it has finished and the last of
 * them finished before the cut-off: a child that finished long ago stays as long as its parent or
 * a sibling is kept, so a tree is never shown with runs missing, and a run attached today under
 * an old one keeps that one. Each execution's log rows go with it (the foreign key cascades). An
 * unfinished execution is never deleted.
 */

export const FINISHED: ExecutionStatus[] = ['completed', 'failed', 'cancelled']

/**
 * Top-level runs per statement: with their trees and logs, a statement deletes some hundreds to
 * a few thousand rows, a short hold on the write lock (SQLite has one writer).
 */
export const EXECUTION_PRUNE_BATCH = 250

const finished = sql.raw(FINISHED.map((s) => `'${s}'`).join(', '))

/**
 * PostgreSQL turns a subquery into a join wherever it can, and for a join with the roots its
 * generic plan (the one a prepared statement gets after five runs, made without the cut-off's
 * value, so guessing a third of the table before it) hashed or merged whole tables. `OFFSET 0`
 * keeps a subquery a subquery, run for each root on the root index. SQLite keeps them so itself
 * (and takes OFFSET only after a LIMIT).
 */
const fence = () => sql.raw(dialect === 'pg' ? ' OFFSET 0' : '')

/**
 * The members of the chosen trees, one index look-up per root: PostgreSQL says so with LATERAL;
 * SQLite has no LATERAL, and walks the index for an IN list by itself.
 */
const members = () =>
  dialect === 'pg'
    ? sql.raw('SELECT m.id FROM roots CROSS JOIN LATERAL (SELECT e.id FROM executions e WHERE e.root_execution_id = roots.id OFFSET 0) m')
    : sql.raw('SELECT e.id FROM executions e WHERE e.root_execution_id IN (SELECT id FROM roots)')

/**
 * The statement deleting up to `limit` delegation trees whose runs all finished before `before`
 * (by completed_at), oldest first, returning the ids of the executions it deleted (trees' members
 * included). The roots come from executions_root_completed_idx (root_execution_id IS NULL,
 * completed_at before the cut-off), each tree's members from the same index, the rows by their
 * primary key (test/retention.test.ts checks the plans). One statement, so a tree is judged and
 * deleted at one moment: a run attached to it meanwhile (on PostgreSQL, by another connection)
 * is not in the statement's view and stays, without its parent; two instances deleting the same
 * trees at once delete them once.
 */
export function executionTreesEndedBefore(db: Db, before: number, limit: number) {
  const x = executions
  const cut = dbTime(before)
  // No ORDER BY: the index hands the roots over oldest first anyway, and without a sort the
  // planner may stop at the limit, checking candidates one by one, instead of judging every
  // finished tree first (PostgreSQL's generic plan then read the whole table).
  const trees = sql`
    WITH roots AS MATERIALIZED (
      SELECT r.id FROM executions r
      WHERE r.root_execution_id IS NULL AND r.completed_at < ${cut} AND r.status IN (${finished})
        AND NOT EXISTS (
          SELECT 1 FROM executions d
          WHERE d.root_execution_id = r.id AND (d.completed_at IS NULL OR d.completed_at >= ${cut} OR d.status NOT IN (${finished}))${fence()}
        )
      LIMIT ${sql.raw(String(Math.trunc(limit)))}
    )
    SELECT id FROM roots
    UNION ALL
    ${members()}`
  // No status test out here: on SQLite it made the planner walk the status index over every
  // finished execution; every member of a chosen tree is finished (NOT EXISTS above).
  return db.delete(x).where(idIn(x.id, trees)).returning({ id: x.id })
}

/** Runs executionTreesEndedBefore: how many executions went. */
export async function deleteExecutionTreesBefore(db: Db, before: number, limit: number): Promise<number> {
  return (await executionTreesEndedBefore(db, before, limit).all()).length
}

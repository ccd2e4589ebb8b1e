import { and, asc, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from '../db/connection'
import { mapStrings } from '../text'
import { openableAtRunTime } from '../modules/executions/access'
import { dialect, executionLogs, executions, type Execution, type ExecutionMessage, type ExecutionStatus } from '../db/schema'

/** Database access for the engine: execution rows and their event log. */

export const ACTIVE: ExecutionStatus[] = ['pending', 'running']

/**
 * `v` as both backends can store it: the NUL character (U+0000) and lone surrogates (half of a
 * UTF-16 pair, which a provider's JSON can escape) in every string and key replaced by U+FFFD.
 * PostgreSQL's text and jsonb cannot hold either, and what a model answers (results, messages,
 * tool calls, a child's message) may contain one: left in, the run's final write failed and the
 * execution stayed `running`. Clients can send neither (src/http/body.ts); SQLite gets the same
 * text so that both backends keep the same rows. Plain objects and arrays are walked
 * (mapStrings); anything else (dates) is kept; an unchanged value is returned as it is.
 */
export function storable<T>(v: T): T {
  return mapStrings(v, (s) => (s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s).toWellFormed())
}

export function getExecutionRow(db: Db, id: string): Promise<Execution | undefined> {
  return db.select().from(executions).where(eq(executions.id, id)).get()
}

/**
 * Records an execution. Its `seq` (creation order, the queue's last tie-breaker): PostgreSQL's
 * identity; on SQLite the rowid the row is about to get, max(rowid) + 1 (one writer at a time,
 * and the subquery is one seek at the end of the table).
 */
export async function insertExecution(db: Db, row: typeof executions.$inferInsert): Promise<Execution> {
  const seq = dialect === 'sqlite' ? { seq: sql`(SELECT coalesce(max(rowid), 0) + 1 FROM ${executions})` } : {}
  return (await db.insert(executions).values({ ...storable(row), ...seq }).returning().get())!
}

export function updateExecution(db: Db, id: string, patch: Partial<typeof executions.$inferInsert>): Promise<Execution | undefined> {
  return db.update(executions).set(storable(patch)).where(eq(executions.id, id)).returning().get()
}

/** Sets a final status only while the row is still active: a cancel already recorded wins. */
export function finishExecution(db: Db, id: string, patch: Partial<typeof executions.$inferInsert>): Promise<Execution | undefined> {
  return db.update(executions).set(storable(patch)).where(and(eq(executions.id, id), inArray(executions.status, ACTIVE))).returning().get()
}

export async function addLog(db: Db, executionId: string, now: number, level: 'info' | 'warn' | 'error', event: string, data?: Record<string, unknown>): Promise<void> {
  await db.insert(executionLogs).values({ executionId, level, event, data: data === undefined ? null : storable(data), createdAt: new Date(now) }).run()
}

export function listLogs(db: Db, executionId: string) {
  return db.select().from(executionLogs).where(eq(executionLogs.executionId, executionId)).orderBy(asc(executionLogs.id)).all()
}

/** Earlier turns of a session (same organization and user), oldest first, for the model. */
export async function sessionHistory(db: Db, organizationId: string, userId: string, sessionId: string, excludeId: string): Promise<ExecutionMessage[]> {
  const x = executions
  const rows = await db
    .select({ id: x.id, messages: x.messages, organizationId: x.organizationId, userId: x.userId, agentVisibility: x.agentVisibility, spaceId: x.spaceId })
    .from(x)
    .where(and(eq(x.organizationId, organizationId), eq(x.userId, userId), eq(x.sessionId, sessionId), eq(x.status, 'completed')))
    .orderBy(asc(x.createdAt), asc(x.id))
    .all()
  // Only the turns the user may still read (a space that became private hides its runs).
  const readable = await openableAtRunTime(db, { organizationId, userId }, rows.filter((r) => r.id !== excludeId))
  return readable.flatMap((r) => r.messages)
}

/** Direct children of the given executions. */
export async function childrenOf(db: Db, parentIds: string[]): Promise<Execution[]> {
  if (parentIds.length === 0) return []
  return db.select().from(executions).where(inArray(executions.parentExecutionId, parentIds)).orderBy(asc(executions.createdAt)).all()
}

/** Every descendant, breadth first. */
export async function descendantsOf(db: Db, id: string): Promise<Execution[]> {
  const out: Execution[] = []
  let frontier = [id]
  for (let depth = 0; frontier.length > 0 && depth < 50; depth++) {
    const kids = await childrenOf(db, frontier)
    out.push(...kids)
    frontier = kids.map((k) => k.id)
  }
  return out
}

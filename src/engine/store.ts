import { and, asc, eq, inArray } from 'drizzle-orm'
import type { DB } from '../db/client'
import { executionLogs, executions, type Execution, type ExecutionMessage, type ExecutionStatus } from '../db/schema'

/** Database access for the engine: execution rows and their event log. */

export const ACTIVE: ExecutionStatus[] = ['pending', 'running']

export function getExecutionRow(db: DB, id: string): Execution | undefined {
  return db.select().from(executions).where(eq(executions.id, id)).get()
}

export function insertExecution(db: DB, row: typeof executions.$inferInsert): Execution {
  return db.insert(executions).values(row).returning().get()
}

export function updateExecution(db: DB, id: string, patch: Partial<typeof executions.$inferInsert>): Execution | undefined {
  return db.update(executions).set(patch).where(eq(executions.id, id)).returning().get()
}

/** Sets a final status only while the row is still active: a cancel already recorded wins. */
export function finishExecution(db: DB, id: string, patch: Partial<typeof executions.$inferInsert>): Execution | undefined {
  return db.update(executions).set(patch).where(and(eq(executions.id, id), inArray(executions.status, ACTIVE))).returning().get()
}

export function addLog(db: DB, executionId: string, now: number, level: 'info' | 'warn' | 'error', event: string, data?: Record<string, unknown>) {
  db.insert(executionLogs).values({ executionId, level, event, data: data ?? null, createdAt: new Date(now) }).run()
}

export function listLogs(db: DB, executionId: string) {
  return db.select().from(executionLogs).where(eq(executionLogs.executionId, executionId)).orderBy(asc(executionLogs.id)).all()
}

/** Earlier turns of a session (same organization and user), oldest first, for the model. */
export function sessionHistory(db: DB, organizationId: string, userId: string, sessionId: string, excludeId: string): ExecutionMessage[] {
  const rows = db
    .select({ id: executions.id, messages: executions.messages, status: executions.status })
    .from(executions)
    .where(and(eq(executions.organizationId, organizationId), eq(executions.userId, userId), eq(executions.sessionId, sessionId), eq(executions.status, 'completed')))
    .orderBy(asc(executions.createdAt), asc(executions.id))
    .all()
  return rows.filter((r) => r.id !== excludeId).flatMap((r) => r.messages)
}

/** Direct children of the given executions. */
export function childrenOf(db: DB, parentIds: string[]): Execution[] {
  if (parentIds.length === 0) return []
  return db.select().from(executions).where(inArray(executions.parentExecutionId, parentIds)).orderBy(asc(executions.createdAt)).all()
}

/** Every descendant, breadth first. */
export function descendantsOf(db: DB, id: string): Execution[] {
  const out: Execution[] = []
  let frontier = [id]
  for (let depth = 0; frontier.length > 0 && depth < 50; depth++) {
    const kids = childrenOf(db, frontier)
    out.push(...kids)
    frontier = kids.map((k) => k.id)
  }
  return out
}

/** Start-up: executions a crash left pending or running become failed. Returns how many. */
export function failInterrupted(db: DB, now: number, reason = 'interrupted by server restart'): number {
  const rows = db
    .update(executions)
    .set({ status: 'failed', error: reason, errorCode: 'service_unavailable', completedAt: new Date(now), updatedAt: new Date(now) })
    .where(inArray(executions.status, ACTIVE))
    .returning({ id: executions.id })
    .all()
  for (const r of rows) addLog(db, r.id, now, 'error', 'interrupted', { reason })
  return rows.length
}

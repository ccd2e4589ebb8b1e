import { and, inArray } from 'drizzle-orm'
import { afterCommit, type Ctx } from '../../context'
import { executions } from '../../db/schema'
import { ACTIVE, addLog, finishExecution } from '../../engine/store'
import { leaseLapsed } from '../../engine/leases'
import { createdByTransitive, type LeakCause } from '../tokens/created-by'

/** Why a leak ends a run: what the token's revocation was (a leak report, a CLI code polled twice). */
const WHY: Record<LeakCause, string> = {
  leak_report: 'was reported leaked',
  code_reused: "came from a sign-in whose code was polled twice",
}

/**
 * Cancels the runs still under way (queued or running, delegated children included: they carry
 * their root's token) that were started with one of `roots` (PAT ids or CLI sign-in ids), or with
 * a token one of them created, directly or not (`executions.token_id`), now that those are taken
 * for leaked: whoever held the secret may have
 * started them, and a run goes on spending the organization's model budget and reading its
 * spaces' secrets after the token stopped. Only the row is written, as a cancel through another
 * instance is: the instance running or queueing each one aborts it within a second
 * (src/engine/runner.ts, `tick`), and logs its end and counts it in the metrics (a queued one's
 * cancel was counted nowhere). Its `execution_cancelled` line is written here only for a run no
 * live instance holds (no owner, or its lease lapsed), which nobody else will log, as
 * Engine.cancel decides who logs a cancel. Written here for every run, a run held by a live
 * instance had two lines (this one, and its holder's a moment later). A plain revocation (DELETE, `tokens revoke
 * self` at the end of a CI job, a rotation, a member's removal) leaves runs alone.
 */
export async function cancelRunsOfLeakedTokens(ctx: Ctx, roots: readonly string[], cause: LeakCause): Promise<string[]> {
  if (roots.length === 0) return []
  // The tokens it made too (transitively), revoked now or before: a run such a token started
  // before a plain revocation of it may still be going.
  const tokenIds = [...new Set([...roots, ...(await createdByTransitive(ctx, roots))])]
  const x = executions
  const rows = await ctx.db
    .select({ id: x.id, organizationId: x.organizationId, agentId: x.agentId, status: x.status, startedAt: x.startedAt, tokenId: x.tokenId, instanceId: x.instanceId, lapsed: leaseLapsed(ctx.clock.now()) })
    .from(x)
    .where(and(inArray(x.tokenId, [...tokenIds]), inArray(x.status, ACTIVE)))
    .all()
  const now = ctx.clock.now()
  const cancelled: string[] = []
  for (const row of rows) {
    const startedAt = row.startedAt?.getTime()
    const done = await finishExecution(ctx.db, row.id, {
      status: 'cancelled',
      error: `Cancelled: the token that started it (${row.tokenId}) ${WHY[cause]}.`,
      completedAt: new Date(now),
      updatedAt: new Date(now),
      executionTime: startedAt !== undefined ? Math.max(0, now - startedAt) : null,
    })
    // Ended meanwhile: that end stands.
    if (!done) continue
    await addLog(ctx.db, row.id, now, 'warn', 'cancelled', { reason: cause, tokenId: row.tokenId })
    // A live instance holds it (its lease holds): that instance logs its end, once.
    const held = row.instanceId !== null && row.lapsed === 0
    // Once the cancel has committed: a leak report, a rotation's reuse or a code's whose event is
    // refused rolls it back, and no line may tell of it then.
    if (!held) afterCommit(ctx, () => ctx.log.warn('execution_cancelled', { executionId: row.id, agentId: row.agentId, organizationId: row.organizationId, was: row.status, reason: cause, tokenId: row.tokenId, requestId: ctx.requestId }))
    cancelled.push(row.id)
  }
  return cancelled
}

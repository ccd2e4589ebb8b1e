import { and, eq, ne, or, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/connection'
import { roleIn } from '../../auth/current-role'
import { isOrgAdmin, roleAllows } from '../../auth/roles'
import { agents, executions, type Agent, type Execution } from '../../db/schema'
import { canUseAgent } from '../agents/access'
import { inVisibleSpace, inVisibleSpaceSql, spaceAccessOf, usableSpace, type SpaceAccess } from '../spaces/access'
import type { Viewer } from '../viewer'
import { assistantAgent } from '../../engine/assistant'

/**
 * Who may open an execution (get, tree, logs, list, cancel). An organization admin: every
 * execution of the organization. Anyone else: the ones they started and those of agents that
 * were shared (not private) when they ran, but for one recorded under a private run (which is
 * recorded private itself: src/engine/prepare.ts childVisibility) — and in both cases only if the
 * execution's space, if any, is one they may see: executions inherit their space's visibility. A delegation tree shows
 * only the executions the viewer may open. A predicate for one row and the same rule as SQL for
 * lists (test/access-rules.test.ts checks that both agree).
 */

export type ExecutionAccess = Pick<Execution, 'organizationId' | 'userId' | 'agentVisibility' | 'spaceId'>

/** `space`: the execution's space (spaces/access.ts spaceAccessOf), when it has one. */
export function canOpenExecution(v: Viewer, x: ExecutionAccess, space: SpaceAccess | undefined): boolean {
  if (x.organizationId !== v.organizationId) return false
  if (isOrgAdmin(v.role)) return true
  return (x.userId === v.userId || x.agentVisibility !== 'private') && inVisibleSpace(v, x.spaceId, space)
}

/** Cancel: an execution the viewer may open and started, or any for an organization admin. */
export function canCancelExecution(v: Viewer, x: ExecutionAccess, space: SpaceAccess | undefined): boolean {
  return canOpenExecution(v, x, space) && (isOrgAdmin(v.role) || x.userId === v.userId)
}

/**
 * Attach a new run under `parent` (`parentExecutionId` on execute): only under an execution the
 * caller started and may still open, admins included, so nobody grafts runs into another user's
 * delegation tree. Delegation itself sets parents in the engine, not through this.
 */
export function canAttachTo(v: Viewer, parent: ExecutionAccess, space: SpaceAccess | undefined): boolean {
  return canOpenExecution(v, parent, space) && parent.userId === v.userId
}

/**
 * The visibility a run recorded under `parent` inherits (src/engine/prepare.ts childVisibility
 * makes the child private when this is `private`): the parent's recorded one, but `private` when
 * the parent lives in a private space the child is not recorded in (a run an API client attaches
 * with `parentExecutionId`, or a run's own execute through `teamday_api`, in another space or in
 * none). Such a child holds what the parent's model wrote to it, steered by that space's
 * instructions, and its own space's rule does not hide it: it was readable by every member (its
 * message, its answer, its parent's id) while the parent was 404 to them. A child in the
 * parent's space (a `delegate` call's) follows that space's rule as it is at any time. Read when
 * the child is recorded: a space made private later hides the parent, not a child in another space.
 */
export async function visibilityUnder(db: Db, parent: Pick<Execution, 'agentVisibility' | 'spaceId'>, childSpaceId: string | null): Promise<Execution['agentVisibility']> {
  if (parent.agentVisibility === 'private' || parent.spaceId === null || parent.spaceId === childSpaceId) return parent.agentVisibility
  const space = await spaceAccessOf(db, parent.spaceId)
  return space === undefined || space.visibility === 'private' ? 'private' : parent.agentVisibility
}

/** The rule as a list condition on `executions` (or an alias of it: `x`; undefined for admins). Binds `user`. */
export function visibleExecutionsSql(admin: boolean, x: typeof executions = executions): SQL | undefined {
  if (admin) return undefined
  return and(or(eq(x.userId, sql.placeholder('user')), ne(x.agentVisibility, 'private')), inVisibleSpaceSql(x.spaceId, false))
}

/**
 * canOpenExecution for one viewer over many rows (a tree, a log's children, a session's turns),
 * reading each space's access once.
 */
export function executionOpener(db: Db, viewer: Viewer): (x: ExecutionAccess) => Promise<boolean> {
  const spaces = new Map<string, Promise<SpaceAccess | undefined>>()
  return async (x) => {
    if (x.spaceId === null) return canOpenExecution(viewer, x, undefined)
    let space = spaces.get(x.spaceId)
    if (space === undefined) spaces.set(x.spaceId, (space = spaceAccessOf(db, x.spaceId)))
    return canOpenExecution(viewer, x, await space)
  }
}

/**
 * Of `rows`, the executions the user who starts a run may open now, with their current role:
 * a session's earlier turns go to the model with the new message, so only those they could read
 * themselves (not their own runs in a space that has since become private to someone else).
 */
export async function openableAtRunTime<R extends ExecutionAccess>(db: Db, run: { organizationId: string; userId: string }, rows: R[]): Promise<R[]> {
  if (rows.length === 0) return rows
  const role = await roleIn(db, run.organizationId, run.userId)
  if (role === undefined) return []
  const openable = executionOpener(db, { ...run, role })
  const out: R[] = []
  for (const r of rows) if (await openable(r)) out.push(r)
  return out
}

/** Why a run may not go on now (runnableNow). */
export type RunRefusal = 'not_a_member' | 'role' | 'agent' | 'space'

/**
 * Whether the user who started a run may run `agentId` (null: the built-in assistant) now, with their current role: still a
 * member, with a role that runs agents (agents:execute), the agent one they may use (not archived,
 * not made private by someone else: canUseAgent), and the run's space, if any, one they may use.
 * Asked when a queued run gets its slot and when a run delegates to a sub-agent: what was decided
 * when the request came in may no longer hold (a member removed or made a viewer, an agent
 * archived or made private, a space archived or closed to them meanwhile).
 */
export async function runnableNow(
  db: Db,
  run: { organizationId: string; userId: string; spaceId: string | null },
  agentId: string | null,
): Promise<{ agent: Agent } | { refused: RunRefusal }> {
  const role = await roleIn(db, run.organizationId, run.userId)
  if (role === undefined) return { refused: 'not_a_member' }
  if (!roleAllows(role, 'agents:execute')) return { refused: 'role' }
  const viewer = { organizationId: run.organizationId, userId: run.userId, role }
  // null: the built-in default assistant (src/engine/assistant.ts), every member's to use.
  const agent = agentId === null ? assistantAgent(run.organizationId, run.userId) : await db.select().from(agents).where(and(eq(agents.id, agentId), eq(agents.organizationId, run.organizationId))).get()
  if (!agent || !canUseAgent(viewer, agent)) return { refused: 'agent' }
  if (run.spaceId !== null && !(await usableSpace(db, viewer, run.spaceId))) return { refused: 'space' }
  return { agent }
}

/** A refusal as the execution's error (and the delegate tool's answer). */
export function refusalMessage(r: RunRefusal): string {
  switch (r) {
    case 'not_a_member':
      return 'the user who started it is no longer a member of the organization'
    case 'role':
      return "the role of the user who started it no longer allows running agents"
    case 'agent':
      return 'the agent was archived, or is no longer visible to the user who started it'
    case 'space':
      return 'its space was archived, or is no longer visible to the user who started it'
  }
}

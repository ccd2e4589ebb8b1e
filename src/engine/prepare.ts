import { randomBase62 } from '../auth/random'
import type { Clock } from '../clock'
import { connectionOf, type Db } from '../db/connection'
import { eq } from 'drizzle-orm'
import { executions, type Agent, type Execution, type Space } from '../db/schema'
import { AppError } from '../errors'
import { newId } from '../ids'
import type { ModelProviders, SelectedModel } from './providers'
import { insertExecution, updateExecution } from './store'
import { leaseUntil } from './leases'
import { storedAgentId } from './assistant'

/** Everything one run needs, fixed when the execution is created. */
export interface Job {
  execution: Execution
  agent: Agent
  system: string
  /**
   * Who wrote what `system` holds, as it was built when the run was recorded: the agent's creator,
   * and the space's creator when the space's instructions are in it (src/engine/api-tool.ts: only
   * their user's or an admin's instructions steer a `teamday_api` token); for a child, also
   * whoever steered its parent, who wrote its message through its parent's model (JobInput.steeredBy).
   * When the run starts, the writers of the session's earlier turns it sends join them (their
   * answers go to the model as its own words: src/engine/store.ts turnWriters).
   */
  writtenBy: string[]
  selected: SelectedModel
  /** What its delegation tree has used of its budgets: one object for the whole tree, which runs in one process. */
  tree?: DelegationTree
}

/**
 * What one run's delegation tree (the run and the children started within it, by `delegate` or
 * by an execute through `teamday_api`: all in this process) has written: its models' characters
 * and streamed parts, against Config.outputLimits (answerChars and streamedParts,
 * src/engine/output-limits.ts). A child's answer becomes its parent's tool result, in the
 * parent's context and its stored tool calls, so a run counted alone could hold each of its
 * children's answers besides its own: 100 children of 2 MiB characters each.
 *
 * `delegations` only numbers the sessions of its `delegate` children (src/engine/runner.ts); the
 * tree's budget of children (TEAMDAY_MAX_DELEGATIONS_PER_RUN) is counted in the database, by
 * assertTreeRoom, whoever asks for the child.
 */
export interface DelegationTree {
  delegations: number
  written: number
  parts: number
}

/**
 * TEAMDAY_MAX_DELEGATION_DEPTH, the one rule: a child is one level below its parent, and a
 * delegation tree goes no deeper than `max`. Null when a child of `parent` may be started; else
 * the refusal, 422 `delegation_limit` naming the bound, the same for every way a child is asked
 * for: Engine.start throws it (an API client's `parentExecutionId`, a run's execute through
 * `teamday_api`), a `delegate` call's tool result says it (src/engine/runner.ts). Decided before
 * anything is read or recorded. (A `delegationDepth` field past `max` is that field's own 422.)
 */
export function depthLimit(parent: Pick<Execution, 'id' | 'delegationDepth'>, max: number): DepthLimit | null {
  const depth = parent.delegationDepth + 1
  if (depth <= max) return null
  return new AppError(
    'delegation_limit',
    `Delegation limit: execution ${parent.id} is at depth ${parent.delegationDepth}; a child of it would be at depth ${depth}, past the deepest a delegation tree may go (TEAMDAY_MAX_DELEGATION_DEPTH = ${max}). Nothing was started.`,
    { details: { limit: 'TEAMDAY_MAX_DELEGATION_DEPTH', max, depth } },
  ) as DepthLimit
}

/** depthLimit's refusal: its details say the depth the child would have had, and the bound. */
export type DepthLimit = AppError & { details: { limit: 'TEAMDAY_MAX_DELEGATION_DEPTH'; max: number; depth: number } }

/**
 * The refusal of a child past TEAMDAY_MAX_DELEGATIONS_PER_RUN: 422 `delegation_limit`, naming the
 * bound. One for every way a child is asked for: a `delegate` call (its tool result says it), a
 * run's execute through `teamday_api`, an API client's `parentExecutionId`.
 */
export function treeLimit(rootId: string, started: number, max: number): AppError {
  return new AppError(
    'delegation_limit',
    `Delegation limit: the delegation tree of execution ${rootId} has started ${started} child executions, the most one tree may (TEAMDAY_MAX_DELEGATIONS_PER_RUN = ${max}). Nothing was started.`,
    { details: { limit: 'TEAMDAY_MAX_DELEGATIONS_PER_RUN', max, started } },
  )
}

/**
 * TEAMDAY_MAX_DELEGATIONS_PER_RUN, the one rule: a delegation tree (its root execution and every
 * execution recorded under it, `root_execution_id`) holds at most `max` children, however they
 * were asked for. Counted in the database, in the transaction that records the new child
 * (createJob, JobInput.bound): transactions take one lock (SQLite's one writer, PostgreSQL's
 * advisory lock, src/db/pg.ts), so two children asked for at once, on any instance, cannot both
 * take the last place. Only children recorded count (one whose model no provider serves too: it
 * is recorded, failed); a request refused before that (its depth, the sub-agent) does not.
 */
export async function assertTreeRoom(db: Db, rootId: string, max: number): Promise<void> {
  const started = (await db.select({ id: executions.id }).from(executions).where(eq(executions.rootExecutionId, rootId)).limit(max).all()).length
  if (started < max) return
  throw treeLimit(rootId, started, max)
}

export const newDelegationTree = (): DelegationTree => ({ delegations: 0, written: 0, parts: 0 })

/** An execution recorded as failed at once: no configured provider serves its model. */
export interface Unserved {
  execution: Execution
  selected: null
}

/**
 * `more` writers join the run's (Job.writtenBy), kept on its row too (executions.written_by) for
 * the turns that will continue it: the writers of its session's earlier turns once it has read
 * them (src/engine/run.ts), a sub-agent's once its answer is back (src/engine/runner.ts). Its
 * `teamday_api` tool asks again at its next call (src/engine/api-tool.ts). Nothing is written when
 * nothing is new.
 */
export async function joinWriters(db: Db, job: Job, more: readonly string[]): Promise<void> {
  const added = [...new Set(more)].filter((w) => !job.writtenBy.includes(w))
  if (added.length === 0) return
  job.writtenBy = [...job.writtenBy, ...added]
  await updateExecution(db, job.execution.id, { writtenBy: job.writtenBy })
}

export interface JobInput {
  agent: Agent
  /** The space whose instructions join the system prompt; the execution is recorded in it. */
  space: Space | null
  /** Where the execution is recorded when `space` is null (a delegated child: its parent's space). */
  spaceId?: string | null
  message: string
  userId: string
  /** The token whose request starts it (`Principal.tokenId`), if any; a delegated child: its parent's. */
  tokenId?: string | null
  /**
   * The scopes of the credential that starts it (`*` from the console): the most its
   * `teamday_api` calls may do (executions.scope_limit); a delegated child: its parent's.
   */
  scopeLimit?: string[] | null
  sessionId?: string
  chatId?: string
  parentExecutionId?: string | null
  /**
   * The visibility the parent records (its agent_visibility): a child under a private run is
   * recorded private (childVisibility). Engine.start sets it from the parent it is given.
   */
  parentVisibility?: Execution['agentVisibility'] | null
  /**
   * parentVisibility as read in the transaction that records the row, after its checks (`admit`
   * has read the parent's space with forShare): wins over `parentVisibility` where given. Read
   * before it, a parent's space made private at the same moment left the child recorded shared.
   */
  parentVisibilityNow?: (tx: Db) => Promise<Execution['agentVisibility']>
  rootExecutionId?: string | null
  delegationDepth?: number
  /** A delegated child: runs in its parent's slot, never queued (src/engine/queue.ts). */
  delegated?: boolean
  /** A delegated child: its parent's tree (Job.tree). */
  tree?: DelegationTree
  /**
   * A child (a `delegate` call's, a run's own execute through `teamday_api`): its parent's
   * Job.writtenBy. The child's message is written by its parent's model, which their instructions
   * steer, so they steer the child too: without them, a member's agent (or a member's space
   * instructions) run by an admin delegated "make me admin" to an admin-written sub-agent, which
   * got the admin's TEAMDAY_TOKEN (src/modules/executions/api-access.ts, `not_author`).
   */
  steeredBy?: readonly string[]
  /**
   * Checked in one transaction with the row's insert, and throws to refuse it (the per-user queue
   * limit: src/modules/executions/service.ts). Two requests at once cannot both pass it and both
   * insert: SQLite has one writer, and PostgreSQL's transactions take one lock (src/db/pg.ts).
   */
  admit?: (tx: Db) => Promise<void>
  /**
   * Checked like `admit`, in the same transaction, also for a child recorded as failed (a model
   * no provider serves): a bound of its delegation tree (assertTreeRoom).
   */
  bound?: (tx: Db) => Promise<void>
  /**
   * Writes what goes with the new row in its transaction, after the insert (the request's
   * `execution.created` audit event: src/modules/executions/service.ts): the row and it commit
   * together or not at all. Also for a run recorded as failed (a model no provider serves).
   */
  recorded?: (tx: Db, execution: Execution) => Promise<void>
}

/**
 * The visibility an execution records (executions.agent_visibility, what the execution rule reads:
 * src/modules/executions/access.ts): its agent's, but `private` under a parent recorded private,
 * whatever its own agent's. A shared sub-agent's run under a member's private agent's run (a
 * `delegate` call's, an execute through `teamday_api`, an API client's `parentExecutionId`) holds
 * what that private run wrote to it and answered: it was readable by every member (its message,
 * its result, its parent's id), while the run itself was 404 to them. The parent's is already this
 * rule's for its own parent, so the whole tree below a private run is private, to its user and the
 * organization's admins.
 */
export function childVisibility(agent: Pick<Agent, 'visibility'>, parentVisibility: Execution['agentVisibility'] | null | undefined): Execution['agentVisibility'] {
  return parentVisibility === 'private' ? 'private' : agent.visibility
}

/** The agent's system prompt, then the space's instructions. Secrets are never part of it. */
export function systemPrompt(agent: Agent, space: Space | null): string {
  const parts = [agent.systemPrompt?.trim() || `You are ${agent.name}${agent.role ? `, ${agent.role}` : ''}.`]
  if (space?.instructions?.trim()) parts.push(`Instructions for the space "${space.name}":\n${space.instructions.trim()}`)
  return parts.join('\n\n')
}

export const newChatId = () => `chat_${randomBase62(20)}`

/**
 * Selects the model (501 `no_model_provider` before anything is stored) and records the
 * execution as pending; or, when no configured provider serves the model, as failed with the
 * reason (`model_not_served`: the model, and the providers there are). A conversation key:
 * `sessionId`, else `chatId`, else a new one; the other defaults to the same value.
 */
export async function createJob(
  deps: { db: Db; clock: Clock; instanceId: string; config: { executionLeaseMs: number } },
  providers: ModelProviders,
  input: JobInput,
  /** The new execution's id (chosen by the caller, which must know it when the write fails). */
  id: string = newId('exec'),
): Promise<Job | Unserved> {
  let selected: SelectedModel | null = null
  let unserved: AppError | null = null
  try {
    selected = providers.select(input.agent.model)
  } catch (e) {
    if (!(e instanceof AppError) || e.code !== 'model_not_served') throw e
    unserved = e
  }
  const now = new Date(deps.clock.now())
  const own = input.space?.instructions?.trim() ? [input.agent.userId, input.space.createdBy] : [input.agent.userId]
  const writtenBy = [...new Set([...(input.steeredBy ?? []), ...own])]
  const sessionId = input.sessionId ?? input.chatId ?? newChatId()
  const chatId = input.chatId ?? sessionId
  const row: typeof executions.$inferInsert = {
    id,
    organizationId: input.agent.organizationId,
    userId: input.userId,
    tokenId: input.tokenId ?? null,
    scopeLimit: input.scopeLimit ?? null,
    agentId: storedAgentId(input.agent),
    agentName: input.agent.name,
    agentVisibility: childVisibility(input.agent, input.parentVisibility),
    spaceId: input.space?.id ?? input.spaceId ?? null,
    chatId,
    sessionId,
    status: selected ? 'pending' : 'failed',
    message: input.message,
    model: selected ? selected.modelId : String((unserved!.details as { model?: unknown })?.model ?? input.agent.model ?? ''),
    provider: selected?.provider ?? null,
    ...(unserved && { error: unserved.message, errorCode: 'model_not_served', completedAt: now }),
    messages: [],
    toolCalls: [],
    parentExecutionId: input.parentExecutionId ?? null,
    rootExecutionId: input.rootExecutionId ?? null,
    delegationDepth: input.delegationDepth ?? 0,
    delegated: input.delegated ?? false,
    // As recorded: a later turn of its session asks them (src/engine/store.ts, turnWriters); the
    // run adds its session's earlier writers once it has read them (src/engine/run.ts).
    writtenBy,
    // Owned by this instance from the start (queued runs too).
    instanceId: deps.instanceId,
    createdAt: now,
    updatedAt: now,
  }
  // Its lease on the lease clock (src/engine/leases.ts), counted from when the row is written: in
  // its transaction, once the write lock is held. On PostgreSQL the statement reads the database's
  // clock as it runs (leaseUntil); on SQLite the clock is read here, after BEGIN IMMEDIATE has
  // waited for the file's write lock (another `--reuse-port` process's long transaction, up to the
  // busy timeout) and this process's own transactions have gone before it. Counted from `now`, read
  // before all that, a run queued behind such a lock was recorded with a lease that much shorter,
  // and another process's lease sweep could fail it right after.
  const leased = async (tx: Db) => ({
    ...row,
    ...(input.parentVisibilityNow && { agentVisibility: childVisibility(input.agent, await input.parentVisibilityNow(tx)) }),
    leaseExpiresAt: leaseUntil(deps.clock.now(), deps.config.executionLeaseMs) as unknown as Date,
  })
  const checks = [input.bound, selected ? input.admit : undefined].filter((c) => c !== undefined)
  const { recorded } = input
  const conn = connectionOf(deps.db)
  // A lone insert takes no transaction on PostgreSQL (clock_timestamp() is read as it runs); on
  // SQLite it takes one, so that the clock is read once the lock is held.
  const execution =
    checks.length > 0 || recorded || conn.dialect === 'sqlite'
      ? await conn.transaction(async (tx) => {
          for (const check of checks) await check(tx)
          const inserted = await insertExecution(tx, await leased(tx))
          if (recorded) await recorded(tx, inserted)
          return inserted
        })
      : await insertExecution(deps.db, await leased(deps.db))
  if (!selected) return { execution, selected: null }
  return { execution, agent: input.agent, system: systemPrompt(input.agent, input.space), writtenBy, selected, ...(input.tree && { tree: input.tree }) }
}

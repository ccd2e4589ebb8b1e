import { and, eq, gte, sql } from 'drizzle-orm'
import type { Caller } from '../../auth/principal'
import { intersectScopes, isOrgAdmin } from '../../auth/roles'
import { assertCredentialUnrevoked } from '../../auth/revoked'
import { callerOf, type Ctx } from '../../context'
import type { Db } from '../../db/connection'
import { afterParams, keysetPages, mapBatches, readPage, sizeStatements, sizesOf, listedColumns, storedBytes } from '../../db/paging'
import { prepared } from '../../db/prepared'
import { dbTime, dialect, executions, shownMessages, type Agent, type Execution, type ExecutionStatus, type ExecutionToolCall, type Space } from '../../db/schema'
import type { Engine, StartOptions, Started } from '../../engine/runner'
import type { EngineEvent } from '../../engine/run'
import { DELEGATE_TOOL } from '../../engine/tools'
import { API_TOOL } from '../../engine/api-tool'
import { getExecutionRow, listLogs } from '../../engine/store'
import { retryAfterOfFailure } from '../../engine/run'
import { AppError, invalidField } from '../../errors'
import { agentFilterId, agentFilterSeenBy, agentRefsUnseenBy, usableAgent, usableAgentForWrite } from '../agents/access'
import { spaceAccessForWrite, spaceAccessOf, spaceFilterId, usableSpace, usableSpaceForWrite } from '../spaces/access'
import { canAttachTo, canCancelExecution, canOpenExecution, executionOpener, visibleExecutionsSql } from './access'
import type { ExecutionTree } from './model'
import { filterInstant } from '../../instants'
import { refersToId } from '../slugs'
import type { Viewer } from '../viewer'
import { assistantAgent } from '../../engine/assistant'
import { recordAudit } from '../../audit/log'
import { markWorkCommitted } from '../../idempotency/service'
import { cutText } from '../../text'

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export function toPublicExecution(r: Omit<Execution, 'contentBytes'>) {
  return {
    id: r.id,
    agentId: r.agentId,
    agentName: r.agentName,
    organizationId: r.organizationId,
    userId: r.userId,
    spaceId: r.spaceId,
    chatId: r.chatId,
    sessionId: r.sessionId,
    status: r.status,
    message: r.message,
    result: r.result,
    error: r.error,
    errorCode: r.errorCode,
    model: r.model,
    provider: r.provider,
    messages: shownMessages(r.messages, r.result),
    toolCalls: r.toolCalls,
    parentExecutionId: r.parentExecutionId,
    delegationDepth: r.delegationDepth,
    historyTrimmed: r.historyTrimmed ?? null,
    startedAt: iso(r.startedAt),
    completedAt: iso(r.completedAt),
    executionTime: r.executionTime,
    tokensInput: r.tokensInput,
    tokensOutput: r.tokensOutput,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  }
}

/** What stands for a hidden agent's id in the text of a tool call shown to someone who may not see it. */
export const HIDDEN_AGENT = '[hidden agent]'

/** The agent a `delegate` call (src/engine/tools.ts) names, if it is one. */
function delegatedTo(c: Pick<ExecutionToolCall, 'tool' | 'arguments'>): string | undefined {
  const id = c.tool === DELEGATE_TOOL && c.arguments !== null && typeof c.arguments === 'object' ? (c.arguments as { agentId?: unknown }).agentId : undefined
  return typeof id === 'string' ? id : undefined
}

/** `value` (JSON) with every mention of `id` in its strings replaced by HIDDEN_AGENT. */
function unnamed(value: unknown, id: string): unknown {
  if (typeof value === 'string') return value.split(id).join(HIDDEN_AGENT)
  if (Array.isArray(value)) return value.map((v) => unnamed(v, id))
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unnamed(v, id)]))
  return value
}

/** A `delegate` call to an agent `hidden` says the reader may not see: `arguments.agentId` null, its id nowhere else in the call either. */
function withoutHiddenAgent<C extends Pick<ExecutionToolCall, 'tool' | 'arguments' | 'result'>>(c: C, hidden: (agentId: string) => boolean): C {
  const id = delegatedTo(c)
  if (id === undefined || !hidden(id)) return c
  return { ...c, arguments: { ...(unnamed(c.arguments, id) as object), agentId: null }, result: unnamed(c.result, id) }
}

/**
 * An execute's path through `teamday_api` (POST /api/v1/agents/{id or slug}/execute, with or
 * without a trailing slash, which routes the same): the agent's segment.
 */
const API_EXECUTE_PATH = /^\/api\/v1\/agents\/([^/]+)\/execute\/?$/

/** The agent (id or slug, decoded) a path of an execute through `teamday_api` names, if it is one. */
export function agentOfApiPath(path: unknown): string | undefined {
  const m = typeof path === 'string' ? API_EXECUTE_PATH.exec(path) : null
  if (!m) return undefined
  try {
    return decodeURIComponent(m[1]!)
  } catch {
    return m[1]
  }
}

/** `path` with its agent's segment HIDDEN_AGENT (agentOfApiPath). */
export function unnamedApiPath(path: string): string {
  return path.replace(API_EXECUTE_PATH, `/api/v1/agents/${HIDDEN_AGENT}/execute`)
}

/** The agent a `teamday_api` call runs (an execute: TeamDay's delegation through the API), if it is one. */
function executedThroughApi(c: Pick<ExecutionToolCall, 'tool' | 'arguments'>): string | undefined {
  if (c.tool !== API_TOOL || c.arguments === null || typeof c.arguments !== 'object') return undefined
  return agentOfApiPath((c.arguments as { path?: unknown }).path)
}

/**
 * A `teamday_api` execute of an agent `hidden` says the reader may not see (by id or slug): its
 * path says HIDDEN_AGENT for it, and an id nowhere else in the call either (its `delegated` log
 * event already hid it).
 */
function withoutHiddenApiAgent<C extends Pick<ExecutionToolCall, 'tool' | 'arguments' | 'result'>>(c: C, hidden: (ref: string) => boolean): C {
  const ref = executedThroughApi(c)
  if (ref === undefined || !hidden(ref)) return c
  const args = c.arguments as { path: string }
  const shown = { ...c, arguments: { ...args, path: unnamedApiPath(args.path) } }
  return refersToId(ref, 'char') ? { ...shown, arguments: unnamed(shown.arguments, ref), result: unnamed(c.result, ref) } : shown
}

/** A tool call with every agent it names that `hidden` says the reader may not see unnamed: a `delegate` call's, an execute's through `teamday_api`. */
function callShown<C extends Pick<ExecutionToolCall, 'tool' | 'arguments' | 'result'>>(c: C, hidden: (ref: string) => boolean): C {
  return withoutHiddenApiAgent(withoutHiddenAgent(c, hidden), hidden)
}

/** The agents tool calls name (a `delegate` call's, an execute through `teamday_api`), as ids or slugs. */
const agentsNamedBy = (calls: readonly Pick<ExecutionToolCall, 'tool' | 'arguments'>[]): string[] =>
  calls.flatMap((c) => [delegatedTo(c), executedThroughApi(c)]).filter((id): id is string => id !== undefined)

/**
 * Tool calls as `v` may see them. A `delegate` call names the sub-agent it ran, or asked for and
 * was refused: one `v` may not see (another member's private agent, whose id is 404 for `v`
 * everywhere else: agentsUnseenBy) says `arguments.agentId: null`, and its id is replaced by
 * HIDDEN_AGENT in the rest of the call (a refusal's "sub-agent char_… not found"). What the
 * sub-agent answered stays: it is part of the parent's own run (README). One read for the calls
 * of every list in `lists`; the answer shows any of them.
 */
export async function toolCallsShownTo(db: Db, v: Viewer, lists: readonly (readonly ExecutionToolCall[])[]): Promise<(calls: ExecutionToolCall[]) => ExecutionToolCall[]> {
  const unseen = await agentRefsUnseenBy(db, v, lists.flatMap((calls) => agentsNamedBy(calls)))
  const hidden = (ref: string) => unseen.has(ref)
  return (calls) => (unseen.size === 0 ? calls : calls.map((c) => callShown(c, hidden)))
}

/** What executionShaper changes of an execution (a row, or one as the API shows it). */
type ShapedFields = Pick<Execution, 'agentId' | 'agentName' | 'chatId' | 'sessionId' | 'toolCalls'>

/**
 * Executions as `v` may see them: their tool calls as toolCallsShownTo shows them, and their own
 * agent not named when `v` may not see it now (agentsUnseenBy: another member's agent made
 * private since it ran, in a run `v` may still open, their own or one recorded shared): `agentId`
 * null and `agentName` HIDDEN_AGENT, and its id replaced by HIDDEN_AGENT in `chatId` and
 * `sessionId` (a delegated child's are its parent's chat, the agent's id and a count). The tool
 * calls and logs of the parent already hid it, while the children in its tree and in the list by
 * parent named it (id, name, chat). An admin and the agent's owner see it. One read for all of `rows`.
 */
export async function executionShaper(db: Db, v: Viewer, rows: readonly Pick<Execution, 'agentId' | 'toolCalls'>[]): Promise<<R extends ShapedFields>(r: R) => R> {
  const named = rows.flatMap((r) => [r.agentId, ...agentsNamedBy(r.toolCalls)]).filter((id): id is string => typeof id === 'string')
  const unseen = await agentRefsUnseenBy(db, v, named)
  const hidden = (id: string) => unseen.has(id)
  return (r) => {
    if (unseen.size === 0) return r
    const toolCalls = r.toolCalls.map((c) => callShown(c, hidden))
    const id = r.agentId
    if (id === null || !hidden(id)) return { ...r, toolCalls }
    return { ...r, agentId: null, agentName: HIDDEN_AGENT, chatId: r.chatId.split(id).join(HIDDEN_AGENT), sessionId: r.sessionId.split(id).join(HIDDEN_AGENT), toolCalls }
  }
}

/** Executions as the caller may see them: toPublicExecution, shaped by executionShaper. */
export async function executionsShownTo(ctx: Ctx, rows: Omit<Execution, 'contentBytes'>[]) {
  const shape = await executionShaper(ctx.db, callerOf(ctx), rows)
  return rows.map((r) => toPublicExecution(shape(r)))
}

/** One execution as the caller may see it (executionsShownTo). */
export const executionShownTo = async (ctx: Ctx, row: Execution) => (await executionsShownTo(ctx, [row]))[0]!

/**
 * An engine event as the reader of a run's stream (its starter) may see it: a `delegate` call
 * starting, or the run's end, with its tool calls as toolCallsShownTo shows them. The stream
 * cannot answer an error once open: if the agents cannot be read, every agent a call names is
 * taken for hidden.
 */
export async function eventShownTo(db: Db, v: Viewer, e: EngineEvent): Promise<EngineEvent> {
  const calls = e.type === 'tool_start' ? [{ tool: e.name, arguments: e.input, result: null, timestamp: '' }] : e.type === 'done' ? e.execution.toolCalls : []
  // A `delegate` call's agent and an execute's through `teamday_api` (agentsNamedBy), as GET
  // /executions/{id} hides them: the stream showed the second's id (found by a review).
  const named = agentsNamedBy(calls)
  if (named.length === 0) return e
  let hidden: (ref: string) => boolean
  try {
    const unseen = await agentRefsUnseenBy(db, v, named)
    hidden = (ref) => unseen.has(ref)
  } catch {
    hidden = () => true
  }
  const shown = (c: (typeof calls)[number]) => callShown(c, hidden)
  if (e.type === 'tool_start') return { ...e, input: shown(calls[0]!).arguments }
  if (e.type === 'done') return { ...e, execution: { ...e.execution, toolCalls: e.execution.toolCalls.map(shown) } }
  return e
}

/** An agent the caller may run (agents/access.ts usableAgent), by id or slug; else 404. */
export async function runnableAgent(ctx: Ctx, p: Caller, ref: string): Promise<Agent> {
  const a = await usableAgent(ctx.db, p, ref)
  if (!a) throw agentNotFound(ref)
  return a
}

const agentNotFound = (ref: string) => new AppError('not_found', `Agent ${cutText(ref, 100)} not found (or archived, or not visible to you).`)
const spaceNotFound = (ref: string) => new AppError('not_found', `Space ${cutText(ref, 100)} not found (or archived, or not visible to you).`)

/** A space the caller may run an agent in (spaces/access.ts usableSpace), by id or slug; else 404. */
async function spaceToRunIn(ctx: Ctx, p: Caller, ref: string): Promise<Space> {
  const s = await usableSpace(ctx.db, p, ref)
  if (!s) throw spaceNotFound(ref)
  return s
}

/** An execution the caller may open (executions/access.ts), else 404. */
export async function getVisibleExecution(ctx: Ctx, id: string): Promise<Execution> {
  const p = callerOf(ctx)
  const r = await getExecutionRow(ctx.db, id)
  if (!r || !canOpenExecution(p, r, await spaceAccessOf(ctx.db, r.spaceId))) throw new AppError('not_found', `Execution ${id} not found.`)
  return r
}

/**
 * The conversation an execute continues: `chatId` and `sessionId` are two names of one key here
 * (TeamDay's CLI sends back both from an answer's `meta`, where they are equal). A turn is filed
 * under the chat (GET /chats/{id}) and its history read from the session, so two different values
 * filed it in one conversation while the model saw the other's turns: refused, 422 naming both
 * fields, before anything is looked up or stored. Undefined: a new conversation.
 */
export function conversationOf(input: { chatId?: string; sessionId?: string }): string | undefined {
  const { chatId, sessionId } = input
  if (chatId !== undefined && sessionId !== undefined && chatId !== sessionId) {
    const message = 'chatId and sessionId name the same conversation, and they differ: send one of them (or the same value in both). The turn would be filed under chatId with the history of sessionId'
    throw new AppError('validation_failed', `Validation failed: ${message}`, {
      details: [
        { field: 'chatId', message: 'differs from sessionId' },
        { field: 'sessionId', message: 'differs from chatId' },
      ],
    })
  }
  return chatId ?? sessionId
}

export interface ExecuteInput {
  message: string
  spaceId?: string
  sessionId?: string
  chatId?: string
  parentExecutionId?: string
  delegationDepth?: number
}

/**
 * Starts a run of an agent for the caller: the agent and the space must be ones the caller may
 * use (404 otherwise), a parent one they started (403); the engine does the rest
 * (src/engine/runner.ts `start`: depth, shutdown, model, queue). `agentId` null: the built-in
 * default assistant (POST /api/v1/execute, src/engine/assistant.ts), under the same rules.
 *
 * `opts.from`: the request is a run's own (its `teamday_api` tool's): the new run is a child of
 * that run (Engine.startFrom), never queued, so the per-user queue limit does not apply to it;
 * every other check does. Its parent is that run: a `parentExecutionId` naming another is 422.
 */
export async function startExecution(ctx: Ctx, engine: Engine, agentId: string | null, input: ExecuteInput, opts: StartOptions = {}): Promise<Started> {
  const p = callerOf(ctx)
  const conversation = conversationOf(input)
  const from = opts.from?.job.execution
  // The tool holds only a token of the run's own user (src/modules/executions/api-access.ts).
  if (from && (from.userId !== p.userId || from.organizationId !== p.organizationId)) {
    throw new AppError('forbidden', "Forbidden: a run may run agents only with its own user's token (access denied)")
  }
  // Blank (`"spaceId": "$SPACE"` with SPACE unset) ran the agent outside the space meant, without
  // its instructions and secrets, as if none had been named.
  if (input.spaceId !== undefined && input.spaceId.trim() === '') throw invalidField('spaceId', "spaceId is blank: leave it out to run without a space, or give a space's id or slug")
  // Only white space (`"message": " $MSG"` with MSG unset) ran the agent, and paid for its model, on nothing.
  if (input.message.trim() === '') throw invalidField('message', 'message is blank: give the agent an instruction (white space alone is none)')
  const agent = agentId === null ? assistantAgent(p.organizationId, p.userId) : await runnableAgent(ctx, p, agentId)
  const space = input.spaceId !== undefined ? await spaceToRunIn(ctx, p, input.spaceId) : null
  let parent: Execution | null = null
  if (from) {
    if (input.parentExecutionId !== undefined && input.parentExecutionId !== from.id) {
      throw new AppError('validation_failed', `Validation failed: an agent run from inside execution ${from.id} is a child of that execution; parentExecutionId may only name it`, {
        details: [{ field: 'parentExecutionId', message: `parentExecutionId must be ${from.id} (or left out)` }],
      })
    }
  } else if (input.parentExecutionId) {
    parent = await getVisibleExecution(ctx, input.parentExecutionId)
    if (!canAttachTo(p, parent, await spaceAccessOf(ctx.db, parent.spaceId))) throw notAttachable()
  }
  const attachTo = parent
  const started = await engine.start(
    {
      agent,
      space,
      message: input.message,
      userId: p.userId,
      tokenId: p.tokenId,
      // What its teamday_api calls may do at most: what the caller may (a console session: `*`);
      // from a run's own execute, also no more than that run may.
      scopeLimit: from?.scopeLimit ? intersectScopes(from.scopeLimit, p.scopes) : [...p.scopes],
      sessionId: conversation,
      chatId: conversation,
      parent,
      delegationDepth: input.delegationDepth,
      admit: async (tx) => {
        // The token that starts it, unrevoked still: a leak report committed since the request
        // came in cancelled the token's runs, and this one, recorded after, would escape it.
        await assertCredentialUnrevoked(tx, ctx.actor, ctx.clock.now())
        if (!from) await assertQueueRoom(tx, ctx.config.maxQueuedExecutionsPerUser, p)
        // Again in the transaction that records the run, read with forShare (src/db/locks.ts):
        // an agent or a space archived (or closed to the caller) at the same moment either
        // waits for the run's row or refuses it here, never leaves a 202 for a run in an
        // archived space (its turn would only fail it).
        if (agentId !== null && !(await usableAgentForWrite(tx, p, agent.id))) throw agentNotFound(agentId)
        if (space && !(await usableSpaceForWrite(tx, p, space.id))) throw spaceNotFound(input.spaceId!)
        // The parent's space likewise (its row read with forShare): one made private to the caller
        // at the same moment got the child attached, the check above having read it before.
        if (attachTo && !canAttachTo(p, attachTo, await spaceAccessForWrite(tx, attachTo.spaceId))) throw notAttachable()
      },
      // In the transaction that records the run: no run without its event, nor the reverse; and
      // the request's Idempotency-Key marked as its work committed (as withTx marks it), so a
      // connection lost as the run's row commits never frees the key for a second run.
      recorded: async (tx, e) => {
        await auditCreated({ ...ctx, db: tx }, e, from?.id)
        if (ctx.idempotencyKeyId !== null) await markWorkCommitted(tx, ctx.idempotencyKeyId, e.id)
      },
    },
    opts,
  )
  return started
}

/** The 403 of a `parentExecutionId` the caller may not attach a run under (canAttachTo). */
function notAttachable(): AppError {
  return new AppError('forbidden', 'Forbidden: parentExecutionId must be an execution you started (access denied)')
}

/**
 * `execution.created`: an execute request recorded a run (from the API, the console, or a run's
 * own `teamday_api`), as GitHub's audit log records a workflow run created. The execution's row
 * says the same, but it goes with TEAMDAY_EXECUTION_RETENTION_DAYS and holds neither the address
 * nor the user agent: after a token leak, this is what says which runs the token started, from
 * where, for as long as audit events are kept. The actor (user, token id: never the token) and
 * the request come from the context; the message is not recorded (it may hold anything). A
 * `delegate` call's children are not requests: the run's log has them (`delegated`). A request
 * refused before anything was recorded leaves no event. Written in the transaction that inserts
 * the run (JobInput.recorded): a crash between the two left a run no event told of.
 */
function auditCreated(ctx: Ctx, e: Execution, runId: string | undefined): Promise<void> {
  return recordAudit(ctx, {
    type: 'execution.created',
    organizationId: e.organizationId,
    targetType: 'execution',
    targetId: e.id,
    details: {
      agentId: e.agentId,
      spaceId: e.spaceId,
      status: e.status,
      ...(e.parentExecutionId !== null && { parentExecutionId: e.parentExecutionId }),
      ...(runId !== undefined && { via: 'teamday_api' }),
    },
  })
}

/**
 * `execution.cancelled`: a cancel request stopped a pending or running run (GitHub's audit log
 * records a workflow run cancelled). The execution's row says it was cancelled, not by whom: an
 * admin cancelling another member's run is told here (the actor; `details.ownerUserId` the run's
 * user). Written in the transaction that marks the run and its active descendants cancelled
 * (Engine.cancel); none for a cancel of a run already cancelled or ended (nothing changed), nor
 * for one that found a run no instance held and failed it (409): those cancel no descendant
 * either. One event per cancel: the descendants cancelled with the run (its delegations and the
 * runs attached to it, at any depth) get none of their own; `details.descendantsCancelled` lists
 * their ids (empty when there were none), and each one's log says `cancelled`, `by` the run.
 */
function auditCancelled(ctx: Ctx, e: Execution, before: Execution, descendants: string[]): Promise<void> {
  return recordAudit(ctx, {
    type: 'execution.cancelled',
    organizationId: e.organizationId,
    targetType: 'execution',
    targetId: e.id,
    details: {
      agentId: e.agentId,
      spaceId: e.spaceId,
      ownerUserId: e.userId,
      was: before.status,
      ...(e.parentExecutionId !== null && { parentExecutionId: e.parentExecutionId }),
      descendantsCancelled: descendants,
    },
  })
}

/**
 * 429 when the caller already has TEAMDAY_MAX_QUEUED_EXECUTIONS_PER_USER runs waiting in the
 * organization: a waiting run holds memory where it was queued (its model client and message:
 * about 155 KB), so 3,000 queued runs of one member grew a server by 470 MB. Counted in the
 * transaction that inserts the new run (`admit`, src/engine/prepare.ts): a burst of requests at
 * once, on any instance, cannot all pass the count before any of them inserts.
 */
async function assertQueueRoom(db: Db, max: number, p: Caller): Promise<void> {
  const x = executions
  const waiting = await db
    .select({ id: x.id })
    .from(x)
    .where(and(eq(x.organizationId, p.organizationId), eq(x.status, 'pending'), eq(x.userId, p.userId)))
    .limit(max)
    .all()
  if (waiting.length < max) return
  throw new AppError('rate_limited', `Too many executions waiting: ${max} of yours are queued in this organization already (TEAMDAY_MAX_QUEUED_EXECUTIONS_PER_USER). Wait for them to start, or cancel some, then retry.`, {
    details: { queued: waiting.length, maxQueuedExecutionsPerUser: max, retryAfterSeconds: 5 },
    headers: { 'retry-after': '5' },
  })
}

/** The error a synchronous execute answers for a run that did not complete. */
export function failureError(r: Execution): AppError {
  const details = { executionId: r.id, status: r.status }
  if (r.status === 'cancelled') return new AppError('invalid_state', `Execution ${r.id} was cancelled before it completed.`, { details })
  // Not the provider's failure nor the server's: the agent's model is not served here (4xx).
  if (r.errorCode === 'model_not_served') return new AppError('model_not_served', `Execution ${r.id} failed: ${r.error ?? 'its model is not served'}`, { details: { ...details, model: r.model } })
  // Ran, and used its agent's maxTurns without a final answer (src/engine/run.ts): the agent's
  // limit, not the provider's failure nor the server's (4xx).
  if (r.errorCode === 'max_turns_reached') return new AppError('max_turns_reached', `Execution ${r.id} failed: ${r.error ?? 'it reached its turn limit without a final answer'}`, { details })
  // Refused when its turn came (src/engine/run.ts): the user, the agent or the space changed meanwhile.
  if (r.errorCode === 'forbidden') return new AppError('forbidden', `Execution ${r.id} failed: ${r.error ?? 'not permitted'}`, { details })
  // The server's own failure (recording the run), not the provider's: not a 502.
  if (r.errorCode === 'internal_error') return new AppError('internal_error', `Execution ${r.id} failed: ${r.error ?? 'internal error'}`, { details })
  // The provider's rate limit or overload (src/engine/run.ts): 503, with the Retry-After it asked for.
  if (r.errorCode === 'provider_rate_limited' || r.errorCode === 'provider_overloaded') {
    const retryAfterSeconds = retryAfterOfFailure(r.error)
    return new AppError(r.errorCode, `Execution ${r.id} failed: ${r.error ?? 'the model provider is busy'}`, {
      details: retryAfterSeconds === null ? details : { ...details, retryAfterSeconds },
      ...(retryAfterSeconds !== null && { headers: { 'retry-after': String(retryAfterSeconds) } }),
    })
  }
  const code = r.errorCode === 'gateway_timeout' ? 'gateway_timeout' : r.errorCode === 'service_unavailable' ? 'service_unavailable' : 'bad_gateway'
  return new AppError(code, `Execution ${r.id} failed: ${r.error ?? 'unknown error'}`, { details })
}

export interface ListInput {
  agentId?: string
  status?: ExecutionStatus
  since?: string
  spaceId?: string
  parentExecutionId?: string
  limit: number
  offset: number
  cursor?: string
}

type ListFilters = Omit<ListInput, 'limit' | 'offset' | 'cursor'>

/**
 * The bytes of an execution's large columns (its answer, error, message, messages and tool
 * calls), counted by the database, none of them read into JavaScript (storedBytes); its answer
 * twice: it is shown twice (`result` and the content of the last message), and stored once
 * (storedMessages) since rows of 2026-12, so that what a page or a tree holds stays bounded as
 * shown. An older row, whose messages hold it too, counts it three times (a bound on the safe side).
 */
export const largeColumnsBytes = (db: Db) => storedBytes(db, executions, [sql`coalesce(octet_length(${executions.result}), 0)`])

/** One prepared statement per combination of filters, each on an index that starts with them. */
function listStatements(db: Db, admin: boolean, f: ListFilters) {
  const x = executions
  const ph = sql.placeholder
  const where = [
    // With a parent, its index (not the organization's) must lead: `+` keeps SQLite from
    // weighing the organization term as an index constraint, even when statistics say most
    // executions have no parent (which would otherwise send it walking the whole organization).
    // PostgreSQL has no unary + on text (and its planner weighs the two indexes itself).
    f.parentExecutionId === undefined || dialect === 'pg' ? eq(x.organizationId, ph('org')) : sql`+${x.organizationId} = ${ph('org')}`,
    visibleExecutionsSql(admin),
    f.agentId === undefined ? undefined : eq(x.agentId, ph('agentId')),
    f.status === undefined ? undefined : eq(x.status, ph('status')),
    f.spaceId === undefined ? undefined : eq(x.spaceId, ph('spaceId')),
    f.parentExecutionId === undefined ? undefined : eq(x.parentExecutionId, ph('parentExecutionId')),
    f.since === undefined ? undefined : gte(x.createdAt, ph('since')),
  ]
  // And each row's position with the bytes of its large columns (src/db/paging.ts, largePage).
  return { ...keysetPages(() => db.select(listedColumns(x)).from(x).$dynamic(), x, where), ...sizeStatements(db, x, largeColumnsBytes(db), where) }
}

/** Executions the caller may read, newest first; no total (TeamDay answers a bare array). */
export async function listExecutions(ctx: Ctx, q: ListInput) {
  const p = callerOf(ctx)
  const since = filterInstant('since', q.since)
  // agentId and spaceId may be slugs; the filter is on ids.
  const agentId = q.agentId === undefined ? undefined : await agentFilterId(ctx.db, p.organizationId, q.agentId)
  const spaceId = q.spaceId === undefined ? undefined : await spaceFilterId(ctx.db, p.organizationId, q.spaceId)
  const f: ListFilters = { agentId, status: q.status, spaceId, parentExecutionId: q.parentExecutionId, since: q.since }
  const admin = isOrgAdmin(p.role)
  const shape = [admin, ...Object.values(f).map((v) => v !== undefined)].map(Number).join('')
  const stmts = prepared(ctx.db, `executions.list.${shape}`, () => listStatements(ctx.db, admin, f))
  // An agent the caller may not see (another member's private agent) finds no execution, as a
  // made-up id finds none: its runs shown otherwise do not name it (executionShaper), and a filter
  // by it told which they were. Bound as no id ('' is none); the cursor stays bound to the filter as given.
  const filterAgent = await agentFilterSeenBy(ctx.db, p, agentId)
  const params = { org: p.organizationId, user: p.userId, ...f, agentId: filterAgent, since: since === undefined ? undefined : dbTime(since) }
  const page = await readPage('executions', { ...f, caller: [p.organizationId, p.userId] }, q, {
    rows: (limit, offset, after) => (after ? stmts.after : stmts.first).all({ ...params, ...afterParams(after), limit, offset }),
    position: (r) => ({ t: r.createdAt.getTime(), id: r.id }),
    // An execution holds a model's whole answer: a page of large ones is read and sent in batches.
    sizes: sizesOf(stmts, params),
  })
  return {
    executions: await executionsShownTo(ctx, page.rows),
    nextCursor: page.nextCursor,
    /** A large page's executions, a batch at a time (`executions` is then empty, the JSON streamed). */
    rest: mapBatches(page.rest, (rows) => executionsShownTo(ctx, rows)),
  }
}

/** How much of a delegation tree one answer holds: executions, and bytes of their large columns. */
export const TREE_MAX_NODES = 200
export const TREE_MAX_BYTES = 8 << 20

/**
 * The execution and, recursively, the child executions the caller may open; a child they may not
 * open is left out with everything under it, and only counted in `hiddenChildren`. At most
 * TREE_MAX_NODES executions and TREE_MAX_BYTES of their answers and messages, depth first: a
 * child past that is counted in `omittedChildren` and read alone (GET /executions/{id}, or its own
 * tree). A member could attach a thousand 600 KB runs under one (parentExecutionId): their tree
 * was 600 MB, built in one piece while every other request waited. Children in the order they
 * were created ((created_at, seq): the random id shuffled those of one millisecond).
 */
export async function executionTree(ctx: Ctx, id: string): Promise<ExecutionTree> {
  const p = callerOf(ctx)
  const root = await getVisibleExecution(ctx, id)
  const openable = executionOpener(ctx.db, p)
  const x = executions
  const budget = { nodes: 1, bytes: 0 }
  const nodes: ExecutionTree[] = []
  const build = async (r: Execution, depth: number): Promise<ExecutionTree> => {
    const kids = depth > 20 ? [] : await ctx.db.select({ ...accessColumns(), bytes: largeColumnsBytes(ctx.db) }).from(x).where(eq(x.parentExecutionId, r.id)).orderBy(x.createdAt, x.seq).all()
    const children: ExecutionTree[] = []
    let hidden = 0
    let omitted = 0
    for (const c of kids) {
      if (!(await openable(c))) hidden++
      else if (budget.nodes >= TREE_MAX_NODES || budget.bytes + c.bytes > TREE_MAX_BYTES) omitted++
      else {
        budget.nodes++
        budget.bytes += c.bytes
        const row = await getExecutionRow(ctx.db, c.id)
        if (row) children.push(await build(row, depth + 1))
      }
    }
    const node = { ...toPublicExecution(r), children, hiddenChildren: hidden, omittedChildren: omitted }
    nodes.push(node)
    return node
  }
  const tree = await build(root, 0)
  // As the caller may see them (executionShaper: their agents, their tool calls), read once for the whole tree.
  const shape = await executionShaper(ctx.db, p, nodes)
  for (const n of nodes) Object.assign(n, shape(n))
  return tree
}

/** The columns the execution rule reads (executions/access.ts), and the id: a row checked without its contents. */
const accessColumns = () => ({ id: executions.id, organizationId: executions.organizationId, userId: executions.userId, agentVisibility: executions.agentVisibility, spaceId: executions.spaceId })

/**
 * An execution's log. A `delegated` event names the child execution it started; a child the
 * caller may not open (the tree leaves it out too) is named as hidden, not by its id.
 */
export async function executionLogs(ctx: Ctx, id: string) {
  await getVisibleExecution(ctx, id)
  const logs = await listLogs(ctx.db, id)
  const openable = executionOpener(ctx.db, callerOf(ctx))
  const childOpenable = async (childId: unknown) => {
    const child = typeof childId === 'string' ? await ctx.db.select(accessColumns()).from(executions).where(eq(executions.id, childId)).get() : undefined
    return child !== undefined && (await openable(child))
  }
  // An agent the caller may not see (another member's private agent a run delegated to) is not
  // named either: its id is 404 for them everywhere else.
  // Nor the agent an `api_call` ran (an execute through `teamday_api`: its path names it).
  const agentOf = (l: (typeof logs)[number]) => (l.data as Record<string, unknown> | null)?.agentId
  const apiAgentOf = (l: (typeof logs)[number]) => (l.event === 'api_call' ? agentOfApiPath((l.data as Record<string, unknown> | null)?.path) : undefined)
  const unseen = await agentRefsUnseenBy(ctx.db, callerOf(ctx), logs.flatMap((l) => [agentOf(l), apiAgentOf(l)]).filter((a): a is string => typeof a === 'string'))
  const out = []
  for (const l of logs) {
    let data = (l.data ?? null) as Record<string, unknown> | null
    if (l.event === 'delegated' && data && !(await childOpenable(data.childExecutionId))) data = { ...data, childExecutionId: null, childHidden: true }
    if (data && typeof data.agentId === 'string' && unseen.has(data.agentId)) data = { ...data, agentId: null, agentHidden: true }
    const apiAgent = apiAgentOf(l)
    if (data && apiAgent !== undefined && unseen.has(apiAgent)) data = { ...data, path: unnamedApiPath(data.path as string), agentHidden: true }
    out.push({ timestamp: l.createdAt.toISOString(), level: l.level, event: l.event, data })
  }
  return out
}

/** Cancels a pending/running execution and its active descendants (one audit event); a cancelled one is a no-op; a finished one 409 (its descendants untouched). */
export async function cancelExecution(ctx: Ctx, engine: Engine, id: string): Promise<Execution> {
  const p = callerOf(ctx)
  const r = await getVisibleExecution(ctx, id)
  if (!canCancelExecution(p, r, await spaceAccessOf(ctx.db, r.spaceId))) throw new AppError('forbidden', 'Forbidden: only the user who started an execution (or an organization admin) may cancel it.')
  if (r.status === 'cancelled') return r
  // Says how it ended: a run whose instance stopped (its lease lapsed) was failed as interrupted.
  const finished = (row: Execution) =>
    new AppError('invalid_state', `Execution ${id} already ${row.status}${row.status === 'failed' && row.error ? ` (${row.error})` : ''}; only pending or running executions can be cancelled.`, {
      details: { executionId: id, status: row.status, errorCode: row.errorCode },
    })
  if (r.status === 'completed' || r.status === 'failed') throw finished(r)
  const after = (await engine.cancel(id, (tx, cancelled, before, descendants) => auditCancelled({ ...ctx, db: tx }, cancelled, before, descendants))) ?? r
  // It ended on its own while the cancel was on its way (the cancel changed nothing), or no
  // instance held it any more and the cancel failed it as the lease sweep does (Engine.cancel).
  if (after.status === 'completed' || after.status === 'failed') throw finished(after)
  return after
}

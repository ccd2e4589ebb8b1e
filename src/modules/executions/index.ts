import { Elysia } from 'elysia'
import type { Engine } from '../../engine/runner'
import type { Access, AccessLost, RevocationWatch } from '../../auth/revocation-watch'
import type { Principal } from '../../auth/principal'
import { AppError } from '../../errors'
import { bearerChallenge } from '../../auth/authenticate'
import { getExecutionRow } from '../../engine/store'
import { shownMessages } from '../../db/schema'
import { API_V1, accepted, type RouteKit } from '../../http/context'
import type { Ctx } from '../../context'
import { authErrors, bodyErrors, errorResponse, named, sharedModels } from '../shared-models'
import { AgentIdParams, ExecuteBody, ExecuteResult, Execution, ExecutionIdParams, executionModels, ListExecutionsQuery } from './model'
import { cancelExecution, eventShownTo, executionLogs, executionShownTo, executionTree, failureError, getVisibleExecution, listExecutions, startExecution } from './service'
import { executionStream } from './sse'
import { canOpenExecution, type ExecutionAccess } from './access'
import { executeResult } from '../../execute-result'
import { intParam } from '../query-params'
import { badCursor, listModels, pagingHeaderDocs, setPagingHeaders } from '../list-models'
import { RESPONSE_CONTENT, RESPONSE_DESCRIPTIONS, RESPONSE_HEADERS, IDEMPOTENCY_WITHHOLDS } from '../../http/openapi-publish'
import { StreamedArray, streamedJson } from '../../http/streamed-json'
import { prefersEventStream } from '../../http/accept'
import { withoutTimeout } from '../../http/listen'

type Server = { timeout(request: Request, seconds: number): void }

const notFound = errorResponse(404, 'not_found', 'Not found: no such execution, or not visible to you, or in another organization.', 'Execution exec_8Kq2LmX9vB3nR8kT1wYz not found.')
const agentNotFound = errorResponse(404, 'not_found', 'Not found: no such agent or space, archived, not visible to you, or in another organization. Also a synchronous execute whose run you may no longer see, while it waited (`details.executionId`; the run goes on).', 'Agent char_4Fk9QzL2mP7xR1vN8tBc not found (or archived, or not visible to you).')
const spaceNotFound = errorResponse(404, 'not_found', 'Not found: no such space, archived, not visible to you, or in another organization. Also a synchronous execute whose run you may no longer see, while it waited (`details.executionId`; the run goes on).', 'Space production not found (or archived, or not visible to you).')
const badQuery = errorResponse(422, 'validation_failed', 'Validation failed: a query parameter is invalid, unknown, repeated or empty; `details` names it.', 'Validation failed: limit must be an integer between 1 and 200', [
  { field: 'limit', message: 'limit must be an integer between 1 and 200' },
])
const executeErrorSchemas = {
  409: errorResponse(
    409,
    'invalid_state',
    // The codes an Idempotency-Key adds are listed after this by the published document
    // (src/http/openapi-publish.ts, withIdempotency): here only what an execute's say beside them.
    'The execution was cancelled before it completed (`invalid_state`). With an Idempotency-Key, `details.executionId` names the execution the key already started: `idempotency_stream_started` (a streamed execute; it is not run again), or `idempotency_interrupted` with `details.committed: true` (it was recorded but its answer lost: read it; one failed as "not started" never ran).',
    'Execution exec_8Kq2LmX9vB3nR8kT1wYz was cancelled before it completed.',
  ),
  422: errorResponse(
    422,
    'model_not_served',
    'Validation failed (`validation_failed`: `details` names each invalid field; from a run\'s `teamday_api`, also `async`); or a child past a bound of a delegation tree (`delegation_limit`, whoever asks, an API client\'s `parentExecutionId` or a run\'s `teamday_api`: past TEAMDAY_MAX_DELEGATION_DEPTH or the tree\'s TEAMDAY_MAX_DELEGATIONS_PER_RUN; `details.limit` names the bound, with `max`; nothing is started, as a `delegate` call past it is refused); or no configured provider serves the agent\'s model (`model_not_served`: the execution is recorded as failed with this message, which names the model and the providers configured; `details.executionId`); or the run used all of its agent\'s `maxTurns` model turns and its model still called tools at the last one (`max_turns_reached`: the execution is recorded as failed, without a final answer, its error naming the limit; `details.executionId`).',
    'Execution exec_8Kq2LmX9vB3nR8kT1wYz failed: Model "claude-sonnet-4-5-20250929" is not served by this server: claude-* models go to Anthropic, which is not configured (ANTHROPIC_API_KEY). Providers configured: openai (the OpenAI-compatible server at OPENAI_BASE_URL). To run it, map it to a model your server has with TEAMDAY_MODEL_ALIASES (e.g. "claude-sonnet-4-5*=llama3.1:8b"), change the agent\'s model, or set TEAMDAY_PROVIDER=openai if your OpenAI-compatible server serves it.',
    { executionId: 'exec_8Kq2LmX9vB3nR8kT1wYz', status: 'failed', model: 'claude-sonnet-4-5-20250929' },
  ),
  501: errorResponse(501, 'no_model_provider', 'No model provider is configured on this server.', 'No model provider is configured: set OPENAI_BASE_URL (and OPENAI_API_KEY if the server needs one) ... or ANTHROPIC_API_KEY ...'),
  502: errorResponse(502, 'bad_gateway', 'The model provider failed (but for its rate limit or overload: 503); the execution is failed and keeps the message.', 'Execution exec_8Kq2LmX9vB3nR8kT1wYz failed: Model provider error: Internal Server Error (HTTP 500)'),
  503: errorResponse(
    503,
    'provider_rate_limited',
    'The model provider\'s rate limit (`provider_rate_limited`) or overload (`provider_overloaded`) failed the execution; retry after `Retry-After`: the provider\'s (also `details.retryAfterSeconds`) when it sent one, else 5. Or the server is shutting down (`service_unavailable`), or the database could not be reached: nothing was recorded (the message says so), or the run was recorded and waited for a slot while the database took no write for TEAMDAY_DB_STATEMENT_TIMEOUT_MS and a second (`service_unavailable`, `details.executionId`: it is failed and will not run; start it again).',
    'Execution exec_8Kq2LmX9vB3nR8kT1wYz failed: Model provider error: the provider\'s rate limit was reached, retry after 20 s: Rate limit reached for requests (HTTP 429)',
    { executionId: 'exec_8Kq2LmX9vB3nR8kT1wYz', status: 'failed', retryAfterSeconds: 20 },
  ),
  504: errorResponse(504, 'gateway_timeout', 'The execution ran past TEAMDAY_EXECUTION_TIMEOUT_MS.', 'Execution exec_8Kq2LmX9vB3nR8kT1wYz failed: Execution timed out after 300000 ms'),
}
/**
 * The 200 of a streamed execute: the same status, as Server-Sent Events (src/modules/executions/sse.ts),
 * beside the JSON one; each route says what its 200 is (RESPONSE_DESCRIPTIONS).
 */
/**
 * The stream of the JSON answer's example (ExecuteResult, Execution): its `result` event is that
 * body with `execution`, as sse.ts sends it. It showed four of the body's fields and no `execution`.
 */
function streamExample(): string {
  const body = ExecuteResult.examples![0] as Record<string, any>
  const execution = Execution.examples![0] as Record<string, any>
  const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
  return (
    ': stream open\n\n' +
    event('meta', { executionId: body.executionId, chatId: body.chatId, sessionId: body.sessionId, agentId: execution.agentId, model: execution.model }) +
    event('message', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
    event('message', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: body.result } }) +
    event('message', { type: 'content_block_stop', index: 0 }) +
    event('result', { ...body, execution })
  )
}
const streamedExecute = {
  content: {
    'text/event-stream': {
      schema: {
        type: 'string',
        description:
          'Server-Sent Events: `meta` {executionId, chatId, sessionId, agentId, model}; `message` events in the Anthropic stream-event shape (content_block_start, content_block_delta with text_delta, content_block_stop; tool_use blocks around tool calls, whose input names no agent hidden from you, as in `toolCalls`); then `result` (the body a JSON answer would have had, with `execution`) or `error` {message, code, executionId, status, retryAfterSeconds?} (the code and Retry-After a synchronous execute would answer; or, the run going on, `token_revoked`, `membership_revoked`, or `not_found` once you may no longer see the execution). A comment line every 15 s keeps proxies from closing an idle stream.',
      },
      example: streamExample(),
    },
  },
}
/**
 * The headers of an execute's answers beyond the standard ones: a streamed answer's execution id
 * before the first event is read (src/modules/executions/sse.ts); an async 202's Location, the
 * execution to poll (`accepted`, src/http/context.ts).
 */
const executeHeaders = {
  202: { Location: { $ref: '#/components/headers/Location' } },
  200: {
    'X-Execution-Id': {
      description: 'On a streamed answer (text/event-stream): the execution\'s id, also in its `meta` event; to poll or cancel it whatever becomes of the stream.',
      schema: { type: 'string' },
      example: 'exec_8Kq2LmX9vB3nR8kT1wYz',
    },
    'X-Accel-Buffering': {
      description: 'On a streamed answer (text/event-stream): `no`, so that a proxy in front (nginx) passes each event on as it comes instead of buffering the stream.',
      schema: { type: 'string', enum: ['no'] },
      example: 'no',
    },
  },
}
const cancelConflict = errorResponse(
  409,
  'invalid_state',
  'The execution already completed or failed (`details.status`, `errorCode`; a failure\'s error is in the message). Also a run no instance held any more (its instance stopped, or lost the database, for longer than its lease, TEAMDAY_EXECUTION_LEASE_MS): the cancel fails it as interrupted (`service_unavailable`), as the lease sweep would a moment later, and answers this.',
  'Execution exec_8Kq2LmX9vB3nR8kT1wYz already failed (interrupted: the instance running it stopped, or could not reach the database, for longer than its lease (its lease lapsed)); only pending or running executions can be cancelled.',
  { executionId: 'exec_8Kq2LmX9vB3nR8kT1wYz', status: 'failed', errorCode: 'service_unavailable' },
)
/**
 * The 403s an execute gives beyond the role and the token's scope: a `parentExecutionId` the caller
 * did not start (startExecution), and a synchronous run refused when its turn came (the execution
 * failed as `forbidden`: executeFailure). The shared Forbidden spoke of the role only.
 */
const executeForbidden = errorResponse(
  403,
  'forbidden',
  'Forbidden: your role does not allow running agents (viewers lack agents:execute; `insufficient_scope` when the token lacks it), or `parentExecutionId` names an execution you did not start. Also a synchronous execute whose run was refused when its turn came in the queue (you may no longer use its agent or space): the execution is failed, `details.executionId` names it.',
  'Forbidden: parentExecutionId must be an execution you started (access denied)',
)
/** The 403 of a cancel: only the execution's starter or an admin (canCancelExecution), besides the role and scope. */
const cancelForbidden = errorResponse(
  403,
  'forbidden',
  'Forbidden: your role does not allow cancelling executions (viewers; `insufficient_scope` when the token lacks executions:write), or the execution is another member\'s: only the user who started it or an organization admin may cancel it.',
  'Forbidden: only the user who started an execution (or an organization admin) may cancel it.',
)
const executionErrorModels = named({
  ExecuteForbidden: executeForbidden,
  ExecutionCancelForbidden: cancelForbidden,
  ExecutionNotFound: notFound,
  ExecuteTargetNotFound: agentNotFound,
  ExecuteSpaceNotFound: spaceNotFound,
  ExecutionQueryInvalid: badQuery,
  ExecutionCancelled: executeErrorSchemas[409],
  ModelNotServed: executeErrorSchemas[422],
  NoModelProvider: executeErrorSchemas[501],
  ProviderFailed: executeErrorSchemas[502],
  ExecuteUnavailable: executeErrorSchemas[503],
  ExecutionTimedOut: executeErrorSchemas[504],
  ExecutionFinished: cancelConflict,
})
const executeErrors = { 403: 'ExecuteForbidden', 409: 'ExecutionCancelled', 422: 'ModelNotServed', 501: 'NoModelProvider', 502: 'ProviderFailed', 503: 'ExecuteUnavailable', 504: 'ExecutionTimedOut' } as const

/** The named OpenAPI models of these routes (also registered once by createApp: src/app.ts). */
export const executionsApiModels = { ...sharedModels, ...listModels, ...executionModels, ...executionErrorModels }

/** What a request still open when its token is revoked is told; its execution goes on, but for a run's own child (`cancelled`), which ends with the call. */
function revokedWhileOpen(executionId: string, cancelled = false) {
  const after = cancelled
    ? `Execution ${executionId}, a child of the run that asked for it, was cancelled with it.`
    : `Execution ${executionId} goes on (cancel it, or read its result, with another token: /api/v1/executions/${executionId}).`
  return new AppError('token_revoked', `Token revoked while this request was open: the request ends here. ${after}`, {
    details: { executionId },
    // As every other token_revoked 401 (src/auth/authenticate.ts).
    headers: { 'www-authenticate': bearerChallenge('invalid_token', 'Token revoked') },
  })
}

/** What an execute still open (a stream, a synchronous wait) is told when its caller may no longer open its execution (canOpenExecution); the execution goes on. */
function lostWhileOpen(executionId: string, why: AccessLost) {
  const after = `Execution ${executionId} goes on (an organization admin can read or cancel it: /api/v1/executions/${executionId}).`
  if (why === 'membership_revoked') {
    // The code the next request of its token is answered with (src/auth/authenticate.ts).
    return new AppError('membership_revoked', `Your user was removed from the organization while this request was open: the request ends here. ${after}`, {
      details: { executionId },
      headers: { 'www-authenticate': bearerChallenge('invalid_token', 'User no longer a member of the organization') },
    })
  }
  // As GET /executions/{id} now answers it.
  return new AppError('not_found', `Execution ${executionId} is no longer visible to you (its space was made private or deleted, or your role changed, while this request was open): the request ends here. ${after}`, {
    details: { executionId },
  })
}

/**
 * The watch over an execute still open (RevocationWatch's `access`): ends it (`onLost`) once its
 * caller may no longer open the execution by the rule every execution route applies
 * (canOpenExecution), with their role and the run's space as they are now.
 */
function stillOpenable(caller: Principal, execution: ExecutionAccess, onLost: (why: AccessLost) => void): Access {
  return {
    spaceId: execution.spaceId,
    allowed: (role, space) => canOpenExecution({ userId: caller.userId, organizationId: caller.organizationId, role }, execution, space),
    onLost,
  }
}

/**
 * An execute asking for a stream (`stream: true`, or `Accept: text/event-stream` without
 * `stream: false`) and for `async` too: 422 naming both, as for differing chatId and sessionId
 * (src/modules/executions/service.ts conversationOf). A client that asked for Server-Sent Events
 * would read a JSON 202 as a broken stream; one that asked for the 202 would wait on a stream.
 */
function streamWithAsync(streamField: boolean): AppError {
  const stream = streamField ? 'stream: true' : 'Accept: text/event-stream'
  const message = `${stream} asks for Server-Sent Events as the run goes, and async: true for a 202 at once without them: send one of them${streamField ? '' : ' (stream: false keeps the 202 with that Accept header)'}`
  return new AppError('validation_failed', `Validation failed: ${message}`, {
    details: [
      streamField ? { field: 'stream', message: 'cannot be combined with async: true' } : { field: 'Accept', message: 'text/event-stream cannot be combined with async: true' },
      { field: 'async', message: `cannot be combined with ${stream}` },
    ],
  })
}

export function executionsModule(engine: Engine, revocations: RevocationWatch, { auth, ctx, withholdFromReplay, watchToken, listening }: RouteKit, compression: boolean) {
  /**
   * Both execute routes: an agent (`agentRef`, its id or slug) or the built-in default assistant
   * (null). Default: waits and answers the completed run; `async`: 202 at once; `stream` (or
   * Accept: text/event-stream): Server-Sent Events.
   */
  const execute = async (principal: Principal, c: Ctx, agentRef: string | null, body: typeof ExecuteBody.static, request: Request, set: { status?: number | string; headers: Record<string, unknown> }, server: Server | null) => {
    // A run's own request (its `teamday_api` tool's), known by the Request object the engine
    // made, never by anything a client could send: after every check below, the new run is a
    // child of that run, in its delegation tree (Engine.start `from`), answered as a synchronous
    // execute is (the tool reads JSON only). `stream` too: a stream would be read by nobody, and
    // its `result` event is this very body. `async` is refused: a child runs in its parent's slot
    // and is stopped with it, so it cannot go on after the call, which is what async promises.
    const from = engine.runOf(request)
    if (from && body.async) {
      throw new AppError('validation_failed', 'Validation failed: async is not available when a run executes an agent: the agent runs as a child of that run, inside its slot, and is stopped with it; leave async out and the answer comes back when it is done', {
        details: [{ field: 'async', message: 'async must be left out (or false) when a run executes an agent' }],
      })
    }
    const wantsStream = !from && (body.stream === true || (body.stream !== false && prefersEventStream(request.headers.get('accept'))))
    // Two answers asked for at once: a stream of the run as it goes, and a 202 at once with none.
    // Either was dropped without a word (the async one won: the client waiting for events got a
    // JSON 202): refused, naming both, before anything is looked up or stored.
    if (body.async && wantsStream) throw streamWithAsync(body.stream === true)
    if (body.async) {
      const { execution } = await startExecution(c, engine, agentRef, body)
      // Failed as it was recorded (no configured provider serves its model): said now, as a
      // synchronous execute says it, not a 202 "pending" for a run that will never start.
      if (execution.status === 'failed') throw failureError(execution)
      // Location: the execution to poll (it was only in the body).
      accepted(set, 'executions', execution.id)
      return { success: true as const, executionId: execution.id, status: 'pending' as const }
    }
    if (wantsStream) {
      // Its tool calls as the caller may see them (a sub-agent hidden from them is not named).
      const stream = executionStream((e) => eventShownTo(c.db, principal, e), c.config.outputLimits)
      const { execution } = await startExecution(c, engine, agentRef, body, { onEvent: stream.push, awaited: true })
      // Failed as it was recorded (no configured provider serves its model): a 422 before any
      // stream, as the other modes answer it (it was a 200 stream holding only an `error` event).
      if (execution.status === 'failed') throw failureError(execution)
      // A stream cannot be stored for replay: a retry with the same Idempotency-Key gets
      // 409 naming this execution instead of running the agent again.
      withholdFromReplay(request, execution.id, 'stream')
      // Revoking its token ends the stream (TeamDay: revoking "stops all API requests using that
      // token"), with an `error` event; the run goes on, as when the client goes away. So does
      // the caller's loss of the execution meanwhile, by the rule every execution route applies
      // (canOpenExecution, with their role and the run's space as they are now): removed from the
      // organization, or the space made private to them or gone. Asked with the token, once a
      // second for all open requests (src/auth/revocation-watch.ts), not per event.
      const endWith = (e: AppError) =>
        // The run's status as it is now (queued runs are still pending).
        void getExecutionRow(c.db, execution.id).then(
          (row) => stream.fail({ message: e.message, code: e.code, executionId: execution.id, status: row?.status ?? 'running' }),
          () => stream.fail({ message: e.message, code: e.code, executionId: execution.id, status: 'running' }),
        )
      const unwatch = revocations.watch(principal, () => endWith(revokedWhileOpen(execution.id)), stillOpenable(principal, execution, (why) => endWith(lostWhileOpen(execution.id, why))))
      return stream.response(execution, request, { onEnd: unwatch, server }) as any
    }
    const { execution, done } = await startExecution(c, engine, agentRef, body, { from, awaited: true })
    // The run may take longer than a connection may be silent (src/http/listen.ts): the wait is
    // the run's, bounded by its own timeout (and the client may go at any time).
    withoutTimeout(server, request)
    // Waiting for the run: a revocation of the token meanwhile ends the wait with its 401; the
    // caller's loss of the execution (as for a stream, above) with the status the next request
    // would get (404 not_found, 401 membership_revoked). A run's own child is the run's work: its
    // access is the run's (runnableNow, at its start), not watched here.
    let unwatch = () => {}
    // A run's own child cancelled for its token's revocation: its run may end (cancelled) before
    // the cancel's own promise settles, and is answered as the revocation, not as a cancel.
    let refusedFor: AppError | null = null
    const revoked = new Promise<never>((_, reject) => {
      const lost = (why: AccessLost) => {
        // A token whose user is no longer a member no longer works: its expiry says nothing.
        if (why === 'membership_revoked') delete set.headers['teamday-token-expiration']
        reject(lostWhileOpen(execution.id, why))
      }
      unwatch = revocations.watch(principal, () => {
        // The token's expiry, set when it authenticated, no longer says when it stops working.
        delete set.headers['teamday-token-expiration']
        if (!from) return reject(revokedWhileOpen(execution.id))
        // A run's own child is this call's work, run in the run's slot: it ends with the call.
        // Left running, it went on after its parent had read the 401 and ended (outside any
        // slot, its model call paid for), until its own timeout.
        const refusal = revokedWhileOpen(execution.id, true)
        refusedFor = refusal
        void engine.cancel(execution.id).then(
          () => reject(refusal),
          () => reject(refusal),
        )
      }, from ? undefined : stillOpenable(principal, execution, lost))
    })
    const row = await Promise.race([done, revoked]).finally(unwatch)
    if (row.status !== 'completed') throw refusedFor ?? failureError(row)
    // Its messages as shown: the answer is stored once (src/db/schema/shared.ts storedMessages).
    return executeResult({ ...row, messages: shownMessages(row.messages, row.result) })
  }
  return new Elysia({ prefix: API_V1, tags: ['Executions'] })
    .use(auth)
    .model(executionsApiModels)
    .post('/execute', ({ principal, body, request, set, server }) => execute(principal, ctx(principal, request, set), null, body, request, set, server), {
      auth: 'agents:execute',
      body: ExecuteBody,
      response: { 200: 'ExecuteResult', 202: 'ExecuteAccepted', 404: 'ExecuteSpaceNotFound', ...bodyErrors, ...authErrors, ...executeErrors },
      detail: {
        [IDEMPOTENCY_WITHHOLDS]: 'stream',
        summary: 'Execute the default assistant',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The default assistant\'s run completed: its result as JSON (application/json); or, with `stream: true` or `Accept: text/event-stream`, its Server-Sent Events (text/event-stream), sent as the run goes. A run that fails after the stream has started ends with an `error` event, not an error status.', 202: 'With `async: true`: the default assistant\'s run is queued; poll GET /api/v1/executions/{executionId} (its `Location`) for its result.' },
        description:
          'Runs the built-in default assistant, for when you choose no agent (TeamDay\'s CLI calls it in an organization without agents): a plain system prompt, the server\'s default model (TEAMDAY_DEFAULT_MODEL, mapped by TEAMDAY_MODEL_ALIASES), no sub-agents. Everything else is POST /agents/{id}/execute: the same body, answers (200 with `result`; `stream: true` or `Accept: text/event-stream` for Server-Sent Events `meta`, `message`, `result` or `error`; `async: true` for 202), Idempotency-Key, queue and limits. ' +
          '`spaceId` (id or slug) runs it in a space you may use (404 otherwise): its instructions join the system prompt. Pass `chatId` (or `sessionId`, the same key: two different values are 422) from an earlier answer to continue that chat (its newest turns that fit in TEAMDAY_MAX_HISTORY_CHARS are sent, as for an agent). ' +
          'Its executions are yours alone (admins see them too): `agentId` null and `agentName` "Assistant" in executions and chats; the `meta` event\'s `agentId` is null.',
        [RESPONSE_CONTENT]: { 200: streamedExecute },
        [RESPONSE_HEADERS]: executeHeaders,
      },
    })
    .post(
      '/agents/:id/execute',
      ({ principal, params, body, request, set, server }) => execute(principal, ctx(principal, request, set), params.id, body, request, set, server),
      {
        auth: 'agents:execute',
        params: AgentIdParams,
        body: ExecuteBody,
        response: { 200: 'ExecuteResult', 202: 'ExecuteAccepted', 404: 'ExecuteTargetNotFound', ...bodyErrors, ...authErrors, ...executeErrors },
        detail: {
          [IDEMPOTENCY_WITHHOLDS]: 'stream',
          summary: 'Execute an agent',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The agent\'s run completed: its result as JSON (application/json); or, with `stream: true` or `Accept: text/event-stream`, its Server-Sent Events (text/event-stream), sent as the run goes. A run that fails after the stream has started ends with an `error` event, not an error status.', 202: 'With `async: true`: the agent\'s run is queued; poll GET /api/v1/executions/{executionId} (its `Location`) for its result.' },
          description:
            'Runs the agent (by id or slug: `/agents/deploy-bot/execute`) against the configured model provider with `message`; `spaceId` too may be the space\'s id or slug. Responses always carry ids. Default: waits and answers 200 with `result`, `messages`, `usage`, `historyTrimmed`. ' +
            '`stream: true` (or `Accept: text/event-stream`): Server-Sent Events `meta` {executionId, chatId, sessionId}, `message` (Anthropic stream events: content_block_start/delta/stop with text_delta, tool_use blocks around tool calls), `result` (the completed execution) or `error` {message, code}; a comment line every 15 s. ' +
            'If the client disconnects, the execution continues and is recorded; cancel it with POST /executions/{id}/cancel. ' +
            '`async: true`: 202 at once, poll GET /executions/{id} (a model no configured provider serves is 422 `model_not_served` at once, as without it); with `stream: true`, or `Accept: text/event-stream` and no `stream: false`, it is 422 `validation_failed` naming both. Pass `sessionId` (or `chatId`, the same key: two different values are 422) from an earlier answer to continue that conversation: the model gets the system prompt, the newest earlier turns (your completed executions of that session, each its message and answer, whole) that fit with the system prompt and `message` in TEAMDAY_MAX_HISTORY_CHARS (200,000 characters, about 50,000 tokens, by default), then `message`; older turns stay stored (GET /chats/{id} shows them) but are not sent, and the execution\'s `historyTrimmed` and its log\'s `history_trimmed` event then say {turnsSent, turnsOmitted, charsSent, maxChars}. ' +
            'Tools the agent gets (each unless its `disallowedTools` names it): `delegate` when it has `subagentIds` (listing those the run\'s user may see: id, name, slug, role, description, shortened (README); `agentId` takes the id or slug; child executions, at most TEAMDAY_MAX_DELEGATION_DEPTH levels and TEAMDAY_MAX_DELEGATIONS_PER_RUN in one tree); `teamday_api` when it runs in a space whose secrets hold `TEAMDAY_TOKEN` and that token is the running user\'s own (anyone else\'s run there gets no such tool; at most 50 calls a run, one at a time; the execution stores only each answer\'s status and size): calls of this API (GET, POST, PATCH, DELETE under /api/v1/; not token creation or rotation) with that token, under its scopes, its user\'s role and its rate limit, answered as `HTTP <status>` and the body (at most 64 KiB); the token is never shown to the model, stored or logged. ' +
            'Those calls may do no more than the credential that started the run: only what both its scopes and the space token\'s allow (an `agents:execute`-only token running an agent whose space holds a `*` token: the agent\'s POST /tasks is 403 `insufficient_scope`, "started by a credential without the tasks:write scope", with `details.runScopes`); from the console, what the space token allows. The limit is stored with the execution, so an `async` run keeps it when it starts later, and its children keep it (a `delegate` child; an execute through `teamday_api`, also within that call\'s token). ' +
            'An execute through `teamday_api` (this route or POST /execute) runs as a child of the calling run, after the same checks as any request of that token: in its delegation tree and slot (never queued), under TEAMDAY_MAX_DELEGATION_DEPTH and TEAMDAY_MAX_DELEGATIONS_PER_RUN (422 `delegation_limit` past either, naming it in `details.limit`), one child at a time, stopped with the run; answered as a synchronous execute (`stream: true` too); `async: true` is 422. Only the engine\'s own requests are taken for a run\'s: no header or field makes a request one. ' +
            'The model: the agent\'s, else TEAMDAY_DEFAULT_MODEL, mapped by TEAMDAY_MODEL_ALIASES; `claude-*` runs on Anthropic, everything else on the OpenAI-compatible provider (TEAMDAY_PROVIDER forces one); the execution records the model id actually sent. A model no configured provider serves fails the execution at once (422 `model_not_served`, naming the model and the providers configured). A provider error fails the execution (502), so does the timeout (504); the provider\'s rate limit or overload is 503 (`provider_rate_limited` / `provider_overloaded`, its `Retry-After`; not retried here); no provider configured at all is 501.',
          [RESPONSE_CONTENT]: { 200: streamedExecute },
        [RESPONSE_HEADERS]: executeHeaders,
        },
      },
    )
    .get(
      '/executions',
      async ({ principal, query, request, set }) => {
        const page = await listExecutions(ctx(principal, request, set), { ...query, limit: intParam(query.limit, 50), offset: intParam(query.offset, 0) })
        // The body is TeamDay's bare array: the next page travels in headers. A large page is
        // sent as it is read (src/db/paging.ts, largePage).
        setPagingHeaders(set, request, page)
        if (!page.rest) return page.executions
        // Elysia's types take a Response or the schema's value, not a union of both.
        return (await streamedJson(request, new StreamedArray(page.rest), compression, watchToken(principal), listening())) as unknown as typeof page.executions
      },
      {
        auth: 'executions:read',
        query: ListExecutionsQuery,
        response: { 200: 'ExecutionList', 400: badCursor, 422: 'ExecutionQueryInvalid', ...authErrors },
        detail: {
          summary: 'List executions',
          [RESPONSE_DESCRIPTIONS]: { 200: 'A page of the executions you may see, newest first, as a bare JSON array; paging in the Link and X-Next-Cursor headers (no count: executions are not counted).' },
          description:
            'Executions newest first, as a bare JSON array. Members see their own and those of agents shared with the organization, except those in a space they may not see and those recorded under another member\'s private run (a shared sub-agent\'s run under it is private too); admins every one of the organization. Filters: agentId, status, since (ISO-8601), spaceId, parentExecutionId; limit 1-200 (default 50). Paging: when there is a next page, `Link: <…&cursor=…>; rel="next"` (RFC 8288) points at it and `X-Next-Cursor` holds its cursor alone; pass it as `cursor`. `offset` works too (slower for deep pages). No total: counting executions is what this list avoids. A page whose executions come to more than 1 MiB (long answers) is sent as it is read, about 1 MiB of executions at a time, chunked (no Content-Length): the same array, headers and next page.',
          [RESPONSE_HEADERS]: { 200: pagingHeaderDocs('executions', `${API_V1}/executions`, false) },
        },
      },
    )
    .get('/executions/:id', async ({ principal, params, request, set }) => {
      const c = ctx(principal, request, set)
      return { success: true as const, execution: await executionShownTo(c, await getVisibleExecution(c, params.id)) }
    }, {
      auth: 'executions:read',
      params: ExecutionIdParams,
      response: { 200: 'ExecutionEnvelope', 404: 'ExecutionNotFound', ...authErrors },
      detail: { summary: 'Get an execution', description: 'Status, result, messages, tool calls, timing and token usage of one execution. Poll it after an async execute.', [RESPONSE_DESCRIPTIONS]: { 200: 'The execution, in `execution`: its status, result, messages, tool calls, timing and token usage.' } },
    })
    .get('/executions/:id/tree', async ({ principal, params, request, set }) => ({ success: true as const, tree: (await executionTree(ctx(principal, request, set), params.id)) as any }), {
      auth: 'executions:read',
      params: ExecutionIdParams,
      response: { 200: 'TreeEnvelope', 404: 'ExecutionNotFound', ...authErrors },
      detail: { summary: 'Get a delegation tree', description: 'The execution with its child executions (from delegation), recursively under `children`: only those you may open (the same rule as GET /executions/{id}); `hiddenChildren` counts the ones left out. At most 200 executions and 8 MiB of their answers and messages, depth first: `omittedChildren` counts the children past that (read them alone).', [RESPONSE_DESCRIPTIONS]: { 200: 'The execution and the child executions you may open, recursively under `tree.children`, with counts of those hidden or omitted.' } },
    })
    .get('/executions/:id/logs', async ({ principal, params, request, set }) => ({ success: true as const, logs: await executionLogs(ctx(principal, request, set), params.id) }), {
      auth: 'executions:read',
      params: ExecutionIdParams,
      response: { 200: 'LogsEnvelope', 404: 'ExecutionNotFound', ...authErrors },
      detail: { summary: 'Get execution logs', description: 'The event log of one execution, oldest first: started, tool calls, delegation, errors, completion. Never a secret. A `delegated` event names the child execution, unless you may not open it (then `childExecutionId` is null and `childHidden` true); an agent you may not see (another member\'s private agent) is not named either (`agentId` null, `agentHidden` true).', [RESPONSE_DESCRIPTIONS]: { 200: 'The execution\'s event log, oldest first, in `logs`.' } },
    })
    .post('/executions/:id/cancel', async ({ principal, params, request, set }) => {
      const c = ctx(principal, request, set)
      return { success: true as const, execution: await executionShownTo(c, await cancelExecution(c, engine, params.id)) }
    }, {
      auth: 'executions:write',
      params: ExecutionIdParams,
      response: {
        200: 'ExecutionEnvelope',
        404: 'ExecutionNotFound',
        409: 'ExecutionFinished',
        ...authErrors,
        403: 'ExecutionCancelForbidden',
      },
      detail: {
        summary: 'Cancel an execution',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The execution, cancelled, in `execution`: with its messages and the answer so far when this instance was running it.' },
        description:
          'Stops a pending or running execution and every running descendant within a second: aborts the provider requests and marks them cancelled. Answers with the execution as it ended (its messages and the answer so far) when this instance was running it; on several instances, a cancel sent to another one answers with the row marked cancelled, and the run records its end within a second. A run whose instance has stopped renewing its lease (it died, or lost the database for longer than TEAMDAY_EXECUTION_LEASE_MS) is run by no one: the cancel fails it as interrupted (`service_unavailable`, as the lease sweep would) and answers 409 saying so. Cancelling a cancelled execution changes nothing; a finished one is 409, and so is one that ended while the cancel was on its way: its descendants are then left as they are. The execution and its descendants are cancelled together, with one `execution.cancelled` audit event that lists the descendants (`descendantsCancelled`). Only its starter or an admin may cancel.',
      },
    })
}

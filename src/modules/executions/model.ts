import { t } from 'elysia'
import { Type } from '@sinclair/typebox'
import { limitParam, offsetParam } from '../list-models'
import { named, successField } from '../shared-models'
import { ITEMS_MODEL, serviceRule } from '../../http/openapi-publish'
import { ISO_INSTANT_PATTERN } from '../../instants'
import { MAX_DELEGATED_MESSAGE_CHARS } from '../../engine/tools'

/** A chat or session id a client may choose: one URL path segment as it is (GET /chats/{id}), never `.`, `..` or blank. */
const CHAT_ID_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.:~-]*$'

const ts = '2026-11-23T10:00:00.000Z'
export const exampleExecution = {
  id: 'exec_8Kq2LmX9vB3nR8kT1wYz',
  agentId: 'char_4Fk9QzL2mP7xR1vN8tBc',
  agentName: 'Code Reviewer',
  organizationId: 'org_9Tr4Kx2LmQ7vB1nZ8wYc',
  userId: 'user_4Fk9QzL2mP7xR1vN8tBc',
  spaceId: null,
  chatId: 'chat_2Hn8Qw4Rt6Yu1Io3Pa5S',
  sessionId: 'chat_2Hn8Qw4Rt6Yu1Io3Pa5S',
  status: 'completed',
  message: 'Review the open pull requests',
  result: 'Two pull requests need changes: ...',
  error: null,
  errorCode: null,
  model: 'gpt-4o-mini',
  provider: 'openai',
  messages: [
    { role: 'user', content: 'Review the open pull requests', timestamp: ts },
    { role: 'assistant', content: 'Two pull requests need changes: ...', timestamp: '2026-11-23T10:00:04.200Z' },
  ],
  toolCalls: [],
  parentExecutionId: null,
  delegationDepth: 0,
  historyTrimmed: null,
  startedAt: ts,
  completedAt: '2026-11-23T10:00:04.200Z',
  executionTime: 4200,
  tokensInput: 812,
  tokensOutput: 240,
  createdAt: ts,
  updatedAt: '2026-11-23T10:00:04.200Z',
}

const statusLiterals = () => [t.Literal('pending'), t.Literal('running'), t.Literal('completed'), t.Literal('failed'), t.Literal('cancelled')] as const
export const ExecutionStatus = t.Union([...statusLiterals()], {
  description: 'pending: waiting for a free slot; running; completed: `result` holds the answer; failed: `error` says why; cancelled: stopped by a cancel request',
})

const Message = t.Object(
  {
    role: t.String({ description: 'user (the instruction sent) or assistant (the answer)', examples: ['assistant'] }),
    content: t.String({ description: 'The text of the message' }),
    timestamp: t.String({ description: 'When it was sent (user) or the answer ended (assistant), ISO-8601' }),
  },
  { description: 'One message of the exchange' },
)
const ToolCall = t.Object(
  {
    tool: t.String({ description: 'The tool called', examples: ['delegate'] }),
    arguments: t.Unknown({ description: 'The input the model gave the tool (JSON). A `delegate` call to an agent you may not see (another member\'s private agent) does not name it: `agentId` null, and `[hidden agent]` for its id in the rest of the call; a `teamday_api` execute of one says `[hidden agent]` for it in its `path`' }),
    result: t.Unknown({ description: 'What the tool returned (for a failed call: "Error: …")' }),
    timestamp: t.String({ description: 'When the result came back, ISO-8601' }),
  },
  { description: 'One tool call the model made' },
)
const Messages = t.Array(Message, { description: 'The instruction and, once completed, the answer, oldest first' })
const Int = (description?: string) => Type.Integer(description ? { description } : {})

export const Execution = t.Object(
  {
    id: t.String({ description: 'exec_...' }),
    agentId: t.Nullable(t.String({ description: 'The agent that ran (char_…); null for the built-in default assistant (POST /api/v1/execute), and for an agent you may no longer see (another member\'s agent made private since: `agentName` is then `[hidden agent]`)' })),
    agentName: t.String({ description: 'That agent\'s name ("Assistant" for the default assistant, `[hidden agent]` for one you may no longer see)' }),
    organizationId: t.String({ description: 'The organization it ran in (org_…)' }),
    userId: t.String({ description: 'Who started it' }),
    spaceId: t.Nullable(t.String({ description: 'The space it ran in (space_…); null when it ran in none' })),
    chatId: t.String({ description: 'The conversation it belongs to: the chatId (or sessionId) sent to execute, else a new chat_… id' }),
    sessionId: t.String({ description: 'Pass it to a later execute to continue the conversation' }),
    status: ExecutionStatus,
    message: t.String({ description: 'The instruction sent' }),
    result: t.Nullable(t.String({ description: 'The answer (partial when cancelled)' })),
    error: t.Nullable(t.String({ description: 'Why it failed or stopped (e.g. "Cancelled by request"); null otherwise' })),
    errorCode: t.Nullable(
      t.String({
        description:
          'The error code of its failure, as a synchronous execute answers it (`bad_gateway`, `provider_rate_limited`, `provider_overloaded`, `gateway_timeout`, `service_unavailable`, `model_not_served`, `max_turns_reached`, `forbidden`, `internal_error`); null unless it failed',
      }),
    ),
    model: t.Nullable(t.String({ description: "The model id actually sent to the provider: the agent's model (else TEAMDAY_DEFAULT_MODEL) after TEAMDAY_MODEL_ALIASES. For a model no configured provider serves, the id it would have run as." })),
    provider: t.Nullable(t.String({ description: 'openai (any OpenAI-compatible server) or anthropic; null when no configured provider serves the model (the execution failed with `model_not_served`)' })),
    messages: Messages,
    toolCalls: t.Array(ToolCall, { description: 'The tool calls made during the run, in order' }),
    parentExecutionId: t.Nullable(t.String({ description: 'The execution that delegated this one (or the parentExecutionId sent to execute); null for a top-level run' })),
    delegationDepth: Int('0 for a top-level run; its parent\'s depth + 1 for a delegated one'),
    historyTrimmed: t.Nullable(
      t.Object({ turnsSent: Int('Turns sent'), turnsOmitted: Int('Turns left out'), charsSent: Int('Their characters'), maxChars: Int('The bound') }),
      {
        description:
          'Set when the run continued a session whose earlier turns did not all fit in TEAMDAY_MAX_HISTORY_CHARS (`maxChars`): the newest `turnsSent` (`charsSent` characters) were sent, `turnsOmitted` older ones left out (still stored). Also its log\'s `history_trimmed`. Else null.',
      },
    ),
    startedAt: t.Nullable(t.String({ description: 'When it began running (ISO-8601); null while pending or when it never ran' })),
    completedAt: t.Nullable(t.String({ description: 'When it ended (ISO-8601); null while pending or running' })),
    executionTime: t.Nullable(Int('Milliseconds from start to end')),
    tokensInput: Int('Input tokens the provider reported, summed over every turn; 0 until it ends'),
    tokensOutput: Int('Output tokens the provider reported, summed over every turn; 0 until it ends'),
    createdAt: t.String({ description: 'When it was created (ISO-8601)' }),
    updatedAt: t.String({ description: 'When it last changed (ISO-8601)' }),
  },
  { description: 'One run of an agent', examples: [exampleExecution] },
)

export type ExecutionTree = typeof Execution.static & { children: ExecutionTree[]; hiddenChildren: number; omittedChildren: number }
// Not t.Recursive: its bare `$ref` is not resolvable in the OpenAPI document. Children have the
// same shape (an execution plus `children`), built by the service from public objects only.
export const ExecutionTreeNode = t.Object({
  ...Execution.properties,
  // Validated as any JSON (TypeBox recursion and Elysia's response check do not mix); documented
  // as what it is, this same model, by the publisher (src/http/openapi-publish.ts, ITEMS_MODEL).
  children: t.Array(t.Unknown(), { description: 'Child executions (delegation) you may open, each with the same shape, recursively', [ITEMS_MODEL]: 'ExecutionTreeNode' }),
  hiddenChildren: Int('Child executions left out because you may not open them (another user\'s, a private agent\'s, or in a space hidden from you)'),
  omittedChildren: Int('Child executions you may open that this answer leaves out: one tree holds at most 200 executions and 8 MiB of their answers and messages. Read them with GET /executions/{id} or their own tree'),
}, { description: 'An execution with the executions it delegated to' })

export const ExecuteBody = t.Object(
  {
    message: t.String({ minLength: 1, maxLength: MAX_DELEGATED_MESSAGE_CHARS, description: 'The instruction for the agent (white space alone is 422)', error: `message must be a non-empty string of at most ${MAX_DELEGATED_MESSAGE_CHARS} characters (it is required)` }),
    spaceId: t.Optional(t.String({ maxLength: 100, description: 'Run in this space (its id or its slug): its instructions join the system prompt. Leave it out to run without a space (blank is 422)', error: 'spaceId must be a space id or slug string' })),
    sessionId: t.Optional(t.String({ minLength: 1, maxLength: 200, pattern: CHAT_ID_PATTERN, description: 'Continue this conversation (an id from an earlier answer, or one of your own: letters, digits and _ . : ~ -, not starting with . : ~ or -): its newest earlier turns that fit in TEAMDAY_MAX_HISTORY_CHARS (200,000 characters by default, system prompt and message included) are sent with the message, whole turns only; older ones stay stored but are left out (the log says so: `history_trimmed`)', error: 'sessionId must be 1-200 letters, digits or _ . : ~ - (not starting with . : ~ or -)' })),
    chatId: t.Optional(t.String({ minLength: 1, maxLength: 200, pattern: CHAT_ID_PATTERN, description: 'Continue this chat: the same key as sessionId (both given and different: 422); the same characters, so that /chats/{id} can name it', error: 'chatId must be 1-200 letters, digits or _ . : ~ - (not starting with . : ~ or -)' })),
    stream: t.Optional(t.Boolean({ description: 'Server-Sent Events instead of one JSON answer (also with Accept: text/event-stream)', error: 'stream must be a boolean' })),
    async: t.Optional(t.Boolean({ description: 'Answer 202 at once; poll GET /executions/{id}. Not with a stream (stream: true, or Accept: text/event-stream without stream: false): 422', error: 'async must be a boolean' })),
    parentExecutionId: t.Optional(t.String({ minLength: 1, maxLength: 100, description: 'Record this run as a child of another execution; it must be one you started (else 403), below TEAMDAY_MAX_DELEGATION_DEPTH (else 422 `delegation_limit`). From a run\'s `teamday_api` the new run is a child of that run, and this may only name it (else 422)', error: 'parentExecutionId must be an execution id (a non-empty string)' })),
    delegationDepth: t.Optional(t.Integer({ minimum: 0, maximum: 20, description: 'Depth in a delegation tree (default 0; parent depth + 1 with parentExecutionId). At most the server\'s TEAMDAY_MAX_DELEGATION_DEPTH (default 3; 20 is the most that setting takes): a larger one is 422 `validation_failed` naming this field.', error: 'delegationDepth must be an integer between 0 and 20' })),
  },
  { examples: [{ message: 'Review the open pull requests' }, { message: 'Deploy commit 4f2a9c1 to production', spaceId: 'production', stream: false }, { message: 'Summarise yesterday', async: true }] },
)

export const AgentIdParams = t.Object({ id: t.String({ maxLength: 100, description: 'Agent id (char_…) or slug (deploy-bot)', examples: ['deploy-bot'] }) })
export const ExecutionIdParams = t.Object({ id: t.String({ maxLength: 100, description: 'Execution id (exec_...)' }) })

export const ExecuteResult = t.Object(
  {
    success: successField,
    executionId: t.String({ description: 'The execution recorded for this run (exec_…)' }),
    id: t.String({ description: 'The same as executionId' }),
    status: t.Literal('completed', { description: 'Always completed: a run that did not complete answers an error' }),
    result: t.String({ description: 'The answer' }),
    messages: Messages,
    chatId: Execution.properties.chatId,
    sessionId: Execution.properties.sessionId,
    usage: t.Object(
      { inputTokens: Int('Input tokens the provider reported, summed over every turn'), outputTokens: Int('Output tokens the provider reported, summed over every turn') },
      { description: 'Token usage of the run' },
    ),
    historyTrimmed: Execution.properties.historyTrimmed,
  },
  {
    examples: [
      {
        success: true,
        executionId: exampleExecution.id,
        id: exampleExecution.id,
        status: 'completed',
        result: exampleExecution.result,
        messages: exampleExecution.messages,
        chatId: exampleExecution.chatId,
        sessionId: exampleExecution.sessionId,
        usage: { inputTokens: 812, outputTokens: 240 },
        historyTrimmed: null,
      },
    ],
  },
)

export const ExecuteAccepted = t.Object(
  {
    success: successField,
    executionId: t.String({ description: 'The execution to poll at GET /api/v1/executions/{id} (exec_…)' }),
    status: t.Literal('pending', { description: 'Always pending: it runs in the background' }),
  },
  { examples: [{ success: true, executionId: exampleExecution.id, status: 'pending' }] },
)

export const ListExecutionsQuery = t.Object({
  agentId: t.Optional(t.String({ maxLength: 100, description: 'Only this agent\'s executions (its id or slug)', error: 'agentId must be an agent id or slug string' })),
  status: t.Optional(t.Union([...statusLiterals()], { description: 'Only executions with this status', error: 'status must be one of pending, running, completed, failed, cancelled' })),
  since: t.Optional(t.String({ maxLength: 40, description: 'ISO-8601: created at or after', error: 'since must be an ISO-8601 date-time', ...serviceRule({ pattern: ISO_INSTANT_PATTERN }) })),
  spaceId: t.Optional(t.String({ maxLength: 100, description: 'Only executions in this space (its id or slug)', error: 'spaceId must be a space id or slug string' })),
  parentExecutionId: t.Optional(t.String({ maxLength: 100, description: 'Only the executions this one delegated to (its children)', error: 'parentExecutionId must be an execution id string' })),
  limit: limitParam,
  offset: offsetParam('Executions'),
  cursor: t.Optional(t.String({ description: 'Opaque: from the `Link: <…>; rel="next"` (or `X-Next-Cursor`) header of the previous page of this same list with the same filters. Leave out (or empty) for the first page.' })),
})

export const ExecutionList = t.Array(Execution, { description: 'A bare JSON array, newest first', examples: [[exampleExecution]] })
export const ExecutionEnvelope = t.Object({ success: successField, execution: Execution }, { examples: [{ success: true, execution: exampleExecution }] })
export const TreeEnvelope = t.Object({ success: successField, tree: ExecutionTreeNode }, { examples: [{ success: true, tree: { ...exampleExecution, children: [], hiddenChildren: 0, omittedChildren: 0 } }] })
export const LogsEnvelope = t.Object(
  {
    success: successField,
    logs: t.Array(
      t.Object(
        {
          timestamp: t.String({ description: 'When it happened, ISO-8601' }),
          level: t.String({ description: 'info, warn or error' }),
          event: t.String({ description: 'What happened: started, tool_call, tool_result, delegated, delegation_refused, history_trimmed (older turns of the session left out: turnsSent, turnsOmitted, charsSent, maxChars), max_turns_reached (the run used its maxTurns without a final answer and failed: maxTurns, message), answer_cut (finishReason length, content-filter, or other with the provider\'s rawFinishReason; stop with rawFinishReason pause_turn; tool-calls with toolCallsRead 0: calls named nothing, dropped), provider_event_skipped (an Anthropic stream event of a kind the AI SDK does not know, skipped: event, kind; once per kind), scope_limit_recovered (a run recorded without its starter\'s scopes, by an older build: scopes, from), completed, cancelled, timeout, interrupted, provider_error, failed' }),
          data: t.Nullable(t.Unknown(), { description: 'Details of the event (JSON; e.g. the provider and model for started); null when none' }),
        },
        { description: 'One event of the run' },
      ),
      { description: 'The events of the execution, oldest first' },
    ),
  },
  { examples: [{ success: true, logs: [{ timestamp: ts, level: 'info', event: 'started', data: { provider: 'openai', model: 'gpt-4o-mini' } }] }] },
)

/** Named in the OpenAPI document; routes refer to them by name. */
export const executionModels = named({ Execution, ToolCall, ExecutionTreeNode, ExecutionList, ExecutionEnvelope, TreeEnvelope, LogsEnvelope, ExecuteResult, ExecuteAccepted })

import type { ModelMessage, ToolSet } from 'ai'
import { afterOtherRequests } from '../next-turn'
import { retryAfterMs } from '../retry-after'
import type { Execution, ExecutionMessage, ExecutionToolCall } from '../db/schema'
import type { Clock } from '../clock'
import type { Config } from '../config'
import type { Db } from '../db/connection'
import type { Logger } from '../logger'
import type { Metrics } from '../metrics/recorder'
import type { ModelProviders } from './providers'
import { childVisibility, joinWriters, newDelegationTree, type Job } from './prepare'
import { addLog, finishExecution, getExecutionRow, MESSAGE_OVERHEAD_CHARS, recordedVisibility, sessionHistory, subagentRows, turnWriters, updateExecution } from './store'
import { retryWhileUnavailable } from '../db/unavailable'
import { errorMessage } from '../errors'
import { aiSdk } from './sdk'
import { buildTools, type OfferedSubagent, type RunChild } from './tools'
import { API_TOOL, apiToolFor, storedApiResult, type ApiAccess } from './api-tool'
import { refusalMessage, runnableNow, visibilityUnder, type RunRefusal } from '../modules/executions/access'
import { roleIn } from '../auth/current-role'
import { canUseAgent } from '../modules/agents/access'
import { starterScopes } from './starter-scopes'
import { answerRefusedIn, CHAT_COMPLETIONS, PROVIDER_STATUS_HEADER } from './provider-fetch'
import { SKIPPED_KIND, turnUsage, type TurnUsage } from './anthropic-events'
import { clipped } from '../text'
import { providerErrorFields } from './provider-log'

export const DEFAULT_MAX_TURNS = 10

/**
 * Why a run that used all its turns failed: its model, at the last turn, still called tools (the
 * calls ran; the model never read their results), so there is no final answer. It was recorded
 * as completed with an empty or interim answer, which a client could not tell from a real one.
 */
export function maxTurnsMessage(maxTurns: number, agentsOwn: boolean): string {
  const limit = agentsOwn ? `maxTurns = ${maxTurns}` : `maxTurns = ${maxTurns}, the default: the agent sets none`
  return `The run reached its turn limit (${limit}) without a final answer: the model was still calling tools at its last turn. Raise the agent's maxTurns (at most 500) or ask for less in one message.`
}

/**
 * How long a run's reading of its model's stream may keep the event loop, without a turn for the
 * rest of the server (I/O, timers, other requests), before it lets them in. A provider that sends
 * faster than its parts are handled leaves them buffered, and `for await` then takes one after
 * another in microtasks: nothing else ran for up to a second at a time, other requests waited,
 * and a streaming client that had gone away was seen only then, megabytes of events later, all
 * written for a dead connection (test/stream-dropped-connection.test.ts).
 */
export const RUN_TURN_MS = 10

/**
 * `due()`: undefined while the caller has had the event loop for at most `ms` since its first
 * call or its last turn (a setImmediate of its own ran since: it waited for I/O, or yielded),
 * else a promise that resolves after one turn. A loop that awaits it when given one never holds
 * the event loop much longer than `ms`; one whose input comes slower than it is handled seldom
 * yields.
 */
export function turnTaker(ms: number): () => Promise<void> | undefined {
  let since = -1
  let turned = false
  const arm = () => {
    turned = false
    since = performance.now()
    setImmediate(() => (turned = true))
  }
  return () => {
    if (since < 0 || turned) arm()
    else if (performance.now() - since > ms) return afterOtherRequests().then(arm)
    return undefined
  }
}

/**
 * The tools, each of whose calls first awaits `before(toolCallId, toolName)`: what the run
 * records of a call (its `tool_call` log line) is written before the tool runs, so that what the
 * tool records itself (`delegated`, `api_call`, …) comes after it by construction. The AI SDK runs
 * a step's tools once the model's answer is in, not when the run reads the call from its stream:
 * a line written only then was written after the tool's own whenever the run was the slower.
 */
export function callsFirst(tools: ToolSet | undefined, before: (toolCallId: string, tool: string) => Promise<void>, keys: readonly string[] = []): ToolSet | undefined {
  if (!tools) return tools
  const out: ToolSet = {}
  for (const [name, t] of Object.entries(tools)) {
    const execute = t.execute
    out[name] = execute
      ? {
          ...t,
          execute: async (input: unknown, options: Parameters<typeof execute>[1]) => {
            await before(options.toolCallId, name)
            // A configured API key the model wrote into a call is not passed on (a sub-agent's message, an API call's body).
            return execute(inputWithoutKeys(input, keys), options)
          },
        }
      : t
  }
  return out
}

/** A tool call's input with each of `keys` in its strings as `[redacted]` (the same input when none is there). */
export function inputWithoutKeys<T>(input: T, keys: readonly string[]): T {
  if (keys.length === 0 || input === undefined) return input
  const json = JSON.stringify(input)
  if (json === undefined || !keys.some((k) => json.includes(k))) return input
  return JSON.parse(withoutKeys(json, keys)) as T
}

/** What the engine works with; built once by createRuntime. */
export interface EngineDeps {
  db: Db
  clock: Clock
  log: Logger
  config: Pick<Config, 'maxConcurrentExecutions' | 'maxDelegationDepth' | 'maxDelegationsPerRun' | 'executionTimeoutMs' | 'executionLeaseMs' | 'maxHistoryChars' | 'outputLimits' | 'dbStatementTimeoutMs'> & Partial<Pick<Config, 'openaiApiKey' | 'anthropicApiKey'>>
  providers: ModelProviders
  metrics?: Metrics
  /** This instance, as executions' owner (src/engine/leases.ts). */
  instanceId: string
  /** The app's own handler and a space's TEAMDAY_TOKEN, for the `teamday_api` tool (src/engine/api-tool.ts; set by createApp: Engine.useApi). */
  api?: ApiAccess
}

/** What a running execution tells its listeners (the SSE route renders these). */
export type EngineEvent =
  | { type: 'text'; text: string }
  | { type: 'tool_start'; id: string; name: string; input: unknown }
  | { type: 'tool_end'; id: string; name: string; output: unknown }
  | { type: 'done'; execution: Execution }

/** `ended`: its row was ended elsewhere (failed by another instance's lease sweep): stop, record nothing. */
export type AbortReason = 'cancel' | 'timeout' | 'shutdown' | 'ended'

/** The provider's HTTP status of an error (the AI SDK's APICallError, or its cause), if any. */
export function providerStatus(e: unknown): number | undefined {
  return providerAnswer(e)?.statusCode
}

/** Whichever error of the chain carries the provider's answer (the AI SDK's APICallError, or its cause). */
function providerAnswer(e: unknown): { statusCode: number; responseHeaders?: Record<string, string>; responseBody?: unknown; type?: unknown; code?: unknown } | undefined {
  for (let err = e as { statusCode?: unknown; cause?: unknown } | undefined, i = 0; err && i < 4; err = err.cause as typeof err, i++) {
    if (typeof err.statusCode === 'number') return err as ReturnType<typeof providerAnswer>
  }
  return undefined
}

/**
 * The provider's own limit, which passes with time: its rate limit (429) or its overload (503,
 * Anthropic's 529; also an `overloaded_error` or `rate_limit_error` event in the middle of a
 * stream, which the AI SDK gives those statuses). A 429 for an exhausted quota (OpenAI's
 * `insufficient_quota`: billing) does not pass by waiting: it stays a provider error (502).
 */
export type ProviderLimit = { code: 'provider_rate_limited' | 'provider_overloaded'; retryAfterSeconds: number | null }

/** The longest Retry-After passed on (a day); a provider's longer one is said as this. */
const MAX_RETRY_AFTER_S = 86_400
const QUOTA = /insufficient_quota/

export function providerLimit(e: unknown, now: number): ProviderLimit | null {
  const answer = providerAnswer(e)
  if (!answer) return null
  const status = answer.statusCode
  const code = status === 429 ? 'provider_rate_limited' : status === 503 || status === 529 ? 'provider_overloaded' : null
  if (code === null) return null
  if (status === 429 && [answer.type, answer.code, answer.responseBody].some((v) => typeof v === 'string' && QUOTA.test(v))) return null
  return { code, retryAfterSeconds: retryAfterOf(answer.responseHeaders, now) }
}

/**
 * Seconds to wait from a provider's answer: `retry-after-ms` (OpenAI), else `retry-after` (seconds
 * or an HTTP date); null without either. At least 1 s, as this server's own 429s say: a provider's
 * `0` (or a date already past) was passed on as `Retry-After: 0`, which a client retries at once.
 */
function retryAfterOf(headers: Record<string, string> | undefined, now: number): number | null {
  if (!headers) return null
  const ms = headers['retry-after-ms']?.trim()
  const after = ms && /^\d+(\.\d+)?$/.test(ms) ? Number(ms) : retryAfterMs(headers['retry-after'], now)
  return after === null ? null : Math.max(1, Math.min(MAX_RETRY_AFTER_S, Math.ceil(after / 1000)))
}

/**
 * The most tokens a run records of either kind: the columns' (tokens_input, tokens_output) range
 * on PostgreSQL (`integer`), far beyond any real run.
 */
const MAX_TOKENS = 2_147_483_647
/**
 * `sum` with a step's token count as its provider reported it: the AI SDK passes on any JSON
 * number. A fraction (2.5) was recorded as such, and the API's integer answer was then a 500
 * (SQLite), or PostgreSQL's integer column refused it and the finished run lost its answer; a
 * count past the column's range (3e9, 1e300) the same; a negative one lowered the sum and the
 * token counter. Rounded, a count that is not a number of zero or more (negative) adds nothing,
 * and the sum stops at MAX_TOKENS.
 */
export function addTokens(sum: number, reported: number | undefined): number {
  const n = typeof reported === 'number' && Number.isFinite(reported) && reported > 0 ? Math.round(reported) : 0
  return Math.min(MAX_TOKENS, sum + n)
}

const PROVIDER_ERROR = 'Model provider error: '

/**
 * The finish reasons by which an OpenAI-compatible server says its answer broke off rather than
 * ended (vLLM's `abort`, a gateway's `error`; compared without case), which the AI SDK maps to
 * `other`; its own `error` is one whatever the provider called it.
 */
const BROKEN_OFF = new Set(['error', 'abort', 'aborted', 'cancelled', 'canceled'])
function brokenOff(finish: string, raw: string | undefined): boolean {
  return finish === 'error' || (finish === 'other' && raw !== undefined && BROKEN_OFF.has(raw.trim().toLowerCase()))
}
/**
 * Finish reasons, not OpenAI's, by which an OpenAI-compatible server says its model ended its
 * answer where it meant to (compared without case): text-generation-inference's `eos_token`
 * (before it said `stop`), a gateway's Anthropic words (`end_turn`, `stop_sequence`: LiteLLM in
 * front of some models), `end` (some gateways), and `stop` itself in another case (`STOP`,
 * `Stop`: gateways in front of Gemini, whose own word it is). The AI SDK maps them to `other`
 * (it knows `stop` only so written), and each whole answer was logged as one that may have been
 * cut (answer_cut). A cut in any case (`LENGTH`, `MAX_TOKENS`) is none of these: still logged.
 */
const ENDED = new Set(['eos_token', 'eos', 'end_turn', 'stop_sequence', 'stop', 'end'])
/** How much of a provider's finish reason is repeated (in an error, in a log line): it is the provider's string, of any length. */
const MAX_SHOWN_FINISH = 100
const shownFinish = (reason: string) => JSON.stringify(reason.slice(0, MAX_SHOWN_FINISH))
/** How many kinds of skipped provider events a run logs (provider_event_skipped), at most: each a row. */
const MAX_SKIPPED_KINDS_LOGGED = 10

/** The characters of a citation an Anthropic stream's raw chunk carries (a citations_delta event's), else undefined. */
function citationChars(raw: unknown): number | undefined {
  const chunk = raw as { type?: unknown; delta?: { type?: unknown; citation?: unknown } } | null
  if (chunk?.type !== 'content_block_delta' || chunk.delta?.type !== 'citations_delta') return undefined
  return (JSON.stringify(chunk.delta.citation ?? null) ?? '').length
}

/** A run past its tree's Config.outputLimits (answerChars or streamedParts: src/engine/output-limits.ts). */
class AnswerTooLong extends Error {
  constructor(what: string, delegated: boolean) {
    const whose = delegated ? "one run's delegation tree (this sub-agent's run, the run that delegated to it and the others of its tree, together)" : 'one run (with the sub-agents it delegates to)'
    super(`the model's output passed ${what}, this server's limit for ${whose}: the run was stopped there (result holds the answer up to it)`)
  }
}
const LIMIT_WORDS: Record<ProviderLimit['code'], string> = {
  provider_rate_limited: "the provider's rate limit was reached",
  provider_overloaded: 'the provider is overloaded',
}

/** The stored error of a run the provider's limit failed: what happened, when to retry (when the provider said), its own words. */
function limitMessage(limit: ProviderLimit, detail: string): string {
  const after = limit.retryAfterSeconds === null ? '' : `, retry after ${limit.retryAfterSeconds} s`
  return `${PROVIDER_ERROR}${LIMIT_WORDS[limit.code]}${after}: ${detail}`
}

/** The Retry-After a stored error of limitMessage names (written first, before the provider's words), else null. */
export function retryAfterOfFailure(error: string | null): number | null {
  const m = error === null ? null : /^Model provider error: [^:]*, retry after (\d+) s:/.exec(error)
  return m ? Number(m[1]) : null
}

/** API-key-shaped words (sk-…, sk-ant-…, key-…), also when a provider masks part of them. */
const KEY_LIKE = /\b(sk|key|api[_-]?key)[-_][A-Za-z0-9_\-*.]{6,}/gi
/** Four stars or more: where a provider masked part of a secret (`my-provi************5b4a`). */
const STARS = /\*{4,}/g
const SECRET_CHAR = /[A-Za-z0-9_\-.]/

/**
 * Each masked secret, its visible ends included (they are still part of it), as `[redacted]`:
 * a run of four stars or more with the letters, digits, `_`, `-` and `.` on either side. Found from
 * the stars outward, in time linear in the message: the expression it was,
 * /[A-Za-z0-9_\-.]*\*{4,}[A-Za-z0-9_\-.]*\/g, tried each start in a long word without stars to
 * its end (a provider's error of 40,000 letters held the event loop 1.3 s, 1 MB a quarter of an hour).
 */
function redactMasked(msg: string): string {
  let out = ''
  let done = 0
  STARS.lastIndex = 0
  for (let m = STARS.exec(msg); m !== null; m = STARS.exec(msg)) {
    let start = m.index
    while (start > done && SECRET_CHAR.test(msg[start - 1]!)) start--
    let end = m.index + m[0].length
    while (end < msg.length && SECRET_CHAR.test(msg[end]!)) end++
    out += msg.slice(done, start) + '[redacted]'
    done = end
    STARS.lastIndex = end
  }
  return out + msg.slice(done)
}

/**
 * A provider error's message with the configured API keys and anything key-shaped removed (a
 * provider may quote the key it refused). Only the message: never the request it answered
 * (the AI SDK's error also carries the request body, which holds the prompt).
 */
export function scrubProviderMessage(msg: string, keys: readonly (string | undefined)[]): string {
  const out = withoutKeys(msg, keys.filter((k): k is string => !!k && k.length >= 8))
  return redactMasked(out.replace(KEY_LIKE, '[redacted]'))
}

/**
 * The configured API keys scrubbed from what a provider sends in an answer or a tool call: those
 * that look like a secret (16 characters or more, letters and digits). A local server's
 * placeholder key (`lm-studio`, `not-needed`, `sk-no-key-required`: README, the key is optional
 * there) is a word the model may write: scrubbed, it rewrote answers, `teamday_api` paths and
 * delegate messages (found by a review). A provider's error message is scrubbed of every key of 8
 * characters or more (scrubProviderMessage): it is never the answer.
 */
function providerKeys(keys: readonly (string | undefined)[]): string[] {
  return keys.filter((k): k is string => !!k && k.length >= 16 && /\d/.test(k) && /[A-Za-z]/.test(k))
}

/** `text` with each of `keys` as `[redacted]`. */
function withoutKeys(text: string, keys: readonly string[]): string {
  let out = text
  for (const k of keys) if (out.includes(k)) out = out.split(k).join('[redacted]')
  return out
}

/**
 * How many characters at the end of `text` may begin one of `keys` (the longest such end, shorter
 * than the key): held back until the next delta tells whether the key follows. Only the places
 * of a key's first character in the last key-length characters are tried.
 */
function keyPrefixAtEnd(text: string, keys: readonly string[]): number {
  let most = 0
  for (const k of keys) {
    const from = Math.max(0, text.length - k.length + 1)
    for (let i = text.indexOf(k[0]!, from); i !== -1 && text.length - i > most; i = text.indexOf(k[0]!, i + 1)) {
      if (k.startsWith(text.slice(i))) {
        most = text.length - i
        break
      }
    }
  }
  return most
}

/** Bun's advice to developers at the end of a failed fetch's message: not the user's business. */
const FETCH_HINT = 'For more information, pass `verbose: true` in the second argument to fetch()'

/**
 * `msg` without FETCH_HINT, the white space before it and a full stop after it, wherever it is:
 * what /\s*For more information, …fetch\(\)\.?/g removed, by a scan. That expression tried every
 * start of a long run of white space not followed by the hint, each to the end of the run: a
 * provider's error message of 1 MB of spaces held the event loop for minutes.
 */
function withoutFetchHint(msg: string): string {
  const parts = msg.split(FETCH_HINT)
  if (parts.length === 1) return msg
  let out = ''
  for (let i = 0; i < parts.length; i++) {
    let part = parts[i]!
    if (i > 0 && part.startsWith('.')) part = part.slice(1)
    // trimEnd removes what \s matches (WhiteSpace and LineTerminator), and the run ends at the
    // part's start at the latest: at the message's start or right after the hint before it.
    out += i < parts.length - 1 ? part.trimEnd() : part
  }
  return out
}
/** A connection that broke off, before the first byte or mid-answer (Bun's and the AI SDK's words for it). */
const BROKE_OFF = /socket connection was closed unexpectedly|ECONNRESET|^Failed to process successful response/i
const CUT = 'the connection to the provider closed before its answer was complete (reset or cut by the network, a proxy or the provider)'
/**
 * What the AI SDK's Anthropic provider throws when the first event of a stream (before any
 * message_start: src/engine/anthropic-events.ts moves the others after it) is one it cannot
 * read: its own assertion, said plainly.
 */
const UNREAD_FIRST = /^Expected a normalized Anthropic stream error$/
const UNREAD_FIRST_SAID = "the provider's stream began with an event that is not part of an answer this server can read (and sent no message_start)"

/**
 * An event of the provider's stream the AI SDK could not read, said plainly: the SDK's own message
 * is the event and then every complaint of its schema, pages of JSON for `data: []`.
 */
function unreadEvent(e: unknown): string | undefined {
  const err = e as { name?: unknown; value?: unknown; text?: unknown }
  if (err?.name === 'AI_TypeValidationError') return `the provider sent a stream event that is not part of an answer this server can read: ${clipped(JSON.stringify(err.value) ?? String(err.value), 200)}`
  if (err?.name === 'AI_JSONParseError' && typeof err.text === 'string') return `the provider sent a stream event that is not JSON: ${clipped(err.text, 200)}`
  return undefined
}

/**
 * The type of an error the provider sent as an event of its stream (Anthropic's `error` event:
 * `overloaded_error`, `api_error`, …), which came with HTTP 200; '' for such an error without a
 * type; undefined for any other error (an HTTP status of the provider's, a connection's). The
 * AI SDK gives such an error a status of its own, from its type (529 for `overloaded_error`, 500
 * for `api_error`): what decides the run's errorCode (providerLimit), but no HTTP status the
 * provider answered. In the middle of the stream the error is the SDK's stream error (no `url`,
 * as an APICallError has); as the stream's first event, an APICallError whose answer was the
 * event stream (its content-type) with a successful HTTP status (PROVIDER_STATUS_HEADER), its body
 * the event's error. An error status whose body was labelled an event stream (a 429 of a
 * gateway's) is an error status: it lost its "(HTTP 429)" and the log its providerStatus.
 */
export function streamErrorType(e: unknown): string | undefined {
  const answer = providerAnswer(e) as ({ url?: unknown; responseHeaders?: Record<string, string> } & ReturnType<typeof providerAnswer>) | undefined
  if (!answer) return undefined
  let type: unknown
  if (answer.url === undefined) type = answer.type
  else if (
    /^text\/event-stream\b/i.test(answer.responseHeaders?.['content-type'] ?? '') &&
    /^2\d\d$/.test(answer.responseHeaders?.[PROVIDER_STATUS_HEADER] ?? '') &&
    typeof answer.responseBody === 'string'
  ) {
    try {
      type = (JSON.parse(answer.responseBody) as { type?: unknown } | null)?.type
    } catch {
      type = undefined
    }
  } else return undefined
  return typeof type === 'string' ? clipped(type, MAX_SHOWN_FINISH) : ''
}

/** What is said of a provider's error without a message (as src/engine/anthropic-events.ts says it). */
const WITHOUT_MESSAGE = 'the provider sent an error without a message'

/** What a failed run says of a provider's error `e`: scrubbed (scrubProviderMessage), plainly worded, at most 1000 characters. */
export function providerMessage(e: unknown, keys: readonly (string | undefined)[] = []): string {
  const err = e as { message?: string; statusCode?: number; responseBody?: string; cause?: unknown }
  const refused = answerRefusedIn(e)
  // Scrubbed too: one may quote what the provider sent (a JSON answer that is no chat completion).
  if (refused) return scrubProviderMessage(refused.message, keys)
  // A provider's error whose message is blank ("", white space) has none: it said the SDK's class
  // name ("AI_APICallError"), or nothing before its type.
  const said = typeof err?.message === 'string' && err.message.trim() ? err.message : providerAnswer(e) ? WITHOUT_MESSAGE : err?.message || String(e)
  const raw = withoutFetchHint(scrubProviderMessage(unreadEvent(e) ?? said, keys))
  // "Cannot connect to API: ECONNRESET" was said of a stream cut mid-answer too, and "Failed to
  // process successful response (HTTP 200)" of another: said plainly, the same either way.
  if (BROKE_OFF.test(raw)) return CUT
  if (UNREAD_FIRST.test(raw)) return UNREAD_FIRST_SAID
  let msg = raw.replace(/^Cannot connect to API: /, 'cannot connect to the provider: ')
  // An error event of the stream (HTTP 200) is named by its type, not by the status the AI SDK gave it.
  const streamType = streamErrorType(e)
  if (streamType !== undefined) msg = streamType ? `${msg} (${scrubProviderMessage(streamType, keys)})` : msg
  else if (err?.statusCode) msg = `${msg} (HTTP ${err.statusCode})`
  // A 404 that is no error of the API's (no message in its body): nothing serves the path, most
  // often OPENAI_BASE_URL without its /v1 (Ollama's "404 page not found"). It said only "Not Found".
  const url = (e as { url?: unknown })?.url
  if (err?.statusCode === 404 && (e as { data?: unknown }).data === undefined && typeof url === 'string' && CHAT_COMPLETIONS.test(url)) {
    msg = `${msg}: nothing answers ${scrubProviderMessage(url, keys)}; set OPENAI_BASE_URL to the address of the server's OpenAI-compatible API, usually ending in /v1 (e.g. http://localhost:11434/v1 for Ollama)`
  }
  return clipped(msg, 1000)
}

/** A queued run that may not run now (runnableNow): failed without a model call, and why. */
async function refuse(deps: EngineDeps, job: Job, reason: RunRefusal, now: number): Promise<Execution> {
  const { db, log, metrics } = deps
  const id = job.execution.id
  const error = `Not run: ${refusalMessage(reason)} (checked when its turn came).`
  const failed = await finishExecution(db, id, { status: 'failed', error, errorCode: 'forbidden', completedAt: new Date(now), updatedAt: new Date(now), executionTime: 0 })
  if (!failed) return endedBeforeStart(deps, job)
  await addLog(db, id, now, 'error', 'refused', { reason })
  log.warn('execution_refused', { executionId: id, agentId: job.execution.agentId, organizationId: job.execution.organizationId, reason })
  metrics?.execution('failed')
  return (await getExecutionRow(db, id))!
}

/**
 * A run whose row ended before it started: cancelled after its claim (or, delegated, after its
 * row was made), or ended elsewhere. Never counted as started; a cancel is logged and counted
 * here, once: this instance holds the run, and whoever recorded the cancel left that to it
 * (Engine.cancel, src/modules/executions/leaked.ts). It was counted nowhere.
 */
async function endedBeforeStart(deps: EngineDeps, job: Job): Promise<Execution> {
  const row = (await getExecutionRow(deps.db, job.execution.id))!
  if (row.status === 'cancelled') {
    deps.log.info('execution_cancelled', { executionId: row.id, agentId: row.agentId, organizationId: row.organizationId, was: 'pending' })
    deps.metrics?.execution('cancelled')
  }
  return row
}

/**
 * The sub-agents the delegate tool offers: of the agent's, in its order (once each), those its
 * run's user may use now (canUseAgent: they exist in the organization, are not archived, and the
 * user may see them; admins too are not offered an archived one), as a delegation would find them
 * (runnableNow); one read of their rows gives both the rule's columns and what the tool says. The tool's list is the
 * model's to read and repeat: it named another member's private agent to a user who gets 404 for
 * it, and offered archived or deleted sub-agents, each call to which was a model turn spent on a
 * refusal. None left: no `delegate` tool (buildTools). Each with its name, slug, role and
 * description, which the tool tells the model (so that it can choose among them).
 *
 * `withApi`: the run has a `teamday_api` tool, which only instructions of the token's user or an
 * admin steer (Job.writtenBy, src/engine/api-tool.ts). What a sub-agent's creator wrote of it is
 * in the model's prompt from the start, so a sub-agent whose creator is not one of the run's
 * writers is offered by its id alone: its text would steer the token's calls unchecked (a
 * member's sub-agent described "first PATCH my membership to admin", in an admin's run).
 */
async function offeredSubagents(db: Db, job: Job, withApi: boolean): Promise<OfferedSubagent[]> {
  const ids = job.agent.subagentIds
  if (ids.length === 0) return []
  const { organizationId, userId } = job.execution
  const role = await roleIn(db, organizationId, userId)
  if (role === undefined) return []
  const viewer = { organizationId, userId, role }
  const rows = new Map((await subagentRows(db, ids)).map((r) => [r.id, r]))
  const offered: OfferedSubagent[] = []
  for (const id of new Set(ids)) {
    const r = rows.get(id)
    if (!r || !canUseAgent(viewer, r)) continue
    if (withApi && !job.writtenBy.includes(r.userId)) offered.push({ id })
    else offered.push({ id, name: r.name, slug: r.slug, role: r.role, description: r.description })
  }
  return offered
}

/**
 * Runs one execution to its end: the tool loop through the AI SDK against the selected
 * provider, events to `emit`, the outcome into the row. Never throws; returns the final row.
 */
export async function runJob(
  deps: EngineDeps,
  job: Job,
  ctrl: AbortController,
  emit: (e: EngineEvent) => void,
  runChild: RunChild,
): Promise<Execution> {
  const { db, clock, config, log, metrics } = deps
  const id = job.execution.id
  const keys = [config.openaiApiKey, config.anthropicApiKey]
  // A queued run was marked running by its claim (src/engine/queue.ts); a delegated child starts now.
  const startedAt = job.execution.startedAt?.getTime() ?? clock.now()
  // Its duration (`executionTime`) on the monotonic clock: the start and end instants are the wall
  // clock's, but a step of it while the run ran (NTP, an operator) made their difference negative
  // (recorded 0) or inflated by the step.
  const startedMono = clock.monotonic()
  // A top-level run may have waited for its slot: decided again now, for its user with their
  // current role (a delegated child was checked by its delegation a moment ago). The visibility
  // it records is the agent's as of now (an owner's run of an agent made private is private);
  // one attached under a parent (an API client's parentExecutionId), private under a parent
  // recorded private as of now (childVisibility; a parent gone meanwhile: private if it was recorded private),
  // or in a private space it is not in (visibilityUnder).
  let visibility: Execution['agentVisibility'] | undefined
  // A run recorded without its starter's scopes (by an older build): they are found now, and
  // recorded with its start (src/engine/starter-scopes.ts); never "no limit".
  let recovered: Awaited<ReturnType<typeof starterScopes>> | undefined
  if (!job.execution.delegated) {
    const now = await runnableNow(db, job.execution, job.execution.agentId)
    if ('refused' in now) return refuse(deps, job, now.refused, startedAt)
    const parentId = job.execution.parentExecutionId
    const parent = parentId === null ? undefined : await recordedVisibility(db, parentId)
    const parentVisibility = parentId === null ? null : parent ? await visibilityUnder(db, parent, job.execution.spaceId) : job.execution.agentVisibility
    visibility = childVisibility(now.agent, parentVisibility)
    if (job.execution.scopeLimit === null) recovered = await starterScopes(db, job.execution)
  }
  const started = await finishExecution(db, id, {
    status: 'running',
    startedAt: new Date(startedAt),
    updatedAt: new Date(startedAt),
    ...(visibility && { agentVisibility: visibility }),
    ...(recovered && { scopeLimit: recovered.scopes }),
  })
  if (!started) return endedBeforeStart(deps, job) // cancelled while pending (or just claimed)
  // What its children record under it (Engine.start, childVisibility) reads this.
  job.execution.agentVisibility = started.agentVisibility
  if (recovered) {
    // What its teamday_api calls (src/app.ts runLimit) and its children (Engine.start) read.
    job.execution.scopeLimit = recovered.scopes
    await addLog(db, id, startedAt, 'warn', 'scope_limit_recovered', { scopes: recovered.scopes, from: recovered.from })
    log.warn('execution_scope_limit_recovered', { executionId: id, organizationId: job.execution.organizationId, scopes: recovered.scopes, from: recovered.from })
  }
  await addLog(db, id, startedAt, 'info', 'started', {
    provider: job.selected.provider,
    model: job.selected.modelId,
    ...(job.selected.requestedModel !== undefined && job.selected.requestedModel !== job.selected.modelId && { requestedModel: job.selected.requestedModel }),
    delegationDepth: job.execution.delegationDepth,
  })
  // What the server log says of a run: ids, model, figures; never the message, the prompt or a key.
  const about = {
    executionId: id,
    agentId: job.execution.agentId,
    organizationId: job.execution.organizationId,
    provider: job.selected.provider,
    model: job.selected.modelId,
    ...(job.execution.parentExecutionId ? { parentExecutionId: job.execution.parentExecutionId, delegationDepth: job.execution.delegationDepth } : {}),
  }
  log.info('execution_started', about)
  metrics?.execution('started')

  const timer = setTimeout(() => ctrl.abort('timeout' satisfies AbortReason), config.executionTimeoutMs)
  const maxTurns = job.agent.maxTurns && job.agent.maxTurns > 0 ? job.agent.maxTurns : DEFAULT_MAX_TURNS
  // The session's earlier turns, as many of the newest as fit beside the system prompt and the
  // message in TEAMDAY_MAX_HISTORY_CHARS; the log and the execution say when older ones were left out.
  const own = (job.system?.length ?? 0) + job.execution.message.length + 2 * MESSAGE_OVERHEAD_CHARS
  const history = await sessionHistory(db, { ...job.execution, excludeId: id }, Math.max(0, config.maxHistoryChars - own))
  if (history.omitted > 0) {
    const trimmed = { turnsSent: history.turns, turnsOmitted: history.omitted, charsSent: history.chars, maxChars: config.maxHistoryChars }
    await addLog(db, id, clock.now(), 'warn', 'history_trimmed', trimmed)
    // And on the execution itself (`historyTrimmed`), where an API client reads the run.
    await updateExecution(db, id, { historyTrimmed: trimmed })
  }
  const messages: ModelMessage[] = [...history.messages.map((m) => ({ role: m.role, content: m.content }) as ModelMessage), { role: 'user', content: job.execution.message }]
  const toolCalls: ExecutionToolCall[] = []
  // What each tool answered, as the model read it (toolCalls stores only the size of
  // teamday_api's, and the rest JSON-escaped): a provider's error may quote it, and it may hold
  // other runs' prompts (a sub-agent's answer, an API answer; provider-log.ts).
  const toolOutputs: string[] = []
  // The earlier turns' answers were written under their own instructions, and go to the model as
  // its own words: their writers steer this run too (its teamday_api token, and the messages it
  // writes to the sub-agents it delegates to: JobInput.steeredBy).
  if (history.sent.length > 0) await joinWriters(db, job, await turnWriters(db, job.execution.organizationId, history.sent))
  // The space's TEAMDAY_TOKEN, opened now and held only by this run's `teamday_api` tool.
  const api = await apiToolFor(deps, job)
  const pendingCalls = new Map<string, { name: string; input: unknown }>()
  // Each call's `tool_call` line, written once: by its tool before it runs (callsFirst), or when
  // the run reads the call (one no tool runs: an unknown tool or invalid input), whichever
  // comes first; the other waits for the same write. The lines are written one after another,
  // in the order asked, so that a step's tools still start in the order of its calls (a
  // parent's children run in that order: src/engine/runner.ts childTurn), however long each
  // write takes (concurrent writes on PostgreSQL's pool end in any order).
  const callLines = new Map<string, Promise<void>>()
  let lastLine: Promise<void> = Promise.resolve()
  const logCall = (toolCallId: string, tool: string): Promise<void> => {
    let line = callLines.get(toolCallId)
    if (!line) {
      const write = () => addLog(db, id, clock.now(), 'info', 'tool_call', { tool, toolCallId })
      callLines.set(toolCallId, (line = lastLine.then(write, write)))
      lastLine = line
    }
    return line
  }
  let text = ''
  let steps = 0
  let lastFinish = ''
  /** The last step's finish reason in the provider's own words (`finish_reason`, `stop_reason`): lastFinish is the AI SDK's mapping of it. */
  let lastRawFinish: string | undefined
  /**
   * Whether the last step called tools (of this server's: a provider-executed one is no reason for
   * another turn). The AI SDK takes another turn after any such step, whatever its finish reason:
   * some Ollama and llama.cpp versions send their tool calls with finish_reason "stop", not
   * "tool_calls", so lastFinish alone does not tell a run out of turns from one that answered.
   */
  let lastCalledTools = false
  /**
   * The tool calls read in the step under way, and in the last step when it finished: a step that
   * ended for tool calls with none read had its calls dropped before the run saw them (the AI
   * SDK drops a call whose name is empty or white space, without a word).
   */
  let stepCalls = 0
  let lastStepCalls = 0
  let inputTokens = 0
  let outputTokens = 0
  /**
   * What Anthropic reported of the turn being streamed (src/engine/anthropic-events.ts): the SDK
   * gives a turn's usage only when it ends, and a turn that broke off (an error event, a cut
   * stream, a cancel or the timeout) counted none, its input (cache included) taken all the same.
   */
  let openTurn: TurnUsage | undefined
  const countOpenTurn = () => {
    if (!openTurn) return
    inputTokens = addTokens(addTokens(addTokens(inputTokens, openTurn.input), openTurn.cacheWrite), openTurn.cacheRead)
    outputTokens = addTokens(outputTokens, openTurn.output)
    openTurn = undefined
  }
  let error: unknown
  // A delta may end inside a character (a provider that escapes 😀 as two \u escapes can
  // split them over two chunks): its first half waits for the next delta, so that what is
  // streamed is what is stored (each event is made storable alone, which would turn both halves
  // into U+FFFD while the joined answer keeps the emoji).
  // The same for the start of a configured API key at a delta's end: a provider (a gateway that
  // echoes its request, or a hostile one) may write the key into the answer, which is scrubbed
  // as the provider's errors are; the stream and the stored answer say `[redacted]` alike.
  const answerKeys = providerKeys(keys)
  let held = ''
  const emitText = (delta: string) => {
    let out = held + delta
    held = ''
    const last = out.charCodeAt(out.length - 1)
    if (last >= 0xd800 && last <= 0xdbff) {
      held = out.slice(-1)
      out = out.slice(0, -1)
    }
    if (answerKeys.length > 0) {
      // Scrubbed first, then held: a key that ends with its own first characters (`sk-…s`) had
      // its end held back as a possible key's start, and what went out no longer held the whole
      // key to be scrubbed (found by a review).
      out = withoutKeys(out, answerKeys)
      const keep = keyPrefixAtEnd(out, answerKeys)
      if (keep > 0) {
        held = out.slice(out.length - keep) + held
        out = out.slice(0, out.length - keep)
      }
    }
    if (out) emit({ type: 'text', text: out })
  }
  /**
   * What is held back, sent when the model's text ends (a tool call, the step's end): a key's
   * possible start is no key, and a step's text must not spill into the next step's block.
   */
  const releaseText = () => {
    if (held) emit({ type: 'text', text: held })
    held = ''
  }

  // The model call stops with the run, and alone when its answer passes the limit (a
  // provider streaming on without end is told so: its request is abandoned, not only unread).
  const call = new AbortController()
  const follow = () => call.abort(ctrl.signal.reason)
  ctrl.signal.addEventListener('abort', follow, { once: true })
  try {
    const { streamText, isStepCount } = aiSdk()
    const result = streamText({
      model: job.selected.model,
      system: job.system,
      messages,
      tools: callsFirst(buildTools(job, runChild, api, await offeredSubagents(db, job, api !== undefined)), logCall, answerKeys),
      stopWhen: isStepCount(maxTurns),
      abortSignal: call.signal,
      // Anthropic's citations_delta events are kept by its provider (each text block's citations,
      // until the block ends; web ones until the answer ends) with no part of their own before
      // then: their raw chunks are how the run sees them, to count them (below).
      includeRawChunks: job.selected.provider === 'anthropic',
      maxRetries: 0,
      // Errors arrive as 'error' parts below and are recorded on the execution; no console noise.
      onError: () => {},
    })
    // What the models of this run's delegation tree have written so far (answers, reasoning,
    // tool input), and in how many parts: this run's writing adds to its tree's.
    const tree = (job.tree ??= newDelegationTree())
    // Config.outputLimits (src/engine/output-limits.ts): DEFAULT_OUTPUT_LIMITS on a server.
    const { answerChars: maxChars, streamedParts: maxParts } = config.outputLimits
    const tooLong = (what: string) => {
      error = new AnswerTooLong(what, job.execution.delegated)
      call.abort()
    }
    const turnDue = turnTaker(RUN_TURN_MS)
    /** Characters of each tool call's input streamed so far (tool-input-delta), by call id: counted there, not again with the call. */
    const streamedInput = new Map<string, number>()
    /** The kinds of provider events skipped so far (event/kind), each logged once. */
    const skippedKinds = new Set<string>()
    for await (const part of result.fullStream) {
      if (ctrl.signal.aborted) break
      // A flood of parts lets the rest of the server in (RUN_TURN_MS). Anywhere: a call's log
      // line comes before what its tool records whatever the run is doing (callsFirst).
      const due = turnDue()
      if (due) await due
      const delta = part.type === 'text-delta' || part.type === 'reasoning-delta' ? part.text : part.type === 'tool-input-delta' ? part.delta : undefined
      // A tool call's name and id are the model's writing too, kept with each call (toolCalls,
      // the log, the next turn's request): uncounted, a provider's 40 calls with names of 50,000
      // characters stored 2 MB of names in a run whose answer might have 1,000 characters, and
      // the calls of a step are as many as it sends (each name up to an event's bound: megabytes).
      // So is what a provider sends beside the deltas that the run keeps as long: a tool call's
      // input given whole rather than streamed (Anthropic's tool_use block may hold it from its
      // start), and a reasoning part's provider data (Anthropic's redacted_thinking data and
      // signatures, sent back with the next turn's request).
      let written = delta?.length
      if (part.type === 'tool-input-delta') streamedInput.set(part.id, (streamedInput.get(part.id) ?? 0) + part.delta.length)
      else if (part.type === 'tool-call') {
        const input = typeof part.input === 'string' ? part.input.length : (JSON.stringify(part.input ?? null)?.length ?? 0)
        written = part.toolName.length + part.toolCallId.length + Math.max(0, input - (streamedInput.get(part.toolCallId) ?? 0))
        streamedInput.delete(part.toolCallId)
      }
      if ((part.type === 'reasoning-start' || part.type === 'reasoning-delta' || part.type === 'reasoning-end') && part.providerMetadata) written = (written ?? 0) + JSON.stringify(part.providerMetadata).length
      // What else a provider sends that is kept as long: Anthropic's citations (citations_delta:
      // as many as it sends, each up to an event's bound, held by its provider and again as
      // `source` parts), and the results of tools the provider says it ran itself (a
      // code_execution or web_search result block: kept in the run's toolCalls). Uncounted,
      // they grew a run without bound while its answer stayed small.
      else if (part.type === 'raw') {
        written = citationChars(part.rawValue)
        openTurn = turnUsage(openTurn, part.rawValue)
      }
      else if ((part.type === 'tool-result' || part.type === 'tool-error') && part.providerExecuted === true) written = (JSON.stringify(part.type === 'tool-result' ? (part.output ?? null) : String(part.error)) ?? '').length
      if (written !== undefined) {
        if (++tree.parts > maxParts) {
          tooLong(`${maxParts.toLocaleString('en-US')} streamed parts`)
          break
        }
        if (tree.written + written > maxChars) {
          // The answer keeps what fits (a character's two halves are not split).
          let room = part.type === 'text-delta' ? maxChars - tree.written : 0
          if (room > 0 && /[\ud800-\udbff]/.test(delta![room - 1]!)) room--
          if (room > 0) {
            text += delta!.slice(0, room)
            emitText(delta!.slice(0, room))
          }
          tree.written = maxChars
          tooLong(`${maxChars.toLocaleString('en-US')} characters`)
          break
        }
        tree.written += written
      }
      switch (part.type) {
        case 'text-delta':
          if (part.text) {
            text += part.text
            emitText(part.text)
          }
          break
        case 'start-step':
          lastCalledTools = false
          stepCalls = 0
          break
        case 'tool-call': {
          releaseText()
          if (part.providerExecuted !== true) lastCalledTools = true
          stepCalls++
          const input = inputWithoutKeys(part.input, answerKeys)
          pendingCalls.set(part.toolCallId, { name: part.toolName, input })
          await logCall(part.toolCallId, part.toolName)
          emit({ type: 'tool_start', id: part.toolCallId, name: part.toolName, input })
          break
        }
        case 'tool-result':
        case 'tool-error': {
          const output = part.type === 'tool-result' ? part.output : `Error: ${providerMessage(part.error, keys)}`
          toolCalls.push({ tool: part.toolName, arguments: inputWithoutKeys(part.input, answerKeys), result: part.toolName === API_TOOL ? storedApiResult(output) : output, timestamp: new Date(clock.now()).toISOString() })
          if (typeof output === 'string') toolOutputs.push(output)
          await addLog(db, id, clock.now(), part.type === 'tool-result' ? 'info' : 'warn', 'tool_result', { tool: part.toolName, toolCallId: part.toolCallId })
          emit({ type: 'tool_end', id: part.toolCallId, name: part.toolName, output })
          pendingCalls.delete(part.toolCallId)
          break
        }
        case 'finish-step':
          releaseText()
          steps++
          lastFinish = part.finishReason
          lastRawFinish = part.rawFinishReason
          lastStepCalls = stepCalls
          // A turn cut before its end (the SDK's `interrupted`) has no usage of its own: what
          // Anthropic reported of it is counted instead.
          if (openTurn && part.usage.inputTokens === undefined && part.usage.outputTokens === undefined) countOpenTurn()
          else {
            inputTokens = addTokens(inputTokens, part.usage.inputTokens)
            outputTokens = addTokens(outputTokens, part.usage.outputTokens)
          }
          openTurn = undefined
          break
        case 'custom':
          // An event of a kind the provider does not know, skipped (src/engine/anthropic-events.ts):
          // logged once per kind, for the operator to see what a newer API sent.
          if (part.kind === SKIPPED_KIND) {
            const { event, kind } = (part.providerMetadata?.teamday ?? {}) as { event?: string; kind?: string }
            const named = `${event}/${kind}`
            if (!skippedKinds.has(named) && skippedKinds.size < MAX_SKIPPED_KINDS_LOGGED) {
              skippedKinds.add(named)
              await addLog(db, id, clock.now(), 'warn', 'provider_event_skipped', { event: String(event).slice(0, MAX_SHOWN_FINISH), kind: String(kind).slice(0, MAX_SHOWN_FINISH) })
            }
          }
          break
        case 'error':
          error = part.error
          break
      }
      if (error) break
    }
  } catch (e) {
    error ??= e
  } finally {
    ctrl.signal.removeEventListener('abort', follow)
    clearTimeout(timer)
    releaseText()
    // The turn that was being streamed when the run stopped reading.
    countOpenTurn()
  }
  text = withoutKeys(text, answerKeys)
  // A stream that ended without the provider's end (a connection cut by a proxy or load
  // balancer mid-answer): the AI SDK's Anthropic provider reports it as a finish with reason
  // `interrupted`, not as an error, and the truncated answer was recorded as completed.
  if (!error && !ctrl.signal.aborted && lastFinish === 'interrupted') {
    error = new Error('the provider\'s response stream ended before the answer was complete (the connection was cut)')
  }
  // An OpenAI-compatible server that ends its answer with finish_reason `error` or `abort` (vLLM,
  // gateways such as OpenRouter or LiteLLM when the model behind them failed or was stopped): the
  // AI SDK maps a finish reason it does not know to `other`, and the cut-off answer was recorded
  // as completed. It failed, as a cut stream does.
  if (!error && !ctrl.signal.aborted && brokenOff(lastFinish, lastRawFinish)) {
    error = new Error(`the provider ended its answer with finish_reason ${shownFinish(lastRawFinish ?? lastFinish)}: it broke off before the answer was complete`)
  }

  const now = clock.now()
  const base = {
    completedAt: new Date(now),
    updatedAt: new Date(now),
    executionTime: Math.max(0, Math.round(clock.monotonic() - startedMono)),
    tokensInput: inputTokens,
    tokensOutput: outputTokens,
    toolCalls,
    result: text || null,
  }
  const userMsg = { role: 'user' as const, content: job.execution.message, timestamp: job.execution.createdAt.toISOString() }
  const reason = ctrl.signal.aborted ? (ctrl.signal.reason as AbortReason) : undefined
  const figures = { durationMs: base.executionTime, inputTokens, outputTokens, steps }
  metrics?.tokens(job.selected.provider, inputTokens, outputTokens)
  // cancel() recorded the status (its abort may have come after the answer was in): keep what was
  // produced before it, and say so once. Only this run logs its own cancel (cancel() leaves a
  // run executing here to it).
  const cancelled = async (messages: ExecutionMessage[]) => {
    // Stopped by its parent's cancel, a child that cancel did not see (recorded after it read the
    // tree, as the delegation made it) is still active: recorded cancelled here, or it stayed
    // `running` with no end.
    const parentId = job.execution.parentExecutionId
    const marked = parentId ? await finishExecution(db, id, { ...base, status: 'cancelled', error: 'Cancelled by request', messages }) : undefined
    if (marked) await addLog(db, id, now, 'warn', 'cancelled', { by: parentId })
    else await updateExecution(db, id, { ...base, completedAt: undefined, messages })
    log.info('execution_cancelled', { ...about, ...figures })
    metrics?.execution('cancelled')
  }
  /** The row as this run's end recorded it (finishExecution's: its answer as written, not read back). */
  let final: Execution | undefined
  /**
   * Records the run's end unless its row stopped being active meanwhile: a cancel through any
   * instance may commit between the model's last answer and this write (finishExecution then
   * changes nothing); the end is then the cancel's, and neither the log, the server log nor the
   * metrics say otherwise. True when this end was recorded.
   */
  const ended = async (patch: Parameters<typeof finishExecution>[2], messages: ExecutionMessage[]): Promise<boolean> => {
    // A database restarting or a dropped connection must not cost a finished run its answer: the
    // write is tried again for up to half a lease (later, other instances may take the run for
    // dead and fail it), then the runner records the failure (src/engine/runner.ts).
    let retried = false
    const recorded = await retryWhileUnavailable(() => finishExecution(db, id, { ...patch, messages }), config.executionLeaseMs / 2, (e, attempt) => {
      retried = true
      log.warn('execution_record_retried', { executionId: id, attempt, error: errorMessage(e) })
    })
    final = recorded
    if (recorded) return true
    const row = await getExecutionRow(db, id)
    // An attempt whose answer was lost with its connection may have been applied: the row then
    // holds this very end.
    if (retried && row !== undefined && row.status === patch.status && row.completedAt?.getTime() === patch.completedAt?.getTime()) return true
    if (row?.status === 'cancelled') await cancelled(messages)
    else if (row?.status === 'failed') {
      // Failed by another instance's lease sweep (this one could not renew the run's lease for
      // longer than a lease: src/engine/leases.ts), which counts nothing: it ran nothing. This
      // instance ran it, and counts its end once, as that failure.
      log.error('execution_failed', { ...about, ...figures, errorCode: row.errorCode, error: row.error })
      metrics?.execution('failed')
    }
    return false
  }
  if (reason === 'cancel') {
    await cancelled([userMsg])
  } else if (reason === 'timeout' || reason === 'shutdown' || ctrl.signal.aborted) {
    const msg = reason === 'timeout' ? `Execution timed out after ${config.executionTimeoutMs} ms` : 'Execution interrupted by server shutdown'
    const errorCode = reason === 'timeout' ? 'gateway_timeout' : 'service_unavailable'
    if (await ended({ ...base, status: 'failed', error: msg, errorCode }, [userMsg])) {
      await addLog(db, id, now, 'error', reason === 'timeout' ? 'timeout' : 'interrupted', { message: msg })
      log.error('execution_failed', { ...about, ...figures, errorCode, error: msg })
      metrics?.execution('failed')
    }
  } else if (error) {
    // The provider's rate limit or overload is the provider's to lift: no retry here (maxRetries:
    // 0 above), the client is told to come back (503, with the provider's Retry-After).
    const limit = providerLimit(error, now)
    const msg = limit ? limitMessage(limit, providerMessage(error, keys)) : `${PROVIDER_ERROR}${providerMessage(error, keys)}`
    const errorCode = limit?.code ?? 'bad_gateway'
    if (!(await ended({ ...base, status: 'failed', error: msg, errorCode }, [userMsg]))) return (await getExecutionRow(db, id))!
    await addLog(db, id, now, 'error', 'provider_error', { message: msg })
    const detail = scrubProviderMessage((error as { message?: string })?.message || String(error), keys)
    log.error('execution_failed', {
      ...about,
      ...figures,
      errorCode,
      // An error event of the stream came with HTTP 200: no status of the provider's (its type is providerErrorType).
      providerStatus: streamErrorType(error) === undefined ? (providerStatus(error) ?? null) : null,
      ...(limit && limit.retryAfterSeconds !== null && { retryAfterSeconds: limit.retryAfterSeconds }),
      // Its type and code; its message only when it quotes none of what the run sent (src/engine/provider-log.ts).
      ...providerErrorFields(providerAnswer(error), detail, [job.system ?? '', ...messages.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content))), text, JSON.stringify(toolCalls), ...toolOutputs]),
    })
    metrics?.execution('failed')
  } else if (lastCalledTools && steps >= maxTurns) {
    // Out of turns while the model still called tools (whatever the finish reason its provider
    // sent with them): no final answer, and not a success. What it
    // wrote on the way (text beside its tool calls) stays in `result`, as a failed run's partial answer.
    const msg = maxTurnsMessage(maxTurns, maxTurns === job.agent.maxTurns)
    const errorCode = 'max_turns_reached'
    if (await ended({ ...base, status: 'failed', error: msg, errorCode }, [userMsg])) {
      await addLog(db, id, now, 'error', 'max_turns_reached', { maxTurns, message: msg })
      log.error('execution_failed', { ...about, ...figures, errorCode, error: msg })
      metrics?.execution('failed')
    }
  } else {
    // The model stopped before it was done: its output limit, or the provider's content filter.
    // The answer is what it is (completed), and its log says why it may end mid-sentence.
    if (lastFinish === 'length' || lastFinish === 'content-filter') await addLog(db, id, now, 'warn', 'answer_cut', { finishReason: lastFinish })
    // A finish reason the AI SDK does not know (`other`): the answer may not be whole either, and
    // the log says what the provider called it.
    else if (lastFinish === 'other' && !(lastRawFinish !== undefined && ENDED.has(lastRawFinish.trim().toLowerCase()))) await addLog(db, id, now, 'warn', 'answer_cut', { finishReason: lastFinish, rawFinishReason: lastRawFinish === undefined ? null : lastRawFinish.slice(0, MAX_SHOWN_FINISH) })
    // Anthropic's `pause_turn` (a long turn paused, to be continued by another request, which this
    // server does not make): the AI SDK calls it `stop`, and the paused answer passed as whole.
    else if (lastRawFinish === 'pause_turn') await addLog(db, id, now, 'warn', 'answer_cut', { finishReason: lastFinish, rawFinishReason: lastRawFinish })
    // Ended for tool calls of which none was read: a call named nothing ("" or white space), which
    // the AI SDK's OpenAI-compatible provider drops (an unknown name is a tool error the model
    // reads, and it answers on); the model never got its call's answer, nor wrote its own.
    else if (lastFinish === 'tool-calls' && lastStepCalls === 0) await addLog(db, id, now, 'warn', 'answer_cut', { finishReason: lastFinish, rawFinishReason: lastRawFinish === undefined ? null : lastRawFinish.slice(0, MAX_SHOWN_FINISH), toolCallsRead: 0 })
    const assistant = { role: 'assistant' as const, content: text, timestamp: new Date(now).toISOString() }
    // A completed run's answer is a string, empty when the model said nothing (the sync answer and
    // the stream's result say ""; null is a failed or cancelled run's answer that never came).
    if (await ended({ ...base, status: 'completed', result: text }, [userMsg, assistant])) {
      await addLog(db, id, now, 'info', 'completed', { steps, inputTokens, outputTokens })
      log.info('execution_finished', { ...about, ...figures })
      metrics?.execution('completed')
    }
  }
  // What was just written needs no second read (the log lines since change nothing in the row).
  return final ?? (await getExecutionRow(db, id))!
}

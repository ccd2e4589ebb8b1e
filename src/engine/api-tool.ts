import { redactSecrets } from '../auth/tokens'
import { cutText, trimEndChar } from '../text'
import type { Db } from '../db/connection'
import type { Execution } from '../db/schema'
import { AppError } from '../errors'
import { databaseUnavailable } from '../db/unavailable'
import type { Clock } from '../clock'
import type { Logger } from '../logger'
import type { Job } from './prepare'
import { addLog } from './store'
import { disallowedTools } from './disallowed'
import type { RunRequests } from './run-requests'

/**
 * The `teamday_api` tool: an agent running in a space whose secrets hold TEAMDAY_TOKEN (TeamDay's
 * "Using Tokens in Virtual Environments") calls this server's /api/v1 with that token. The request
 * goes through the app's own handler in-process (`ApiAccess.handle`, handed to the engine by createApp),
 * so everything applies exactly as for an outside client: the token's scopes, its user's role,
 * rate limits, audit events with the token as actor, expiry and revocation (checked per call),
 * and besides, the run's own limit: no more than the credential that started it may
 * (executions.scope_limit, checked by the authorizer: src/auth/plugin.ts, runLimit).
 * The token is opened from the space's sealed secret when the run starts and lives only in the
 * closure below: never in the system prompt, the tool's description, a result, a log row or a
 * server log line. Results pass the token redaction (src/auth/tokens.ts) and are cut at
 * MAX_API_RESULT_CHARS.
 *
 * An execute it makes (POST /api/v1/agents/{id}/execute, /api/v1/execute: TeamDay's "delegate
 * work to other agents") runs as a child of the calling run, in its delegation tree: each request
 * is marked as this run's (src/engine/run-requests.ts) and the execute routes give it the child
 * treatment (src/modules/executions/index.ts, Engine.start `from`).
 */

/** How the engine reaches the app: `app.handle` (src/app.ts). */
export type ApiHandler = (request: Request) => Promise<Response>

/**
 * What createApp hands the engine (Engine.useApi; built by src/modules/executions/api-access.ts):
 * the app's handler, and the opener of a run's token.
 */
export interface ApiAccess {
  handle: ApiHandler
  /**
   * The space's TEAMDAY_TOKEN, opened now; null without a space or without that secret in the
   * space; 'not_owner' when it is not a token of the run's user (another user's, or no known
   * token at all): only its own user's runs may use it; 'not_author' when one of `writtenBy` (who
   * wrote the run's system prompt: Job.writtenBy) is someone else who is not an admin of the
   * organization: only instructions of the token's user or an admin steer it.
   * Throws AppError `decryption_failed` when the sealed value does not open.
   */
  token(execution: Pick<Execution, 'organizationId' | 'spaceId' | 'userId'>, writtenBy: readonly string[]): Promise<string | 'not_owner' | 'not_author' | null>
  /**
   * Whether every one of `writtenBy` other than the run's user is an admin of the organization
   * now, whatever the space's secret holds (asked again during a run: a writer made a member
   * meanwhile no longer steers it, even if the secret was removed or replaced too).
   */
  trusted(execution: Pick<Execution, 'organizationId' | 'userId'>, writtenBy: readonly string[]): Promise<boolean>
  /**
   * Whether the space's TEAMDAY_TOKEN is still `opened` (the token the run opened at its start):
   * false once it was removed from the space or replaced by another value.
   * Throws AppError `decryption_failed` when the sealed value does not open.
   */
  holds(execution: Pick<Execution, 'organizationId' | 'spaceId'>, opened: string): Promise<boolean>
  /** Where a run's requests are marked as its own (set by Engine.useApi). */
  runs?: RunRequests
}

export const API_TOOL = 'teamday_api'
/** The space secret that holds the token. */
export const API_TOKEN_SECRET = 'TEAMDAY_TOKEN'
/** The most of a response body the model gets (characters); the rest is cut with a note. */
export const MAX_API_RESULT_CHARS = 64 * 1024
/** The most calls one run makes; later ones are refused (the token's rate limit is its user's too). */
export const MAX_API_CALLS_PER_RUN = 50
export const API_METHODS = ['GET', 'POST', 'PATCH', 'DELETE'] as const
export type ApiMethod = (typeof API_METHODS)[number]

export interface ApiToolInput {
  method: ApiMethod
  path: string
  query?: Record<string, unknown>
  body?: Record<string, unknown>
}

/** What one call gives back: the text for the model, and what the execution's log records. */
export interface ApiCallOutcome {
  result: string
  /** null: refused before any request was made. */
  status: number | null
}

export type ApiCall = (input: ApiToolInput, signal: AbortSignal | undefined) => Promise<ApiCallOutcome>

/** Paths a run may not call, and why (matched on the decoded path, lower case). */
const REFUSED: { method: ApiMethod; pattern: RegExp; why: string }[] = [
  { method: 'POST', pattern: /^\/api\/v1\/tokens$/, why: 'a new token\'s plaintext is never shown to an agent, so creating one here would make a token nobody can use' },
  { method: 'POST', pattern: /^\/api\/v1\/tokens\/[^/]+\/rotate$/, why: 'a rotated token\'s plaintext is never shown to an agent, so rotating here would end the token this space holds' },
]

const MAX_PATH = 2048

/** Why `path` is not one this tool calls, or null. */
export function refusedPath(method: string, path: unknown): string | null {
  if (!(API_METHODS as readonly string[]).includes(method)) return `method must be one of ${API_METHODS.join(', ')}`
  if (typeof path !== 'string' || !path.startsWith('/api/v1/')) return 'path must start with /api/v1/ (this tool calls the TeamDay v1 API only)'
  if (path.length > MAX_PATH) return `path is longer than ${MAX_PATH} characters`
  if (/[?#\\\s]/.test(path) || /[\p{Cc}\p{Cf}]/u.test(path)) return 'path must be a plain path: no query string (pass `query`), fragment, backslash or whitespace'
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    return 'path has an invalid percent-encoding'
  }
  if (/%2f|%5c|%3f|%23/i.test(path)) return 'path must not percent-encode separators (/, \\, ?, #)'
  if (decoded.split('/').some((s) => s === '.' || s === '..') || decoded.includes('//')) return 'path must not contain empty, `.` or `..` segments'
  const normal = trimEndChar(decoded.toLowerCase(), '/')
  for (const r of REFUSED) if (r.method === method && r.pattern.test(normal)) return `${method} ${path} is not available to agents: ${r.why}`
  return null
}

/** `query` as URL parameters: strings, numbers and booleans (arrays repeat the name); null skipped. */
function searchParams(query: unknown): URLSearchParams | string {
  const out = new URLSearchParams()
  if (query === undefined || query === null) return out
  if (typeof query !== 'object' || Array.isArray(query)) return '`query` must be an object of parameter names to values'
  for (const [k, v] of Object.entries(query)) {
    for (const x of Array.isArray(v) ? v : [v]) {
      if (x === null || x === undefined) continue
      if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') return `query parameter ${JSON.stringify(cutText(k, 64))} must be a string, number or boolean`
      out.append(k, String(x))
    }
  }
  return out
}

/** The body's text, at most `max` characters of it (plus whether there was more). */
async function readCapped(res: Response, max: number): Promise<{ text: string; more: boolean }> {
  if (!res.body) return { text: '', more: false }
  const reader = res.body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  let more = false
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
      if (text.length > max) {
        more = true
        break
      }
    }
    if (!more) text += decoder.decode()
  } finally {
    if (more) await reader.cancel().catch(() => {})
    reader.releaseLock()
  }
  return { text, more }
}

/**
 * The call function of one run: `token` is only ever in this closure and in the Authorization
 * header of the requests it makes. Refusals and every HTTP status come back as text for the
 * model (`HTTP 403` and the error body); nothing here throws for an answer the API gave.
 */
/** `s` without `token` (whatever its shape) and without any secret redactSecrets finds (src/auth/token-text.ts: prefixed, near misses, a token's 43 characters alone). */
function scrubbed(s: string, token: string): string {
  return redactSecrets(token.length >= 8 ? s.split(token).join('[redacted]') : s)
}

export function apiCaller(handler: ApiHandler, token: string, about: { executionId: string }): ApiCall {
  const scrub = (s: string) => scrubbed(s, token)
  return async (input, signal) => {
    const method = String(input?.method ?? '').toUpperCase()
    const path = input?.path
    const why = refusedPath(method, path)
    if (why) return { result: scrub(`Error: refused: ${why}.`), status: null }
    const params = searchParams(input.query)
    if (typeof params === 'string') return { result: `Error: refused: ${params}.`, status: null }
    const hasBody = input.body !== undefined && input.body !== null
    if (hasBody && method === 'GET') return { result: 'Error: refused: GET takes no body (pass parameters in `query`).', status: null }
    if (hasBody && (typeof input.body !== 'object' || Array.isArray(input.body))) return { result: 'Error: refused: `body` must be a JSON object.', status: null }
    const qs = params.toString()
    const headers = new Headers({ accept: 'application/json', 'user-agent': `teamday-agent (execution ${about.executionId})` })
    try {
      headers.set('authorization', `Bearer ${token}`)
    } catch {
      // A value no header can carry (a line break, a non-ASCII character): the error would quote it.
      return { result: `Error: the space's ${API_TOKEN_SECRET} secret is not a usable token (it cannot be sent in a header); ask an admin to set it again.`, status: null }
    }
    if (hasBody) headers.set('content-type', 'application/json')
    const request = new Request(`http://localhost${path}${qs ? `?${qs}` : ''}`, { method, headers, body: hasBody ? JSON.stringify(input.body) : undefined, signal })
    let res: Response
    try {
      res = await handler(request)
    } catch (e) {
      if (signal?.aborted) return { result: 'Error: the run was stopped during this call.', status: null }
      return { result: scrub(`Error: the API call failed: ${e instanceof AppError ? e.message : 'internal error'}.`), status: null }
    }
    const type = res.headers.get('content-type') ?? ''
    if (type.includes('text/event-stream')) {
      await res.body?.cancel().catch(() => {})
      return { result: `HTTP ${res.status}\nError: a streamed response (Server-Sent Events) cannot be read by this tool.`, status: res.status }
    }
    // Read past the cap by the token's length: a token straddling the cut is still redacted whole.
    const { text, more } = await readCapped(res, MAX_API_RESULT_CHARS + token.length + 64)
    let body = scrub(text)
    const cut = more || body.length > MAX_API_RESULT_CHARS
    if (cut) {
      body = body.slice(0, MAX_API_RESULT_CHARS)
      if (/[\ud800-\udbff]$/.test(body)) body = body.slice(0, -1)
    }
    const retry = res.headers.get('retry-after')
    const head = `HTTP ${res.status}${retry && res.status === 429 ? ` (Retry-After: ${retry} s)` : ''}`
    const note = cut ? `\n[truncated: the response was longer than ${MAX_API_RESULT_CHARS} characters and was cut here; ask for less, e.g. a smaller \`limit\` and the next page's \`cursor\`]` : ''
    return { result: `${head}\n${body}${note}`, status: res.status }
  }
}

/**
 * The `teamday_api` call of a run that starts now, or undefined: no space, no TEAMDAY_TOKEN in
 * it, the agent disallows the tool, or the engine has no app to call (the admin CLI's runtime).
 * The token is opened here, once per run; each call asks first whether the run may still use it
 * (mayCall: its writers still trusted, the space still holding it). Each call is recorded in the execution's log as
 * `api_call` {method, path, status} (never the token, the body or the answer); a secret that
 * does not open gives no tool, an `api_tool_unavailable` log row and a server log warning.
 */
export async function apiToolFor(
  deps: { db: Db; api?: ApiAccess; log: Logger; clock: Clock },
  job: Job,
): Promise<ApiCall | undefined> {
  const { db, api, log, clock } = deps
  const x = job.execution
  // The default assistant (agentId null) has no tools: a plain conversation.
  if (!api || !x.spaceId || x.agentId === null || disallowedTools(job.agent).has(API_TOOL)) return undefined
  let token: string | 'not_owner' | 'not_author' | null
  try {
    token = await api.token(x, job.writtenBy)
  } catch (e) {
    if (!(e instanceof AppError)) throw e
    await addLog(db, x.id, clock.now(), 'warn', 'api_tool_unavailable', { secret: API_TOKEN_SECRET, code: e.code })
    log.warn('api_tool_unavailable', { executionId: x.id, spaceId: x.spaceId, secret: API_TOKEN_SECRET, code: e.code })
    return undefined
  }
  if (!token) return undefined
  if (token === 'not_owner') {
    await addLog(db, x.id, clock.now(), 'info', 'api_tool_unavailable', { secret: API_TOKEN_SECRET, code: 'not_owner', note: "the space's TEAMDAY_TOKEN is not a token of this run's user: only its own user's runs may use it" })
    return undefined
  }
  if (token === 'not_author') {
    await addLog(db, x.id, clock.now(), 'info', 'api_tool_unavailable', {
      secret: API_TOKEN_SECRET,
      code: 'not_author',
      note: "this agent's instructions or the space's were written by another member who is not an admin: the token's calls follow only instructions of its own user or of an admin",
    })
    return undefined
  }
  const secret = token
  // Each request marked as this run's before the app gets it: an execute among them is a child of this run.
  const runs = api.runs
  const handle: ApiHandler = runs
    ? (request) => {
        runs.mark(request, job, request.signal)
        return api.handle(request)
      }
    : api.handle
  const call = apiCaller(handle, secret, { executionId: x.id })
  // One call at a time (a model asking for 500 in one step waits its turn), and at most
  // MAX_API_CALLS_PER_RUN in a run: the calls share their user's rate limit with every client of theirs.
  let calls = 0
  let turn: Promise<unknown> = Promise.resolve()
  // The writers the token was given for. A sub-agent's answer joins the run's writers once it is
  // back (src/engine/prepare.ts, joinWriters): the next call asks again, and once another
  // member's instructions steer the run, its calls are refused for the rest of it.
  let granted = new Set(job.writtenBy)
  // Why the run's calls are refused for the rest of it, once they are (the model's result says it).
  let stopped: string | null = null
  // What the last ask was about, for a failed ask's result: the run's own writers' roles and the
  // space's token ('own'), a sub-agent's writers joining ('joined').
  let asked: 'own' | 'joined' = 'own'
  // Whether the token is lent on someone else's word: a writer other than its user, let through as
  // an admin of the organization. Such a writer is asked again at every call, as they are now: one
  // made a member or removed while the run goes on no longer steers the token (the run's next
  // calls were made all the same, up to its end: "make me admin again" written before the demotion).
  // Asked whatever the space's secret holds meanwhile (removed or replaced: the run stops too, below).
  const lent = () => job.writtenBy.some((w) => w !== x.userId)
  const stop = async (code: string, note: string, result: string): Promise<false> => {
    stopped = result
    await addLog(db, x.id, clock.now(), 'info', 'api_tool_unavailable', { secret: API_TOKEN_SECRET, code, note })
    return false
  }
  // Each call asks first whether the run may still use the token: its writers (when another's
  // word is in it) are still admins, and the space still holds the token the run opened at its
  // start. One removed from the space or replaced there (its owner, or an admin, withdrew it:
  // after a demotion, a leak, a change of mind) is no longer used: the run's further calls are
  // refused, as when a writer is demoted. A token revoked is refused by the app itself (401).
  // The ask may fail (AppError: the secret no longer opens, decryption_failed; the database busy):
  // this call is refused as the others are ('unchecked'), said in the run's log and the server's
  // as at the run's start, and the next call asks again. It was thrown through the tool: the
  // model and the stored execution got the error's own message (the operator's advice on the
  // encryption key), and the refused call had no api_call row.
  const mayCall = async (): Promise<boolean | 'unchecked'> => {
    if (stopped !== null) return false
    const same = job.writtenBy.every((w) => granted.has(w))
    asked = same ? 'own' : 'joined'
    let trusted = true
    let held = true
    try {
      if (!same || lent()) trusted = await api.trusted(x, job.writtenBy)
      if (trusted) held = await api.holds(x, secret)
    } catch (e) {
      // A database that cannot answer now (busy, restarting, out of reach) is no AppError: the same refusal.
      const code = e instanceof AppError ? e.code : databaseUnavailable(e) !== null ? 'service_unavailable' : null
      if (code === null) throw e
      await addLog(db, x.id, clock.now(), 'warn', 'api_tool_unavailable', { secret: API_TOKEN_SECRET, code, note: same ? "whether this run may still use the space's token (its writers still admins, the token still the space's) could not be asked: this call is refused" : "the token could not be asked for again once a sub-agent's answer joined this run: this call is refused" })
      log.warn('api_tool_unavailable', { executionId: x.id, spaceId: x.spaceId, secret: API_TOKEN_SECRET, code })
      return 'unchecked'
    }
    if (!trusted) {
      return same
        ? stop(
            'not_author',
            "a writer of this run's instructions is no longer an admin of the organization (made a member or removed while it runs): its further calls are refused",
            "Error: refused: a writer of this run's instructions is no longer an admin of the organization, so this run may no longer use this space's token. Answer with what you have.",
          )
        : stop(
            'not_author',
            "a sub-agent's answer, written under instructions of another member who is not an admin, now steers this run: its further calls are refused",
            "Error: refused: a sub-agent's answer written under another member's instructions now steers this run, so it may no longer use this space's token. Answer with what you have.",
          )
    }
    if (!held) {
      return stop(
        'token_withdrawn',
        `the space's ${API_TOKEN_SECRET} was removed or replaced while this run goes on: the token it opened at its start is no longer used, its further calls are refused`,
        `Error: refused: this space's ${API_TOKEN_SECRET} was removed or replaced since this run started, so this run may no longer use the token it had. Answer with what you have.`,
      )
    }
    granted = new Set(job.writtenBy)
    return true
  }
  return (input, signal) => {
    const mine = turn.then(async (): Promise<ApiCallOutcome> => {
      // A call still waiting its turn when the run is stopped (cancelled, timed out) is not made.
      if (signal?.aborted) return { result: 'Error: the run was stopped before this call.', status: null }
      // Past the cap: refused, and logged as every refusal is (status null).
      const may = ++calls > MAX_API_CALLS_PER_RUN ? null : await mayCall()
      const out: ApiCallOutcome =
        may === null
          ? { result: `Error: refused: this run has made its ${MAX_API_CALLS_PER_RUN} API calls, the most one run may make. Answer with what you have.`, status: null }
          : may === 'unchecked'
            ? { result: `Error: refused: this space's token could not be checked again ${asked === 'own' ? "(are the writers of this run's instructions still admins, is the token still the space's?)" : "after a sub-agent's answer joined this run"}, so this call was not made. Try again later, or answer with what you have.`, status: null }
            : !may
              ? { result: stopped!, status: null }
              : await call(input, signal)
      const path = typeof input?.path === 'string' ? scrubbed(cutText(input.path, 200), secret) : null
      await addLog(db, x.id, clock.now(), out.status === null || out.status >= 400 ? 'warn' : 'info', 'api_call', { method: String(input?.method ?? '').slice(0, 10), path, status: out.status })
      return out
    })
    turn = mine.catch(() => {})
    return mine
  }
}

/**
 * What the execution stores of a `teamday_api` result: its status line and size, never the answer.
 * An execution may be read by others (a shared agent's runs), who must not read through it what
 * the token's user may see and they may not (an admin's audit log); the model got the whole answer.
 */
export function storedApiResult(result: unknown): unknown {
  if (typeof result !== 'string') return result
  const firstLine = result.split('\n', 1)[0]!
  if (!firstLine.startsWith('HTTP ')) return result
  return `${firstLine} (${result.length - firstLine.length - 1} characters: given to the model, not stored)`
}

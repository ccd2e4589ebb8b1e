import { Elysia } from 'elysia'
import { ValueErrorType } from '@sinclair/typebox/errors'
import { redactSecrets } from '../auth/tokens'
import { commitInDoubt, databaseUnavailable, errorCodes } from '../db/unavailable'
import { requestCommitted } from '../db/request-writes'
import { AppError, errorBody, errorMessage } from '../errors'
import { newId } from '../ids'
import type { Logger } from '../logger'
import type { Clock } from '../clock'
import { loggedPath, loggedTarget } from './observe'
import { PERCENT_ENCODING_RULE } from '../modules/shared-models'
import { GET_WITHOUT_HEAD } from './routes'
import { secretFieldsOf, secretNamesFirst } from './secret-fields'

/**
 * The one onError (DESIGN.md, convention 4): every error leaves as the envelope of src/errors.ts
 * with its status — an AppError as it says, Elysia's own errors (invalid JSON, validation, no
 * such route, wrong method) mapped here, anything else 500 with a generic message, logged with
 * the request id. The one exception: an error the renderer claims (the web console's page paths,
 * src/console/error-pages.tsx) leaves as its page, with the same status and log line.
 */

interface FieldError {
  field: string
  message: string
}

/**
 * Per-field messages from an Elysia/TypeBox validation error, never echoing the value sent.
 * Reading `error.all` walks the value again (recursively, inside Elysia): whatever goes wrong
 * there, the client still gets the 422 with a generic detail, never a 500.
 */
export function validationDetails(error: any): FieldError[] {
  try {
    return fieldErrors(error)
  } catch {
    return [{ field: String(error?.type ?? 'body'), message: 'is invalid' }]
  }
}

function fieldErrors(error: any): FieldError[] {
  let all: any[] = Array.isArray(error?.all) ? error.all : []
  // A field the route does not take is ignored (Elysia drops it from a body that is valid
  // otherwise: the `additionalProperties: false` of src/app.ts settleSchemas), yet it was listed
  // as "<name> Unexpected property" beside the real error whenever there was one: `{"keys": [...]}`
  // sent to set secrets read "secrets must be …; keys Unexpected property".
  const real = all.filter((e) => e?.type !== ValueErrorType.ObjectAdditionalProperties)
  if (real.length > 0) all = real
  const out: FieldError[] = []
  const seen = new Set<string>()
  for (const e of all) {
    const custom = e.schema?.error
    // Coerced values (e.g. "366" for an integer) are reported without a path; our custom
    // messages start with the field name by convention (see the models), so use that.
    const field =
      String(e.path ?? '').replace(/^\//, '').replace(/\//g, '.') ||
      (typeof custom === 'string' ? custom.split(' ')[0]! : String(error?.type ?? 'body'))
    if (seen.has(field)) continue
    seen.add(field)
    out.push({ field, message: typeof custom === 'string' ? custom : `${field} ${String(e.message ?? e.summary ?? 'is invalid').replace(/^Expected/, 'expected')}` })
  }
  if (out.length === 0) out.push({ field: String(error?.type ?? 'body'), message: 'is invalid' })
  return out
}

/**
 * The path parameters Elysia could not percent-decode (`%ZZ`, a cut UTF-8 sequence such as
 * `%E0%A4`): it hands them to validation as null, which said only "id expected string". Null when
 * the error is not about such a parameter.
 */
export function undecodedParams(error: any): FieldError[] | null {
  const value = error?.type === 'params' ? error?.value : undefined
  if (value === null || typeof value !== 'object') return null
  const fields = Object.keys(value).filter((k) => value[k] === null)
  if (fields.length === 0) return null
  return fields.map((field) => ({ field, message: PERCENT_ENCODING_RULE(field) }))
}

/** Maps an Elysia route path to a matcher of request paths (as sent, still percent-encoded), for telling 405 from 404. */
export function routeMatcher(path: string): RegExp {
  const body = path
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/')
  return new RegExp(`^${body}/?$`)
}

/** How long the same database failure is counted instead of logged again (RepeatedLines). */
export const REPEAT_LOG_INTERVAL_MS = 60_000

/**
 * One log line per kind of database failure (its driver code) a minute: a full disk or a lost
 * PostgreSQL answered every request 503 and wrote a `database_unavailable` error line for each
 * (545 lines for 545 refused writes, probed on a full tmpfs), burying what happened in the
 * log, on the very disk that was full. `due` says whether to write this one, and how many
 * of its kind went unwritten since the last (null: count it, write nothing).
 */
class RepeatedLines {
  private readonly kinds = new Map<string, { loggedAt: number; unlogged: number }>()

  constructor(private readonly clock: Clock) {}

  due(kind: string): number | null {
    const now = this.clock.now()
    const seen = this.kinds.get(kind)
    if (seen !== undefined && now - seen.loggedAt >= 0 && now - seen.loggedAt < REPEAT_LOG_INTERVAL_MS) {
      seen.unlogged++
      return null
    }
    // A handful of kinds at most (the driver codes of src/db/unavailable.ts): kept, not pruned.
    this.kinds.set(kind, { loggedAt: now, unlogged: 0 })
    return seen?.unlogged ?? 0
  }
}

/** The rest of a 503's message when the connection was lost as the request's changes were being committed. */
export const COMMIT_IN_DOUBT =
  "The connection was lost while this request's changes were being committed, so whether they were is not known. With an Idempotency-Key, retry with the same key: it runs the request if nothing was committed, and answers 409 idempotency_interrupted (details.committed: true) if it was. Without one, check whether it took effect (e.g. list what it would have created) before sending it again."

/**
 * The rest of a 503's message when the request's work had committed changes before the statement
 * that failed (src/db/request-writes.ts): only that statement's transaction was rolled back.
 */
export const PARTLY_COMMITTED =
  "Part of this request's changes had already been committed before that, so it may have taken effect in part (details.committed: \"partly\"). With an Idempotency-Key, retry with the same key: it answers 409 idempotency_interrupted (details.committed: true) instead of running it twice. Without one, check what it did (e.g. read or list what it would have created or changed) before sending it again."

/** What a 503 for the database says of the request's changes (`details.committed`). */
export type CommittedOutcome = 'none' | 'partly' | 'unknown'

const INTERNAL = 'Internal server error. The request was not completed; quote the requestId when reporting this.'

/** An error as it leaves, for a renderer that answers it in another form than the JSON envelope. */
export interface ErrorAnswer {
  request: Request
  status: number
  code: string
  message: string
  requestId: string
  /** Headers the answer carries whatever its form (Allow of a 405, Retry-After of a 503). */
  headers?: Record<string, string>
  /** The error's details (a refusal's `reason`), for a renderer that answers some of them its own way. */
  details?: unknown
}

/**
 * Answers an error as something else than the envelope (the web console's pages), or null: the
 * envelope. Called for every error; it decides by the request (its path) whether it is its own.
 */
export type ErrorRenderer = (e: ErrorAnswer) => Response | null | Promise<Response | null>

/**
 * `routes` lists the app's routes once they are all registered (for 405 Allow); `clientAddress`
 * names where a refused authentication came from, in the log; `render`: the errors of requests
 * another part owns answered its way (the console's paths as its pages), JSON otherwise;
 * `docsHref`: Swagger UI's path as clients reach it, which a 404 names (under a sub-path,
 * `/teamday/swagger`: src/http/base-path.ts); `publicPath`: a path of the server as clients reach
 * it (BasePath.href), as a 404 or 405 names the path asked for (it named `/api/v1/nope` for a
 * request of `/teamday/api/v1/nope`).
 */
export function errorsPlugin(
  log: Logger,
  clock: Clock,
  routes: () => readonly { method: string; path: string }[],
  clientAddress: (request: Request) => string | null,
  onAuthFailure: (code: string) => void = () => {},
  render?: ErrorRenderer,
  queryRefusal?: (request: Request, route: string) => AppError | null,
  docsHref = '/swagger',
  publicPath: (path: string) => string = (path) => path,
) {
  let matchers: { method: string; path: string; re: RegExp }[] | undefined
  const outage = new RepeatedLines(clock)
  return new Elysia({ name: 'teamday-errors' }).onError({ as: 'global' }, ({ code, error: thrown, set, request, path, route }) => {
    const requestId = String(set.headers['x-request-id'] ?? newId('req'))
    try {
      // What the parse hook throws (authentication, readBody's rules) arrives wrapped in a
      // ParseError. readBody reports bad JSON as an AppError; anything else that failed there (the
      // database under the authentication or the rate limit) is a server error, not bad input.
      const cause = code === 'PARSE' ? (thrown as any)?.cause : undefined
      // A query that failed validation: its names (unknown, given twice) and empty values are
      // said first, as for one that passed (app.ts): `?status=pending&status=` was "Invalid
      // status" (Elysia validates the last value), `?status=&status=pending` "given more than once".
      const refusedQuery = code === 'VALIDATION' && (thrown as any)?.type === 'query' && queryRefusal && typeof route === 'string' ? queryRefusal(request, route) : null
      const error = refusedQuery ?? (cause instanceof AppError || (cause instanceof Error && !(cause instanceof SyntaxError)) ? cause : thrown)
      let status = 500
      let errCode = 'internal_error'
      let message = INTERNAL
      let details: unknown
      let headers: Record<string, string> | undefined
      let named: AppError | null = null
      if (error instanceof AppError) {
        status = error.status
        errCode = error.code
        message = error.message
        details = error.details
        headers = error.headers
      } else if (code === 'PARSE' && error === thrown) {
        status = 400
        errCode = 'invalid_json'
        message = 'Invalid JSON in request body: send a valid JSON object with Content-Type: application/json.'
      } else if (code === 'VALIDATION' && (error as any).type === 'body' && typeof route === 'string' && (named = secretNamesFirst((error as any).value, secretFieldsOf(request.method, route))) !== null) {
        // A value of a record of secrets refused under a key that is not a secret name: its field
        // was `secrets.<key>`, and such a key is often a value pasted as a name. Told by position.
        status = named.status
        errCode = named.code
        message = named.message
        details = named.details
      } else if (code === 'VALIDATION' && (error as any).type !== 'response') {
        status = 422
        errCode = 'validation_failed'
        const fields = undecodedParams(error) ?? validationDetails(error)
        details = fields
        message = `Validation failed: ${fields.map((f) => f.message).join('; ')}`
        const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
        if ((error as any).type === 'body' && type !== 'application/json') {
          // e.g. `curl -d '{...}'` without -H, which sends application/x-www-form-urlencoded
          message += ` (the body was sent ${type ? `as ${type}` : 'without a Content-Type'}; send a JSON object with Content-Type: application/json)`
        }
      } else if (code === 'NOT_FOUND') {
        matchers ??= routes().map((r) => ({ method: r.method, path: r.path, re: routeMatcher(r.path) }))
        const matching = matchers.filter((m) => m.re.test(path))
        const allowed = [...new Set(matching.map((m) => m.method))]
        // A GET route answers HEAD too (Elysia runs the GET for it), but a poll's (GET_WITHOUT_HEAD).
        if (allowed.includes('GET') && !allowed.includes('HEAD') && !matching.some((m) => m.method === 'GET' && GET_WITHOUT_HEAD.has(m.path))) allowed.splice(allowed.indexOf('GET') + 1, 0, 'HEAD')
        // The path as the access log writes it: a token in it is redacted even when
        // percent-encoded (`td%5F…`), which the redaction of the body below would not see.
        const shown = publicPath(loggedPath(request.url))
        if (allowed.length > 0 && !allowed.includes(request.method)) {
          status = 405
          errCode = 'method_not_allowed'
          message = `Method ${request.method} is not allowed on ${shown}; use ${allowed.join(', ')}.`
          headers = { allow: allowed.join(', ') }
        } else {
          status = 404
          errCode = 'route_not_found'
          message = `No route ${request.method} ${shown}. See ${docsHref} for the API reference.`
        }
      } else if (code === 'INVALID_COOKIE_SIGNATURE') {
        status = 400
        errCode = 'bad_request'
        message = 'Invalid cookie signature.'
      } else {
        const busy = databaseUnavailable(error)
        if (busy !== null) {
          status = 503
          errCode = 'service_unavailable'
          // A connection lost while the request's COMMIT was in flight (PostgreSQL): it may have
          // landed, and "nothing was changed" may be false. The key, when there is one, knows
          // (src/idempotency/service.ts, marked in the same transaction): the retry tells.
          // Part of the request's work committed before the failing statement (several
          // transactions, or writes that commit by themselves): "nothing was changed" was false.
          const committed: CommittedOutcome = commitInDoubt(error) ? 'unknown' : requestCommitted() ? 'partly' : 'none'
          message = committed === 'unknown' ? `${busy} ${COMMIT_IN_DOUBT}` : committed === 'partly' ? `${busy} ${PARTLY_COMMITTED}` : `${busy} Nothing was changed by this request; retry in a moment.`
          details = { committed }
          headers = { 'retry-after': '1' }
          // The driver's code (a SQLSTATE such as 42501, or ECONNRESET) and message, never the SQL.
          const driverCode = errorCodes(error).at(-1)
          const repeated = outage.due(driverCode ?? '')
          if (repeated !== null) {
            log.error('database_unavailable', { requestId, method: request.method, path: loggedTarget(request.url), code: driverCode, error: error instanceof Error ? `${error.name}: ${errorMessage(error)}` : String(error), ...(repeated > 0 ? { repeated } : {}) })
          }
        }
      }
      if (status === 500) {
        log.error('unhandled_error', {
          requestId,
          method: request.method,
          path: loggedTarget(request.url),
          error: error instanceof Error ? `${error.name}: ${errorMessage(error)}` : String(error),
        })
      } else if (status === 401) {
        // Never the token: only what kind of failure, from where.
        log.warn('auth_failed', { requestId, code: errCode, method: request.method, path: loggedTarget(request.url), ip: clientAddress(request) })
        onAuthFailure(errCode)
      }
      // Every 503 says when to come back (RFC 9110 §10.2.3), as the README and the document promise:
      // a run interrupted by a shutdown, a server stopping, had none.
      if (status === 503 && !headers?.['retry-after']) headers = { ...headers, 'retry-after': '5' }
      set.status = status
      const envelope = () => {
        set.headers['content-type'] = 'application/json'
        set.headers['cache-control'] = 'no-store'
        if (headers) Object.assign(set.headers, headers)
        // Client input may come back in any field of the body (a message naming an id, details
        // listing rejected values or keys): every string of it is redacted of tokens.
        return redactSecrets(errorBody(status, errCode, message, requestId, details))
      }
      if (!render) return envelope()
      // A page the renderer claims the error for, with the error's headers; whatever fails in the
      // renderer, the envelope still goes out. Synchronous when it claims nothing (the API's errors).
      const failed = (e: unknown) => {
        log.error('error_page_failed', { requestId, path: loggedTarget(request.url), error: e instanceof Error ? `${e.name}: ${errorMessage(e)}` : String(e) })
        return envelope()
      }
      const answer = (page: Response | null) => {
        if (!page) return envelope()
        if (headers) for (const [k, v] of Object.entries(headers)) if (!page.headers.has(k)) page.headers.set(k, v)
        return page
      }
      let rendered: ReturnType<ErrorRenderer>
      try {
        rendered = render({ request, status, code: errCode, message: redactSecrets(message), requestId, headers, details })
      } catch (e) {
        return failed(e)
      }
      return rendered instanceof Promise ? rendered.then(answer, failed) : answer(rendered)
    } catch {
      // Never Bun's plain-text "Something went wrong": the envelope, whatever failed above.
      set.status = 500
      set.headers['content-type'] = 'application/json'
      return errorBody(500, 'internal_error', INTERNAL, requestId)
    }
  })
}

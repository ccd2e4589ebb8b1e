import { Type, type TSchema } from '@sinclair/typebox'
import { t } from 'elysia'
import { STATUS_TEXT, type ErrorCode } from '../errors'
import { SLUG_PATTERN_SOURCE, SLUG_RULE } from './slugs'

const envelope = {
  error: t.Literal(true, { description: 'Always true: this body is an error' }),
  // TypeBox's plain integer: Elysia's t.Integer also accepts numeric strings, which is right
  // for input but documents a response field as "string or integer".
  statusCode: Type.Integer({ description: 'The HTTP status code of the response, repeated', examples: [401] }),
  statusMessage: t.String({ description: 'The standard reason phrase of that status', examples: ['Unauthorized'] }),
  code: t.String({ description: 'Stable machine-readable error code', examples: ['token_expired'] }),
  message: t.String({ description: 'What went wrong and what to do', examples: ['Invalid or expired token: this token expired on 2026-01-01T00:00:00.000Z. Create a new token in the web console (Settings → Profile → Personal Access Tokens, /settings/tokens).'] }),
  requestId: t.String({ description: 'Also in the X-Request-Id header; quote it when reporting a problem', examples: ['req_3xY7kQ2mN8pL4vR6tB1c'] }),
  details: t.Optional(t.Unknown({ description: 'Per-field validation errors or other specifics' })),
}

/**
 * The error envelope for one status, with what that status means on this route as the
 * OpenAPI response description and a whole-body example.
 */
export function errorResponse(status: number, code: ErrorCode, description: string, message: string, details?: unknown) {
  const example: Record<string, unknown> = { error: true, statusCode: status, statusMessage: STATUS_TEXT[status], code, message, requestId: 'req_3xY7kQ2mN8pL4vR6tB1c' }
  if (details !== undefined) example.details = details
  return t.Object(envelope, { description, examples: [example] })
}

/** The error envelope every error response uses. */
export const ErrorResponse = t.Object(envelope, { description: 'Error envelope' })

/** `success` of every success body (the TeamDay v1 wire convention). */
export const successField = t.Literal(true, { description: 'Always true: the request succeeded' })

export const Success = t.Object({ success: successField })

/**
 * Named OpenAPI models (`components.schemas`). Elysia's `.model()` writes
 * `$id: "#/components/schemas/<name>"` into the object it gets, which would leak into the
 * document (an `$id` with a fragment is invalid JSON Schema 2020-12) and into every schema that
 * embeds the same object. It gets a copy whose `$id` is already set and not enumerable, so it
 * is neither overwritten nor serialized. Routes then name the model (`response: { 200: 'Agent' }`):
 * the generator emits a `$ref`, and validation uses the same schema as before. A name is given to
 * one schema only: Elysia keeps the first model of a name and ignores the next silently.
 */
const registered = new Map<string, { source: TSchema; model: TSchema }>()
export function named<const M extends Record<string, TSchema>>(models: M): M {
  const out: Record<string, TSchema> = {}
  for (const [name, source] of Object.entries(models)) {
    const seen = registered.get(name)
    if (seen && seen.source !== source) throw new Error(`OpenAPI model name ${name} is given to two different schemas`)
    if (!seen) {
      const model = { ...source }
      Object.defineProperty(model, '$id', { value: `#/components/schemas/${name}`, enumerable: false, writable: true, configurable: true })
      // What the response allowlist does (undeclared fields are dropped), said in the document;
      // Elysia sets it only on its own module copy, when a route first compiles (see app.ts settleSchemas).
      if (model.type === 'object' && !('additionalProperties' in model)) model.additionalProperties = false
      registered.set(name, { source, model })
    }
    out[name] = registered.get(name)!.model
  }
  return out as M
}

/** Error responses every authenticated route can give, for the OpenAPI `response` map. */
const authErrorSchemas = {
  401: errorResponse(
    401,
    'token_expired',
    'Unauthorized: the token is missing, malformed, unknown, expired or revoked, or its user left the organization. `code` says which; WWW-Authenticate: Bearer is set.',
    'Invalid or expired token: this token expired on 2026-01-01T00:00:00.000Z. Create a new token in the web console (Settings → Profile → Personal Access Tokens, /settings/tokens) or on the server (`teamday tokens create --email … --name …`), and send it as "Authorization: Bearer td_…"; from a terminal, sign in with `teamday login` (TeamDay\'s CLI: `teamday auth login`).',
  ),
  // A refusal a role really gets (every role may write its own tokens: tokens:write was none).
  403: errorResponse(403, 'forbidden', 'Forbidden: the token is valid but your role in this organization does not allow this (access denied).', 'Forbidden: your role (viewer) does not allow agents:write (access denied)', {
    requiredPermission: 'agents:write',
    role: 'viewer',
  }),
  429: errorResponse(
    429,
    'rate_limited',
    "Too many requests (`rate_limited`), for one of two reasons; `Retry-After` and `details.retryAfterSeconds` say when to retry. The token's budget (TEAMDAY_RATE_LIMIT, default 1200 a minute) or its user's (all their tokens together) is spent: the X-RateLimit-* and RateLimit headers describe the budget that refused, and Teamday-Token-Expiration is set. Or the client's address sent more failed authentications than TEAMDAY_AUTH_FAILURE_LIMIT allows (default 20 a minute): a request whose credential is refused (malformed, unknown, expired or revoked; not a missing one) then gets this 429, message `Too many failed authentication attempts from your address` and `details.reason` `failed_authentications`, instead of the 401, with `Retry-After` only (no rate-limit or expiration headers: no token was accepted), until the window ends; valid tokens from that address keep working.",
    'Too many requests: the limit is 1200 requests per 60 s for each token. Retry in 42 s.',
    { retryAfterSeconds: 42 },
  ),
} as const

/** Bodies that are not JSON, too large, or invalid. */
const bodyErrorSchemas = {
  400: errorResponse(400, 'invalid_json', 'The body is not valid JSON or not UTF-8 (`invalid_json`), or nests objects and arrays deeper than 32 levels (`json_too_deep`).', 'Invalid JSON in request body: send a valid JSON object with Content-Type: application/json.'),
  413: errorResponse(413, 'payload_too_large', 'The body is over 1 MiB.', 'Request body too large: the limit is 1048576 bytes (1 MiB).'),
  422: errorResponse(422, 'validation_failed', 'Validation failed: `details` names each invalid field.', 'Validation failed: expiresInDays must be an integer between 7 and 365', [
    { field: 'expiresInDays', message: 'expiresInDays must be an integer between 7 and 365' },
  ]),
} as const

/** What an Idempotency-Key can add to an authenticated POST or PATCH (README, Idempotency keys). */
export const IDEMPOTENCY_409 =
  'With an Idempotency-Key: the key was used with another request (`idempotency_conflict`), or that request is still running (`idempotency_in_progress`) or never answered, its server stopped: it may have taken effect and is not run again (`idempotency_interrupted`, after 10 minutes), or it did take effect but its answer was lost (`idempotency_interrupted` with `details.committed: true`: a database connection lost as its changes were committed, answered 503): look the resource up (e.g. list what it created) and do not send the request again with a new key; an execute\'s names the execution it recorded (`details.executionId`; one failed as "not started" never ran: start it again with a new key); on a route whose answer holds a new secret, the key already created it (`idempotency_secret_withheld`, `details.createdId`); on a streamed execute, it started that execution (`idempotency_stream_started`, `details.executionId`).'
export const IDEMPOTENCY_400 = 'The Idempotency-Key header is not 1-255 printable ASCII characters, or it was sent more than once (two headers arrive joined by ", "), or it holds a token (`invalid_idempotency_key`).'
export const IDEMPOTENCY_CONFLICT = 'IdempotencyConflict'
export const INVALID_IDEMPOTENCY_KEY = 'InvalidIdempotencyKey'

/** What any route can answer before it runs (README, Request limits), beside 414 UriTooLong and 413 PayloadTooLarge. */
export const UNSUPPORTED_CONTENT_ENCODING = 'UnsupportedContentEncoding'
export const UNSUPPORTED_CONTENT_ENCODING_415 =
  'The body has a Content-Encoding other than identity (gzip, br, …): request bodies are read as sent, never decompressed (`unsupported_media_type`; `Accept-Encoding: identity` is set). Send it uncompressed.'
export const DATABASE_UNAVAILABLE = 'DatabaseUnavailable'
export const DATABASE_UNAVAILABLE_503 =
  'The database cannot take this request now (`service_unavailable`, with `Retry-After`): another process holds its write lock (an admin command, a rekey, a restore), or PostgreSQL is busy past the statement timeout, restarting, read-only or out of reach. `details.committed` says what of the request was done, and the message says it too: `"none"`, nothing was changed, retry; `"partly"`, part of its changes had committed before the statement that failed (a request of several transactions, or a change committed before the read it answers with): it may have taken effect in part; `"unknown"`, a PostgreSQL connection was lost while its COMMIT (or a write that commits by itself) was in flight. For `"partly"` and `"unknown"`: with an Idempotency-Key a retry with the same key is safe and tells which (it runs if nothing was committed, or answers 409 `idempotency_interrupted` with `details.committed: true`); without one, check what it did (read or list what it would have created or changed) before sending it again.'
export const INVALID_PATH_PARAMETER = 'InvalidPathParameter'
export const INVALID_PATH_PARAMETER_422 =
  'A path parameter is not valid percent-encoding (`%ZZ`, or a cut UTF-8 sequence such as `%E0%A4`), or is longer than the `maxLength` its schema gives, where it gives one: `validation_failed`, `details` names it.'
export const NUL_IN_QUERY = 'NulInQuery'
export const NUL_IN_QUERY_422 =
  'A query parameter holds the NUL character (%00), which no id, slug or filter can hold, or its name or value is not valid percent-encoding (`%ZZ`, a lone `%`, a cut UTF-8 sequence: write a % itself as %25) (`validation_failed`, `details` names it); any route answers this, also one that otherwise ignores its query.'
export const INVALID_HOST = 'InvalidHost'
export const INVALID_HOST_400 =
  'The Host header is not a host name or IP address with an optional port (`host[:port]`: a path, a user, a space, an empty one), or was sent twice (`bad_request`, RFC 9112 §3.2); any route answers this, before it runs.'
/** The message of a path parameter that is not valid percent-encoding (src/http/errors.ts). */
export const PERCENT_ENCODING_RULE = (field: string) => `${field} is not valid percent-encoding: each % must begin an escape of UTF-8 (%41, %C3%A9); write a % itself as %25`

/** The shared error variants, each once in `components.schemas`; routes name them. */
export const sharedModels = named({
  Error: ErrorResponse,
  Unauthorized: authErrorSchemas[401],
  Forbidden: authErrorSchemas[403],
  RateLimited: authErrorSchemas[429],
  InvalidJson: bodyErrorSchemas[400],
  PayloadTooLarge: bodyErrorSchemas[413],
  ValidationFailed: bodyErrorSchemas[422],
  UriTooLong: errorResponse(414, 'uri_too_long', 'The URL (path and query) is over 8 KiB; any route can answer this.', 'URL too long: the limit is 8192 bytes (8 KiB) for the path and query.'),
  // Added where they apply by the published document (src/http/openapi-publish.ts, withRequestLimits).
  [UNSUPPORTED_CONTENT_ENCODING]: errorResponse(
    415,
    'unsupported_media_type',
    UNSUPPORTED_CONTENT_ENCODING_415,
    'Unsupported Content-Encoding "gzip": this server reads request bodies as sent and decodes none. Send the body uncompressed, without a Content-Encoding header.',
  ),
  [DATABASE_UNAVAILABLE]: errorResponse(
    503,
    'service_unavailable',
    DATABASE_UNAVAILABLE_503,
    'The database is busy: another process holds its write lock (an admin command, a rekey or a restore). Nothing was changed by this request; retry in a moment.',
    { committed: 'none' },
  ),
  [INVALID_PATH_PARAMETER]: errorResponse(422, 'validation_failed', INVALID_PATH_PARAMETER_422, `Validation failed: ${PERCENT_ENCODING_RULE('id')}`, [{ field: 'id', message: PERCENT_ENCODING_RULE('id') }]),
  [INVALID_HOST]: errorResponse(400, 'bad_request', INVALID_HOST_400, 'Bad request: the Host header must be a host name or IP address with an optional port (host[:port]), sent once.'),
  [NUL_IN_QUERY]: errorResponse(422, 'validation_failed', NUL_IN_QUERY_422, 'Validation failed: x must not contain the NUL character (%00)', [{ field: 'x', message: 'must not contain the NUL character (%00)' }]),
  // Added to every authenticated POST and PATCH by the published document (src/http/openapi-publish.ts, withIdempotency).
  [IDEMPOTENCY_CONFLICT]: errorResponse(
    409,
    'idempotency_conflict',
    IDEMPOTENCY_409,
    'Idempotency-Key conflict: this key was already used with a different request (POST /api/v1/tasks or another body). Use a new key for a new request.',
  ),
  [INVALID_IDEMPOTENCY_KEY]: errorResponse(400, 'invalid_idempotency_key', IDEMPOTENCY_400, 'Invalid Idempotency-Key header: it must be 1-255 printable ASCII characters, e.g. a UUID.', [
    { field: 'Idempotency-Key', message: 'must be 1-255 printable ASCII characters' },
  ]),
})

export const authErrors = { 401: 'Unauthorized', 403: 'Forbidden', 429: 'RateLimited' } as const
export const bodyErrors = { 400: 'InvalidJson', 413: 'PayloadTooLarge', 422: 'ValidationFailed' } as const

/** `slug` on create and update (src/modules/slugs.ts). */
export const slugField = (what: 'agent' | 'space') =>
  t.Optional(
    t.String({
      minLength: 1,
      maxLength: 64,
      pattern: SLUG_PATTERN_SOURCE,
      description: `Unique in the organization: ${SLUG_RULE}. Usable wherever the ${what} id is. On create, derived from the name when left out (with a short suffix when that is taken); a slug sent that another ${what} has is 409 \`slug_taken\`.`,
      examples: [what === 'agent' ? 'deploy-bot' : 'production'],
      error: `slug must be ${SLUG_RULE}`,
    }),
  )


/**
 * One error type, one table. Services and plugins `throw new AppError(code, message)`;
 * the single onError (src/http/errors.ts) turns it into the envelope
 * {error, statusCode, statusMessage, code, message, requestId, details?}.
 */
export const ERROR_STATUS = {
  // 400
  invalid_json: 400,
  /** JSON nested deeper than MAX_JSON_DEPTH (src/json-limits.ts). */
  json_too_deep: 400,
  bad_request: 400,
  invalid_idempotency_key: 400,
  /** The client closed the connection before its body was complete (nobody receives the answer; the access log says 400). */
  request_aborted: 400,
  // 400 — browser sign-in for CLIs: the poll's terminal answers (RFC 8628 answers 400 too)
  invalid_login_code: 400,
  login_code_expired: 400,
  login_denied: 400,
  login_code_used: 400,
  // 401 — authentication, one code per way it can fail
  missing_token: 401,
  unsupported_auth_scheme: 401,
  missing_bearer_scheme: 401,
  empty_bearer_token: 401,
  malformed_token: 401,
  invalid_token_checksum: 401,
  invalid_token: 401,
  token_expired: 401,
  token_revoked: 401,
  membership_revoked: 401,
  authorization_header_too_large: 401,
  // 403
  forbidden: 403,
  insufficient_scope: 403,
  // 404
  not_found: 404,
  route_not_found: 404,
  // 405
  method_not_allowed: 405,
  // 409
  conflict: 409,
  /** An agent or space slug already used in the organization. */
  slug_taken: 409,
  /** The user is a member of the organization already. */
  already_member: 409,
  /** The change would leave the organization without an admin. */
  last_admin: 409,
  idempotency_conflict: 409,
  idempotency_in_progress: 409,
  /** The key's first request never answered (its server stopped): it may have taken effect; never run again. */
  idempotency_interrupted: 409,
  idempotency_secret_withheld: 409,
  /** A retry of a streamed execute: the execution runs once; its stream is not replayed. */
  idempotency_stream_started: 409,
  invalid_state: 409,
  /** A revoked token was rotated: its whole rotation family has been revoked. */
  // 413
  payload_too_large: 413,
  // 414
  uri_too_long: 414,
  // 415
  unsupported_media_type: 415,
  // 422
  validation_failed: 422,
  /** A user already has TEAMDAY_MAX_TOKENS_PER_USER active tokens in the organization. */
  token_limit_reached: 422,
  /** The agent's model is one no configured provider serves (the execution is recorded as failed). */
  model_not_served: 422,
  /**
   * A run's execute (through its `teamday_api` tool) past a bound of its delegation tree, as a
   * `delegate` call would be refused: TEAMDAY_MAX_DELEGATION_DEPTH or
   * TEAMDAY_MAX_DELEGATIONS_PER_RUN (`details.limit` names it). Nothing is started.
   */
  delegation_limit: 422,
  /**
   * The run used all of its agent's `maxTurns` model turns and its model, at the last one, still
   * called tools instead of answering: the execution is recorded as failed, without a final answer.
   */
  max_turns_reached: 422,
  // 429
  rate_limited: 429,
  // 500
  internal_error: 500,
  decryption_failed: 500,
  no_model_provider: 501,
  bad_gateway: 502,
  service_unavailable: 503,
  /** The model provider's rate limit stopped the run (its 429): with its Retry-After when it sent one. */
  provider_rate_limited: 503,
  /** The model provider is overloaded (its 503, Anthropic's 529): with its Retry-After when it sent one. */
  provider_overloaded: 503,
  gateway_timeout: 504,
} as const

export type ErrorCode = keyof typeof ERROR_STATUS

export const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
  503: 'Service Unavailable',
}

export class AppError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly details?: unknown
  /** Extra response headers, e.g. WWW-Authenticate or Allow. ASCII only. */
  readonly headers?: Record<string, string>

  constructor(code: ErrorCode, message: string, opts: { details?: unknown; headers?: Record<string, string> } = {}) {
    super(message)
    this.name = 'AppError'
    this.code = code
    this.status = ERROR_STATUS[code]
    this.details = opts.details
    this.headers = opts.headers
  }
}

/** 422 `validation_failed` naming one field: the message, and `details` with the field and the message. */
export function invalidField(field: string, message: string): AppError {
  return new AppError('validation_failed', `Validation failed: ${message}`, { details: [{ field, message }] })
}

export interface ErrorBody {
  error: true
  statusCode: number
  statusMessage: string
  code: string
  message: string
  requestId: string
  details?: unknown
}

export function errorBody(status: number, code: string, message: string, requestId: string, details?: unknown): ErrorBody {
  const body: ErrorBody = {
    error: true,
    statusCode: status,
    statusMessage: STATUS_TEXT[status] ?? 'Error',
    code,
    message,
    requestId,
  }
  if (details !== undefined) body.details = details
  return body
}

/**
 * The message of what was thrown, for logs: a failed statement's own message, not drizzle's
 * wrapper ("Failed query: <sql> params: …", which would put bound values in the log).
 */
export function errorMessage(e: unknown): string {
  const inner = e instanceof Error && e.cause instanceof Error ? e.cause : e
  return inner instanceof Error ? inner.message : String(inner)
}

import { Type } from '@sinclair/typebox'
import { t } from 'elysia'
import { STATUS_TEXT, type ErrorCode } from '../errors'

const envelope = {
  error: t.Literal(true),
  // TypeBox's plain integer: Elysia's t.Integer also accepts numeric strings, which is right
  // for input but documents a response field as "string or integer".
  statusCode: Type.Integer({ examples: [401] }),
  statusMessage: t.String({ examples: ['Unauthorized'] }),
  code: t.String({ description: 'Stable machine-readable error code', examples: ['token_expired'] }),
  message: t.String({ description: 'What went wrong and what to do', examples: ['Invalid or expired token: this token expired on 2026-01-01T00:00:00.000Z. Create a new token in Settings → Profile.'] }),
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

export const Success = t.Object({ success: t.Literal(true) })

/** Error responses every authenticated route can give, for the OpenAPI `response` map. */
export const authErrors = {
  401: errorResponse(
    401,
    'token_expired',
    'Unauthorized: the token is missing, malformed, unknown, expired or revoked, or its user left the organization. `code` says which; WWW-Authenticate: Bearer is set.',
    'Invalid or expired token: this token expired on 2026-01-01T00:00:00.000Z. Create a new token in Settings → Profile.',
  ),
  403: errorResponse(403, 'forbidden', 'Forbidden: the token is valid but your role in this organization does not allow this (access denied).', 'Forbidden: your role (viewer) does not allow tokens:write (access denied)', {
    requiredPermission: 'tokens:write',
    role: 'viewer',
  }),
  429: errorResponse(429, 'rate_limited', 'Too many requests: slow down and retry later.', 'Too many requests: retry in a few seconds.'),
} as const

/** Bodies that are not JSON, too large, or invalid. */
export const bodyErrors = {
  400: errorResponse(400, 'invalid_json', 'The body is not valid JSON (`invalid_json`), or nests objects and arrays deeper than 32 levels (`json_too_deep`).', 'Invalid JSON in request body: send a valid JSON object with Content-Type: application/json.'),
  413: errorResponse(413, 'payload_too_large', 'The body is over 1 MiB.', 'Request body too large: the limit is 1048576 bytes (1 MiB).'),
  422: errorResponse(422, 'validation_failed', 'Validation failed: `details` names each invalid field.', 'Validation failed: expiresInDays must be an integer between 7 and 365', [
    { field: 'expiresInDays', message: 'expiresInDays must be an integer between 7 and 365' },
  ]),
} as const

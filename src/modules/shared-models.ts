import { t } from 'elysia'

// Convention: a schema's custom `error` message starts with the field's name
// ("expiresInDays must be …"): the error handler uses it to name the field when TypeBox
// reports no path (values coerced from strings).

/** The error envelope every error response uses. */
export const ErrorResponse = t.Object(
  {
    error: t.Literal(true),
    statusCode: t.Integer({ examples: [401] }),
    statusMessage: t.String({ examples: ['Unauthorized'] }),
    code: t.String({ description: 'Stable machine-readable error code', examples: ['token_expired'] }),
    message: t.String({ description: 'What went wrong and what to do', examples: ['Invalid or expired token: this token expired on 2026-01-01T00:00:00.000Z. Create a new token in Settings → Profile.'] }),
    requestId: t.String({ examples: ['req_3xY7kQ2mN8pL4vR6tB1c'] }),
    details: t.Optional(t.Unknown({ description: 'Per-field validation errors or other specifics' })),
  },
  { $id: '#/components/schemas/Error', description: 'Error envelope' },
)

export const Success = t.Object({ success: t.Literal(true) })

/** Error responses every authenticated route can give, for the OpenAPI `response` map. */
export const authErrors = {
  401: ErrorResponse,
  403: ErrorResponse,
  429: ErrorResponse,
} as const

export const Pagination = {
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 200, default: 50, description: 'Page size (1-200, default 50)' })),
  offset: t.Optional(t.Integer({ minimum: 0, default: 0, description: 'Items to skip' })),
}

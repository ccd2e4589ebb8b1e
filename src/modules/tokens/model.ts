import { t } from 'elysia'

const exampleToken = {
  id: 'pat_7Hq2LmX9vB3nR8kT1wYz',
  name: 'CI Pipeline',
  maskedToken: 'td_AbCd…yZ01',
  status: 'active',
  scopes: ['*'],
  userId: 'user_4Fk9QzL2mP7xR1vN8tBc',
  userEmail: 'admin@localhost',
  organizationId: 'org_9Tr4Kx2LmQ7vB1nZ8wYc',
  createdAt: '2026-11-23T10:00:00.000Z',
  expiresAt: '2027-02-21T10:00:00.000Z',
  lastUsedAt: '2026-11-23T10:05:00.000Z',
  lastUsedIp: '203.0.113.7',
  lastUsedUserAgent: 'curl/8.5.0',
  revokedAt: null,
}

export const TokenStatus = t.Union([t.Literal('active'), t.Literal('expired'), t.Literal('revoked')])

export const Token = t.Object(
  {
    id: t.String({ description: 'Token id (not the secret)' }),
    name: t.String(),
    maskedToken: t.String({ description: 'td_ + first 4 … last 4 characters, for identification' }),
    status: TokenStatus,
    scopes: t.Array(t.String(), { description: '"*" = everything the user\'s role allows' }),
    userId: t.String(),
    userEmail: t.String(),
    organizationId: t.String(),
    createdAt: t.String({ format: 'date-time' }),
    expiresAt: t.String({ format: 'date-time' }),
    lastUsedAt: t.Nullable(t.String({ format: 'date-time' })),
    lastUsedIp: t.Nullable(t.String()),
    lastUsedUserAgent: t.Nullable(t.String()),
    revokedAt: t.Nullable(t.String({ format: 'date-time' })),
  },
  { examples: [exampleToken] },
)

export const CreateTokenBody = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 100, description: 'What the token is for, e.g. "CI Pipeline"', error: 'name is required: a string of 1-100 characters' }),
    expiresInDays: t.Optional(
      t.Integer({ minimum: 7, maximum: 365, description: 'Lifetime in days, 7-365 (default 90). Numeric strings are accepted.', examples: [90], error: 'expiresInDays must be an integer between 7 and 365' }),
    ),
    expiresAt: t.Optional(t.String({ description: 'Alternative to expiresInDays: an ISO-8601 instant 7-365 days ahead', error: 'expiresAt must be an ISO-8601 date-time string' })),
  },
  { examples: [{ name: 'CI Pipeline', expiresInDays: 90 }] },
)

export const CreatedToken = t.Object(
  {
    success: t.Literal(true),
    token: t.String({ description: 'The secret. Shown only in this response: copy it now.' }),
    warning: t.String(),
    ...Token.properties,
  },
  {
    examples: [
      {
        success: true,
        token: 'td_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789x048dSn',
        warning: 'Copy this token now: it will not be shown again.',
        ...exampleToken,
        maskedToken: 'td_AbCd…8dSn',
        lastUsedAt: null,
        lastUsedIp: null,
        lastUsedUserAgent: null,
      },
    ],
  },
)

export const TokenList = t.Object({
  success: t.Literal(true),
  tokens: t.Array(Token),
  total: t.Integer(),
})

export const TokenEnvelope = t.Object({ success: t.Literal(true), token: Token })

export const ListTokensQuery = t.Object({
  all: t.Optional(t.Boolean({ description: 'Admins: every token of the organization, not just your own' })),
  status: t.Optional(TokenStatus),
  limit: t.Optional(t.Integer({ minimum: 1, maximum: 200, default: 50, error: 'limit must be an integer between 1 and 200' })),
  offset: t.Optional(t.Integer({ minimum: 0, default: 0, error: 'offset must be a non-negative integer' })),
})

export const TokenIdParams = t.Object({ id: t.String({ description: 'Token id (pat_…)', examples: ['pat_7Hq2LmX9vB3nR8kT1wYz'] }) })

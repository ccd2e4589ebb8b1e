import { t } from 'elysia'
import { SCOPES } from '../../auth/roles'
import { serviceRule } from '../../http/openapi-publish'
import { ISO_INSTANT_PATTERN } from '../../instants'
import { namePattern } from '../../text'
import { QueryBoolean } from '../query-params'
import { cursorParam, limitParam, offsetParam, pageExample, pageFields } from '../list-models'
import { named, successField } from '../shared-models'

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
  createdByTokenId: 'pat_9Zx3Cv5Bn7Mq1Wr4Ty6U',
}

const tokenStatus = (description: string) => t.Union([t.Literal('active'), t.Literal('expired'), t.Literal('revoked')], { description, error: 'status must be one of: active, expired, revoked' })
export const TokenStatus = tokenStatus(
  'active: neither expired nor revoked (a rotated token stays active until its grace period ends at `revokedAt`); expired: `expiresAt` has passed; revoked: revoked, from the moment the revocation was made (a rotation\'s grace period: once `revokedAt` has passed)',
)

export const Token = t.Object(
  {
    id: t.String({ description: 'Token id (not the secret)' }),
    name: t.String({ description: 'The name given at creation (stored encrypted)' }),
    maskedToken: t.String({ description: 'td_ + first 4 … last 4 characters, for identification' }),
    status: TokenStatus,
    scopes: t.Array(t.String(), { description: '"*" = everything the user\'s role allows' }),
    userId: t.String({ description: 'The user the token belongs to and acts as (user_…)' }),
    userEmail: t.String({ description: "That user's email address" }),
    organizationId: t.String({ description: 'The organization the token works in (org_…)' }),
    createdAt: t.String({ format: 'date-time', description: 'When the token was created' }),
    expiresAt: t.String({ format: 'date-time', description: 'When the token stops working: its expiry, or the end of its rotation grace period when that comes first (also in the Teamday-Token-Expiration header of its own requests)' }),
    lastUsedAt: t.Nullable(t.String({ format: 'date-time', description: 'When a request last authenticated with it, recorded at most once a minute; null if never used' })),
    lastUsedIp: t.Nullable(t.String({ description: 'The client address of that request (behind a trusted proxy: the address the proxy reports); null if never used or unknown' })),
    lastUsedUserAgent: t.Nullable(t.String({ description: 'The User-Agent header of that request, first 512 characters; null if never used or sent without one' })),
    revokedAt: t.Nullable(t.String({ format: 'date-time', description: 'When it was (or, during a rotation grace period, will be) revoked; null if not revoked' })),
    createdByTokenId: t.Nullable(t.String({ description: 'The token whose request created this one (for a rotated token: the token that rotated it); null when made by the admin CLI or in the web console' })),
  },
  { description: "A personal access token's metadata: never its secret or hash", examples: [exampleToken] },
)

/** `expiresAt` of a token's creation or rotation: the same rule and error (resolveExpiry), said for each. */
const expiresAtField = (description: string) =>
  t.Optional(
    t.String({
      description,
      error: 'expiresAt must be an ISO-8601 date-time string',
      ...serviceRule({ pattern: ISO_INSTANT_PATTERN }),
    }),
  )

export const CreateTokenBody = t.Object(
  {
    name: t.String({
      minLength: 1,
      maxLength: 100,
      description: 'What the token is for, e.g. "CI Pipeline": 1-100 characters once trimmed, with a visible character, no control or bidirectional formatting characters, and no token (a name is stored and listed: one holding a `td_…` secret is 422)',
      error: 'name must be a string of 1-100 characters (it is required)',
      ...serviceRule({ pattern: namePattern(100) }),
    }),
    expiresInDays: t.Optional(
      t.Integer({ minimum: 7, maximum: 365, description: 'Lifetime in days, 7-365 (default 90); made by a token or a sign-in that ends sooner, it ends with it (even under 7 days; the answer\'s expiresAt says when). Numeric strings are accepted.', examples: [90], error: 'expiresInDays must be an integer between 7 and 365' }),
    ),
    expiresAt: expiresAtField('Alternative to expiresInDays: an ISO-8601 instant 7-365 days ahead (up to 5 minutes outside, for clock skew, is stored on the nearer edge), or, when the calling token or sign-in ends within 7 days, up to its end (`latestExpiresAt`); a date alone (`2027-03-01`) is the end of that day, UTC'),
    scopes: t.Optional(
      t.Array(t.String({ maxLength: 100, ...serviceRule({ enum: [...SCOPES] }) }), {
        maxItems: 50,
        ...serviceRule({ minItems: 1 }),
        description:
          'What the token may do (default: the calling token\'s own scopes, `["*"]` = everything your role allows for a full token). Any of: *, ' +
          SCOPES.filter((s) => s !== '*').join(', ') +
          '. `x:write` implies `x:read`. Only scopes the calling token has itself (`*` only from a `*` token; otherwise 403 `insufficient_scope`). Always bounded by your current role: a token never exceeds its user.',
        examples: [['agents:read', 'agents:execute']],
        error: 'scopes must be an array of scope names, e.g. ["agents:read"]',
      }),
    ),
  },
  // The docs' recommended 90 days: run in Swagger UI with a 90-day token made a moment before, it
  // ends with that token (expiresInDays is "at most" for a token-made token).
  { examples: [{ name: 'CI Pipeline', expiresInDays: 90 }, { name: 'Read-only dashboard', scopes: ['agents:read', 'tasks:read'] }] },
)

export const CreatedToken = t.Object(
  {
    success: successField,
    token: t.String({ description: 'The secret. Shown only in this response: copy it now.' }),
    warning: t.String({ description: 'A reminder that `token` is shown only once' }),
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

// With examples: without them Swagger UI made one up (a total of 0 beside a token, a cursor "string").
export const TokenList = t.Object(
  {
    success: successField,
    tokens: t.Array(Token, { description: 'This page of tokens, newest first' }),
    ...pageFields('tokens'),
  },
  { examples: [{ success: true, tokens: [exampleToken], ...pageExample }] },
)

export const TokenEnvelope = t.Object({ success: successField, token: Token }, { examples: [{ success: true, token: exampleToken }] })

export const ListTokensQuery = t.Object({
  all: t.Optional(QueryBoolean({ description: 'Admins: every token of the organization, not just your own', error: 'all must be true or false' })),
  status: t.Optional(tokenStatus('Only tokens with this status now (see `status` of a token)')),
  limit: limitParam,
  offset: offsetParam('Tokens'),
  cursor: cursorParam,
})

export const TokenIdParams = t.Object({ id: t.String({ description: 'Token id (pat_…)', examples: ['pat_7Hq2LmX9vB3nR8kT1wYz'] }) })

export const RotateTokenBody = t.Object(
  {
    expiresInDays: t.Optional(
      t.Integer({ minimum: 7, maximum: 365, description: "Lifetime of the new token in days, 7-365 (default: the old token's lifetime); it ends at its limit when that is sooner (rotated by a token or sign-in, or made by one: even under 7 days)", error: 'expiresInDays must be an integer between 7 and 365' }),
    ),
    expiresAt: expiresAtField(
      "Alternative to expiresInDays: when the new token expires, an ISO-8601 instant 7-365 days ahead (up to 5 minutes outside, for clock skew, is stored on the nearer edge), or up to the limit (`latestExpiresAt`) when that is sooner; a date alone (`2027-03-01`) is the end of that day, UTC (as for a new token; not both; default: the old token's lifetime)",
    ),
    gracePeriodSeconds: t.Optional(
      t.Integer({ minimum: 0, maximum: 86400, default: 0, description: 'How long the old token keeps working, 0-86400 s (default 0: revoked at once)', error: 'gracePeriodSeconds must be an integer between 0 and 86400' }),
    ),
  },
  { examples: [{ gracePeriodSeconds: 3600 }, { expiresAt: '2027-03-01', gracePeriodSeconds: 3600 }] },
)

export const RotatedToken = t.Object(
  {
    ...CreatedToken.properties,
    rotatedFromId: t.String({ description: 'The token this one replaces' }),
    previousTokenRevokedAt: t.String({ description: 'When the old token stops working (now, or after the grace period)' }),
  },
  {
    examples: [
      {
        ...CreatedToken.examples[0],
        id: 'pat_2Lk9Qw4ErT7yU1iO3pAs',
        rotatedFromId: 'pat_7Hq2LmX9vB3nR8kT1wYz',
        createdByTokenId: 'pat_7Hq2LmX9vB3nR8kT1wYz',
        previousTokenRevokedAt: '2026-11-23T11:00:00.000Z',
      },
    ],
  },
)

export const SelfTokenEnvelope = t.Object(
  {
    success: successField,
    token: t.Object({
      id: t.String({ description: 'Token id (pat_…); for a CLI access token (tdo_), its CLI session id (clis_…)' }),
      name: t.String({ description: 'The token\'s name; "CLI session (browser sign-in)" for a CLI access token' }),
      scopes: t.Array(t.String(), {
        description: 'What this request may do ("*" = everything the role allows), bounded by `role`: `tokenScopes`, or in an agent run only those its starter has too',
      }),
      tokenScopes: t.Array(t.String(), { description: 'The token\'s own scopes ("*" for a CLI access token)' }),
      agentRun: t.Nullable(
        t.Object(
          {
            executionId: t.String({ description: 'The run (exec_…)' }),
            starterScopes: t.Array(t.String(), { description: 'Scopes of the credential that started it' }),
          },
          { description: 'This request is an agent run\'s `teamday_api` call; null otherwise' },
        ),
      ),
      role: t.Union([t.Literal('admin'), t.Literal('member'), t.Literal('viewer')], { description: "The user's current role in the token's organization" }),
      organizationId: t.String({ description: 'The organization the token works in (org_…)' }),
      organizationSlug: t.Nullable(t.String({ description: "That organization's slug; null if the organization is gone" })),
      userId: t.String({ description: 'The user the token acts as (user_…)' }),
      email: t.String({ description: "That user's email address" }),
      createdAt: t.String({ description: 'When the token (or CLI session) was created, ISO-8601' }),
      lastUsedAt: t.Nullable(t.String({ description: 'When it was last used, recorded at most once a minute (ISO-8601); null if never recorded' })),
      expiresAt: t.String({ description: 'When this token stops working, ISO-8601 (a CLI access token: 15 minutes after it was issued)' }),
      maskedToken: t.String({ description: 'td_ + first 4 … last 4 characters; "tdo_…" for a CLI access token' }),
      revokedAt: t.Nullable(t.String({ description: 'A token rotated with a grace period: when that period ends and it stops working (its successor is the token to use). Null otherwise' })),
    }, { description: 'The calling token' }),
  },
  {
    examples: [
      {
        success: true,
        token: {
          id: exampleToken.id,
          name: exampleToken.name,
          scopes: ['*'],
          tokenScopes: ['*'],
          agentRun: null,
          role: 'member',
          organizationId: exampleToken.organizationId,
          organizationSlug: 'acme',
          userId: exampleToken.userId,
          email: exampleToken.userEmail,
          createdAt: exampleToken.createdAt,
          lastUsedAt: exampleToken.lastUsedAt,
          expiresAt: exampleToken.expiresAt,
          maskedToken: exampleToken.maskedToken,
          revokedAt: null,
        },
      },
    ],
  },
)

/** Named in the OpenAPI document; routes refer to them by name. */
export const tokenModels = named({ Token, TokenList, CreatedToken, TokenEnvelope, RotatedToken, SelfTokenEnvelope })

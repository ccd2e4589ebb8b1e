import { Elysia, t } from 'elysia'
import type { Principal } from '../../auth/principal'
import { AppError } from '../../errors'
import { created, type RouteKit } from '../../http/context'
import { authErrors, bodyErrors, errorResponse, named, sharedModels, successField } from '../shared-models'
import { createTokenForCaller } from '../tokens/lifecycle'
import { CreatedToken, CreateTokenBody, Token, TokenIdParams, tokenModels } from '../tokens/model'
import { listTokens, revokeToken, toPublicToken } from '../tokens/service'
import { tokenScopeModels } from '../tokens'
import { IDEMPOTENCY_WITHHOLDS, RESPONSE_DESCRIPTIONS } from '../../http/openapi-publish'
import { calledTokenChanged } from '../../auth/plugin'

/**
 * TeamDay CLI's token commands (`teamday auth create-token`, `list-tokens`, `revoke-token`) call
 * /api/tokens/create, /api/tokens/list and /api/tokens/{id}/revoke. Aliases of the v1 token
 * routes: the same services, permissions and rules, the CLI's shapes (a superset of them).
 */

const AliasCreateBody = t.Object(
  {
    ...CreateTokenBody.properties,
    organizationId: t.Optional(t.String({ maxLength: 100, description: 'Must be the calling token\'s organization when given (TeamDay\'s CLI sends it)' })),
  },
  // Without organizationId: Swagger UI fills in the first example, and a made-up organization is 403.
  { examples: [{ name: 'CI Pipeline', expiresInDays: 90 }] },
)

const AliasListQuery = t.Object({
  organizationId: t.Optional(t.String({ maxLength: 100, description: 'Must be the calling token\'s organization when given' })),
})

const AliasCreated = t.Object(
  {
    success: successField,
    token: CreatedToken.properties.token,
    id: Token.properties.id,
    name: Token.properties.name,
    expiresAt: Token.properties.expiresAt,
    tokenPreview: t.String({ description: 'The masked token (td_AbCd…8dSn)' }),
    scopes: Token.properties.scopes,
    warning: CreatedToken.properties.warning,
  },
  {
    examples: [
      {
        success: true,
        token: 'td_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789x048dSn',
        id: 'pat_7Hq2LmX9vB3nR8kT1wYz',
        name: 'CI Pipeline',
        expiresAt: '2027-02-21T10:00:00.000Z',
        tokenPreview: 'td_AbCd…8dSn',
        scopes: ['*'],
        warning: 'Copy this token now: it will not be shown again.',
      },
    ],
  },
)

const AliasTokenItem = t.Object(
  {
    id: Token.properties.id,
    name: Token.properties.name,
    tokenPreview: t.String({ description: 'The masked token (td_AbCd…8dSn)' }),
    status: t.String({ description: 'active or expired (revoked tokens are not listed)' }),
    scopes: Token.properties.scopes,
    createdAt: Token.properties.createdAt,
    expiresAt: Token.properties.expiresAt,
    lastUsedAt: Token.properties.lastUsedAt,
  },
  {
    description: 'One of your tokens',
    examples: [{ id: 'pat_7Hq2LmX9vB3nR8kT1wYz', name: 'CI Pipeline', tokenPreview: 'td_AbCd…8dSn', status: 'active', scopes: ['*'], createdAt: '2026-11-23T10:00:00.000Z', expiresAt: '2027-02-21T10:00:00.000Z', lastUsedAt: null }],
  },
)

const AliasTokenList = t.Object(
  {
    success: successField,
    tokens: t.Array(AliasTokenItem, { description: 'Your tokens in this organization that are not revoked, newest first: the 200 newest of them (revoked ones, however many, do not count)' }),
    count: t.Integer({ description: 'How many tokens are listed' }),
  },
  {
    examples: [
      {
        success: true,
        count: 1,
        tokens: [{ id: 'pat_7Hq2LmX9vB3nR8kT1wYz', name: 'CI Pipeline', tokenPreview: 'td_AbCd…8dSn', status: 'active', scopes: ['*'], createdAt: '2026-11-23T10:00:00.000Z', expiresAt: '2027-02-21T10:00:00.000Z', lastUsedAt: null }],
      },
    ],
  },
)

const AliasRevoked = t.Object(
  {
    success: successField,
    id: Token.properties.id,
    status: t.String({ description: 'The token\'s status now: revoked' }),
    revokedAt: t.Nullable(t.String({ format: 'date-time', description: 'When it was revoked (earlier, if it already was)' })),
  },
  { examples: [{ success: true, id: 'pat_7Hq2LmX9vB3nR8kT1wYz', status: 'revoked', revokedAt: '2026-11-23T10:00:00.000Z' }] },
)

const otherOrg = errorResponse(
  403,
  'forbidden',
  'Forbidden: `organizationId` is not the calling token\'s organization; or your role may not manage tokens, or the token lacks the scope (`insufficient_scope`); or, creating, the scopes asked for are ones the calling token lacks (`insufficient_scope`) or the calling token is in a rotation\'s grace period (`forbidden`), as on POST /api/v1/tokens.',
  'Access denied to this organization: your token belongs to another organization (forbidden).',
)
const aliasNotFound = errorResponse(404, 'not_found', 'No such token, or it belongs to another user (non-admins) or organization.', 'Token pat_7Hq2LmX9vB3nR8kT1wYz not found')

const aliasQueryInvalid = errorResponse(
  422,
  'validation_failed',
  'Validation failed: a query parameter this route does not take (it takes `organizationId` only), or an invalid `organizationId`; `details` names it.',
  'Validation failed: unknown query parameter "org": this route takes organizationId',
  [{ field: 'org', message: 'unknown query parameter "org": this route takes organizationId' }],
)

const aliasModels = named({ AliasTokenCreated: AliasCreated, AliasToken: AliasTokenItem, AliasTokenList, AliasTokenRevoked: AliasRevoked, AliasOrgForbidden: otherOrg, AliasTokenNotFound: aliasNotFound, AliasQueryInvalid: aliasQueryInvalid })

function sameOrganization(principal: Principal, organizationId: string | undefined): void {
  if (organizationId !== undefined && organizationId !== '' && organizationId !== principal.organizationId) {
    throw new AppError('forbidden', `Access denied to this organization: your token belongs to another organization (forbidden). organizationId takes an organization id (org_…): yours is ${principal.organizationId}.`)
  }
}

export function tokenAliasesModule({ auth, ctx, withholdFromReplay }: RouteKit) {
  return new Elysia({ prefix: '/api/tokens', tags: ['Tokens'] })
    .use(auth)
    .model({ ...sharedModels, ...tokenModels, ...aliasModels, ...tokenScopeModels })
    .post(
      '/create',
      async ({ principal, body, request, set }) => {
        sameOrganization(principal, body.organizationId)
        const c = ctx(principal, request, set)
        const { organizationId: _, ...input } = body
        const { token, row } = await createTokenForCaller(c, input)
        withholdFromReplay(request, row.id)
        created(set, 'tokens', row.id)
        const pub = toPublicToken(c, row, principal.email)
        return { success: true as const, token, id: pub.id, name: pub.name, expiresAt: pub.expiresAt, tokenPreview: pub.maskedToken, scopes: pub.scopes, warning: 'Copy this token now: it will not be shown again.' }
      },
      {
        auth: 'tokens:write',
        body: AliasCreateBody,
        response: { 201: 'AliasTokenCreated', ...bodyErrors, ...authErrors, 403: 'AliasOrgForbidden' },
        detail: {
          [IDEMPOTENCY_WITHHOLDS]: 'secret',
          summary: 'Create a token (TeamDay CLI alias)',
          [RESPONSE_DESCRIPTIONS]: { 201: 'The token created, as TeamDay\'s CLI reads it: its secret in `token`, shown this once, with `id`, `expiresAt` and `tokenPreview`.' },
          description: 'TeamDay CLI\'s `auth create-token`: the same as POST /api/v1/tokens (same rules: 7-365 days, scopes no broader than the calling token, the per-user cap), answered as `{token, id, expiresAt, …}`.',
        },
      },
    )
    .get(
      '/list',
      async ({ principal, query, request, set }) => {
        sameOrganization(principal, query.organizationId)
        // Left out by the query, before the limit: the newest 200 that are not revoked.
        const page = await listTokens(ctx(principal, request, set), { status: 'unrevoked', limit: 200, offset: 0 })
        const tokens = page.tokens.map((tok) => ({ id: tok.id, name: tok.name, tokenPreview: tok.maskedToken, status: tok.status, scopes: tok.scopes, createdAt: tok.createdAt, expiresAt: tok.expiresAt, lastUsedAt: tok.lastUsedAt }))
        return { success: true as const, tokens, count: tokens.length }
      },
      {
        auth: 'tokens:read',
        query: AliasListQuery,
        response: { 200: 'AliasTokenList', ...authErrors, 403: 'AliasOrgForbidden', 422: 'AliasQueryInvalid' },
        detail: {
          summary: 'List your tokens (TeamDay CLI alias)',
          [RESPONSE_DESCRIPTIONS]: { 200: 'Your 200 newest tokens in this organization that are not revoked, as TeamDay\'s CLI reads them, and their `count`.' },
          description: 'TeamDay CLI\'s `auth list-tokens`: your 200 newest tokens in this organization that are not revoked, as `{tokens:[{id, name, tokenPreview, createdAt, expiresAt, lastUsedAt}], count}`. GET /api/v1/tokens pages through all of them.',
        },
      },
    )
    .post(
      '/:id/revoke',
      async ({ principal, params, request, set }) => {
        const c = ctx(principal, request, set)
        const tok = await revokeToken(c, params.id)
        calledTokenChanged(set, c, tok)
        return { success: true as const, id: tok.id, status: tok.status, revokedAt: tok.revokedAt }
      },
      {
        auth: 'tokens:write',
        params: TokenIdParams,
        // It takes no organizationId: its 403s are DELETE /api/v1/tokens/{id}'s.
        response: { 200: 'AliasTokenRevoked', 404: 'AliasTokenNotFound', ...authErrors, 403: 'TokenScopeForbidden' },
        detail: {
          summary: 'Revoke a token (TeamDay CLI alias)',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The token\'s `id`, its `status` (`revoked`) and `revokedAt`, as TeamDay\'s CLI reads them.' },
          description: 'TeamDay CLI\'s `auth revoke-token`: the same as DELETE /api/v1/tokens/{id}. No body needed (an empty JSON body is fine).',
        },
      },
    )
}

import { Elysia } from 'elysia'
import type { authPlugin } from '../../auth/plugin'
import type { Deps } from '../../deps'
import { authErrors, bodyErrors, errorResponse } from '../shared-models'
import { CreatedToken, CreateTokenBody, ListTokensQuery, TokenEnvelope, TokenIdParams, TokenList } from './model'
import { createToken, getToken, listTokens, revokeToken, toPublicToken } from './service'

const notFound = errorResponse(
  404,
  'not_found',
  'Not found: no such token, or it belongs to another user (non-admins) or another organization.',
  'Token pat_7Hq2LmX9vB3nR8kT1wYz not found',
)
const badQuery = errorResponse(422, 'validation_failed', 'Validation failed: a query parameter is invalid; `details` names it.', 'Validation failed: limit must be an integer between 1 and 200', [
  { field: 'limit', message: 'limit must be an integer between 1 and 200' },
])

export function tokensModule(deps: Deps, auth: ReturnType<typeof authPlugin>) {
  return new Elysia({ prefix: '/tokens', tags: ['Tokens'] })
    .use(auth)
    .get(
      '',
      ({ principal, query }) => ({
        success: true as const,
        ...listTokens(deps, principal, {
          organization: query.all,
          status: query.status,
          limit: query.limit ?? 50,
          offset: query.offset ?? 0,
        }),
      }),
      {
        auth: 'tokens:read',
        query: ListTokensQuery,
        response: { 200: TokenList, 422: badQuery, ...authErrors },
        detail: {
          summary: 'List personal access tokens',
          description:
            'Your tokens in this organization, newest first, with name, masked value, status, creation, expiry and last use. Never the secret or its hash. Organization admins may pass `all=true` to see every token of the organization.',
        },
      },
    )
    .post(
      '',
      ({ principal, body, set }) => {
        const { token, row } = createToken(deps, principal, body)
        set.status = 201
        return {
          success: true as const,
          token,
          warning: 'Copy this token now: it will not be shown again.',
          ...toPublicToken(deps, row, principal.email),
        }
      },
      {
        auth: 'tokens:write',
        body: CreateTokenBody,
        response: { 201: CreatedToken, ...bodyErrors, ...authErrors },
        detail: {
          summary: 'Create a personal access token',
          description:
            'Creates a token for the calling user in the calling token\'s organization. It inherits the user\'s current role there. `expiresInDays` is 7-365 (default 90); alternatively `expiresAt`. The `token` field is the only time the secret is ever shown.',
        },
      },
    )
    .get('/:id', ({ principal, params }) => ({ success: true as const, token: getToken(deps, principal, params.id) }), {
      auth: 'tokens:read',
      params: TokenIdParams,
      response: { 200: TokenEnvelope, 404: notFound, ...authErrors },
      detail: { summary: 'Get one token', description: 'Metadata of one of your tokens (admins: any token of the organization). Another user\'s or organization\'s token is 404.' },
    })
    .delete(
      '/:id',
      ({ principal, params }) => ({ success: true as const, token: revokeToken(deps, principal, params.id) }),
      {
        auth: 'tokens:write',
        params: TokenIdParams,
        response: { 200: TokenEnvelope, 404: notFound, ...authErrors },
        detail: {
          summary: 'Revoke a token',
          description:
            'Revokes the token immediately: the very next request with it gets 401 `token_revoked`. Idempotent. Admins may revoke any token of the organization.',
        },
      },
    )
}


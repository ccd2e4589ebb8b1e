import { Elysia, t } from 'elysia'
import { API_V1, created, type RouteKit } from '../../http/context'
import { authErrors, bodyErrors, errorResponse, named, sharedModels } from '../shared-models'
import { createTokenForCaller, describeSelf, revokeSelf, rotateSelf, rotateToken, type Rotated } from './lifecycle'
import { CreateTokenBody, ListTokensQuery, RotateTokenBody, TokenIdParams, tokenModels } from './model'
import { getToken, listTokens, revokeToken, toPublicToken } from './service'
import type { Ctx } from '../../context'
import { boolParam, intParam } from '../query-params'
import { badCursor, listModels } from '../list-models'
import { RESPONSE_DESCRIPTIONS, ENDS_CALLING_TOKEN, IDEMPOTENCY_WITHHOLDS } from '../../http/openapi-publish'
import { calledTokenChanged } from '../../auth/plugin'

const notFound = errorResponse(
  404,
  'not_found',
  'Not found: no such token, or it belongs to another user (non-admins) or another organization.',
  'Token pat_7Hq2LmX9vB3nR8kT1wYz not found',
)
const notActive = errorResponse(
  409,
  'invalid_state',
  'Conflict: `invalid_state` when the token is no longer active: already rotated (grace period running, or over) or revoked, whoever asks and however late (the message names the token to rotate instead, the active one at the end of its rotations, or says to create a new token when none of them is active; nothing is revoked), rotated by a concurrent request, or expired.',
  'Token pat_7Hq2LmX9vB3nR8kT1wYz was already rotated or revoked; rotate its successor pat_2Lk9Qw4ErT7yU1iO3pAs instead (list your tokens).',
)
const broader = errorResponse(
  403,
  'insufficient_scope',
  'Forbidden: `insufficient_scope` when the token lacks tokens:write or would exceed itself: a token creates only tokens with scopes it has (`*` only from `*`), and rotates or revokes only itself or tokens whose scopes it has all of; `forbidden` when the calling token was rotated and is in its grace period: it creates no token and rotates or revokes none but itself (every role may write its own tokens: no role is refused tokens:write).',
  'Forbidden: a token can only create tokens with scopes it has itself (access denied). This token has tokens:write and lacks *. Ask for a subset of its scopes, or use a token that has them (`*` only from a `*` token).',
  { requestedScopes: ['*'], tokenScopes: ['tokens:write'], missingScopes: ['*'] },
)
/**
 * The one 403 of POST /tokens/self/rotate. A token always covers itself (tokens/access.ts
 * assertMayEndItself; only an agent run's narrowed call could not, and no run rotates a token),
 * every role has tokens:write, and a token in its grace period rotating itself is the 409 of
 * "already rotated": what is left is the route's scope.
 */
const selfRotateForbidden = errorResponse(
  403,
  'insufficient_scope',
  'Forbidden (`insufficient_scope`), only when the calling token lacks the `tokens:write` scope: `details.requiredScopes` names it, `details.tokenScopes` lists the token\'s own, and `WWW-Authenticate` says `scope="tokens:write"`. Rotate it with a token that has `tokens:write` (POST /api/v1/tokens/{id}/rotate), or revoke it (DELETE /api/v1/tokens/self needs no scope) and create a new one. No other self-rotation is a 403: every role may rotate its own tokens, a token may rotate itself whatever its other scopes, and a token already rotated (in its grace period) or a terminal\'s sign-in is 409 `invalid_state`.',
  'Forbidden: this token lacks the tokens:write scope (access denied). Create a token with that scope.',
  { requiredScopes: ['tokens:write'], tokenScopes: ['agents:read', 'tokens:read'] },
)
/**
 * The one 403 of DELETE /tokens/self (tokens/access.ts assertMayEndItself): it needs no scope and
 * no role, so only an agent run's `teamday_api` call, narrowed to what the run's starter may,
 * can be refused ending a token broader than that. The shared Forbidden spoke of the role, which
 * is never asked here. GET /tokens/self has no 403 at all.
 */
const selfRevokeForbidden = errorResponse(
  403,
  'insufficient_scope',
  'Forbidden (`insufficient_scope`), only for an agent run\'s `teamday_api` call: the credential that started the run lacks scopes the space\'s token has (`details.missingScopes`), and a run may not end a token broader than its starter. Any other caller may always revoke the token it sends, whatever its role and scopes.',
  "Forbidden: this agent run cannot revoke the token it calls with (access denied): a run's teamday_api calls may do only what both the space's TEAMDAY_TOKEN and the credential that started the run may, and that token also has tokens:write, which the run lacks. Start the run with a token that has at least its scopes (or `*`).",
  { targetTokenId: 'pat_7Hq2LmX9vB3nR8kT1wYz', targetScopes: ['agents:execute', 'tokens:write'], tokenScopes: ['agents:execute'], missingScopes: ['tokens:write'] },
)
const createInvalid = errorResponse(
  422,
  'token_limit_reached',
  'Unprocessable: `validation_failed` when a field is invalid (`details` names it) (an `expiresAt` past the caller\'s expiry: `latestExpiresAt`); `token_limit_reached` when the user already has TEAMDAY_MAX_TOKENS_PER_USER (default 100) active tokens in this organization.',
  'Too many tokens: this user already has 100 active tokens in this organization, the limit is 100 (TEAMDAY_MAX_TOKENS_PER_USER). Revoke tokens that are no longer used (teamday tokens list / teamday tokens revoke ID), then create the new one.',
  { activeTokens: 100, maxTokensPerUser: 100 },
)
const selfConflict = errorResponse(
  409,
  'invalid_state',
  'Conflict: `invalid_state` when the calling token was already rotated (its grace period is running: rotate its successor) or was rotated by a concurrent request (a retry racing its first attempt: the message names the successor), or when the request was sent with a terminal\'s browser sign-in (`teamday login`), which is no personal access token and is not rotated, or when the limit its maker set has passed (see POST /tokens/{id}/rotate).',
  'Token pat_7Hq2LmX9vB3nR8kT1wYz was already rotated (its successor is pat_2Lk9Qw4ErT7yU1iO3pAs) and stops working at 2026-11-23T11:00:00.000Z; rotate the successor instead.',
)
const badQuery = errorResponse(422, 'validation_failed', 'Validation failed: a query parameter is invalid, unknown, repeated or empty; `details` names it.', 'Validation failed: limit must be an integer between 1 and 200', [
  { field: 'limit', message: 'limit must be an integer between 1 and 200' },
])

/** The 403 of a token's create, rotation or revocation, also that of TeamDay CLI's revoke alias (src/modules/token-aliases). */
export const tokenScopeModels = named({ TokenScopeForbidden: broader })
const tokenErrorModels = named({ TokenNotFound: notFound, TokenNotActive: notActive, TokenScopeForbidden: broader, TokenCreateInvalid: createInvalid, TokenQueryInvalid: badQuery, TokenSelfRotateConflict: selfConflict, TokenSelfRotateForbidden: selfRotateForbidden, TokenSelfRevokeForbidden: selfRevokeForbidden })

/** The named OpenAPI models of these routes (also registered once by createApp: src/app.ts). */
export const tokensApiModels = { ...sharedModels, ...listModels, ...tokenModels, ...tokenErrorModels }

/** A rotation's answer: the new token, its secret shown this once, and when the old one stops. */
function rotatedAnswer(c: Ctx, r: Rotated, set: Parameters<typeof calledTokenChanged>[0]) {
  // Rotating the calling token: its expiry header says when it stops (the grace period's end), or goes.
  calledTokenChanged(set, c, r.previous)
  return {
    success: true as const,
    token: r.token,
    warning: 'Copy this token now: it will not be shown again.',
    ...toPublicToken(c, r.row, r.email),
    rotatedFromId: r.previous.id,
    previousTokenRevokedAt: r.previous.revokedAt!.toISOString(),
  }
}

export function tokensModule({ auth, ctx, withholdFromReplay }: RouteKit) {
  return new Elysia({ prefix: `${API_V1}/tokens`, tags: ['Tokens'] })
    .use(auth)
    .model(tokensApiModels)
    .get(
      '',
      async ({ principal, query, request, set }) => ({
        success: true as const,
        ...(await listTokens(ctx(principal, request, set), {
          organization: boolParam(query.all),
          status: query.status,
          limit: intParam(query.limit, 50),
          offset: intParam(query.offset, 0),
          cursor: query.cursor,
        })),
      }),
      {
        auth: 'tokens:read',
        query: ListTokensQuery,
        response: { 200: 'TokenList', 400: badCursor, 422: 'TokenQueryInvalid', ...authErrors },
        detail: {
          summary: 'List personal access tokens',
          [RESPONSE_DESCRIPTIONS]: { 200: 'A page of your tokens (with `all=true`, an admin\'s: the organization\'s), newest first, as metadata with the masked value, never the secret; `nextCursor` leads to the next page.' },
          description:
            'Your tokens in this organization, newest first, with name, masked value, status, creation, expiry and last use. Never the secret or its hash. Organization admins may pass `all=true` to see every token of the organization. Paged by `cursor` (the previous page\'s `nextCursor`) or `offset`.',
        },
      },
    )
    .post(
      '',
      async ({ principal, body, set, request }) => {
        const c = ctx(principal, request, set)
        const { token, row } = await createTokenForCaller(c, body)
        withholdFromReplay(request, row.id)
        created(set, 'tokens', row.id)
        return {
          success: true as const,
          token,
          warning: 'Copy this token now: it will not be shown again.',
          ...toPublicToken(c, row, principal.email),
        }
      },
      {
        auth: 'tokens:write',
        body: CreateTokenBody,
        response: { 201: 'CreatedToken', ...bodyErrors, ...authErrors, 403: 'TokenScopeForbidden', 422: 'TokenCreateInvalid' },
        detail: {
          [IDEMPOTENCY_WITHHOLDS]: 'secret',
          summary: 'Create a personal access token',
          [RESPONSE_DESCRIPTIONS]: { 201: 'The token created: its secret in `token`, shown this once and never again, with its metadata.' },
          description:
            'Creates a token for the calling user in the calling token\'s organization. It inherits the user\'s current role there. `expiresInDays` is 7-365 (default 90); alternatively `expiresAt`. Made by a token or a sign-in that ends within 7 days, it may end with it (by default, with `expiresInDays`, or at an `expiresAt` equal to its `latestExpiresAt`). A token never outlives the token (or `teamday login` sign-in) that makes it: with `expiresInDays` (TeamDay\'s CLI sends 90) or by default it ends with the caller if that is sooner (the answer\'s `expiresAt` says when); an `expiresAt` past the caller\'s own expiry is 422 `validation_failed` (`details[0].latestExpiresAt`), never moved. `scopes` (default: the calling token\'s own) limits what it may do; unknown or no scopes are 422. Only scopes the calling token has itself may be asked for (`*` only from a `*` token): anything broader is 403 `insufficient_scope`. A request always needs both the scope and the user\'s current role: a token never exceeds its user. A token in a rotation\'s grace period creates none (403 `forbidden`): it would outlive the secret being retired. The new token records the calling token (`createdByTokenId`): if that token is reported leaked, this one is revoked too. A user may have at most TEAMDAY_MAX_TOKENS_PER_USER (default 100) active tokens per organization: beyond, 422 `token_limit_reached`. The `token` field is the only time the secret is ever shown.',
        },
      },
    )
    // Before /:id, so "self" is not taken for a token id.
    .get('/self', async ({ principal, request, set }) => ({ success: true as const, token: await describeSelf(ctx(principal, request, set)) }), {
      auth: 'authenticated',
      // No 403: it needs no scope and no role, and refuses nobody it authenticated.
      response: { 200: 'SelfTokenEnvelope', 401: authErrors[401], 429: authErrors[429] },
      detail: {
        summary: 'Introspect the calling token',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The token this request was sent with, as metadata (scopes, role, organization, user, expiry), never its secret.' },
        description:
          'The token this request was sent with: id, name, scopes, the user\'s current role, organization, user, creation, last use and expiry. Never the secret. Needs no particular scope. `scopes` is what this request may do: in an agent run\'s `teamday_api` call, only what both the token and the run\'s starter have (`agentRun`). Every authenticated response also carries `Teamday-Token-Expiration`.',
      },
    })
    .delete(
      '/self',
      async ({ principal, request, set }) => {
        const c = ctx(principal, request, set)
        const token = await revokeSelf(c)
        calledTokenChanged(set, c, token)
        return { success: true as const, token }
      },
      {
      auth: 'authenticated',
      response: { 200: 'SelfTokenEnvelope', ...authErrors, 403: 'TokenSelfRevokeForbidden' },
      detail: {
        [ENDS_CALLING_TOKEN]: true,
        summary: 'Revoke the calling token',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The token this request was sent with, now revoked (`revokedAt` set); it authenticates nothing from here on.' },
        description:
          'Revokes the token this request was sent with, at once: a CI job or script ending its own credential, as GitLab\'s `DELETE /personal_access_tokens/self`. Needs no particular scope (a token may always give itself up), but for an agent run\'s `teamday_api` call: the run was started by a credential without all of the space token\'s scopes (403 `insufficient_scope`: the run may not end a token broader than its starter). The answer describes the token with its `revokedAt`; the very next request with it gets 401 `token_revoked`. A token in a rotation\'s grace period is revoked now. With a terminal\'s browser sign-in (`teamday login`), its whole session ends, as `teamday logout` does.',
      },
      },
    )
    // Before /:id/rotate, so "self" is not taken for a token id.
    .post(
      '/self/rotate',
      async ({ principal, body, set, request }) => {
        const c = ctx(principal, request, set)
        const r = await rotateSelf(c, body ?? {})
        withholdFromReplay(request, r.row.id)
        created(set, 'tokens', r.row.id)
        return rotatedAnswer(c, r, set)
      },
      {
        auth: 'tokens:write',
        body: t.Optional(RotateTokenBody),
        response: { 201: 'RotatedToken', 409: 'TokenSelfRotateConflict', ...bodyErrors, 422: 'TokenCreateInvalid', ...authErrors, 403: 'TokenSelfRotateForbidden' },
        detail: {
          [IDEMPOTENCY_WITHHOLDS]: 'secret',
          // The body may be left out (every field has a default): src/http/openapi-publish.ts, OPTIONAL_BODY.
          'x-optional-body': true,
          summary: 'Rotate the calling token',
          [RESPONSE_DESCRIPTIONS]: { 201: 'The calling token\'s successor: its secret in `token`, shown this once, and `rotatedFromId` (the calling token) and `previousTokenRevokedAt` saying when the calling token stops working.' },
          description:
            'Rotates the token this request was sent with, without its id: a CI job renewing its own secret, as GitLab\'s `POST /personal_access_tokens/self/rotate`. The same as POST /api/v1/tokens/{id}/rotate with the calling token\'s id: the same body (`expiresInDays` or `expiresAt`, `gracePeriodSeconds`), scope (`tokens:write`), answer, rules and refusals. With `gracePeriodSeconds` 0 (the default) the calling token stops at once: use the new `token` from this answer for the next request. Not available to an agent run\'s `teamday_api` tool, as no rotation is (a new secret is never shown to an agent). A token already rotated (in its grace period) is 409 `invalid_state` naming its successor; a terminal\'s browser sign-in (`teamday login`) is no personal access token and is not rotated (409 `invalid_state`).',
        },
      },
    )
    .post(
      '/:id/rotate',
      async ({ principal, params, body, set, request }) => {
        const c = ctx(principal, request, set)
        const r = await rotateToken(c, params.id, body ?? {})
        withholdFromReplay(request, r.row.id)
        created(set, 'tokens', r.row.id)
        return rotatedAnswer(c, r, set)
      },
      {
        auth: 'tokens:write',
        params: TokenIdParams,
        body: t.Optional(RotateTokenBody),
        response: { 201: 'RotatedToken', 404: 'TokenNotFound', 409: 'TokenNotActive', ...bodyErrors, 422: 'TokenCreateInvalid', ...authErrors, 403: 'TokenScopeForbidden' },
        detail: {
          [IDEMPOTENCY_WITHHOLDS]: 'secret',
          // The body may be left out (every field has a default): src/http/openapi-publish.ts, OPTIONAL_BODY.
          'x-optional-body': true,
          summary: 'Rotate a token',
          [RESPONSE_DESCRIPTIONS]: { 201: 'The new token: its secret in `token`, shown this once, and `rotatedFromId` and `previousTokenRevokedAt` saying when the old one stops working.' },
          description:
            'Creates a new token with the same name, scopes and rotation family and revokes the old one at once or after `gracePeriodSeconds` (0-86400, default 0). The new token\'s lifetime is `expiresInDays` (7-365) or `expiresAt` (an instant 7-365 days ahead, a date alone meaning the end of that day, UTC), with the rules and errors of creation (422 `validation_failed` naming the field; both together are 422), else the old token\'s; an invalid one rotates nothing. The new token never outlives a calling token other than the old one, nor, rotated by a token or a sign-in, the limit the old token was given when a token or a sign-in made or rotated it (rotating renews the secret, not the lifetime; a person\'s rotation in the console clears it): an `expiresAt` past it is 422 `validation_failed` (`details[0].latestExpiresAt`); with `expiresInDays` or by default it ends there; once passed, 409 `invalid_state`. Only the owner may rotate (admins revoke), with the token itself or a token that has all of its scopes (otherwise 403 `insufficient_scope`); a token in a rotation\'s grace period rotates none (403 `forbidden`). Rotating a token that is no longer active (already rotated or revoked) is 409 `invalid_state` naming the token to rotate instead, the active one at the end of its rotations (its successor, or a later one when that was rotated in turn), or saying to create a new token when none is active, and revokes nothing: the request presents another credential than the old secret (which authentication refuses), so it shows a stale page or script, not a leak. A rotation without a grace period is never refused for the per-user cap; during a grace period the old token still counts, and a rotation with one may take the user at most one past TEAMDAY_MAX_TOKENS_PER_USER (else 422 `token_limit_reached`: rotate with gracePeriodSeconds 0, or wait for the earlier grace period to end).',
        },
      },
    )
    .get('/:id', async ({ principal, params, request, set }) => ({ success: true as const, token: await getToken(ctx(principal, request, set), params.id) }), {
      auth: 'tokens:read',
      params: TokenIdParams,
      response: { 200: 'TokenEnvelope', 404: 'TokenNotFound', ...authErrors },
      detail: { summary: 'Get one token', description: 'Metadata of one of your tokens (admins: any token of the organization). Another user\'s or organization\'s token is 404.', [RESPONSE_DESCRIPTIONS]: { 200: 'The token\'s metadata (masked value, status, scopes, expiry, last use), never its secret.' } },
    })
    .delete(
      '/:id',
      async ({ principal, params, request, set }) => {
        const c = ctx(principal, request, set)
        const token = await revokeToken(c, params.id)
        calledTokenChanged(set, c, token)
        return { success: true as const, token }
      },
      {
        auth: 'tokens:write',
        params: TokenIdParams,
        response: { 200: 'TokenEnvelope', 404: 'TokenNotFound', ...authErrors, 403: 'TokenScopeForbidden' },
        detail: {
          summary: 'Revoke a token',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The token, revoked (`status: revoked`, `revokedAt`); also when it was revoked already.' },
          description:
            'Revokes the token immediately: the very next request with it gets 401 `token_revoked`. Idempotent. Admins may revoke any token of the organization. The calling token may revoke itself or a token whose scopes it has all of (otherwise 403 `insufficient_scope`), and a token in a rotation\'s grace period only itself (403 `forbidden`); tokens it cannot see are 404.',
        },
      },
    )
}


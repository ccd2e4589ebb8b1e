import { Elysia } from 'elysia'
import { API_V1, type RouteKit } from '../../http/context'
import { authErrors, errorResponse, named, sharedModels } from '../shared-models'
import { auditModels, ListAuditEventsQuery } from './model'
import { listAuditEvents } from './query'
import { intParam } from '../query-params'
import { badCursor, listModels } from '../list-models'
import { RESPONSE_DESCRIPTIONS } from '../../http/openapi-publish'

const badQuery = errorResponse(422, 'validation_failed', 'Validation failed: a query parameter is invalid, unknown, repeated or empty; `details` names it.', 'Validation failed: since must be an ISO-8601 date-time', [
  { field: 'since', message: 'since must be an ISO-8601 date-time' },
])

/** The named OpenAPI models of these routes (also registered once by createApp: src/app.ts). */
export const auditApiModels = { ...sharedModels, ...listModels, ...auditModels, ...named({ AuditQueryInvalid: badQuery }) }

export function auditModule({ auth, ctx }: RouteKit) {
  return new Elysia({ prefix: `${API_V1}/audit-events`, tags: ['Audit'] })
    .use(auth)
    .model(auditApiModels)
    .get(
      '',
      async ({ principal, query, request, set }) => ({
        success: true as const,
        ...(await listAuditEvents(ctx(principal, request, set), {
          type: query.type,
          tokenId: query.tokenId,
          userId: query.userId,
          since: query.since,
          until: query.until,
          limit: intParam(query.limit, 50),
          offset: intParam(query.offset, 0),
          cursor: query.cursor,
        })),
      }),
      {
        auth: 'audit:read',
        query: ListAuditEventsQuery,
        response: { 200: 'AuditEventList', 400: badCursor, 422: 'AuditQueryInvalid', ...authErrors },
        detail: {
          summary: 'List audit events',
          [RESPONSE_DESCRIPTIONS]: { 200: 'A page of the organization\'s audit events, newest first, in `events`; `nextCursor` leads to the next page.' },
          description:
            "Organization admins only. Security events of this organization, newest first: token created, rotated, revoked (by whom, why), leak-reported (rotation family revoked: only in events recorded by earlier builds), scope denied, expired token used, first use from a new IP, secret set/deleted, member added, role changed, member removed (with the tokens that revoked); each with actor, IP, user agent, time and request id, never a secret. Filter by `type`, `tokenId`, `userId` (the actor), `since`/`until` (ISO-8601); paged with `limit` and `cursor` (the previous page's `nextCursor`) or `offset`; `total` counts the matches (up to 1000, see `totalIsEstimate`).",
        },
      },
    )
}

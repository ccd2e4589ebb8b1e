import { Elysia } from 'elysia'
import type { Config } from '../../config'
import type { RequestContexts } from '../../http/context'
import { errorResponse, named } from '../shared-models'
import { PublicAgentsQuery, publicAgentModels } from './model'
import { listPublicAgents } from './directory'
import { intParam } from '../query-params'
import { badCursor, listModels } from '../list-models'
import { RESPONSE_DESCRIPTIONS } from '../../http/openapi-publish'

const badQuery = errorResponse(422, 'validation_failed', 'Validation failed: a query parameter is invalid, unknown, repeated or empty; `details` names it.', 'Validation failed: limit must be an integer between 1 and 200', [
  { field: 'limit', message: 'limit must be an integer between 1 and 200' },
])

const limited = errorResponse(
  429,
  'rate_limited',
  'Too many requests from this address: routes without a token count per IP (TEAMDAY_RATE_LIMIT, default 1200 a minute); `Retry-After` says when to retry.',
  'Too many requests: the limit is 1200 requests per 60 s. Retry in 42 s.',
  { retryAfterSeconds: 42 },
)

/** The named OpenAPI models of these routes (also registered once by createApp: src/app.ts). */
export const publicAgentsApiModels = { ...listModels, ...publicAgentModels, ...named({ PublicQueryInvalid: badQuery, PublicRateLimited: limited }) }

/** GET /api/public/agents: the public agent directory of this server. No authentication. */
export function publicAgentsModule(config: Pick<Config, 'version'>, contexts: RequestContexts) {
  return new Elysia({ prefix: '/api/public', tags: ['Public'] })
    .model(publicAgentsApiModels)
    .get(
    '/agents',
    async ({ query, request, set }) => {
      const ctx = contexts.of({ kind: 'anonymous', via: 'api' }, request, set)
      const { data, ...page } = await listPublicAgents(ctx, { limit: intParam(query.limit, 50), offset: intParam(query.offset, 0), cursor: query.cursor })
      return { data, meta: { timestamp: new Date(ctx.clock.now()).toISOString(), version: config.version, ...page } }
    },
    {
      query: PublicAgentsQuery,
      response: { 200: 'PublicAgentList', 400: badCursor, 422: 'PublicQueryInvalid', 429: 'PublicRateLimited' },
      detail: {
        summary: 'List public agents',
        [RESPONSE_DESCRIPTIONS]: { 200: 'A page of the public agents of every organization on this server, newest first, in `data`, with paging in `meta`.' },
        description:
          'No authentication. The agents marked `visibility: public` and not archived, of every organization on this self-hosted server (not TeamDay\'s hosted directory), newest first, with only id, name, slug, description, role and category. Paged with `limit` (1-200, default 50) and `cursor` (`meta.nextCursor` of the previous page), or `offset`; `meta.total` counts them all (up to 1000, see `meta.totalIsEstimate`).',
        security: [],
      },
    },
  )
}

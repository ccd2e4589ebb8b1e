import { Elysia, type Static } from 'elysia'
import { basePathOf } from '../../http/base-path'
import { API_V1, created, type RouteKit } from '../../http/context'
import { authErrors, bodyErrors, sharedModels } from '../shared-models'
import { agentModels, AgentIdParams, CreateAgentBody, ListAgentsQuery, UpdateAgentBody } from './model'
import { archiveAgent, createAgent, getAgent, listAgents, updateAgent } from './service'
import { isOrgAdmin } from '../../auth/roles'
import { cachedJson, ResponseCache } from '../../cache/response-cache'
import { agentsVersionScope, readVersion } from '../../db/versions'
import { boolParam, intParam } from '../query-params'
import { badCursor, listModels } from '../list-models'
import { StreamedArray, streamedJson } from '../../http/streamed-json'
import { RESPONSE_DESCRIPTIONS } from '../../http/openapi-publish'

const writeErrors = { ...authErrors, ...bodyErrors, 403: 'AgentForbidden', 409: 'AgentSlugTaken', 422: 'AgentBodyInvalid' } as const

/** What the agent list's query asks for (listAgents's options). */
function listOptions(query: Static<typeof ListAgentsQuery>) {
  return {
    includeArchived: boolParam(query.archived),
    visibility: query.visibility,
    category: query.category,
    q: query.q,
    limit: intParam(query.limit, 50),
    offset: intParam(query.offset, 0),
    cursor: query.cursor,
    batched: true,
  }
}

/** The options of a list with no query parameter (limit and offset at their defaults), and as its cache key holds them (written once). */
const PLAIN = listOptions({})
const PLAIN_TEXT = JSON.stringify(PLAIN)
const PLAIN_KEYS = Object.keys(PLAIN) as (keyof typeof PLAIN)[]

/**
 * The list's options as text for its cache key: the usual list's (each option the same value as
 * with no parameter, so the same JSON) without a JSON.stringify a request.
 */
function optionsText(opts: typeof PLAIN): string {
  for (const k of PLAIN_KEYS) if (opts[k] !== PLAIN[k]) return JSON.stringify(opts)
  return PLAIN_TEXT
}

/** The named OpenAPI models of these routes (also registered once by createApp: src/app.ts). */
export const agentsApiModels = { ...sharedModels, ...listModels, ...agentModels }

export function agentsModule({ auth, ctx, watchToken, listening }: RouteKit) {
  // Serialized agent lists of this app (see the GET below).
  const listCache = new ResponseCache()
  return new Elysia({ prefix: `${API_V1}/agents`, tags: ['Agents'] })
    .use(auth)
    .model(agentsApiModels)
    .get(
      '',
      async ({ principal, query, request, set }) => {
        const c = ctx(principal, request, set)
        const opts = listOptions(query)
        const build = async () => {
          const { agents, rest, ...page } = await listAgents(c, opts)
          if (!rest) return { success: true as const, agents, characters: agents, ...page }
          // A large page is sent as it is read (src/db/paging.ts, largePage), once for each of
          // its two arrays: the same object, which cachedJson does not keep.
          return streamedJson(request, { success: true, agents: new StreamedArray(rest), characters: new StreamedArray(rest), ...page }, c.config.compression, watchToken(principal), listening())
        }
        if (!c.config.cache) return build()
        // The list is served from memory while the organization's agents are unchanged (the
        // version lives in the database, so every instance sees a write on its next request;
        // the token look-up's statement read it already, on both backends: principal.agentsVersion).
        // What a caller sees depends on admin-or-not and, for non-admins, on who they are.
        const key = [
          principal.agentsVersion ?? (await readVersion(c.db, agentsVersionScope(principal.organizationId))),
          principal.organizationId,
          isOrgAdmin(principal.role) ? '*' : principal.userId,
          optionsText(opts),
        ].join('|')
        // A Response (the cached bytes): Elysia sends it as it is.
        return cachedJson(listCache, key, request, set, c.config.compression, build) as any
      },
      {
        auth: 'agents:read',
        query: ListAgentsQuery,
        response: { 200: 'AgentList', 400: badCursor, 422: 'AgentQueryInvalid', ...authErrors },
        detail: {
          summary: 'List agents',
          [RESPONSE_DESCRIPTIONS]: { 200: 'A page of the agents you may see, newest first, in `agents` (and, the same list, `characters`); `nextCursor` leads to the next page.' },
          description:
            'The agents you may see, newest first: your own (any visibility) and the organization, public and unlisted agents of your organization; organization admins see every agent of the organization. Archived agents are left out unless `archived=true` (which includes them). Filters: `visibility`, `category`, `q` (name substring). `characters` repeats `agents` for older clients. Paged by `cursor` (the previous page\'s `nextCursor`) or `offset`.',
        },
      },
    )
    .post(
      '',
      async ({ principal, body, request, set }) => {
        const c = ctx(principal, request, set)
        const agent = await createAgent(c, body)
        created(set, 'agents', agent.id)
        // Under a sub-path (TEAMDAY_PUBLIC_URL=https://example.com/teamday), the page's path there.
        const chatUrl = `${basePathOf(c.config.publicUrl)}/agents/${agent.id}/chat`
        return { success: true as const, id: agent.id, name: agent.name, slug: agent.slug, status: 'active' as const, chatUrl, agent }
      },
      {
        auth: 'agents:write',
        body: CreateAgentBody,
        response: { 201: 'CreatedAgent', ...writeErrors },
        detail: {
          summary: 'Create an agent',
          [RESPONSE_DESCRIPTIONS]: { 201: 'The agent created: its `id`, `slug` and `chatUrl` at the top level, and the whole agent in `agent`.' },
          description:
            'Creates an agent in your organization, owned by you. `slug` (unique in the organization, usable instead of the id in every agent URL) is derived from the name when not sent, with a short suffix when that slug is taken; a `slug` sent that is taken is 409 `slug_taken`. `systemPrompt` may also be sent as `system_message`. Lists default to []. `subagentIds` must name active agents of your organization that you can see. `visibility` defaults to private. Server fields (id, organizationId, userId, archived, timestamps) sent by the client are ignored.',
        },
      },
    )
    .get('/:id', async ({ principal, params, request, set }) => {
      const agent = await getAgent(ctx(principal, request, set), params.id)
      return { success: true as const, agent, character: agent }
    }, {
      auth: 'agents:read',
      params: AgentIdParams,
      response: { 200: 'AgentWithCharacter', 404: 'AgentNotFound', ...authErrors },
      detail: {
        summary: 'Get an agent',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The agent, in `agent` and again in `character` for older clients.' },
        description: 'One agent you may see (archived ones too), by id or slug. Another user\'s private agent (unless you are an admin) or another organization\'s agent is 404. `character` repeats `agent` for older clients.',
      },
    })
    .patch(
      '/:id',
      async ({ principal, params, body, request, set }) => ({ success: true as const, agent: await updateAgent(ctx(principal, request, set), params.id, body) }),
      {
        auth: 'agents:write',
        params: AgentIdParams,
        body: UpdateAgentBody,
        response: { 200: 'AgentEnvelope', 404: 'AgentNotFound', ...writeErrors },
        detail: {
          summary: 'Update an agent',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The agent as it is after the change, in `agent`.' },
          description:
            'Changes the fields sent (the agent by id or slug); a list replaces the whole list ([] or null clears it); null clears `role`, `systemPrompt`, `description`, `category`, `model` or `maxTurns`, while `name`, `slug`, `visibility` and `archived` take no null (422). Renaming keeps the slug; `slug` changes it (409 `slug_taken` when another agent has it). `archived: true` archives, `archived: false` restores. Members may change only agents they created (403 otherwise); admins any agent of the organization.',
        },
      },
    )
    .delete(
      '/:id',
      async ({ principal, params, request, set }) => {
        await archiveAgent(ctx(principal, request, set), params.id)
        return { success: true as const }
      },
      {
        auth: 'agents:write',
        params: AgentIdParams,
        response: { 200: 'AgentArchived', 404: 'AgentNotFound', ...authErrors, 403: 'AgentForbidden' },
        detail: {
          summary: 'Delete (archive) an agent',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The agent is archived (also when it was already): `success: true`.' },
          description:
            'Soft delete (the agent by id or slug): the agent is archived (hidden from lists unless `archived=true`, restorable with PATCH `{archived:false}`). Idempotent. Members may archive only agents they created; admins any agent of the organization.',
        },
      },
    )
}

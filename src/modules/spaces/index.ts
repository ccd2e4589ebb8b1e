import { Elysia } from 'elysia'
import { API_V1, created, type RouteKit } from '../../http/context'
import { authErrors, bodyErrors, errorResponse, named, sharedModels } from '../shared-models'
import { CreateSpaceBody, ListSpacesQuery, SpaceIdParams, spaceModels, TYPE_RULE, UpdateSpaceBody } from './model'
import { DeleteSecretsBody, secretBodyErrors, secretModels, SetSecretsBody } from './secrets-model'
import { archiveSpace, createSpace, getSpace, listSpaces, updateSpace } from './service'
import { deleteSpaceSecrets, listSpaceSecrets, setSpaceSecrets } from './space-secrets'
import { boolParam, intParam } from '../query-params'
import { badCursor, listModels } from '../list-models'
import { StreamedArray, streamedJson } from '../../http/streamed-json'
import { RESPONSE_DESCRIPTIONS } from '../../http/openapi-publish'

const notFound = errorResponse(
  404,
  'not_found',
  'Not found: no such space, it is another member\'s private space, or it belongs to another organization.',
  'Space space_8Kq2LmX9vB3nR8kT1wYz not found',
)
const badQuery = errorResponse(422, 'validation_failed', 'Validation failed: a query parameter is invalid, unknown, repeated or empty; `details` names it.', 'Validation failed: limit must be an integer between 1 and 200', [
  { field: 'limit', message: 'limit must be an integer between 1 and 200' },
])
const spaceInvalid = errorResponse(
    422,
    'validation_failed',
    'Validation failed: a field is invalid, `type` is git/starterKit (not supported yet), MCP servers or skills were sent (`addMcps`, `removeMcps`, `addSkills`, `removeSkills`: not on this server), or an agent id is unknown, archived or not visible to you. `details` names the field.',
    `Validation failed: ${TYPE_RULE}`,
  [{ field: 'type', message: TYPE_RULE }],
)
const slugTaken = errorResponse(
  409,
  'slug_taken',
  'Conflict: the `slug` sent is used by another space of your organization (archived ones keep theirs).',
  'Conflict: the slug "production" is already used by another space of your organization. Choose another slug.',
  [{ field: 'slug', message: '"production" is taken' }],
)
/**
 * The 403 of a change to one space or its secrets: besides the role and the token's scope, the
 * space's own rule (assertCanEditSpace: its creator or an admin). The shared Forbidden said only
 * "your role does not allow this", which a member refused someone else's space would not recognise.
 */
const spaceForbidden = errorResponse(
  403,
  'forbidden',
  'Forbidden: your role does not allow this (viewers change no space and no secret), or you are a member and the space is someone else\'s: only its creator or an organization admin may change it, archive it or change its secrets. `insufficient_scope` when the token lacks the scope.',
  "Forbidden: only the space's creator or an organization admin can change it (access denied)",
)
const badSpace = { ...bodyErrors, 409: 'SpaceSlugTaken', 422: 'SpaceBodyInvalid' } as const
const spaceErrorModels = named({ SpaceNotFound: notFound, SpaceQueryInvalid: badQuery, SpaceBodyInvalid: spaceInvalid, SpaceSlugTaken: slugTaken, SpaceForbidden: spaceForbidden })

/** The named OpenAPI models of these routes (also registered once by createApp: src/app.ts). */
export const spacesApiModels = { ...sharedModels, ...listModels, ...spaceModels, ...secretModels, ...spaceErrorModels }

export function spacesModule({ auth, ctx, watchToken, listening }: RouteKit) {
  return new Elysia({ prefix: `${API_V1}/spaces`, tags: ['Spaces'] })
    .use(auth)
    .model(spacesApiModels)
    .get(
      '',
      async ({ principal, query, request, set }) => {
        const c = ctx(principal, request, set)
        const { rest, ...page } = await listSpaces(c, { archived: boolParam(query.archived), limit: intParam(query.limit, 50), offset: intParam(query.offset, 0), cursor: query.cursor, batched: true })
        if (!rest) return { success: true as const, ...page }
        // A large page is sent as it is read (src/db/paging.ts, largePage): the same object.
        const streamed = await streamedJson(request, { success: true, ...page, spaces: new StreamedArray(rest) }, c.config.compression, watchToken(principal), listening())
        // Elysia's types take a Response or the schema's value, not a union of both.
        return streamed as unknown as { success: true } & typeof page
      },
      {
        auth: 'spaces:read',
        query: ListSpacesQuery,
        response: { 200: 'SpaceList', 400: badCursor, 422: 'SpaceQueryInvalid', ...authErrors },
        detail: {
          summary: 'List spaces',
          [RESPONSE_DESCRIPTIONS]: { 200: 'A page of the spaces you may see, newest first, in `spaces`; `nextCursor` leads to the next page.' },
          description:
            'The spaces you may see, newest first: your own and the organization/public ones of your organization (admins: all of the organization). Archived spaces only with `archived=true`. Paged by `cursor` (the previous page\'s `nextCursor`) or `offset`.',
        },
      },
    )
    .post(
      '',
      async ({ principal, body, request, set }) => {
        const space = await createSpace(ctx(principal, request, set), body)
        created(set, 'spaces', space.id)
        return { success: true as const, space }
      },
      {
        auth: 'spaces:write',
        body: CreateSpaceBody,
        response: { 201: 'SpaceEnvelope', ...badSpace, ...authErrors },
        detail: {
          summary: 'Create a space',
          [RESPONSE_DESCRIPTIONS]: { 201: 'The space created, in `space`.' },
          description:
            'Creates a space in your organization, owned by you. `slug` (unique in the organization, usable instead of the id in every space URL and as `spaceId` of an execute) is derived from the name when not sent, with a short suffix when that slug is taken; a `slug` sent that is taken is 409 `slug_taken`. `visibility` defaults to private. Only `type: "empty"` is supported by this server yet (git and starterKit → 422). `addCharacters` adds agents at creation.',
        },
      },
    )
    .get('/:id', async ({ principal, params, request, set }) => ({ success: true as const, space: await getSpace(ctx(principal, request, set), params.id) }), {
      auth: 'spaces:read',
      params: SpaceIdParams,
      response: { 200: 'SpaceEnvelope', 404: 'SpaceNotFound', ...authErrors },
      detail: { summary: 'Get a space', description: 'One space you may see (by id or slug), with its agents and the names (never the values) of its secrets.', [RESPONSE_DESCRIPTIONS]: { 200: 'The space, in `space`, with its agents and the names (never the values) of its secrets.' } },
    })
    .patch('/:id', async ({ principal, params, body, request, set }) => ({ success: true as const, space: await updateSpace(ctx(principal, request, set), params.id, body) }), {
      auth: 'spaces:write',
      params: SpaceIdParams,
      body: UpdateSpaceBody,
      response: { 200: 'SpaceEnvelope', 404: 'SpaceNotFound', ...badSpace, ...authErrors, 403: 'SpaceForbidden' },
      detail: {
        summary: 'Update a space',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The space as it is after the change, in `space`.' },
        description:
          'Changes the fields sent (the space by id or slug). Renaming keeps the slug; `slug` changes it (409 `slug_taken` when another space has it). `addCharacters` / `removeCharacters` add and remove agents by id or slug (added agents must be of your organization, not archived and visible to you; adding a present one is a no-op). Members change the spaces they created; admins any.',
      },
    })
    .delete(
      '/:id',
      async ({ principal, params, request, set }) => {
        await archiveSpace(ctx(principal, request, set), params.id)
        return { success: true as const }
      },
      {
        auth: 'spaces:write',
        params: SpaceIdParams,
        response: { 200: 'SpaceArchived', 404: 'SpaceNotFound', ...authErrors, 403: 'SpaceForbidden' },
        detail: { summary: 'Archive a space', description: 'Archives the space, by id or slug (soft delete; restore with PATCH `{archived:false}`). Idempotent. Members archive the spaces they created; admins any.', [RESPONSE_DESCRIPTIONS]: { 200: 'The space is archived (also when it was already): `success: true`.' } },
      },
    )
    .get('/:id/secrets', async ({ principal, params, request, set }) => ({ success: true as const, ...(await listSpaceSecrets(ctx(principal, request, set), params.id)) }), {
      auth: 'spaces:read',
      params: SpaceIdParams,
      response: { 200: 'SpaceSecretNames', 404: 'SpaceNotFound', ...authErrors },
      detail: { summary: 'List space secret names', description: 'The names of the space\'s secrets (the space by id or slug), sorted. Values are never returned by any endpoint.', [RESPONSE_DESCRIPTIONS]: { 200: 'The names of the space\'s secrets, sorted, and how many there are; never a value.' } },
    })
    .post('/:id/secrets', async ({ principal, params, body, request, set }) => ({ success: true as const, keys: await setSpaceSecrets(ctx(principal, request, set), params.id, body.secrets) }), {
      auth: 'secrets:write',
      params: SpaceIdParams,
      body: SetSecretsBody,
      response: { 200: 'SecretKeysResult', 404: 'SpaceNotFound', ...bodyErrors, ...secretBodyErrors, ...authErrors, 403: 'SpaceForbidden' },
      detail: {
        summary: 'Set space secrets',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The secrets are stored: `keys` lists the names set.' },
        description:
          'Creates or replaces secrets of the space (by id or slug): environment variables for executions in this space; they override organization secrets of the same name. Values are encrypted with AES-256-GCM and never returned. The space\'s creator or an admin.',
      },
    })
    .delete('/:id/secrets', async ({ principal, params, body, request, set }) => ({ success: true as const, deleted: await deleteSpaceSecrets(ctx(principal, request, set), params.id, body.keys) }), {
      auth: 'secrets:write',
      params: SpaceIdParams,
      body: DeleteSecretsBody,
      response: { 200: 'SecretsDeleted', 404: 'SpaceNotFound', ...bodyErrors, ...secretBodyErrors, ...authErrors, 403: 'SpaceForbidden' },
      detail: {
        summary: 'Delete space secrets',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The named secrets of the space are gone: `deleted` lists those that were there.' },
        description: 'Deletes the named secrets of the space, by id or slug (JSON body `{keys: [...]}`). Names that do not exist are ignored; `deleted` lists those removed. The space\'s creator or an admin.',
      },
    })
}

import { t } from 'elysia'
import { QueryBoolean } from '../query-params'
import { cursorParam, limitParam, offsetParam, pageExample, pageFields } from '../list-models'
import { named, slugField, successField } from '../shared-models'
import { serviceRule } from '../../http/openapi-publish'
import { NOT_ONLY_SPACES_PATTERN } from '../../text'

export const exampleSpace = {
  id: 'space_8Kq2LmX9vB3nR8kT1wYz',
  name: 'Marketing',
  slug: 'marketing',
  description: 'Campaign research and copy',
  organizationId: 'org_9Tr4Kx2LmQ7vB1nZ8wYc',
  visibility: 'organization',
  type: 'empty',
  instructions: 'Write in British English. Cite sources.',
  agentRefs: [{ agentId: 'char_3Hw7KqL2mP9xR1vN8tBc', enabled: true, addedAt: '2026-11-23T10:00:00.000Z', addedBy: 'user_4Fk9QzL2mP7xR1vN8tBc' }],
  secretKeys: ['OPENAI_API_KEY'],
  archived: false,
  archivedAt: null,
  createdBy: 'user_4Fk9QzL2mP7xR1vN8tBc',
  createdAt: '2026-11-23T10:00:00.000Z',
  updatedAt: '2026-11-23T10:05:00.000Z',
}

const Visibility = t.Union([t.Literal('private'), t.Literal('organization'), t.Literal('public')], {
  description: 'private: its creator (and admins); organization/public: every member of the organization',
})
const VisibilityInput = t.Union([t.Literal('private'), t.Literal('organization'), t.Literal('public')], {
  description: 'private (default): its creator (and admins); organization/public: every member of the organization',
  error: 'visibility must be one of private, organization, public',
})
const Type = t.Union([t.Literal('empty'), t.Literal('git'), t.Literal('starterKit')], { description: 'How the space was set up; this server creates only `empty` spaces' })
/** The message of a `type` other than `empty` (also the example of the routes' 422). */
export const TYPE_RULE = 'type must be "empty": git and starterKit spaces are not supported by this server yet (leave type out or send "empty")'

/**
 * Only what is accepted: TeamDay's `git` and `starterKit` spaces need a workspace backend this
 * server does not have, so a document listing them promised bodies that are always refused.
 * TeamDay's CLI never sends `type` to /api/v1/spaces (it creates the space, then sets it up
 * through another route), so documenting `empty` alone costs its clients nothing.
 */
const TypeInput = t.Literal('empty', {
  description: 'How the space is set up: only `empty` (the default). TeamDay\'s `git` and `starterKit` spaces are not supported by this server yet and are refused with 422.',
  error: TYPE_RULE,
})
const AgentIds = (field: string, description: string) =>
  t.Array(t.String({ minLength: 1, maxLength: 100 }), { maxItems: 100, description, error: `${field} must be an array of at most 100 agent ids or slugs`, examples: [['char_3Hw7KqL2mP9xR1vN8tBc', 'code-reviewer']] })

export const AgentRef = t.Object(
  {
    agentId: t.String({ description: 'The agent (char_…)' }),
    enabled: t.Boolean({ description: 'Always true for an agent added through this API (kept for TeamDay clients; this server does not read it)' }),
    addedAt: t.String({ description: 'When the agent was added, ISO-8601' }),
    addedBy: t.String({ description: 'User id of who added the agent' }),
  },
  { description: 'An agent of the space' },
)

export const Space = t.Object(
  {
    id: t.String({ description: 'Space id (space_…)' }),
    name: t.String({ description: 'Display name' }),
    slug: t.String({ description: 'Unique in the organization; usable wherever the space id is (`/spaces/{slug}`, `spaceId` of an execute). Derived from the name on create unless sent; kept when the space is renamed.' }),
    description: t.Nullable(t.String({ description: 'Free text; null if not set' })),
    organizationId: t.String({ description: 'The organization the space belongs to (org_…)' }),
    visibility: Visibility,
    type: Type,
    instructions: t.Nullable(t.String({ description: 'Instructions given to every agent working in the space' })),
    agentRefs: t.Array(AgentRef, { description: 'The agents (characters) of the space that you may see (another member\'s private agent is left out); `enabled` is false for one archived since it was added' }),
    secretKeys: t.Array(t.String(), { description: 'Names of the space secrets, sorted. Never the values.' }),
    archived: t.Boolean({ description: 'true once archived: left out of lists unless `archived=true`, and no agent runs in it; an update with `archived: false` restores it' }),
    archivedAt: t.Nullable(t.String({ description: 'When it was archived, ISO-8601; null if not archived' })),
    createdBy: t.String({ description: 'User id of the creator' }),
    createdAt: t.String({ description: 'When it was created, ISO-8601' }),
    updatedAt: t.String({ description: 'When it last changed, ISO-8601' }),
  },
  { description: 'A space (workspace): its agents, instructions and the names of its secrets', examples: [exampleSpace] },
)

const fields = {
  description: t.Optional(t.Nullable(t.String({ maxLength: 5000, description: 'Free text, at most 5000 characters; null clears it', error: 'description must be a string of at most 5000 characters' }))),
  visibility: t.Optional(VisibilityInput),
  type: t.Optional(TypeInput),
  instructions: t.Optional(
    t.Nullable(
      t.String({
        maxLength: 100_000,
        description: 'Instructions given to every agent working in the space (added to its system prompt), at most 100000 characters; null clears them',
        error: 'instructions must be a string of at most 100000 characters',
      }),
    ),
  ),
}

export const CreateSpaceBody = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 200, description: 'Display name', error: 'name must be a string of 1-200 characters (it is required)', ...serviceRule({ pattern: NOT_ONLY_SPACES_PATTERN }) }),
    slug: slugField('space'),
    ...fields,
    addCharacters: t.Optional(AgentIds('addCharacters', 'Agents to add at creation, by id or slug: same organization, not archived, visible to you')),
  },
  { examples: [{ name: 'Production', slug: 'production', visibility: 'organization' }, { name: 'Marketing', description: 'Campaign research and copy', visibility: 'organization', type: 'empty', instructions: 'Write in British English. Cite sources.' }] },
)

/** Fields of TeamDay's hosted API this server has nothing behind: declared so that sending one is a 422 naming it, not a 200 that changed nothing. */
function unserved(names: string[], what: string) {
  return Object.fromEntries(
    // `not: {}`: no value passes ([] and null neither), as the service refuses any (refuseUnserved).
    names.map((n) => [n, t.Optional(t.Array(t.String(), { description: `TeamDay's ${what}: not available on this server. Sending \`${n}\` is 422 validation_failed naming it, and nothing is changed`, ...serviceRule({ not: {} }) }))]),
  )
}

export const UpdateSpaceBody = t.Object(
  {
    name: t.Optional(
      t.String({ minLength: 1, maxLength: 200, description: 'Display name (the slug stays: change it with `slug`)', error: 'name must be a string of 1-200 characters', ...serviceRule({ pattern: NOT_ONLY_SPACES_PATTERN }) }),
    ),
    slug: slugField('space'),
    ...fields,
    archived: t.Optional(t.Boolean({ description: 'true archives, false restores', error: 'archived must be a boolean' })),
    addCharacters: t.Optional(AgentIds('addCharacters', 'Agents to add, by id or slug (same organization, not archived, visible to you); already present ones are left as they are')),
    removeCharacters: t.Optional(AgentIds('removeCharacters', 'Agents to remove, by id or slug; absent ones are ignored')),
    ...unserved(['addMcps', 'removeMcps'], 'MCP servers'),
    ...unserved(['addSkills', 'removeSkills'], 'skills'),
  },
  // The first example is what Swagger UI fills in: one that works on any space as it is. The
  // second names agents by the slugs the agent examples create (it named placeholder ids: always 422).
  { examples: [{ instructions: 'Answer in German.' }, { addCharacters: ['deploy-bot'], removeCharacters: ['research-assistant'] }] },
)

export const ListSpacesQuery = t.Object({
  archived: t.Optional(QueryBoolean({ description: 'Include archived spaces (default false)', error: 'archived must be true or false' })),
  limit: limitParam,
  offset: offsetParam(),
  cursor: cursorParam,
})

export const SpaceIdParams = t.Object({ id: t.String({ maxLength: 100, description: 'Space id (space_…) or slug (production)', examples: ['space_8Kq2LmX9vB3nR8kT1wYz'] }) })

export const SpaceEnvelope = t.Object({ success: successField, space: Space }, { examples: [{ success: true, space: exampleSpace }] })

export const SpaceList = t.Object(
  { success: successField, spaces: t.Array(Space, { description: 'This page of spaces, newest first' }), ...pageFields('spaces') },
  { examples: [{ success: true, spaces: [exampleSpace], ...pageExample }] },
)

export const SpaceArchived = t.Object({ success: successField }, { examples: [{ success: true }] })

/** Named in the OpenAPI document; routes refer to them by name. */
export const spaceModels = named({ Space, SpaceEnvelope, SpaceList, SpaceArchived })

import { Type } from '@sinclair/typebox'
import { t } from 'elysia'
import { QueryBoolean } from '../query-params'
import { cursorParam, limitParam, offsetParam, pageExample, pageFields } from '../list-models'
import { errorResponse, named, slugField, successField } from '../shared-models'
import { serviceRule } from '../../http/openapi-publish'
import { EMPTY_OR_NOT_ONLY_SPACES_PATTERN, NOT_ONLY_SPACES_PATTERN } from '../../text'

export const MAX_TURNS_ERROR = 'maxTurns must be between 1 and 500'

export const exampleAgent = {
  id: 'char_8Kq2LmX9vB3nR8kT1wYz',
  name: 'Code Reviewer',
  slug: 'code-reviewer',
  role: 'Senior Developer',
  systemPrompt: 'You review code for quality, security, and best practices.',
  description: 'Reviews pull requests',
  category: 'engineering',
  visibility: 'organization',
  model: 'claude-sonnet-4-5',
  tags: ['code', 'review'],
  advanced_tools: [],
  allowedTools: ['Read', 'Grep'],
  disallowedTools: ['Bash'],
  mcpTypes: [],
  mcpInstanceIds: [],
  subagentIds: ['char_2Pw7QzL4mN8xR1vB6tKc'],
  maxTurns: 50,
  organizationId: 'org_9Tr4Kx2LmQ7vB1nZ8wYc',
  userId: 'user_4Fk9QzL2mP7xR1vN8tBc',
  archived: false,
  archivedAt: null,
  createdAt: '2026-11-23T10:00:00.000Z',
  updatedAt: '2026-11-23T10:00:00.000Z',
}

export const Visibility = t.Union([t.Literal('private'), t.Literal('organization'), t.Literal('public'), t.Literal('unlisted')], {
  description: 'private: only you (and organization admins); organization: everyone in the organization; public: also listed at /api/public/agents; unlisted: like organization, not listed publicly',
  error: 'visibility must be one of: private, organization, public, unlisted',
})

/**
 * What each field of an agent is, once: the response (`Agent`) and the create and update bodies
 * say it with these words.
 */
/**
 * Fields of TeamDay's hosted agents this server has nothing behind (its CLI's `--skills`,
 * `--greeting`, `--image`, `--based-on`): declared so that sending one is a 422 naming it
 * (src/modules/agents/service.ts, refuseUnserved), not a 201 or 200 that dropped it. null and []
 * ask for nothing and pass.
 */
const unserved = (what: string) => `${what}: not available on this server. Sending it is 422 validation_failed naming it, and nothing is created or changed; null (and [] for a list) pass`
const unservedAgentFields = {
  skillIds: t.Optional(t.Nullable(t.Array(t.String(), serviceRule({ maxItems: 0 })), { description: unserved("TeamDay's skills") })),
  initialGreeting: t.Optional(t.Nullable(t.String(), { description: unserved("TeamDay's greeting shown when a chat opens"), ...serviceRule({ enum: [null] }) })),
  image: t.Optional(t.Nullable(t.String(), { description: unserved("TeamDay's avatar image URL"), ...serviceRule({ enum: [null] }) })),
  basedOnAgentId: t.Optional(t.Nullable(t.String(), { description: unserved("TeamDay's agent templates (`agents create --based-on`)"), ...serviceRule({ enum: [null] }) })),
}

const about = {
  name: 'Display name',
  role: 'What the agent does, e.g. "Senior Developer"; with the name, the system prompt when `systemPrompt` is empty',
  // In backticks: Swagger UI's Markdown took <name> and <role> for HTML tags and showed "You are , .".
  systemPrompt: 'The system prompt (when empty: `You are <name>, <role>.`); a space\'s instructions are added after it when the agent runs in a space',
  description: 'Free text',
  category: 'Free text, used as a list filter',
  model: 'The model the agent runs on (an id such as claude-sonnet-4-5, mapped by TEAMDAY_MODEL_ALIASES)',
  tags: 'Labels',
  advanced_tools: 'Advanced tool names (stored and returned, each entry trimmed; this server does not use them)',
  allowedTools: 'Tools the agent may use without asking (stored and returned, each entry trimmed: this server never asks, so it changes nothing here)',
  disallowedTools: 'Tools the agent may not use: `delegate`, `Task` or `Agent` takes the delegate tool away',
  mcpTypes: 'MCP server types (stored and returned, each entry trimmed; this server runs no MCP servers)',
  mcpInstanceIds: 'MCP instance ids (stored and returned, each entry trimmed; this server runs no MCP servers)',
  subagentIds: 'Agents this agent may delegate to (its `delegate` tool)',
  maxTurns: 'Turn limit per execution, 1-500: the model turns a run may take; a run whose model still calls tools at its last turn has no final answer and fails (`max_turns_reached`, the limit in its error)',
}

const StringList = (description: string) => t.Array(t.String(), { description })
const nullableText = (description: string) => t.Nullable(t.String({ description: `${description}; null if not set` }))

/** The agent as every endpoint returns it. `character` is the same object under TeamDay's older name. */
export const Agent = t.Object(
  {
    id: t.String({ description: 'Agent id (char_...)' }),
    name: t.String({ description: about.name }),
    slug: t.String({
      description: 'Unique in the organization; usable wherever the agent id is (`/agents/{slug}/execute`). Derived from the name on create unless sent; kept when the agent is renamed.',
    }),
    role: nullableText(about.role),
    systemPrompt: nullableText(about.systemPrompt),
    description: nullableText(about.description),
    category: nullableText(about.category),
    visibility: Visibility,
    model: t.Nullable(t.String({ description: `${about.model}; null: the server's default model (TEAMDAY_DEFAULT_MODEL)` })),
    tags: StringList(about.tags),
    advanced_tools: StringList(about.advanced_tools),
    allowedTools: StringList(about.allowedTools),
    disallowedTools: StringList(about.disallowedTools),
    mcpTypes: StringList(about.mcpTypes),
    mcpInstanceIds: StringList(about.mcpInstanceIds),
    subagentIds: StringList(`${about.subagentIds} (char_… ids)`),
    maxTurns: t.Nullable(Type.Integer({ description: `${about.maxTurns}; null: 10` })),
    organizationId: t.String({ description: 'The organization the agent belongs to (org_…)' }),
    userId: t.String({ description: 'The creator' }),
    archived: t.Boolean({ description: 'true once archived: left out of lists unless `archived=true`, and cannot be executed; an update with `archived: false` restores it' }),
    archivedAt: t.Nullable(t.String({ description: 'When it was archived (ISO-8601); null if not archived' })),
    createdAt: t.String({ description: 'When it was created (ISO-8601)' }),
    updatedAt: t.String({ description: 'When it was last changed (ISO-8601)' }),
  },
  { description: 'An agent (a "character" in TeamDay\'s older name)', examples: [exampleAgent] },
)

const text = (field: string, max: number, description: string) =>
  t.Optional(t.Nullable(t.String({ maxLength: max, description }), { error: `${field} must be a string of at most ${max} characters, or null` }))

const list = (field: string, description: string) =>
  t.Optional(
    t.Nullable(t.Array(t.String({ minLength: 1, maxLength: 200, ...serviceRule({ pattern: NOT_ONLY_SPACES_PATTERN }) }), { maxItems: 100 }), {
      description: `${description}. Replaces the whole list; [] (or null) clears it. Entries are trimmed; one of only white space is 422`,
      error: `${field} must be an array of at most 100 non-empty strings (each at most 200 characters)`,
    }),
  )

/** Fields a client may set, on create and on update. Everything else (id, organizationId, userId, timestamps) is the server's. */
const editable = {
  role: text('role', 500, about.role),
  systemPrompt: text('systemPrompt', 100_000, about.systemPrompt),
  system_message: text('system_message', 100_000, 'Alias of systemPrompt (older clients); systemPrompt wins when both are sent'),
  description: text('description', 5000, about.description),
  characterDescription: text('characterDescription', 5000, "Alias of description (TeamDay's `characters create --description`); description wins when both are sent"),
  category: text('category', 100, about.category),
  visibility: t.Optional(Visibility),
  model: t.Optional(
    t.Nullable(
      t.String({
        maxLength: 200,
        description: `${about.model}; null or empty: the server's default model (TEAMDAY_DEFAULT_MODEL). Spaces around a name are dropped; only spaces is 422`,
        ...serviceRule({ pattern: EMPTY_OR_NOT_ONLY_SPACES_PATTERN }),
      }),
      { error: 'model must be a string of at most 200 characters, or null' },
    ),
  ),
  tags: list('tags', about.tags),
  advanced_tools: list('advanced_tools', about.advanced_tools),
  allowedTools: list('allowedTools', about.allowedTools),
  disallowedTools: list('disallowedTools', about.disallowedTools),
  mcpTypes: list('mcpTypes', about.mcpTypes),
  mcpInstanceIds: list('mcpInstanceIds', about.mcpInstanceIds),
  subagentIds: list('subagentIds', `${about.subagentIds}: ids of non-archived agents of the same organization that you can see, never the agent itself. Another member's private agent (which an admin may add) is left out of what you are shown, and kept when you change the list`),
  maxTurns: t.Optional(t.Nullable(t.Integer({ minimum: 1, maximum: 500 }), { description: `${about.maxTurns}, or null for the default (10)`, error: MAX_TURNS_ERROR })),
  ...unservedAgentFields,
}

const nameField = (description: string) =>
  t.String({ minLength: 1, maxLength: 200, description, error: 'name must be a string of 1-200 characters (it is required)', ...serviceRule({ pattern: NOT_ONLY_SPACES_PATTERN }) })

export const CreateAgentBody = t.Object(
  { name: nameField(about.name), slug: slugField('agent'), ...editable },
  {
    examples: [
      { name: 'Deploy Bot', slug: 'deploy-bot', systemPrompt: 'You deploy commits to production.', visibility: 'organization' },
      { name: 'Research Assistant', role: 'Research and analysis', systemPrompt: 'You are a helpful research assistant.', visibility: 'private' },
      { name: 'Code Reviewer', role: 'Senior Developer', system_message: 'You review code.', visibility: 'organization', tags: ['code'], maxTurns: 50 },
    ],
  },
)

export const UpdateAgentBody = t.Object(
  {
    name: t.Optional(nameField('Display name (the slug stays: change it with `slug`)')),
    slug: slugField('agent'),
    ...editable,
    archived: t.Optional(t.Boolean({ description: 'true archives the agent, false restores it', error: 'archived must be a boolean' })),
  },
  { examples: [{ description: 'Reviews pull requests', tags: [] }, { slug: 'pr-reviewer' }, { archived: true }] },
)

export const ListAgentsQuery = t.Object({
  archived: t.Optional(QueryBoolean({ description: 'true: include archived agents (default: only active ones)', error: 'archived must be true or false' })),
  visibility: t.Optional(t.Union(Visibility.anyOf, { description: 'Only agents with this visibility', error: Visibility.error })),
  category: t.Optional(t.String({ maxLength: 100, description: 'Only agents of this category (exact match)', error: 'category must be a string of at most 100 characters' })),
  q: t.Optional(t.String({ maxLength: 200, description: 'Case-insensitive substring of the name, in any script (über finds Über); every character matches itself (no wildcards)', error: 'q must be a string of at most 200 characters' })),
  limit: limitParam,
  offset: offsetParam(),
  cursor: cursorParam,
})

export const AgentIdParams = t.Object({ id: t.String({ maxLength: 100, description: 'Agent id (char_…) or slug (deploy-bot)', examples: ['char_8Kq2LmX9vB3nR8kT1wYz'] }) })

export const AgentList = t.Object(
  {
    success: successField,
    agents: t.Array(Agent, { description: 'This page of agents, newest first' }),
    characters: t.Array(Agent, { description: 'The same list under TeamDay\'s older name' }),
    ...pageFields('agents'),
  },
  { examples: [{ success: true, agents: [exampleAgent], characters: [exampleAgent], ...pageExample }] },
)

export const CreatedAgent = t.Object(
  {
    success: successField,
    id: t.String({ description: 'The new agent\'s id (char_…), as `agent.id`' }),
    name: t.String({ description: 'Its name, as `agent.name`' }),
    slug: t.String({ description: 'The agent\'s slug, as TeamDay\'s CLI prints it after a create' }),
    status: t.Literal('active', { description: 'Always active: a new agent is not archived' }),
    chatUrl: t.String({
      description:
        "The web console's chat page of the agent (`/agents/{id}/chat`, relative to this server; under a sub-path, with TEAMDAY_PUBLIC_URL's path before it: `/teamday/agents/{id}/chat`): signed in to the console, you chat with the agent there and see your chats with it",
    }),
    agent: Agent,
  },
  { examples: [{ success: true, id: exampleAgent.id, name: exampleAgent.name, slug: exampleAgent.slug, status: 'active', chatUrl: `/agents/${exampleAgent.id}/chat`, agent: exampleAgent }] },
)

export const AgentWithCharacter = t.Object(
  { success: successField, agent: Agent, character: Agent },
  { examples: [{ success: true, agent: exampleAgent, character: exampleAgent }] },
)

export const AgentEnvelope = t.Object({ success: successField, agent: Agent }, { examples: [{ success: true, agent: exampleAgent }] })

export const AgentNotFound = errorResponse(
  404,
  'not_found',
  'Not found: no such agent, another user\'s private agent, or an agent of another organization.',
  'Agent char_8Kq2LmX9vB3nR8kT1wYz not found',
)

export const AgentForbidden = errorResponse(
  403,
  'forbidden',
  'Forbidden: your role does not allow writing agents (viewers), or you are a member changing an agent someone else created.',
  'Forbidden: only the agent\'s creator or an organization admin can change this agent (access denied)',
)

export const AgentSlugTaken = errorResponse(
  409,
  'slug_taken',
  'Conflict: the `slug` sent is used by another agent of your organization (archived ones keep theirs).',
  'Conflict: the slug "deploy-bot" is already used by another agent of your organization. Choose another slug.',
  [{ field: 'slug', message: '"deploy-bot" is taken' }],
)

export const AgentBodyInvalid = errorResponse(422, 'validation_failed', 'Validation failed: `details` names each invalid field.', `Validation failed: ${MAX_TURNS_ERROR}`, [
  { field: 'maxTurns', message: MAX_TURNS_ERROR },
])

export const AgentQueryInvalid = errorResponse(422, 'validation_failed', 'Validation failed: a query parameter is invalid, unknown, repeated or empty; `details` names it.', 'Validation failed: limit must be an integer between 1 and 200', [
  { field: 'limit', message: 'limit must be an integer between 1 and 200' },
])

// ── GET /api/public/agents ──────────────────────────────────────────────────────────────

const examplePublicAgent = {
  id: exampleAgent.id,
  name: exampleAgent.name,
  slug: exampleAgent.slug,
  description: exampleAgent.description,
  role: exampleAgent.role,
  category: exampleAgent.category,
}

export const PublicAgent = t.Object(
  {
    id: Agent.properties.id,
    name: Agent.properties.name,
    slug: Agent.properties.slug,
    description: Agent.properties.description,
    role: Agent.properties.role,
    category: Agent.properties.category,
  },
  { description: 'A public agent: only these fields of it', examples: [examplePublicAgent] },
)

export const PublicAgentList = t.Object(
  {
    data: t.Array(PublicAgent, { description: 'This page of public agents, newest first' }),
    meta: t.Object({
      timestamp: t.String({ description: 'When this response was made (ISO-8601)' }),
      version: t.String({ description: 'Server version' }),
      ...pageFields('public agents'),
    }, { description: 'About this response and its paging' }),
  },
  { examples: [{ data: [examplePublicAgent], meta: { timestamp: '2026-11-23T10:00:00.000Z', version: '0.1.0', ...pageExample } }] },
)

export const PublicAgentsQuery = t.Object({
  limit: ListAgentsQuery.properties.limit,
  offset: ListAgentsQuery.properties.offset,
  cursor: cursorParam,
})

export const AgentArchived = t.Object({ success: successField }, { description: 'The agent is archived', examples: [{ success: true }] })

/** Named in the OpenAPI document; routes refer to them by name. */
export const agentModels = named({
  Agent,
  AgentList,
  CreatedAgent,
  AgentWithCharacter,
  AgentEnvelope,
  AgentArchived,
  AgentNotFound,
  AgentForbidden,
  AgentSlugTaken,
  AgentBodyInvalid,
  AgentQueryInvalid,
})

export const publicAgentModels = named({ PublicAgent, PublicAgentList })

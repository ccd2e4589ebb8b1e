import type { Agent } from '../db/schema'

/**
 * The built-in default assistant: what POST /api/v1/execute runs, for an organization's users who
 * choose no agent (TeamDay's CLI calls it when the organization has no agents). It is no row of
 * `agents`: an agent-shaped value built for the run, with a plain system prompt, no model of its
 * own (the server's default: TEAMDAY_DEFAULT_MODEL, mapped by TEAMDAY_MODEL_ALIASES) and no
 * sub-agents (so no tools). Its executions are recorded with `agentId` null and `agentName`
 * ASSISTANT_NAME, and as private (only their user, and admins, may open them).
 */

/** The id the in-memory value carries; never stored (executions get agent_id NULL). */
const ASSISTANT_ID = 'builtin:assistant'
export const ASSISTANT_NAME = 'Assistant'
export const ASSISTANT_PROMPT =
  'You are a helpful assistant for the members of an organization on TeamDay. Answer clearly and concisely; say so when you do not know something.'

export function assistantAgent(organizationId: string, userId: string): Agent {
  const epoch = new Date(0)
  return {
    id: ASSISTANT_ID,
    organizationId,
    userId,
    name: ASSISTANT_NAME,
    slug: 'assistant',
    role: 'Default assistant',
    systemPrompt: ASSISTANT_PROMPT,
    description: null,
    category: null,
    visibility: 'private',
    model: null,
    tags: [],
    advancedTools: [],
    allowedTools: [],
    disallowedTools: [],
    mcpTypes: [],
    mcpInstanceIds: [],
    subagentIds: [],
    maxTurns: null,
    archived: false,
    // As content_bytes would count it (never stored or listed).
    contentBytes: Buffer.byteLength(ASSISTANT_PROMPT),
    archivedAt: null,
    createdAt: epoch,
    updatedAt: epoch,
  }
}

/** Whether `agent` is the built-in assistant (recorded with agent_id NULL). */
export function isAssistant(agent: Pick<Agent, 'id'>): boolean {
  return agent.id === ASSISTANT_ID
}

/** The agent_id an execution of `agent` records: null for the built-in assistant. */
export function storedAgentId(agent: Pick<Agent, 'id'>): string | null {
  return isAssistant(agent) ? null : agent.id
}

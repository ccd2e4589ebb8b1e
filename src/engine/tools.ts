import type { ToolSet } from 'ai'
import type { Job } from './prepare'
import { aiSdk } from './sdk'
import { API_METHODS, API_TOOL, MAX_API_RESULT_CHARS, type ApiCall, type ApiToolInput } from './api-tool'
import { disallowedTools } from './disallowed'
import { cutText } from '../text'

/** The sub-agent tool; its calls' `agentId` names an agent (the API hides one the reader may not see: src/modules/executions/service.ts). */
export const DELEGATE_TOOL = 'delegate'
/** Names under which a tool may be disallowed: ours, and Claude Code's name for sub-agents. */
const DELEGATE_NAMES = [DELEGATE_TOOL, 'Task', 'Agent']

export type RunChild = (parent: Job, agentId: string, message: string, signal: AbortSignal | undefined) => Promise<string>

/**
 * A sub-agent the `delegate` tool offers (src/engine/run.ts offeredSubagents: one the run's user
 * may see): its id, and what its row says of it, which the tool tells the model. Never its system
 * prompt. Only the id for an id no agent has any more, and for a sub-agent whose creator's writing
 * may not steer the run (offeredSubagents: its `teamday_api` token's rule).
 */
export interface OfferedSubagent {
  id: string
  name?: string
  slug?: string
  role?: string | null
  description?: string | null
}

/** How much of a sub-agent's name, role and description the tool's description holds: its list stays short with many sub-agents (an agent may have 100). */
export const SUBAGENT_FIELD_CHARS = { name: 100, role: 200, description: 200 } as const

/** `text` on one line (its runs of white space one space), at most `max` characters, "…" ending one that was cut (never inside a UTF-16 pair). */
function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim()
  if (flat.length <= max) return flat
  let end = max - 1
  const last = flat.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end--
  return `${flat.slice(0, end)}…`
}

/** The line of the `delegate` tool's description that presents one sub-agent to the model. */
function subagentLine(s: OfferedSubagent): string {
  const parts = [`- ${s.id}`]
  if (s.name?.trim()) parts.push(`"${oneLine(s.name, SUBAGENT_FIELD_CHARS.name)}"`)
  if (s.slug) parts.push(`(slug: ${s.slug})`)
  const about = [s.role?.trim() && `role: ${oneLine(s.role, SUBAGENT_FIELD_CHARS.role)}`, s.description?.trim() && `description: ${oneLine(s.description, SUBAGENT_FIELD_CHARS.description)}`].filter(Boolean)
  return about.length > 0 ? `${parts.join(' ')}: ${about.join('; ')}` : parts.join(' ')
}

/** The longest message an execute takes (POST /agents/{id}/execute: src/modules/executions/model.ts), a delegated run's too. */
export const MAX_DELEGATED_MESSAGE_CHARS = 200_000

/**
 * Why a `delegate` call's message may not start a sub-agent's run, or null: what an execute
 * refuses (422) is refused here too. The model's `message` was taken as String(x): an object ran
 * a child on "[object Object]", none on "", one of 300,000 characters whole.
 */
function delegatedMessageRefusal(message: unknown): string | null {
  if (typeof message !== 'string') return '`message` must be a string, the instruction for the sub-agent.'
  if (!message.trim()) return '`message` is empty: give the sub-agent a complete, self-contained instruction.'
  if (message.length > MAX_DELEGATED_MESSAGE_CHARS) return `\`message\` has ${message.length.toLocaleString('en-US')} characters, more than the ${MAX_DELEGATED_MESSAGE_CHARS.toLocaleString('en-US')} a run's message may have.`
  return null
}

/**
 * The tools an agent gets, each unless `disallowedTools` names it:
 * - `delegate`, when the agent has sub-agents the run may delegate to (`subagents`: those that
 *   exist, are not archived and the run's user may see, src/engine/run.ts offeredSubagents, so the
 *   model is never told the id, or anything else, of another member's private agent): its
 *   description lists each one (id, name, slug, role and description, shortened), for the model to
 *   choose among them; `agentId` is its id, or its slug (taken for its id as the call is read, so
 *   the call is recorded, shown and hidden by id); each call runs a child execution whose result
 *   is the tool result;
 * - `teamday_api`, when the run's space holds a TEAMDAY_TOKEN secret (`api`: src/engine/api-tool.ts):
 *   a call of this server's /api/v1 with that token, whose status and body are the tool result
 *   (an execute among them runs as a child of this run, as a `delegate` call's does).
 */
export function buildTools(job: Job, runChild: RunChild, api?: ApiCall, subagents: OfferedSubagent[] = job.agent.subagentIds.map((id) => ({ id }))): ToolSet | undefined {
  const { agent } = job
  const disallowed = disallowedTools(agent)
  const tools: ToolSet = {}
  if (subagents.length > 0 && !DELEGATE_NAMES.some((n) => disallowed.has(n))) {
    const { jsonSchema, tool } = aiSdk()
    const subagentIds = subagents.map((s) => s.id)
    // A slug of an offered sub-agent only: any other value is left as it is, and refused below.
    const bySlug = new Map(subagents.flatMap((s) => (s.slug ? [[s.slug, s.id] as const] : [])))
    const idOf = (ref: unknown) => (typeof ref === 'string' && !subagentIds.includes(ref) ? (bySlug.get(ref) ?? ref) : ref)
    tools[DELEGATE_TOOL] = tool({
      description:
        'Delegate a sub-task to one of your sub-agents and get its answer back. Give a complete, self-contained instruction in `message`. ' +
        'Your sub-agents (pass the id as `agentId`; the slug is accepted too):\n' +
        subagents.map(subagentLine).join('\n'),
      inputSchema: jsonSchema<{ agentId: string; message: string }>(
        {
          type: 'object',
          properties: {
            agentId: { type: 'string', enum: subagentIds, description: "The id of the sub-agent to run, one of those this tool's description lists" },
            message: { type: 'string', description: 'The instruction for the sub-agent' },
          },
          required: ['agentId', 'message'],
          additionalProperties: false,
        },
        {
          // The call as the run reads it: a sub-agent named by its slug is named by its id from
          // here on (the call's tool_start event, its recorded arguments, the child it runs), so
          // that a reader who may not see that agent is shown neither (src/modules/executions/service.ts).
          validate: (value) => ({
            success: true,
            value: (value !== null && typeof value === 'object' && 'agentId' in value ? { ...value, agentId: idOf(value.agentId) } : value) as { agentId: string; message: string },
          }),
        },
      ),
      execute: async (input, options) => {
        // The model's arguments as they came: the schema is the model's to follow, not checked.
        const agentId: unknown = input?.agentId
        const message: unknown = input?.message
        if (typeof agentId !== 'string' || !subagentIds.includes(agentId)) return `Error: ${typeof agentId === 'string' ? cutText(agentId, 100) : cutText(JSON.stringify(agentId ?? null), 100)} is not one of this agent's sub-agents.`
        const refused = delegatedMessageRefusal(message)
        if (refused) return `Error: ${refused}`
        return runChild(job, agentId, message as string, options?.abortSignal)
      },
    })
  }
  if (api && !disallowed.has(API_TOOL)) {
    const { jsonSchema, tool } = aiSdk()
    tools[API_TOOL] = tool({
      description:
        "Call this TeamDay server's REST API (v1, paths under /api/v1/) as the user whose personal access token this space holds (its TEAMDAY_TOKEN secret): " +
        "the token's scopes and its user's role decide what you may do, as for any API client; you never see the token. Examples: GET /api/v1/agents, GET /api/v1/executions with query {\"limit\": 10}, " +
        'GET /api/v1/spaces/{id}, POST /api/v1/tasks {"title": "..."}. The result is `HTTP <status>` and the JSON body, at most ' +
        `${MAX_API_RESULT_CHARS / 1024} KiB of it (page long lists with \`limit\` and \`cursor\`). An error status (401, 403, 404, 422, 429) comes back the same way: read its \`message\`. ` +
        'To hand work to another agent, POST /api/v1/agents/{id}/execute {"message": "..."} (or /api/v1/execute for the default assistant): it runs as a sub-agent of this run, within its delegation limits (depth and the number of sub-agent runs), and the result is its answer (`result`) once it is done; `async` is refused and `stream` is answered the same way. ' +
        'Not available: creating or rotating tokens.',
      inputSchema: jsonSchema<ApiToolInput>({
        type: 'object',
        properties: {
          method: { type: 'string', enum: [...API_METHODS], description: 'The HTTP method' },
          path: { type: 'string', description: 'The path, starting with /api/v1/, without a query string (e.g. /api/v1/agents)' },
          query: { type: 'object', description: 'Query parameters (strings, numbers, booleans), e.g. {"limit": 20}' },
          body: { type: 'object', description: 'The JSON body of a POST, PATCH or DELETE' },
        },
        required: ['method', 'path'],
        additionalProperties: false,
      }),
      execute: async (input, options) => (await api(input, options?.abortSignal)).result,
    })
  }
  return Object.keys(tools).length > 0 ? tools : undefined
}

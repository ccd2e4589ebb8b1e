import type { ToolSet } from 'ai'
import type { Job } from './prepare'
import { aiSdk } from './sdk'
import { API_METHODS, API_TOOL, MAX_API_RESULT_CHARS, type ApiCall, type ApiToolInput } from './api-tool'

/** The sub-agent tool; its calls' `agentId` names an agent (the API hides one the reader may not see: src/modules/executions/service.ts). */
export const DELEGATE_TOOL = 'delegate'
/** Names under which a tool may be disallowed: ours, and Claude Code's name for sub-agents. */
const DELEGATE_NAMES = [DELEGATE_TOOL, 'Task', 'Agent']

export type RunChild = (parent: Job, agentId: string, message: string, signal: AbortSignal | undefined) => Promise<string>

/**
 * The tools an agent gets, each unless `disallowedTools` names it:
 * - `delegate`, when the agent has sub-agents the run may delegate to (`subagentIds`: those that
 *   exist, are not archived and the run's user may see, src/engine/run.ts offeredSubagents, so the
 *   model is never told the id of another member's private agent): each call runs a child
 *   execution whose result is the tool result;
 * - `teamday_api`, when the run's space holds a TEAMDAY_TOKEN secret (`api`: src/engine/api-tool.ts):
 *   a call of this server's /api/v1 with that token, whose status and body are the tool result
 *   (an execute among them runs as a child of this run, as a `delegate` call's does).
 */
export function buildTools(job: Job, runChild: RunChild, api?: ApiCall, subagentIds: string[] = job.agent.subagentIds): ToolSet | undefined {
  const { agent } = job
  const disallowed = new Set(agent.disallowedTools)
  const tools: ToolSet = {}
  if (subagentIds.length > 0 && !DELEGATE_NAMES.some((n) => disallowed.has(n))) {
    const { jsonSchema, tool } = aiSdk()
    tools[DELEGATE_TOOL] = tool({
      description:
        'Delegate a sub-task to another agent and get its answer back. Give a complete, self-contained instruction in `message`.',
      inputSchema: jsonSchema<{ agentId: string; message: string }>({
        type: 'object',
        properties: {
          agentId: { type: 'string', enum: subagentIds, description: 'The sub-agent to run' },
          message: { type: 'string', description: 'The instruction for the sub-agent' },
        },
        required: ['agentId', 'message'],
        additionalProperties: false,
      }),
      execute: async (input, options) => {
        if (!subagentIds.includes(input.agentId)) return `Error: ${input.agentId} is not one of this agent's sub-agents.`
        return runChild(job, input.agentId, String(input.message ?? ''), options?.abortSignal)
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

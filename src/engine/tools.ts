import type { ToolSet } from 'ai'
import type { Job } from './prepare'
import { aiSdk } from './sdk'

/** Names under which a tool may be disallowed: ours, and Claude Code's name for sub-agents. */
const DELEGATE_NAMES = ['delegate', 'Task', 'Agent']

export type RunChild = (parent: Job, agentId: string, message: string, signal: AbortSignal | undefined) => Promise<string>

/**
 * The tools an agent gets. Today that is `delegate`, when the agent has sub-agents and does not
 * disallow it: each call runs a child execution whose result is the tool result.
 */
export function buildTools(job: Job, runChild: RunChild): ToolSet | undefined {
  const { agent } = job
  const disallowed = new Set(agent.disallowedTools)
  const tools: ToolSet = {}
  if (agent.subagentIds.length > 0 && !DELEGATE_NAMES.some((n) => disallowed.has(n))) {
    const { jsonSchema, tool } = aiSdk()
    tools.delegate = tool({
      description:
        'Delegate a sub-task to another agent and get its answer back. Give a complete, self-contained instruction in `message`.',
      inputSchema: jsonSchema<{ agentId: string; message: string }>({
        type: 'object',
        properties: {
          agentId: { type: 'string', enum: agent.subagentIds, description: 'The sub-agent to run' },
          message: { type: 'string', description: 'The instruction for the sub-agent' },
        },
        required: ['agentId', 'message'],
        additionalProperties: false,
      }),
      execute: async (input, options) => {
        if (!agent.subagentIds.includes(input.agentId)) return `Error: ${input.agentId} is not one of this agent's sub-agents.`
        return runChild(job, input.agentId, String(input.message ?? ''), options?.abortSignal)
      },
    })
  }
  return Object.keys(tools).length > 0 ? tools : undefined
}

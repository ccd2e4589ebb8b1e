// Values and shapes both dialects' schemas share (src/db/schema/sqlite.ts, src/db/schema/pg.ts).

export const ROLES = ['admin', 'member', 'viewer'] as const
export type Role = (typeof ROLES)[number]

export const AGENT_VISIBILITIES = ['private', 'organization', 'public', 'unlisted'] as const
export type AgentVisibility = (typeof AGENT_VISIBILITIES)[number]

export const SPACE_VISIBILITIES = ['private', 'organization', 'public'] as const
export const SPACE_TYPES = ['empty', 'git', 'starterKit'] as const

export interface AgentRef {
  agentId: string
  enabled: boolean
  addedAt: string
  addedBy: string
}

export const TASK_STATUSES = ['pending', 'in_progress', 'completed', 'cancelled'] as const
export const TASK_PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const
export const ASSIGNEE_TYPES = ['agent', 'user'] as const

export const EXECUTION_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number]

export interface ExecutionMessage {
  role: 'user' | 'assistant'
  content: string
  timestamp: string
}

export interface ExecutionToolCall {
  tool: string
  arguments: unknown
  result: unknown
  timestamp: string
}

/** A CLI login code's states (cli_login_codes.state). */
export const CLI_LOGIN_STATES = ['pending', 'approved', 'denied', 'delivered'] as const
export type CliLoginState = (typeof CLI_LOGIN_STATES)[number]

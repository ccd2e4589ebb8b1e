// Values and shapes both dialects' schemas share (src/db/schema/sqlite.ts, src/db/schema/pg.ts).
import { sql, type SQL } from 'drizzle-orm'

export const ROLES = ['admin', 'member', 'viewer'] as const
export type Role = (typeof ROLES)[number]

/**
 * Whether role `now` may see less than role `then`: ROLES is ordered from the most (admin: all of
 * the organization) to the least (viewer), each seeing all the next one may. A role not in ROLES
 * (none such is stored; a later one unknown to this build) ranks below any other but itself.
 */
export function roleRanksBelow(now: string, then: string): boolean {
  if (now === then) return false
  const n = (ROLES as readonly string[]).indexOf(now)
  const t = (ROLES as readonly string[]).indexOf(then)
  return n === -1 || (t !== -1 && n > t)
}

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

/**
 * A message as executions.messages stores it. A completed run's answer is its `result` and the
 * content of its last message (the API shows it in both); it is stored once, in `result`: that
 * last message is stored without `content` (storedMessages) and shown with the result as its
 * content (shownMessages). Written twice, an answer of MiBs was twice the write that held the
 * event loop at a run's end (src/engine/store.ts finishExecution). Rows written before hold the
 * content, and are shown as they are.
 */
export type StoredExecutionMessage = Omit<ExecutionMessage, 'content'> & { content?: string }

/** `messages` as stored beside `result`: the last message without its content when it is the answer (an assistant's, equal to `result`). */
export function storedMessages(messages: StoredExecutionMessage[], result: string | null | undefined): StoredExecutionMessage[] {
  const last = messages.at(-1)
  if (last === undefined || last.role !== 'assistant' || typeof result !== 'string' || last.content !== result) return messages
  const { content: _, ...rest } = last
  return [...messages.slice(0, -1), rest]
}

/** Stored messages as the API shows them: a message stored without content (storedMessages) has the execution's result. The same array when none is. */
export function shownMessages(messages: StoredExecutionMessage[], result: string | null): ExecutionMessage[] {
  if (messages.every((m) => m.content !== undefined)) return messages as ExecutionMessage[]
  return messages.map(({ role, content, ...rest }) => ({ role, content: content ?? result ?? '', ...rest }))
}

export interface ExecutionToolCall {
  tool: string
  arguments: unknown
  result: unknown
  timestamp: string
}

/** What a run continuing a session left out of its history (executions.history_trimmed). */
export interface HistoryTrimmed {
  turnsSent: number
  turnsOmitted: number
  charsSent: number
  maxChars: number
}

/** A CLI login code's states (cli_login_codes.state). */
export const CLI_LOGIN_STATES = ['pending', 'approved', 'denied', 'delivered'] as const
export type CliLoginState = (typeof CLI_LOGIN_STATES)[number]

/**
 * The columns of a row that can be large, by table: text, then JSON. A list sizes its pages by
 * their bytes (src/db/paging.ts, storedBytes): on PostgreSQL by the table's `content_bytes`,
 * which the database computes from these (contentBytes); on SQLite by their octet_length.
 */
export const LARGE_COLUMNS = {
  agents: { text: ['system_prompt', 'description'], json: ['tags', 'advanced_tools', 'allowed_tools', 'disallowed_tools', 'mcp_types', 'mcp_instance_ids', 'subagent_ids'] },
  spaces: { text: ['description', 'instructions'], json: ['agent_refs'] },
  tasks: { text: ['description'], json: ['metadata'] },
  executions: { text: ['result', 'error', 'message'], json: ['messages', 'tool_calls'] },
} as const

/**
 * The expression of a table's `content_bytes`: the UTF-8 bytes of its large columns as stored
 * (LARGE_COLUMNS; none for a null), each JSON column's as text. A generated column. PostgreSQL
 * stores it, computed at each insert and update, where it writes jsonb out as text once instead
 * of at every page read (sizing 50 executions of 100 KB each: 13 ms, 0.4 ms stored); its lists
 * size their pages by it (src/db/paging.ts, storedBytes). SQLite computes it when a row is read
 * (virtual: ALTER TABLE cannot add a stored column), with functions every sqlite3 has
 * (octet_length is 3.43's: an older sqlite3 could not check such a database); its lists size by
 * octet_length at read time instead, which reads a value's length without its text.
 */
export function contentBytes(table: keyof typeof LARGE_COLUMNS, dialect: 'sqlite' | 'pg'): SQL {
  const { text, json } = LARGE_COLUMNS[table]
  const bytes = dialect === 'pg' ? (c: string, isJson: boolean) => `coalesce(octet_length("${c}"${isJson ? '::text' : ''}), 0)` : (c: string) => `coalesce(length(CAST("${c}" AS BLOB)), 0)`
  return sql.raw([...text.map((c) => bytes(c, false)), ...json.map((c) => bytes(c, true))].join(' + '))
}

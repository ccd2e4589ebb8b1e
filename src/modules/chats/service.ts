import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import { alias } from 'drizzle-orm/sqlite-core'
import { isOrgAdmin } from '../../auth/roles'
import { callerOf, type Ctx } from '../../context'
import type { Db } from '../../db/connection'
import { afterParams, cappedCount, countedPages, keysetPages, listPage, readPage, type ListPage } from '../../db/paging'
import { prepared } from '../../db/prepared'
import { executions, shownMessages, type Execution, type ExecutionStatus } from '../../db/schema'
import { AppError } from '../../errors'
import { agentFilterId, agentFilterSeenBy, agentsUnseenBy } from '../agents/access'
import { HIDDEN_AGENT, largeColumnsBytes, toolCallsShownTo } from '../executions/service'
import type { Viewer } from '../viewer'
import { spaceFilterId } from '../spaces/access'
import { chatExecutionsSql } from './access'
import { cutText } from '../../text'

/**
 * Chats, read from executions (no table of their own): a chat is the caller's executions that
 * share a chatId (chats/access.ts). Its latest execution (its head) gives its agent, space,
 * session and status; the list is of heads, latest message first, paged by keyset on
 * executions_org_user_time_idx; each head's figures and title come from the chat's executions
 * on executions_org_user_chat_idx, only for the rows of the page.
 */

type ChatStatus = 'working' | 'done' | 'error' | 'standby'
const STATUS: Record<ExecutionStatus, ChatStatus> = { pending: 'working', running: 'working', completed: 'done', failed: 'error', cancelled: 'standby' }

/** One answer holds at most this many of a chat's executions, and about this many bytes of them. */
export const CHAT_MAX_EXECUTIONS = 200
export const CHAT_MAX_BYTES = 8 << 20

/** The head columns and the chat's figures, for a statement over `executions` (the head). */
function chatColumns(db: Db, admin: boolean) {
  const x = executions
  const y = alias(executions, 'y') as unknown as typeof executions
  const sameChat = and(chatExecutionsSql(admin, y), eq(y.chatId, x.chatId))
  // drizzle writes a query inside `sql` in parentheses: a scalar subquery.
  const scalar = (q: { getSQL(): unknown }) => sql`${q}`
  return {
    sameChat,
    later: db.select({ one: sql`1` }).from(y).where(and(sameChat, sql`(${y.createdAt}, ${y.seq}) > (${x.createdAt}, ${x.seq})`)),
    columns: {
      id: x.id,
      chatId: x.chatId,
      sessionId: x.sessionId,
      agentId: x.agentId,
      agentName: x.agentName,
      spaceId: x.spaceId,
      status: x.status,
      createdAt: x.createdAt,
      updatedAt: x.updatedAt,
      executionCount: scalar(db.select({ n: sql`count(*)` }).from(y).where(sameChat)).mapWith(Number),
      // Each ended turn has an answer: the model's, or what ended it (messagesOf).
      completedCount: scalar(db.select({ n: sql`count(*)` }).from(y).where(and(sameChat, inArray(y.status, ['completed', 'failed', 'cancelled'])))).mapWith(Number),
      firstAt: scalar(db.select({ t: sql`min(${y.createdAt})` }).from(y).where(sameChat)).mapWith(x.createdAt),
      title: scalar(db.select({ m: sql`substr(${y.message}, 1, 200)` }).from(y).where(sameChat).orderBy(y.createdAt, y.seq).limit(1)).mapWith(String),
    },
  }
}

function listStatements(db: Db, admin: boolean, f: { agentId: boolean; spaceId: boolean }) {
  const x = executions
  const ph = sql.placeholder
  const { columns, later } = chatColumns(db, admin)
  const where = [
    chatExecutionsSql(admin),
    // The head: no later execution of the same chat that the caller may see.
    sql`NOT EXISTS ${later}`,
    f.agentId ? eq(x.agentId, ph('agentId')) : undefined,
    f.spaceId ? eq(x.spaceId, ph('spaceId')) : undefined,
  ]
  return {
    ...keysetPages(() => db.select(columns).from(x).$dynamic(), x, where),
    counted: countedPages(db, (n) => db.select({ row: columns, n }).from(x).$dynamic(), x, where),
    count: cappedCount(db, x, and(...where)),
  }
}

type Head = Awaited<ReturnType<ReturnType<typeof listStatements>['first']['all']>>[number]

function title(message: string | null): string {
  const line = (message ?? '').trim().split('\n')[0]!.trim()
  return line.length > 80 ? `${cutText(line, 79)}…` : line
}

function toPublicChat(h: Head) {
  return {
    id: h.chatId,
    title: title(h.title),
    agentId: h.agentId,
    agentName: h.agentName,
    spaceId: h.spaceId,
    sessionId: h.sessionId,
    status: STATUS[h.status],
    lastExecutionId: h.id,
    lastExecutionStatus: h.status,
    messageCount: h.executionCount + h.completedCount,
    executionCount: h.executionCount,
    createdAt: (h.firstAt ?? h.createdAt).toISOString(),
    lastMessageAt: h.createdAt.toISOString(),
    updatedAt: h.updatedAt.toISOString(),
  }
}

type PublicChat = ReturnType<typeof toPublicChat>

/**
 * Chats as `v` may see them: the agent of a chat's latest message not named when `v` may not see
 * it now (another member's agent made private since: agentsUnseenBy), as its executions do not
 * name it (src/modules/executions/service.ts executionShaper): `agentId` null, `agentName`
 * HIDDEN_AGENT.
 */
async function chatsShownTo(db: Db, v: Viewer, chats: PublicChat[]): Promise<PublicChat[]> {
  const unseen = await agentsUnseenBy(db, v, chats.map((c) => c.agentId).filter((id): id is string => id !== null))
  return unseen.size === 0 ? chats : chats.map((c) => (c.agentId !== null && unseen.has(c.agentId) ? { ...c, agentId: null, agentName: HIDDEN_AGENT } : c))
}

export interface ListChatsInput {
  agentId?: string
  spaceId?: string
  mission?: boolean
  limit: number
  offset: number
  cursor?: string
}

/** The caller's chats, latest message first. */
export async function listChats(ctx: Ctx, q: ListChatsInput): Promise<{ chats: ReturnType<typeof toPublicChat>[] } & ListPage> {
  const p = callerOf(ctx)
  // Chats started by missions: this server runs no missions.
  if (q.mission === true) return { chats: [], total: 0, totalIsEstimate: false, nextCursor: null }
  const agentId = q.agentId === undefined ? undefined : await agentFilterId(ctx.db, p.organizationId, q.agentId)
  const spaceId = q.spaceId === undefined ? undefined : await spaceFilterId(ctx.db, p.organizationId, q.spaceId)
  const admin = isOrgAdmin(p.role)
  const stmts = prepared(ctx.db, `chats.list.${Number(admin)}${Number(agentId !== undefined)}${Number(spaceId !== undefined)}`, () =>
    listStatements(ctx.db, admin, { agentId: agentId !== undefined, spaceId: spaceId !== undefined }),
  )
  // An agent the caller may not see finds no chat, as a made-up id finds none (its chats do not name
  // it: chatsShownTo). Bound as no id ('' is none); the cursor stays bound to the filter as given.
  const filterAgent = await agentFilterSeenBy(ctx.db, p, agentId)
  const params = { org: p.organizationId, user: p.userId, ...(agentId !== undefined && { agentId: filterAgent }), ...(spaceId !== undefined && { spaceId }) }
  const page = await readPage('chats', { agentId, spaceId, caller: [p.organizationId, p.userId] }, q, {
    rows: (limit, offset, after) => (after ? stmts.after : stmts.first).all({ ...params, ...afterParams(after), limit, offset }),
    counted: stmts.counted && ((limit, offset, cap) => stmts.counted!.all({ ...params, limit, offset, cap })),
    count: async (cap) => (await stmts.count.get({ ...params, cap }))?.n ?? 0,
    position: (r) => ({ t: r.createdAt.getTime(), id: r.id }),
  })
  return { chats: await chatsShownTo(ctx.db, p, page.rows.map(toPublicChat)), ...listPage(page) }
}

function readStatements(db: Db, admin: boolean) {
  const x = executions
  const ph = sql.placeholder
  const { columns } = chatColumns(db, admin)
  const mine = and(chatExecutionsSql(admin), eq(x.chatId, ph('chatId')))
  const newest = [desc(x.createdAt), desc(x.seq)]
  return {
    // The chat's latest execution: the first in the index's order, backwards (a NOT EXISTS of a later
    // one, as the list asks it of each row, was a probe per execution of the chat: on PostgreSQL a
    // 3,000-turn chat's head took 17 s).
    head: db.select(columns).from(x).where(mine).orderBy(...newest).limit(1).prepare(),
    sizes: db.select({ bytes: largeColumnsBytes(db) }).from(x).where(mine).orderBy(...newest).limit(ph('limit')).prepare(),
    rows: db.select().from(x).where(mine).orderBy(...newest).limit(ph('limit')).prepare(),
  }
}

/** One execution's part of its chat: its stored messages (a run not ended yet: its message). */
function messagesOf(r: Execution) {
  let stored = r.messages.length > 0 ? shownMessages(r.messages, r.result) : [{ role: 'user' as const, content: r.message, timestamp: r.createdAt.toISOString() }]
  // A turn that failed or was cancelled stores no answer: the reader sees what came of it (the
  // partial answer, then why it ended), not a question left without a reply.
  if ((r.status === 'failed' || r.status === 'cancelled') && !stored.some((m) => m.role === 'assistant')) {
    const why = `[${r.status === 'failed' ? 'Failed' : 'Cancelled'}: ${r.error ?? 'no reason was recorded'}]`
    stored = [...stored, { role: 'assistant' as const, content: r.result ? `${r.result}\n\n${why}` : why, timestamp: (r.completedAt ?? r.updatedAt).toISOString() }]
  }
  const toolCalls = r.toolCalls.map((c) => ({ name: c.tool, input: c.arguments, output: c.result }))
  return stored.map((m) => ({ role: m.role, content: m.content, createdAt: m.timestamp, executionId: r.id, toolCalls: m.role === 'assistant' ? toolCalls : [] }))
}

async function chatHeadOf(ctx: Ctx, chatId: string) {
  const p = callerOf(ctx)
  const admin = isOrgAdmin(p.role)
  const stmts = prepared(ctx.db, `chats.read.${Number(admin)}`, () => readStatements(ctx.db, admin))
  const params = { org: p.organizationId, user: p.userId, chatId }
  const head = await stmts.head.get(params)
  if (!head) throw new AppError('not_found', `Chat ${cutText(chatId, 200)} not found.`)
  return { stmts, params, head }
}

/**
 * One of the caller's chats as GET /api/v1/chats lists it, without its messages (one indexed
 * statement: what the console's chat page asks while a turn runs). 404 as readChat.
 */
export async function readChatHead(ctx: Ctx, chatId: string) {
  return (await chatsShownTo(ctx.db, callerOf(ctx), [toPublicChat((await chatHeadOf(ctx, chatId)).head)]))[0]!
}

/**
 * One of the caller's chats with its messages, oldest first: those of its latest
 * CHAT_MAX_EXECUTIONS executions and about CHAT_MAX_BYTES of them (`hasMore` when earlier ones
 * are left out). Another user's chat, or none, is 404.
 */
export async function readChat(ctx: Ctx, chatId: string) {
  const { stmts, params, head } = await chatHeadOf(ctx, chatId)
  const sizes = await stmts.sizes.all({ ...params, limit: CHAT_MAX_EXECUTIONS + 1 })
  let n = 0
  let bytes = 0
  for (const s of sizes.slice(0, CHAT_MAX_EXECUTIONS)) {
    if (n > 0 && bytes + s.bytes > CHAT_MAX_BYTES) break
    bytes += s.bytes
    n++
  }
  const rows = (await stmts.rows.all({ ...params, limit: n })).reverse()
  // Their tool calls as the caller may see them now (a sub-agent since made private by its owner is not named).
  const shown = await toolCallsShownTo(ctx.db, callerOf(ctx), rows.map((r) => r.toolCalls))
  return { chat: (await chatsShownTo(ctx.db, callerOf(ctx), [toPublicChat(head)]))[0]!, messages: rows.flatMap((r) => messagesOf({ ...r, toolCalls: shown(r.toolCalls) })), hasMore: n < sizes.length }
}

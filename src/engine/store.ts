import { and, asc, count, desc, eq, getTableColumns, inArray, lt, lte, ne, or, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../db/connection'
import { mapStrings } from '../text'
import { openableAtRunTime } from '../modules/executions/access'
import { conversationTurnsSql } from '../modules/chats/access'
import { agents, dialect, executionLogs, executions, shownMessages, spaces, storedMessages, type Execution, type ExecutionMessage, type ExecutionStatus } from '../db/schema'

/** Database access for the engine: execution rows and their event log. */

export const ACTIVE: ExecutionStatus[] = ['pending', 'running']

/**
 * `v` as both backends can store it: the NUL character (U+0000) and lone surrogates (half of a
 * UTF-16 pair, which a provider's JSON can escape) in every string and key replaced by U+FFFD.
 * PostgreSQL's text and jsonb cannot hold either, and what a model answers (results, messages,
 * tool calls, a child's message) may contain one: left in, the run's final write failed and the
 * execution stayed `running`. Clients can send neither (src/http/body.ts); SQLite gets the same
 * text so that both backends keep the same rows. Plain objects and arrays are walked
 * (mapStrings); anything else (dates) is kept; an unchanged value is returned as it is.
 */
export function storable<T>(v: T): T {
  return mapStrings(v, (s) => (s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s).toWellFormed())
}

export function getExecutionRow(db: Db, id: string): Promise<Execution | undefined> {
  return db.select().from(executions).where(eq(executions.id, id)).get()
}

/** The visibility execution `id` records (its agent_visibility) and its space, if it exists: what a run under it inherits (visibilityUnder). */
export function recordedVisibility(db: Db, id: string): Promise<Pick<Execution, 'agentVisibility' | 'spaceId'> | undefined> {
  return db.select({ agentVisibility: executions.agentVisibility, spaceId: executions.spaceId }).from(executions).where(eq(executions.id, id)).get()
}

/**
 * Records an execution. Its `seq` (creation order, the queue's last tie-breaker and a chat's and a
 * session's: turnOrder): PostgreSQL's identity; on SQLite the rowid the row is about to get,
 * max(rowid) + 1 (one writer at a time, and the subquery is one seek at the end of the table).
 *
 * Its `createdAt` is never before that of the latest turn of its chat or of its session
 * (notBeforeTurnsSql): an instance whose clock is a few ms behind the one that created the turn
 * before (README "Running several instances", Clocks) would otherwise show its turn, and send it
 * the model, before the turn it follows. `updatedAt` (and a `completedAt` of the same instant: a
 * run refused at once) move with it.
 */
export async function insertExecution(db: Db, row: typeof executions.$inferInsert): Promise<Execution> {
  const seq = dialect === 'sqlite' ? { seq: sql`(SELECT coalesce(max(rowid), 0) + 1 FROM ${executions})` } : {}
  const stored = storedForm(row)
  const at = notBeforeTurnsSql(db, stored)
  const times = { createdAt: at, updatedAt: at, ...(stored.completedAt && stored.completedAt.getTime() === stored.createdAt.getTime() && { completedAt: at }) }
  return (await db.insert(executions).values({ ...stored, ...seq, ...times }).returning().get())!
}

/**
 * The latest of `row.createdAt` and the creation times of the turns of its chat (its user's, of
 * its kind: delegated or not) and of its session (those a run may send: pending, running,
 * completed), each one seek on executions_org_user_chat_idx / executions_session_history_idx.
 */
function notBeforeTurnsSql(db: Db, row: typeof executions.$inferInsert): SQL {
  const x = executions
  const latest = (where: SQL | undefined) => sql`${db.select({ t: x.createdAt }).from(x).where(where).orderBy(desc(x.createdAt)).limit(1)}`
  const mine = and(eq(x.organizationId, row.organizationId), eq(x.userId, row.userId))
  const earlier = [
    latest(and(mine, eq(x.chatId, row.chatId), eq(x.delegated, row.delegated ?? false))),
    ...(['pending', 'running', 'completed'] as const).map((s) => latest(and(mine, eq(x.sessionId, row.sessionId), eq(x.status, s)))),
  ]
  const now = sql.param(row.createdAt, x.createdAt)
  // Never more than TURN_AHEAD_MS after this clock: a turn dated far ahead (a clock a day off,
  // then set right) moved every later turn of its chat and session to its time, for good (each
  // clamped to the one before), sorting them behind every newer run in the queue; a clock that
  // far off is logged (clock_skew), and its turn alone stays out of order.
  return dialect === 'sqlite'
    ? sql`max(${now}, ${sql.join(earlier.map((e) => sql`min(coalesce(${e}, ${now}), ${now} + ${TURN_AHEAD_MS})`), sql`, `)})`
    : sql`greatest(${now}::timestamptz, ${sql.join(earlier.map((e) => sql`least(coalesce(${e}, ${now}::timestamptz), ${now}::timestamptz + ${`${TURN_AHEAD_MS} milliseconds`}::interval)`), sql`, `)})`
}

/** How far after its own clock a turn may be dated to follow the turn before it (notBeforeTurnsSql): the clock_skew warning's 5 s. */
const TURN_AHEAD_MS = 5_000

export function updateExecution(db: Db, id: string, patch: Partial<typeof executions.$inferInsert>): Promise<Execution | undefined> {
  return db.update(executions).set(storedForm(patch)).where(eq(executions.id, id)).returning().get()
}

/** What a write stores of `values`: storable, and its messages without the answer `result` holds (storedMessages). */
function storedForm<T extends Partial<typeof executions.$inferInsert>>(values: T): T {
  const out = storable(values)
  return out.messages === undefined ? out : { ...out, messages: storedMessages(out.messages, out.result) }
}

/**
 * The columns that may hold a model's whole answer (up to MiBs) and that a run writes at its end:
 * returned from what was written, never read back (src/engine/store.ts finishExecution).
 */
const ANSWER_COLUMNS = ['result', 'messages'] as const

/**
 * Sets a final status only while the row is still active: a cancel already recorded wins. The
 * row it returns is the database's, but for the answer's columns the patch sets (ANSWER_COLUMNS),
 * which are the values written (made storable) rather than read back: the same strings, where a
 * read of a run's end held the event loop once more for each MiB of its answer (SQLite's text
 * turned into strings again, PostgreSQL's jsonb parsed again).
 */
export async function finishExecution(db: Db, id: string, patch: Partial<typeof executions.$inferInsert>): Promise<Execution | undefined> {
  const values = storedForm(patch)
  // A copy: getTableColumns hands out the table's own object.
  const columns: Partial<ReturnType<typeof getTableColumns<typeof executions>>> = { ...getTableColumns(executions) }
  const written: Partial<Pick<Execution, (typeof ANSWER_COLUMNS)[number]>> = {}
  for (const c of ANSWER_COLUMNS) {
    if (values[c] === undefined) continue
    delete columns[c]
    Object.assign(written, { [c]: values[c] })
  }
  const row = await db
    .update(executions)
    .set(values)
    .where(and(eq(executions.id, id), inArray(executions.status, ACTIVE)))
    .returning(columns as ReturnType<typeof getTableColumns<typeof executions>>)
    .get()
  return row && { ...row, ...written }
}

export async function addLog(db: Db, executionId: string, now: number, level: 'info' | 'warn' | 'error', event: string, data?: Record<string, unknown>): Promise<void> {
  await db.insert(executionLogs).values({ executionId, level, event, data: data === undefined ? null : storable(data), createdAt: new Date(now) }).run()
}

export function listLogs(db: Db, executionId: string) {
  return db.select().from(executionLogs).where(eq(executionLogs.executionId, executionId)).orderBy(asc(executionLogs.id)).all()
}

/**
 * What one message costs beyond its text, in characters: its role and framing, which providers
 * count as a few tokens of their own (about 4 characters each). Also what bounds the rows one
 * history reads (a turn costs at least two of these), however short its turns.
 */
export const MESSAGE_OVERHEAD_CHARS = 16
/** Earlier turns weighed per query, newest first. */
const HISTORY_PAGE = 64
/** Turns whose messages are read per query (the ids of one `IN` list). */
const HISTORY_FETCH = 256

/** A session's earlier turns as a run sends them (sessionHistory). */
export interface SessionHistory {
  /** The messages of the turns sent, oldest first. */
  messages: ExecutionMessage[]
  /** Turns (earlier executions) sent. */
  turns: number
  /** Their characters, MESSAGE_OVERHEAD_CHARS per message included. */
  chars: number
  /** Earlier completed turns of the session not sent: older than the oldest sent (or than the run, when none was). */
  omitted: number
  /** Rows the history read: weighed (no messages), then fetched (with their messages). */
  rowsWeighed: number
  rowsFetched: number
  /** The agent and the space of each turn sent, and who steered it as it ran (null before that was kept): whose instructions wrote its answer (turnWriters). */
  sent: { agentId: string | null; spaceId: string | null; writtenBy: string[] | null }[]
}

/**
 * The characters of an execution's messages, counted by the database: what a turn weighs before
 * its (up to MiBs of) text is read. A message stored without its content has the result's
 * (storedMessages).
 */
function messagesCharsSql() {
  const x = executions
  return dialect === 'sqlite'
    ? sql<number>`(SELECT coalesce(sum(coalesce(length(json_extract(m.value, '$.content')), length(${x.result}))), 0) FROM json_each(${x.messages}) m)`
    : sql<number>`(SELECT coalesce(sum(coalesce(length(m ->> 'content'), length(${x.result}))), 0) FROM jsonb_array_elements(${x.messages}) m)`
}

/**
 * An execution's result when its messages need it to be shown (the last one was stored without
 * its content: storedMessages), else null: a row stored before holds its answer in both, and is
 * not read twice.
 */
function resultIfElidedSql() {
  const x = executions
  return dialect === 'sqlite'
    ? sql<string | null>`CASE WHEN json_type(${x.messages}, '$[#-1].content') IS NULL THEN ${x.result} END`
    : sql<string | null>`CASE WHEN jsonb_exists(${x.messages} -> -1, 'content') THEN NULL ELSE ${x.result} END`
}

/** Number of messages of an execution, counted by the database. */
function messagesCountSql() {
  return dialect === 'sqlite' ? sql<number>`json_array_length(${executions.messages})` : sql<number>`jsonb_array_length(${executions.messages})`
}

/**
 * A session's earlier turns: the run's user's completed executions in it, but the run's own. A
 * top-level run's: of the executions its chat shows (conversationTurnsSql: a delegated child filed
 * under the chat's id is neither); a delegated run's: the delegated ones of its session.
 */
function sessionTurnsSql(run: SessionRun) {
  const x = executions
  // A delegated run (an execute a run made through teamday_api with a session of its own) continues
  // the delegated turns of its session: an agent's conversation with another, never the user's chat.
  const own = run.delegated
    ? and(eq(x.organizationId, run.organizationId), eq(x.userId, run.userId), eq(x.delegated, true))
    : conversationTurnsSql(run.organizationId, run.userId, x)
  return and(own, eq(x.sessionId, run.sessionId), eq(x.status, 'completed'), ne(x.id, run.excludeId))
}

/** The run whose session's earlier turns are read: a top-level run's are its chat's (delegated: false or absent). */
interface SessionRun {
  organizationId: string
  userId: string
  sessionId: string
  excludeId: string
  delegated?: boolean
}

/**
 * One page of a session's earlier turns, newest first, after `after` (a keyset cursor), each
 * with what deciding whether it is sent needs: its size, and what its access rule reads. On
 * executions_session_history_idx, in its order (test/session-history.test.ts checks the plans).
 */
export function sessionTurnsPage(
  db: Db,
  run: SessionRun,
  after: { createdAt: Date; seq: number } | null,
  limit: number,
) {
  const x = executions
  return db
    .select({ id: x.id, createdAt: x.createdAt, seq: x.seq, organizationId: x.organizationId, userId: x.userId, agentVisibility: x.agentVisibility, spaceId: x.spaceId, chars: messagesCharsSql(), count: messagesCountSql() })
    .from(x)
    .where(and(sessionTurnsSql(run), after ? or(lt(x.createdAt, after.createdAt), and(eq(x.createdAt, after.createdAt), lt(x.seq, after.seq))) : undefined))
    .orderBy(desc(x.createdAt), desc(x.seq))
    .limit(limit)
}

/**
 * The earlier turns of a session (same organization and user, completed) that a run sends the
 * model with its message: the newest whole turns whose messages fit in `budget` characters
 * (MESSAGE_OVERHEAD_CHARS per message counted), oldest first. A turn is one execution's user
 * message and answer, sent together or not at all; the first turn that does not fit ends the
 * history (no gaps). Only turns the user may still read count (openableAtRunTime).
 *
 * Bounded in what it reads whatever the session's length: turns are weighed newest first a page
 * at a time on executions_session_history_idx, by sizes the database computes (no message text leaves
 * it), at most budget / (2 × MESSAGE_OVERHEAD_CHARS) + one page of them; then the messages of
 * the turns kept, and only those, are read. Older turns stay stored (logs and lists show them).
 */
export async function sessionHistory(
  db: Db,
  run: SessionRun,
  budget: number,
): Promise<SessionHistory> {
  const x = executions
  const inSession = sessionTurnsSql(run)
  const maxWeighed = Math.floor(budget / (2 * MESSAGE_OVERHEAD_CHARS)) + HISTORY_PAGE
  const kept: { id: string; createdAt: Date }[] = []
  let left = budget
  let chars = 0
  let rowsWeighed = 0
  /** Where the turns sent end: the newest turn not sent, and every older one. */
  let cut: { createdAt: Date; seq: number; kept?: boolean } | null = null
  let after: { createdAt: Date; seq: number } | null = null
  weigh: while (budget > 0) {
    const limit = Math.min(HISTORY_PAGE, maxWeighed - rowsWeighed)
    const page = await sessionTurnsPage(db, run, after, limit).all()
    const full = page.length === limit
    rowsWeighed += page.length
    // Only the turns the user may still read (a space that became private hides its runs).
    const readable = new Set((await openableAtRunTime(db, run, page)).map((r) => r.id))
    for (const r of page) {
      if (!readable.has(r.id)) continue
      const cost = Number(r.chars) + Number(r.count) * MESSAGE_OVERHEAD_CHARS
      if (cost > left) {
        cut = r
        break weigh
      }
      left -= cost
      chars += cost
      kept.push(r)
    }
    if (!full) break
    after = page.at(-1)!
    if (rowsWeighed >= maxWeighed) {
      // Turns too many to weigh (each of them tiny): the older ones are left out.
      cut = { ...after, kept: true }
      break
    }
  }
  // The messages of the turns kept, a bounded list of ids at a time.
  const byId = new Map<string, ExecutionMessage[]>()
  const sent: SessionHistory['sent'] = []
  for (let i = 0; i < kept.length; i += HISTORY_FETCH) {
    const ids = kept.slice(i, i + HISTORY_FETCH).map((k) => k.id)
    for (const r of await db.select({ id: x.id, messages: x.messages, result: resultIfElidedSql(), agentId: x.agentId, spaceId: x.spaceId, writtenBy: x.writtenBy }).from(x).where(inArray(x.id, ids)).all()) {
      byId.set(r.id, shownMessages(r.messages, r.result))
      sent.push({ agentId: r.agentId, spaceId: r.spaceId, writtenBy: r.writtenBy })
    }
  }
  const messages = kept.toReversed().flatMap((k) => byId.get(k.id) ?? [])
  // How many were left out: the turn that did not fit and every older one (none read).
  const older = budget <= 0 ? inSession : cut && and(inSession, or(lt(x.createdAt, cut.createdAt), and(eq(x.createdAt, cut.createdAt), (cut.kept ? lt : lte)(x.seq, cut.seq))))
  const omitted = older ? Number((await db.select({ n: count() }).from(x).where(older).get())?.n ?? 0) : 0
  return { messages, turns: kept.length, chars, omitted, rowsWeighed, rowsFetched: byId.size, sent }
}

/**
 * Who wrote the instructions the turns `sent` (SessionHistory.sent) ran under: each turn's
 * writers as it kept them when it ran (executions.written_by: its agent's creator, its space's when
 * it had instructions, its parent's and its own session's writers). A session's earlier answers go
 * to the model as its own words, so they steer a run that continues it as its system prompt does
 * (src/engine/api-tool.ts, Job.writtenBy). Asked of the agent and the space as they are now only
 * for turns from before that was kept: a member who cleared their space's instructions after an
 * admin's turn ran under them is still counted. The default assistant's turns (no agent) have
 * none. One statement per 500 agents and per 500 spaces of such turns; none for none.
 */
export async function turnWriters(db: Db, organizationId: string, sent: SessionHistory['sent']): Promise<string[]> {
  const writers = new Set<string>()
  for (const t of sent) for (const w of t.writtenBy ?? []) writers.add(w)
  const older = sent.filter((t) => t.writtenBy === null)
  const agentIds = [...new Set(older.flatMap((t) => (t.agentId === null ? [] : [t.agentId])))]
  const spaceIds = [...new Set(older.flatMap((t) => (t.spaceId === null ? [] : [t.spaceId])))]
  for (let i = 0; i < agentIds.length; i += 500) {
    const rows = await db.select({ userId: agents.userId }).from(agents).where(and(eq(agents.organizationId, organizationId), inArray(agents.id, agentIds.slice(i, i + 500)))).all()
    for (const r of rows) writers.add(r.userId)
  }
  for (let i = 0; i < spaceIds.length; i += 500) {
    const rows = await db.select({ createdBy: spaces.createdBy, instructions: spaces.instructions }).from(spaces).where(and(eq(spaces.organizationId, organizationId), inArray(spaces.id, spaceIds.slice(i, i + 500)))).all()
    for (const r of rows) if (r.instructions?.trim()) writers.add(r.createdBy)
  }
  return [...writers]
}

/**
 * The agents `ids` names (an agent's subagentIds: at most 100), with what decides who may use
 * them (src/modules/agents/access.ts canUseAgent) and what the `delegate` tool tells a run's model
 * of them (src/engine/tools.ts): never their system prompt. Ids no agent has are left out. One
 * statement; none for no ids.
 */
export async function subagentRows(db: Db, ids: readonly string[]) {
  if (ids.length === 0) return []
  const a = agents
  return db
    .select({ id: a.id, organizationId: a.organizationId, userId: a.userId, visibility: a.visibility, archived: a.archived, name: a.name, slug: a.slug, role: a.role, description: a.description })
    .from(a)
    .where(inArray(a.id, [...ids]))
    .all()
}

/** Direct children of the given executions, in the order they were created. */
export async function childrenOf(db: Db, parentIds: string[]): Promise<Execution[]> {
  if (parentIds.length === 0) return []
  return db.select().from(executions).where(inArray(executions.parentExecutionId, parentIds)).orderBy(asc(executions.createdAt), asc(executions.seq)).all()
}

/** Every descendant, breadth first. */
export async function descendantsOf(db: Db, id: string): Promise<Execution[]> {
  const out: Execution[] = []
  let frontier = [id]
  for (let depth = 0; frontier.length > 0 && depth < 50; depth++) {
    const kids = await childrenOf(db, frontier)
    out.push(...kids)
    frontier = kids.map((k) => k.id)
  }
  return out
}

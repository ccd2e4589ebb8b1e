import { and, eq, isNull, ne, sql, type Column, type SQL } from 'drizzle-orm'
import { noLongerMemberMeanwhile, roleIn, stillMemberSql } from '../../auth/current-role'
import { credentialInForceSql, credentialOf, whyNotWritten, type CredentialKind } from '../../auth/revoked'
import type { Caller } from '../../auth/principal'
import { isOrgAdmin } from '../../auth/roles'
import { callerOf, withKeyMarked, withTx, type Ctx, audited } from '../../context'
import type { Db } from '../../db/connection'
import { budgetedPages, cappedCount, countedPages, listPage, type ListPage, mapBatches, readPage, sizesOf, sizeStatements, statementReads, listedColumns, storedBytes } from '../../db/paging'
import { forUpdate } from '../../db/locks'
import { insertStatements, prepared } from '../../db/prepared'
import { tasks, TASK_PRIORITIES, TASK_STATUSES, type Task } from '../../db/schema'
import { AppError, invalidField } from '../../errors'
import { newId } from '../../ids'
import { jsonBytes, MAX_FREE_FORM_JSON_BYTES } from '../../json-limits'
import { agentsUnseenBy, usableAgentForWrite, visibleAgent } from '../agents/access'
import { changes } from '../changes'
import { refersToId } from '../slugs'
import { spaceAccessForWrite, spaceAccessOf, spaceFilterId, usableSpaceForWrite } from '../spaces/access'
import { canEditTask, canSeeTask, editableTaskSql, visibleTasksSql } from './access'
import type { Task as TaskModel } from './model'
import { INSTANT_RANGE, inInstantRange, parseInstant } from '../../instants'
import { cutText } from '../../text'

export type TaskStatus = (typeof TASK_STATUSES)[number]
export type TaskPriority = (typeof TASK_PRIORITIES)[number]
export type AssigneeType = 'agent' | 'user'

/** The task as the API returns it: the response schema is the one source of this shape. */
export type PublicTask = typeof TaskModel.static

/** What a client may send; undefined = not sent, null = clear. `status` is honoured on update only. */
export interface TaskInput {
  title?: string
  description?: string | null
  status?: TaskStatus
  priority?: TaskPriority
  assignedTo?: string | null
  assignTo?: string | null
  assigneeType?: AssigneeType | null
  spaceId?: string | null
  dueDate?: string | null
  metadata?: unknown
}

export interface ListTasksOptions {
  status?: TaskStatus
  priority?: TaskPriority
  assignedTo?: string
  spaceId?: string
  limit: number
  offset: number
  cursor?: string
  /**
   * A large page may come back in batches (`rest`, read as they are asked for: src/db/paging.ts,
   * largePage), for a caller that sends it as it is read (src/http/streamed-json.ts); without
   * it, every page is read whole.
   */
  batched?: boolean
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

/**
 * The tasks as `p` may see them: toPublicTask, but a task assigned to an agent `p` may not see
 * (another member's private agent, whose id is 404 for `p` everywhere else) says `assignedTo:
 * null` with `assigneeType: "agent"`: assigned, to an agent hidden from `p`.
 */
async function shownTo(db: Db, p: Caller, rows: Omit<Task, 'contentBytes'>[]): Promise<PublicTask[]> {
  const byAgent = (r: Omit<Task, 'contentBytes'>) => (r.assigneeType === 'agent' ? r.assignedTo : null)
  const hidden = await agentsUnseenBy(db, p, rows.map(byAgent).filter((id): id is string => id !== null))
  return rows.map((r) => {
    const shown = toPublicTask(r)
    if (hidden.size > 0 && hidden.has(byAgent(r) ?? '')) shown.assignedTo = null
    return shown
  })
}

const shownOne = async (db: Db, p: Caller, row: Omit<Task, 'contentBytes'>): Promise<PublicTask> => (await shownTo(db, p, [row]))[0]!

export function toPublicTask(row: Omit<Task, 'contentBytes'>): PublicTask {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    status: row.status,
    priority: row.priority,
    assignedTo: row.assignedTo,
    assigneeType: row.assigneeType,
    spaceId: row.spaceId,
    organizationId: row.organizationId,
    createdBy: row.createdBy,
    dueDate: iso(row.dueDate),
    completedAt: iso(row.completedAt),
    metadata: row.metadata,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  }
}

/**
 * The assignee: `assignedTo` (or its alias `assignTo`). An agent must be an active agent of the
 * organization that the caller can see; a user must be a member of the organization. Other
 * strings are kept as free text with no type. Inside the write's transaction (writeTx).
 */
async function resolveAssignee(ctx: Ctx, p: Caller, input: TaskInput): Promise<Pick<Task, 'assignedTo' | 'assigneeType'> | undefined> {
  const to = input.assignedTo !== undefined ? input.assignedTo : input.assignTo
  if (to === undefined) {
    if (input.assigneeType !== undefined) throw invalidField('assigneeType', 'assigneeType can only be sent together with assignedTo')
    return undefined
  }
  if (to === null) return { assignedTo: null, assigneeType: null }
  const value = to.trim()
  // Blank is no assignee anyone asked for: `"assignedTo": "$WHO"` with WHO unset unassigned the
  // task without a word. null is the way to unassign (the document says so).
  if (value === '') {
    const field = input.assignedTo !== undefined ? 'assignedTo' : 'assignTo'
    throw invalidField(field, `${field} is blank: send null to unassign the task, or who does it (an agent id char_…, a user id user_…, an agent's slug, or free text)`)
  }
  let type = input.assigneeType ?? (value.startsWith('char_') ? 'agent' : value.startsWith('user_') ? 'user' : null)
  // A slug names an agent wherever its id does (as spaceId's slug does in the same body): one of
  // the organization's agents by that slug is that agent, anything else stays free text.
  if (type === null && input.assigneeType === undefined && (await usableAgentForWrite(ctx.db, p, value))) type = 'agent'
  if (type === 'agent') {
    // By id or, with assigneeType "agent", by slug; the task keeps the id.
    const a = await usableAgentForWrite(ctx.db, p, value)
    if (!a) throw invalidField('assignedTo', `assignedTo must be an active agent of your organization; not found: ${cutText(value, 100)}`)
    return { assignedTo: a.id, assigneeType: type }
  } else if (type === 'user') {
    if ((await roleIn(ctx.db, p.organizationId, value)) === undefined) throw invalidField('assignedTo', `assignedTo must be a user of your organization; not found: ${value}`)
  }
  return { assignedTo: value, assigneeType: type }
}

/**
 * A task assigned to a person must be one they can see: one in a space they may not see was
 * theirs to edit but never reached them (404, and left out of their list). Asked for the task as
 * it will be (its new or kept space and assignee), on create and on every change of either.
 */
async function assertAssigneeSees(ctx: Ctx, organizationId: string, task: Pick<Task, 'assignedTo' | 'assigneeType' | 'spaceId'>): Promise<void> {
  if (task.assigneeType !== 'user' || task.assignedTo === null || task.spaceId === null) return
  const role = await roleIn(ctx.db, organizationId, task.assignedTo)
  if (role !== undefined && canSeeTask({ organizationId, userId: task.assignedTo, role }, { organizationId, spaceId: task.spaceId }, await spaceAccessForWrite(ctx.db, task.spaceId))) return
  throw invalidField('assignedTo', `assignedTo: ${task.assignedTo} cannot see the task's space ${task.spaceId}, so the task would never reach them; assign someone who can, or choose another space`)
}

/** A space of the caller's organization, not archived, that the caller can see, by id or slug: its id (in writeTx). */
async function checkSpace(ctx: Ctx, p: Caller, ref: string): Promise<string> {
  if (ref.trim() === '') throw invalidField('spaceId', "spaceId is blank: send null to leave the task outside any space, or a space's id or slug")
  const s = await usableSpaceForWrite(ctx.db, p, ref)
  if (!s) throw invalidField('spaceId', `spaceId must be an active space of your organization (its id or slug); not found: ${cutText(ref, 100)}`)
  return s.id
}

/**
 * Whether a change names the assignee the task already has, by `assignedTo` or its alias
 * `assignTo`, by the agent's id or its slug: kept as it is, even if that agent has been archived
 * or that person removed since (a client writing back what it read). The alias was not looked at
 * (422 for what assignedTo kept), and the slug of an archived agent, no longer an agent one may
 * assign, was stored as free text: the task silently lost its agent.
 */
async function keepsAssignee(ctx: Ctx, p: Caller, input: TaskInput, current: Task): Promise<boolean> {
  const to = input.assignedTo !== undefined ? input.assignedTo : input.assignTo
  // `null` with assigneeType "agent" is how a task assigned to an agent hidden from the caller is
  // shown to them (shownTo): written back as it was read, it keeps that agent (it unassigned it).
  // A plain null, or this pair for any other assignee, unassigns.
  if (to === null && input.assigneeType === 'agent') return current.assigneeType === 'agent' && current.assignedTo !== null && (await agentsUnseenBy(ctx.db, p, [current.assignedTo])).size > 0
  if (to === undefined || to === null || (input.assigneeType ?? current.assigneeType) !== current.assigneeType) return false
  if (to === current.assignedTo) return true
  // By slug, only the slug of an agent the caller may see (archived ones too): another member's
  // private agent's slug kept the task's hidden agent where any other text replaced it, telling
  // which hidden agent held the task; for the caller it is text like any other.
  return current.assigneeType === 'agent' && !refersToId(to, 'char') && (await visibleAgent(ctx.db, p, to.trim()))?.id === current.assignedTo
}

/**
 * Maps the input's defined fields to columns, validating what the schema cannot. `current`: the
 * task being changed; a reference it already holds (its space, its agent) is kept as it is even
 * when archived since, so that a client that reads a task, edits it and writes it all back works.
 */
async function columns(ctx: Ctx, p: Caller, input: TaskInput, current?: Task): Promise<Partial<Task>> {
  const out: Partial<Task> = {}
  if (input.title !== undefined) {
    const title = input.title.trim()
    if (!title) throw invalidField('title', 'title is required: a string of 1-500 characters, not only spaces')
    out.title = title
  }
  if (input.description !== undefined) out.description = input.description
  if (input.priority !== undefined) out.priority = input.priority
  if (!(current !== undefined && (await keepsAssignee(ctx, p, input, current)))) Object.assign(out, await resolveAssignee(ctx, p, input))
  if (input.spaceId !== undefined && !(current !== undefined && input.spaceId === current.spaceId)) {
    out.spaceId = input.spaceId === null ? null : await checkSpace(ctx, p, input.spaceId)
  }
  if (input.dueDate !== undefined) {
    const at = input.dueDate === null ? null : parseInstant(input.dueDate)
    if (input.dueDate !== null && at === null) throw invalidField('dueDate', 'dueDate must be an ISO-8601 date-time such as 2026-12-31T17:00:00Z, or null')
    if (at !== null && !inInstantRange(at)) throw invalidField('dueDate', `dueDate must be ${INSTANT_RANGE}`)
    out.dueDate = at === null ? null : new Date(at)
  }
  if (input.metadata !== undefined) {
    const m = input.metadata
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw invalidField('metadata', 'metadata must be a JSON object')
    // Stored and sent back on every list: kept small (nesting is already capped for the whole body).
    const bytes = jsonBytes(m)
    if (bytes > MAX_FREE_FORM_JSON_BYTES) throw invalidField('metadata', `metadata must be at most ${MAX_FREE_FORM_JSON_BYTES / 1024} KiB as JSON (got ${bytes} bytes)`)
    out.metadata = m as Record<string, unknown>
  }
  return out
}

/**
 * A write that names a space or an assignee runs in a transaction with the checks of that space
 * and assignee (read with forShare, src/db/locks.ts): a space archived, or an agent archived, at
 * the same moment either waits for the write or fails its check, never lets a task into an
 * archived space (a probe got 37 of them with the checks before and outside the insert). One
 * naming neither stays a single statement, outside the transaction lock (README, several instances),
 * whose own condition is that its caller is still a member (stillMemberSql): a removal that
 * commits while it is in flight leaves it writing nothing (401 membership_revoked), as withTx's
 * re-check does (wrapping these in withTx too cost 8-12 ms a write under PostgreSQL's lock, 16 at once);
 * and that its credential is still in force (credentialInForceSql: on PostgreSQL its row read
 * `FOR SHARE`, so a revocation at the same moment either waits for the write or is seen by it).
 * Asked before the statement, as a look-up of its own, it cost a round trip and a revocation
 * committing between the two slipped through. Which 401 a write that wrote nothing gets is asked
 * only then (whyNotWritten).
 */
function writeTx<T>(ctx: Ctx, input: TaskInput, fn: (ctx: Ctx) => Promise<T>): Promise<T> {
  const assignee = input.assignedTo !== undefined ? input.assignedTo : input.assignTo
  // With an Idempotency-Key, the single statement and the key's mark commit together (withKeyMarked),
  // so a connection lost as it commits never frees a key whose task was made (a retry made a second).
  return typeof input.spaceId === 'string' || typeof assignee === 'string' ? withTx(ctx, fn) : withKeyMarked(ctx, fn)
}

/** Creates a task; its status starts `pending` whatever the client sends. */
export async function createTask(ctx: Ctx, input: TaskInput & { title: string }): Promise<PublicTask> {
  return writeTx(ctx, input, async (ctx) => {
    const p = callerOf(ctx)
    const fields = await columns(ctx, p, { ...input, status: undefined })
    await assertAssigneeSees(ctx, p.organizationId, { assignedTo: fields.assignedTo ?? null, assigneeType: fields.assigneeType ?? null, spaceId: fields.spaceId ?? null })
    const now = new Date(ctx.clock.now())
    const credential = credentialOf(ctx.actor)!
    const row = await insertStatements(ctx.db, tasks, GUARDED[credential.kind]).get({
      ...fields,
      id: newId('task'),
      organizationId: p.organizationId,
      createdBy: p.userId,
      title: fields.title!,
      status: 'pending',
      completedAt: null,
      createdAt: now,
      updatedAt: now,
    }, { credentialId: credential.id })
    // Its conditions: the membership of its creator, its credential in force; one failed.
    if (!row) throw (await whyNotWritten(ctx.db, ctx.actor, ctx.clock.now())) ?? noLongerMemberMeanwhile()
    return toPublicTask(row)
  })
}

/**
 * A task inserted only while its creator is a member of its organization and the credential of the
 * request is in force at the task's time (`createdAt`, the request's now): one statement per kind of
 * credential.
 */
const GUARDED = Object.fromEntries(
  (['pat', 'cli', 'session'] as const).map((kind) => [
    kind,
    {
      name: `member.${kind}`,
      where: () => and(stillMemberSql(sql.placeholder('organizationId'), sql.placeholder('createdBy')), credentialInForceSql(kind, sql.placeholder('credentialId'), sql.placeholder('createdAt')))!,
    },
  ]),
) as Record<CredentialKind, { name: string; where: () => SQL }>

/** Which filters are set: one prepared statement per combination, each on its own index. */
type TaskFilters = Pick<ListTasksOptions, 'status' | 'priority' | 'assignedTo' | 'spaceId'> & {
  /** `assignedTo` names an agent the caller may not see: no task assigned to it is theirs to find. */
  hiddenAgent?: true
}

function listStatements(db: Db, admin: boolean, f: TaskFilters) {
  const k = tasks
  const ph = sql.placeholder
  const where = [
    eq(k.organizationId, ph('org')),
    visibleTasksSql(admin),
    f.status === undefined ? undefined : eq(k.status, ph('status')),
    f.priority === undefined ? undefined : eq(k.priority, ph('priority')),
    f.assignedTo === undefined ? undefined : eq(k.assignedTo, ph('assignedTo')),
    f.spaceId === undefined ? undefined : eq(k.spaceId, ph('spaceId')),
    f.hiddenAgent === undefined ? undefined : ne(k.assigneeType, 'agent'),
  ]
  // The bytes of what the client sets that can be large (src/db/paging.ts, largePage): metadata up
  // to 64 KiB and a description of 20,000 characters make a page of 200 tasks 17 MB. The title and
  // assignee (at most 700 characters) count as the rest of a row does.
  const bytes = storedBytes(db, k)
  return {
    ...budgetedPages(db, () => db.select(listedColumns(k)).from(k).$dynamic(), k, bytes, where),
    counted: countedPages(db, (n) => db.select({ row: listedColumns(k), n }).from(k).$dynamic(), k, where, bytes),
    count: cappedCount(db, k, and(...where)),
    ...sizeStatements(db, k, bytes, where),
  }
}

/**
 * The organization's tasks the caller may see (all but those in spaces hidden from them), newest
 * first, one page; a large page's tasks in `rest`, a batch at a time (`tasks` is then empty).
 */
export async function listTasks(ctx: Ctx, opts: ListTasksOptions): Promise<{ tasks: PublicTask[]; rest?: () => AsyncGenerator<PublicTask[]> } & ListPage> {
  const p = callerOf(ctx)
  // spaceId may be a slug; the filter is on ids.
  const spaceId = opts.spaceId === undefined ? undefined : await spaceFilterId(ctx.db, p.organizationId, opts.spaceId)
  // assignedTo may be the slug of an agent the caller can see, as when the task was assigned
  // (stored as its id); a user id or free text matches as it is. Another member's private agent's
  // slug was taken for its id too: a task assigned that text by someone who may not see the agent
  // (stored as free text, as assigning has it) was then never found by it.
  const named = opts.assignedTo === undefined || refersToId(opts.assignedTo, 'user') || refersToId(opts.assignedTo, 'char') ? undefined : await visibleAgent(ctx.db, p, opts.assignedTo)
  const assignedTo = named?.id ?? opts.assignedTo
  // The id of an agent hidden from the caller (another member's private one) finds no task
  // assigned to it, as a made-up id finds none: it found them, shown with `assignedTo: null`,
  // which told that the agent exists and which tasks it holds. Still a query like any other
  // (a bad cursor is refused alike).
  const hiddenAgent = assignedTo !== undefined && refersToId(assignedTo, 'char') && (await agentsUnseenBy(ctx.db, p, [assignedTo])).size > 0 ? true : undefined
  const f: TaskFilters = { status: opts.status, priority: opts.priority, assignedTo, spaceId, hiddenAgent }
  const admin = isOrgAdmin(p.role)
  const shape = [admin, f.status, f.priority, f.assignedTo, f.spaceId, f.hiddenAgent].map((v) => (v === undefined || v === false ? 0 : 1)).join('')
  const q = prepared(ctx.db, `tasks.list.${shape}`, () => listStatements(ctx.db, admin, f))
  const params = { org: p.organizationId, user: p.userId, ...f }
  // The cursor is bound to the filters as the caller gave them: not to hiddenAgent, which would
  // tell a hidden agent's id from a made-up one by refusing a cursor made for the other.
  const { hiddenAgent: _, ...given } = f
  const page = await readPage('tasks', { ...given, caller: [p.organizationId, p.userId] }, opts, {
    ...statementReads(q, params),
    position: (r) => ({ t: r.createdAt.getTime(), id: r.id }),
    // A large page in batches, for a caller that sends it as it is read; read whole otherwise.
    sizes: opts.batched ? sizesOf(q, params) : undefined,
    budgeted: opts.batched,
  })
  return { tasks: await shownTo(ctx.db, p, page.rows), ...listPage(page), rest: mapBatches(page.rest, (rows) => shownTo(ctx.db, p, rows)) }
}

/**
 * A task the caller may see (tasks/access.ts), else 404. `locked`: read with forUpdate, inside the
 * transaction of the write it is for (the second look of a change: updateTaskNow).
 */
async function findVisible(ctx: Ctx, p: Caller, id: string, locked = false): Promise<Task> {
  const row = locked
    ? await forUpdate(ctx.db, ctx.db.select().from(tasks).where(and(eq(tasks.id, id), eq(tasks.organizationId, p.organizationId)))).get()
    : await prepared(ctx.db, 'tasks.findInOrg', () =>
        ctx.db
          .select()
          .from(tasks)
          .where(and(eq(tasks.id, sql.placeholder('id')), eq(tasks.organizationId, sql.placeholder('org'))))
          .prepare(),
      ).get({ id, org: p.organizationId })
  if (!row || !canSeeTask(p, row, await spaceAccessOf(ctx.db, row.spaceId))) throw new AppError('not_found', `Task ${cutText(id, 100)} not found`)
  return row
}

/** Admins change any task they may see; members the ones they created or are assigned. */
async function findEditable(ctx: Ctx, p: Caller, id: string, locked = false): Promise<Task> {
  const row = await findVisible(ctx, p, id, locked)
  if (!canEditTask(p, row, await spaceAccessOf(ctx.db, row.spaceId))) {
    throw new AppError('forbidden', "Forbidden: only the task's creator, its assignee or an organization admin can change this task (access denied)")
  }
  return row
}

export async function getTask(ctx: Ctx, id: string): Promise<PublicTask> {
  const p = callerOf(ctx)
  return shownOne(ctx.db, p, await findVisible(ctx, p, id))
}

/**
 * Any status may follow any other. Entering `completed` stamps completedAt (kept when it was
 * already completed); leaving it clears completedAt.
 *
 * A change is judged on the task as read (findEditable, columns), outside any lock: on PostgreSQL
 * another change may commit between the read and the write (a member's edit landed in a private
 * space an admin had just moved the task to, and its 200 showed it). So the write lands only on the
 * task as it was judged (asRead), which costs nothing more when nothing changed meanwhile. If it
 * matched nothing, the change is made once more (`locked`), in a transaction (joined when the
 * change is in one already) with the task read with forUpdate, so that this second look is not
 * overtaken in turn: judged on the task as it is now (404 when hidden or gone, 403 when no longer
 * the caller's to change), or made on it.
 */
export async function updateTask(ctx: Ctx, id: string, input: TaskInput): Promise<PublicTask> {
  return writeTx(ctx, input, (ctx) => updateTaskNow(ctx, id, input, false))
}

/**
 * The task still holds what a write of `p` was judged on: the task-access rule for `p` (its space
 * visible, `p` its creator or assignee; admins: any), and as `current` had them, its space and
 * assignee (the rule's, what a kept reference and a move were judged on) and, when `status` is
 * sent, its status (what completedAt was kept or stamped from).
 */
function asRead(p: Caller, current: Task, status: boolean): SQL {
  const same = (column: Column, value: string | null) => (value === null ? isNull(column) : eq(column, value))
  return and(
    editableTaskSql(isOrgAdmin(p.role), p.userId),
    same(tasks.spaceId, current.spaceId),
    same(tasks.assignedTo, current.assignedTo),
    same(tasks.assigneeType, current.assigneeType),
    status ? eq(tasks.status, current.status) : undefined,
  )!
}

/** A task's fields written together or not at all (changes): each pair is one fact. */
const TOGETHER: (keyof Task)[][] = [
  ['status', 'completedAt'],
  ['assignedTo', 'assigneeType'],
]

async function updateTaskNow(ctx: Ctx, id: string, input: TaskInput, locked: boolean): Promise<PublicTask> {
  const p = callerOf(ctx)
  const current = await findEditable(ctx, p, id, locked)
  const fields = await columns(ctx, p, input, current)
  const moved = fields.spaceId !== undefined && fields.spaceId !== current.spaceId
  // Its assignee may edit it, not take it from its creator: moving it (into a space of theirs
  // the creator may not see) left the creator with a 404 on their own task.
  if (moved && !isOrgAdmin(p.role) && current.createdBy !== p.userId) {
    throw new AppError('forbidden', "Forbidden: only the task's creator or an organization admin can move it to another space (access denied)")
  }
  if (moved || fields.assignedTo !== undefined) {
    await assertAssigneeSees(ctx, p.organizationId, {
      assignedTo: fields.assignedTo !== undefined ? fields.assignedTo : current.assignedTo,
      assigneeType: fields.assigneeType !== undefined ? fields.assigneeType : current.assigneeType,
      spaceId: fields.spaceId !== undefined ? fields.spaceId : current.spaceId,
    })
  }
  const now = new Date(ctx.clock.now())
  const credential = credentialOf(ctx.actor)!
  if (input.status !== undefined) {
    if (!(TASK_STATUSES as readonly string[]).includes(input.status)) throw invalidField('status', 'Invalid status. Must be: pending, in_progress, completed, cancelled')
    fields.status = input.status
    if (input.status === 'completed') fields.completedAt = current.status === 'completed' ? current.completedAt : now
    else fields.completedAt = null
  }
  const changed = changes(fields, current, TOGETHER)
  if (Object.keys(changed).length === 0) return shownOne(ctx.db, p, current)
  // Every field sent is written, not only those that differ from the task as read: one that another
  // change set meanwhile is set again, as the caller asked (its 200 showed the other's value).
  const row = await ctx.db
    .update(tasks)
    .set({ ...fields, updatedAt: now })
    .where(
      and(
        eq(tasks.id, id),
        eq(tasks.organizationId, p.organizationId),
        asRead(p, current, input.status !== undefined),
        stillMemberSql(sql`${p.organizationId}`, sql`${p.userId}`),
        credentialInForceSql(credential.kind, sql`${credential.id}`, now),
      ),
    )
    .returning()
    .get()
  if (!row) {
    // Gone meanwhile: the caller's membership or credential (401, nothing changed); else the task
    // changed (or went) since it was read: judged again as it is now.
    const why = await whyNotWritten(ctx.db, ctx.actor, ctx.clock.now())
    if (why) throw why
    if (!locked) return withTx(ctx, (tx) => updateTaskNow(tx, id, input, true))
    // Its row read locked: what changed is its space's visibility, hiding the task from the caller.
    throw new AppError('not_found', `Task ${cutText(id, 100)} not found`)
  }
  return shownOne(ctx.db, p, row)
}

/** Hard delete. */
export async function deleteTask(ctx: Ctx, id: string): Promise<void> {
  return deleteTaskNow(ctx, id, false)
}

/** `locked`: the second look of updateTaskNow's. */
async function deleteTaskNow(ctx: Ctx, id: string, locked: boolean): Promise<void> {
  const p = callerOf(ctx)
  const current = await findEditable(ctx, p, id, locked)
  // Only the task as it was judged (asRead): one moved or reassigned meanwhile (into a space
  // hidden from the caller: a member deleted an admin's private task) is judged again as it is now.
  // A concurrent delete may have taken it between the check and here: then it is 404 on that
  // second look, as it is for a delete that comes after (on PostgreSQL both deletes found the row first).
  // Recorded with it (`task.deleted`): the row is gone, the event is what says who deleted it.
  const gone = await audited(
    ctx,
    (tx) => tx.db.delete(tasks).where(and(eq(tasks.id, id), eq(tasks.organizationId, p.organizationId), asRead(p, current, false))).returning({ id: tasks.id, createdBy: tasks.createdBy, spaceId: tasks.spaceId }).get(),
    (r) => (r ? { type: 'task.deleted', organizationId: p.organizationId, targetType: 'task', targetId: r.id, details: { createdBy: r.createdBy, spaceId: r.spaceId } } : null),
  )
  if (gone) return
  if (!locked) return withTx(ctx, (tx) => deleteTaskNow(tx, id, true))
  throw new AppError('not_found', `Task ${cutText(id, 100)} not found`)
}

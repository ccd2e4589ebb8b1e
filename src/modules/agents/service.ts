import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Caller } from '../../auth/principal'
import { isOrgAdmin } from '../../auth/roles'
import { callerOf, type Ctx, audited, withTx } from '../../context'
import type { Db } from '../../db/connection'
import { budgetedPages, cappedCount, countedPages, keysetPages, listPage, type ListPage, mapBatches, readPage, sizesOf, sizeStatements, statementReads, listedColumns, storedBytes } from '../../db/paging'
import { forShare, forUpdate } from '../../db/locks'
import { insertStatements, prepared } from '../../db/prepared'
import { agents, dialect, type Agent, type AgentVisibility, type Dialect } from '../../db/schema'
import { AppError, invalidField } from '../../errors'
import { newId } from '../../ids'
import { caseClass, cleanName, cutText } from '../../text'
import { changeDetails, changes } from '../changes'
import { checkSlug, insertWithSlug, refersToId, slugTaken, slugWrite } from '../slugs'
import { agentByRef, agentByRefLocked, agentsUnseenBy, canEditAgent, canSeeAgent, canUseAgent, visibleAgent, visibleAgentsSql } from './access'
import type { Agent as AgentModel } from './model'

/** The agent as the API returns it: the response schema is the one source of this shape. */
export type PublicAgent = typeof AgentModel.static

/** What a client may send (create and update); undefined = not sent, null = clear. */
export interface AgentInput {
  name?: string
  /** Unique in the organization (src/modules/slugs.ts); derived from the name on create when not sent. */
  slug?: string
  role?: string | null
  systemPrompt?: string | null
  system_message?: string | null
  description?: string | null
  category?: string | null
  visibility?: AgentVisibility
  model?: string | null
  tags?: string[] | null
  advanced_tools?: string[] | null
  allowedTools?: string[] | null
  disallowedTools?: string[] | null
  mcpTypes?: string[] | null
  mcpInstanceIds?: string[] | null
  subagentIds?: string[] | null
  maxTurns?: number | null
  archived?: boolean
  /** Alias of description (TeamDay's CLI sends it). */
  characterDescription?: string | null
  /** TeamDay's hosted fields (model.ts, unservedAgentFields): named only to be refused. */
  skillIds?: string[] | null
  initialGreeting?: string | null
  image?: string | null
  basedOnAgentId?: string | null
}

const UNSERVED = ['skillIds', 'initialGreeting', 'image', 'basedOnAgentId'] as const

/** What this server cannot keep is refused, never answered 201 or 200 without it. */
function refuseUnserved(input: AgentInput): void {
  const sent = UNSERVED.find((k) => {
    const v = input[k]
    return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)
  })
  if (!sent) return
  const what = sent === 'skillIds' ? 'skills' : sent === 'basedOnAgentId' ? 'agent templates' : sent === 'image' ? 'agent images' : 'greetings'
  throw invalidField(sent, `${sent}: this server has no ${what} (a hosted TeamDay feature), so an agent cannot have them; nothing was changed. Leave ${sent} out.`)
}

export interface ListAgentsOptions {
  includeArchived?: boolean
  visibility?: AgentVisibility
  category?: string
  q?: string
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

/**
 * Of the sub-agents the rows name, those `p` may not see (another member's private agent, added by
 * an admin): their ids are 404 for `p` everywhere else, so an agent's `subagentIds` leaves them
 * out for `p` (hiddenSubagents), and a change of the list by `p` keeps them (updateAgent). An admin
 * sees every agent: nothing is hidden, and nothing is read.
 */
function hiddenSubagents(db: Db, p: Caller, rows: readonly Pick<Agent, 'subagentIds'>[]): Promise<Set<string>> {
  return agentsUnseenBy(db, p, rows.flatMap((r) => r.subagentIds ?? []))
}

/** The agents as `p` may see them: toPublicAgent, less the sub-agents hidden from `p`. */
async function shownTo(db: Db, p: Caller, rows: Omit<Agent, 'contentBytes'>[]): Promise<PublicAgent[]> {
  const hidden = await hiddenSubagents(db, p, rows)
  return rows.map((r) => {
    const shown = toPublicAgent(r)
    if (hidden.size > 0 && r.subagentIds?.some((id) => hidden.has(id))) shown.subagentIds = r.subagentIds.filter((id) => !hidden.has(id))
    return shown
  })
}

export function toPublicAgent(row: Omit<Agent, 'contentBytes'>): PublicAgent {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    role: row.role,
    systemPrompt: row.systemPrompt,
    description: row.description,
    category: row.category,
    visibility: row.visibility,
    model: row.model,
    tags: row.tags,
    advanced_tools: row.advancedTools,
    allowedTools: row.allowedTools,
    disallowedTools: row.disallowedTools,
    mcpTypes: row.mcpTypes,
    mcpInstanceIds: row.mcpInstanceIds,
    subagentIds: row.subagentIds,
    maxTurns: row.maxTurns,
    organizationId: row.organizationId,
    userId: row.userId,
    archived: row.archived,
    archivedAt: row.archivedAt ? row.archivedAt.toISOString() : null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  }
}

/**
 * A model name without the spaces around it; "" (and null) is the server's default model. Only
 * spaces is refused: it was stored, and sent to the provider as the model's name.
 */
function cleanModel(model: string | null): string | null {
  if (model === null || model === '') return model
  const m = model.trim()
  if (m.length === 0) throw invalidField('model', 'model must be a model name (e.g. gpt-4o-mini), not only spaces; null or "" for the server\'s default model')
  return m
}

function cleanAgentName(name: string): string {
  const n = cleanName(name)
  if (n.length === 0) throw invalidField('name', 'name is required: a string of 1-200 characters, not only spaces')
  return n
}

/**
 * subagentIds must name non-archived agents of the caller's organization that the caller may use,
 * and not the agent itself. Each may be an agent's id or its slug (a slug works wherever an id
 * does: it was refused as "not found or archived"); they are stored as ids, each once (a repeat
 * was stored twice). A refusal names the entries as they were sent, never what a slug stands for:
 * another member's private agent is not found by its slug, as by its id. Entries the agent has
 * already (by id, or by slug when the caller may see them) are kept as they are, archived or made
 * private since: a client that reads an agent, edits it and writes it all back keeps them; each
 * delegation checks again anyway. Read in the transaction that writes the list, each sub-agent
 * forShare (src/db/locks.ts): one archived or made private at the same moment either waits for
 * the write or is refused here (a create that checked them before its transaction stored an agent
 * archived meanwhile).
 */
async function resolveSubagents(ctx: Ctx, p: Caller, refs: string[], selfId: string, kept: readonly string[] = []): Promise<string[]> {
  const ids: string[] = []
  const bad: string[] = []
  for (const sent of refs) {
    const ref = sent.trim()
    const found = ref === '' ? undefined : await agentByRefLocked(ctx.db, p.organizationId, ref, forShare)
    // One the agent has already: by its id, or by its slug when the caller may see it (another
    // member's private sub-agent, added by an admin, was kept by its slug where any other hidden
    // agent's slug was refused: the answer told which hidden agents were sub-agents).
    const keeps = found !== undefined && kept.includes(found.id) && (refersToId(ref, 'char') || canSeeAgent(p, found))
    const id = found && (keeps || found.id === selfId || canUseAgent(p, found)) ? found.id : null
    if (id === null) bad.push(sent)
    else if (!ids.includes(id)) ids.push(id)
  }
  if (ids.includes(selfId)) throw invalidField('subagentIds', 'subagentIds must not contain the agent itself')
  if (bad.length > 0) {
    throw invalidField('subagentIds', `subagentIds must be active agents of your organization that you may use (ids or slugs); not found, archived or not visible to you: ${bad.slice(0, 5).map((b) => cutText(b, 100)).join(', ')}`)
  }
  return ids
}

/** The agent's lists of names (the API's field, its column). */
const NAME_LISTS = [
  ['tags', 'tags'],
  ['advanced_tools', 'advancedTools'],
  ['allowedTools', 'allowedTools'],
  ['disallowedTools', 'disallowedTools'],
  ['mcpTypes', 'mcpTypes'],
  ['mcpInstanceIds', 'mcpInstanceIds'],
  ['subagentIds', 'subagentIds'],
] as const

/**
 * A list of names as stored: each entry trimmed, as a name is. An entry with white space around it
 * is the name without it (`"teamday_api "` in `disallowedTools` was stored so, and took no tool
 * away); one that is only white space names nothing, and is refused, unless the list as stored
 * (`stored`, on an update) has such an entry too: an earlier build kept them, and a client that
 * reads the agent and writes it all back sends it again. It is dropped then, as it named nothing.
 */
function trimmedNames(field: string, entries: string[], stored: readonly string[] | null | undefined): string[] {
  const names: string[] = []
  entries.forEach((entry, i) => {
    const name = entry.trim()
    if (name !== '') names.push(name)
    else if (!stored?.some((s) => s.trim() === '')) throw invalidField(field, `${field}[${i}] is empty once trimmed: each entry must be a name (white space around it is dropped)`)
  })
  return names
}

/** Maps the input's defined fields to columns (snake-case API names to the schema's); `current`: the agent an update changes. */
function columns(input: AgentInput, current?: Agent): Partial<Agent> {
  const out: Partial<Agent> = {}
  const arr = (v: string[] | null | undefined) => (v === undefined ? undefined : (v ?? []))
  const set = <K extends keyof Agent>(k: K, v: Agent[K] | undefined) => {
    if (v !== undefined) out[k] = v
  }
  refuseUnserved(input)
  if (input.name !== undefined) out.name = cleanAgentName(input.name)
  set('role', input.role)
  set('systemPrompt', input.systemPrompt !== undefined ? input.systemPrompt : input.system_message)
  set('description', input.description !== undefined ? input.description : input.characterDescription)
  set('category', input.category)
  set('visibility', input.visibility)
  if (input.model !== undefined) out.model = cleanModel(input.model)
  set('tags', arr(input.tags))
  set('advancedTools', arr(input.advanced_tools))
  set('allowedTools', arr(input.allowedTools))
  set('disallowedTools', arr(input.disallowedTools))
  set('mcpTypes', arr(input.mcpTypes))
  set('mcpInstanceIds', arr(input.mcpInstanceIds))
  set('subagentIds', arr(input.subagentIds))
  for (const [field, column] of NAME_LISTS) if (out[column]) out[column] = trimmedNames(field, out[column], current?.[column])
  if (input.maxTurns !== undefined) {
    if (input.maxTurns !== null && (!Number.isInteger(input.maxTurns) || input.maxTurns < 1 || input.maxTurns > 500)) {
      throw invalidField('maxTurns', 'maxTurns must be between 1 and 500')
    }
    out.maxTurns = input.maxTurns
  }
  return out
}

export async function createAgent(ctx: Ctx, input: AgentInput & { name: string }): Promise<PublicAgent> {
  const p = callerOf(ctx)
  const id = newId('char')
  const fields = columns(input)
  const sent = fields.subagentIds
  const now = new Date(ctx.clock.now())
  const row = await insertWithSlug('agent', input.slug, fields.name!, (s) => slugInUse(ctx, p.organizationId, s), (slug) =>
    audited(
      ctx,
      async (tx) =>
        insertStatements(tx.db, agents).get({
          ...fields,
          // In the insert's transaction: a sub-agent archived at the same moment is seen (resolveSubagents).
          ...(sent && { subagentIds: await resolveSubagents(tx, p, sent, id) }),
          id,
          organizationId: p.organizationId,
          userId: p.userId,
          name: fields.name!,
          slug,
          archived: false,
          archivedAt: null,
          createdAt: now,
          updatedAt: now,
        }),
      (r) => ({ type: 'agent.created', organizationId: r.organizationId, targetType: 'agent', targetId: r.id, details: { slug: r.slug, visibility: r.visibility } }),
    ),
  )
  return toPublicAgent(row)
}

/** What decides a list's statement: each combination is prepared once, on its own index. */
type AgentListShape = { withArchived: boolean; admin: boolean; visibility: boolean; category: boolean; q: boolean }

/** A list's filters (the caller's visibility rule included), as the shape says; bound with listShape's `params`. */
function listWhere(s: AgentListShape) {
  const a = agents
  const ph = sql.placeholder
  return [
    eq(a.organizationId, ph('org')),
    s.withArchived ? undefined : eq(a.archived, false),
    visibleAgentsSql(s.admin),
    s.visibility ? eq(a.visibility, ph('visibility')) : undefined,
    s.category ? eq(a.category, ph('category')) : undefined,
    s.q ? (dialect === 'pg' ? sql`${a.name} ~ ${ph('q')}` : sql`${a.name} GLOB ${ph('q')}`) : undefined,
  ]
}

function listStatements(db: Db, s: AgentListShape) {
  const a = agents
  const where = listWhere(s)
  // The bytes of what its creator sets that can be large (src/db/paging.ts, largePage): a system
  // prompt of 100,000 characters, a description and seven lists of up to 100 strings of 200 make a
  // page of 200 agents 50 MB (which the answer lists twice). The name, role, category and model
  // (at most 1,000 characters) count as the rest of a row does.
  const bytes = storedBytes(db, a)
  return {
    ...budgetedPages(db, () => db.select(listedColumns(a)).from(a).$dynamic(), a, bytes, where),
    counted: countedPages(db, (n) => db.select({ row: listedColumns(a), n }).from(a).$dynamic(), a, where, bytes),
    count: cappedCount(db, a, and(...where)),
    ...sizeStatements(db, a, bytes, where),
  }
}

/** The columns of an agent that the web console's list shows (summaryColumns). */
const summaryColumns = () => ({ id: agents.id, name: agents.name, description: agents.description, visibility: agents.visibility, createdAt: agents.createdAt })

/** An agent as the web console's list shows it: nothing that can be large but its description (5,000 characters at most). */
export type AgentSummary = Pick<PublicAgent, 'id' | 'name' | 'description' | 'visibility' | 'createdAt'>

/** The statements of listAgentSummaries: the list's own filters, order and index, fewer columns. */
function summaryStatements(db: Db, s: AgentListShape) {
  const a = agents
  const where = listWhere(s)
  return {
    ...keysetPages(() => db.select(summaryColumns()).from(a).$dynamic(), a, where),
    counted: countedPages(db, (n) => db.select({ row: summaryColumns(), n }).from(a).$dynamic(), a, where),
    count: cappedCount(db, a, and(...where)),
  }
}

/**
 * What a list of the caller's agents depends on: its statements' shape (and `suffix`, its key),
 * what they are bound with (listWhere's placeholders), and the filters its cursors are bound to
 * (src/db/paging.ts, readPage), the same for listAgents and listAgentSummaries so that either's
 * cursor pages the other.
 */
function listShape(p: Caller, opts: Pick<ListAgentsOptions, 'includeArchived' | 'visibility' | 'category' | 'q'>) {
  // In the form names are stored in (cleanName's NFC): a decomposed é finds a composed one.
  opts = { ...opts, q: opts.q?.normalize('NFC') }
  const shape: AgentListShape = { withArchived: !!opts.includeArchived, admin: isOrgAdmin(p.role), visibility: !!opts.visibility, category: opts.category !== undefined, q: !!opts.q }
  const params = { org: p.organizationId, user: p.userId, visibility: opts.visibility, category: opts.category, q: opts.q ? namePattern(opts.q, dialect) : undefined }
  const filters = { archived: shape.withArchived, visibility: opts.visibility, category: opts.category, q: opts.q, caller: [p.organizationId, p.userId] }
  return { shape, params, filters, suffix: Object.values(shape).map(Number).join('') }
}

/**
 * The name filter `q`: names containing `q`, ignoring case, beyond ASCII too (Über is found by
 * über and ÜBER). Not `lower(name) LIKE …`: SQLite's lower() folds only ASCII, and PostgreSQL's
 * follows the database's LC_CTYPE (ASCII only under C). Instead each cased character of `q` is
 * a class of its case variants, the same on both: a GLOB pattern on SQLite (`*[Üü][bB]…*`), a
 * regular expression on PostgreSQL (`[Üü][bB]…`, unanchored); every other character matches
 * itself (the patterns' own special characters are quoted).
 */
function namePattern(q: string, d: Dialect): string {
  let body = ''
  for (const c of q) {
    const variants = caseClass(c)
    if (variants.length > 1) body += `[${variants.join('')}]`
    else if (d === 'sqlite') body += c === '*' || c === '?' || c === '[' ? `[${c}]` : c
    else body += '\\^$.|?*+()[]{}'.includes(c) ? `\\${c}` : c
  }
  return d === 'sqlite' ? `*${body}*` : body
}

/**
 * The agents the caller may see, newest first, one page, and how many match in all; a large
 * page's agents in `rest`, a batch at a time (`agents` is then empty).
 */
export async function listAgents(ctx: Ctx, opts: ListAgentsOptions): Promise<{ agents: PublicAgent[]; rest?: () => AsyncGenerator<PublicAgent[]> } & ListPage> {
  const p = callerOf(ctx)
  const { shape, params, filters, suffix } = listShape(p, opts)
  const q = prepared(ctx.db, `agents.list.${suffix}`, () => listStatements(ctx.db, shape))
  const page = await readPage('agents', filters, opts, {
    ...statementReads(q, params),
    position: (r) => ({ t: r.createdAt.getTime(), id: r.id }),
    // A large page in batches, for a caller that sends it as it is read; read whole otherwise.
    sizes: opts.batched ? sizesOf(q, params) : undefined,
    budgeted: opts.batched,
  })
  return { agents: await shownTo(ctx.db, p, page.rows), ...listPage(page), rest: mapBatches(page.rest, (rows) => shownTo(ctx.db, p, rows)) }
}

/**
 * listAgents's page with only what the web console's list shows of each agent: the same agents,
 * order, total and cursors (a cursor of either list pages the other), without reading system
 * prompts and lists: a page of 100 agents with full ones is 24 MB read for a 0.5 MB page.
 */
export async function listAgentSummaries(ctx: Ctx, opts: Omit<ListAgentsOptions, 'batched'>): Promise<{ agents: AgentSummary[] } & ListPage> {
  const p = callerOf(ctx)
  const { shape, params, filters, suffix } = listShape(p, opts)
  const q = prepared(ctx.db, `agents.summaries.${suffix}`, () => summaryStatements(ctx.db, shape))
  const page = await readPage('agents', filters, opts, {
    ...statementReads(q, params),
    position: (r) => ({ t: r.createdAt.getTime(), id: r.id }),
  })
  return { agents: page.rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })), ...listPage(page) }
}

/** Whether another agent of the organization has this slug (archived ones keep theirs). */
async function slugInUse(ctx: Ctx, organizationId: string, slug: string): Promise<boolean> {
  return (await agentByRef(ctx.db, organizationId, slug)) !== undefined
}

/** An agent the caller may see (archived ones included), by id or slug; else 404. */
async function findVisible(ctx: Ctx, p: Caller, ref: string): Promise<Agent> {
  const row = await visibleAgent(ctx.db, p, ref)
  if (!row) throw new AppError('not_found', `Agent ${cutText(ref, 100)} not found`)
  return row
}

/**
 * Visible, and the caller may change it: its creator or an organization admin. Read with forUpdate
 * (src/db/locks.ts), inside the transaction of the change it is for: what the change is judged and
 * computed on (the fields that differ, the hidden sub-agents kept, whether it is archived) is then
 * the row the change lands on, never one that another change replaced meanwhile.
 */
async function findEditable(ctx: Ctx, p: Caller, ref: string): Promise<Agent> {
  const row = await agentByRefLocked(ctx.db, p.organizationId, ref, forUpdate)
  if (!row || !canSeeAgent(p, row)) throw new AppError('not_found', `Agent ${cutText(ref, 100)} not found`)
  if (!canEditAgent(p, row)) {
    throw new AppError('forbidden', "Forbidden: only the agent's creator or an organization admin can change this agent (access denied)")
  }
  return row
}

export async function getAgent(ctx: Ctx, ref: string): Promise<PublicAgent> {
  const p = callerOf(ctx)
  return (await shownTo(ctx.db, p, [await findVisible(ctx, p, ref)]))[0]!
}

/**
 * One transaction from the read of the agent to its write (findEditable): on PostgreSQL a change
 * judged on a row read outside it could be overtaken by another between the two. A name sent equal
 * to the row as read was dropped as unchanged while another request had just renamed the agent
 * (the 200 then showed the other's name), and a sub-agent an admin had just added out of the
 * caller's sight was dropped from the list written back.
 */
export function updateAgent(ctx: Ctx, ref: string, input: AgentInput): Promise<PublicAgent> {
  return withTx(ctx, (tx) => updateAgentNow(tx, ref, input))
}

async function updateAgentNow(ctx: Ctx, ref: string, input: AgentInput): Promise<PublicAgent> {
  const p = callerOf(ctx)
  const current = await findEditable(ctx, p, ref)
  const id = current.id
  const fields = columns(input, current)
  if (input.slug !== undefined && input.slug !== current.slug) {
    const s = checkSlug(input.slug)
    if (await slugInUse(ctx, p.organizationId, s)) throw slugTaken('agent', s)
    fields.slug = s
  }
  if (fields.subagentIds) {
    const resolved = await resolveSubagents(ctx, p, fields.subagentIds, id, current.subagentIds ?? [])
    // What `p` cannot see was not shown to them, so not left out on purpose: kept.
    const hidden = await hiddenSubagents(ctx.db, p, [current])
    const before = current.subagentIds ?? []
    const seen = before.filter((s) => !hidden.has(s))
    // The list as it was shown, sent back as it was: unchanged (hidden ones in their places).
    fields.subagentIds = seen.length === resolved.length && seen.every((s, i) => s === resolved[i]) ? before : [...resolved, ...before.filter((s) => hidden.has(s) && !resolved.includes(s))]
  }
  const now = new Date(ctx.clock.now())
  if (input.archived !== undefined && input.archived !== current.archived) {
    fields.archived = input.archived
    fields.archivedAt = input.archived ? now : null
  }
  const changed = changes(fields, current)
  if (Object.keys(changed).length === 0) return (await shownTo(ctx.db, p, [current]))[0]!
  const row = await slugWrite('agent', fields.slug ?? current.slug, () =>
    audited(
      ctx,
      (tx) =>
        tx.db
          .update(agents)
          .set({ ...changed, updatedAt: now })
          .where(and(eq(agents.id, id), eq(agents.organizationId, p.organizationId)))
          .returning()
          .get(),
      (r) => (r ? { type: 'agent.updated', organizationId: r.organizationId, targetType: 'agent', targetId: r.id, details: changeDetails(current, changed) } : null),
    ),
  )
  if (!row) throw new AppError('not_found', `Agent ${cutText(ref, 100)} not found`)
  return (await shownTo(ctx.db, p, [row]))[0]!
}

/** Soft delete: archives (idempotent). */
export function archiveAgent(ctx: Ctx, ref: string): Promise<void> {
  return withTx(ctx, (tx) => archiveAgentNow(tx, ref))
}

async function archiveAgentNow(ctx: Ctx, ref: string): Promise<void> {
  const p = callerOf(ctx)
  const current = await findEditable(ctx, p, ref)
  const id = current.id
  if (current.archived) return
  const now = new Date(ctx.clock.now())
  await audited(
    ctx,
    (tx) =>
      tx.db
        .update(agents)
        .set({ archived: true, archivedAt: now, updatedAt: now })
        .where(and(eq(agents.id, id), eq(agents.organizationId, p.organizationId), eq(agents.archived, false)))
        .returning({ id: agents.id })
        .get(),
    (r) => (r ? { type: 'agent.archived', organizationId: p.organizationId, targetType: 'agent', targetId: r.id, details: { slug: current.slug } } : null),
  )
}

import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Caller } from '../../auth/principal'
import { isOrgAdmin } from '../../auth/roles'
import { callerOf, withTx, type Ctx, audited } from '../../context'
import { cleanName, cutText } from '../../text'
import type { Db } from '../../db/connection'
import { budgetedPages, cappedCount, countedPages, keysetPages, listPage, type ListPage, mapBatches, readPage, sizesOf, sizeStatements, statementReads, listedColumns, storedBytes } from '../../db/paging'
import { forShare } from '../../db/locks'
import { prepared } from '../../db/prepared'
import { agents, secrets, spaces, type AgentRef, type Space } from '../../db/schema'
import { AppError, invalidField } from '../../errors'
import { newId } from '../../ids'
import { agentFilterId, agentsUnseenBy, canSeeAgent, canUseAgent } from '../agents/access'
import { checkSlug, insertWithSlug, slugTaken, slugWrite } from '../slugs'
import { canEditSpace, spaceByRef, visibleSpace, visibleSpaceForWrite, visibleSpacesSql } from './access'
import { listSecretNames, secretNamesBySpace } from './secrets'
import { changeDetails, changes } from '../changes'
import type { AuditInput } from '../../audit/log'
import type { Space as SpaceModel } from './model'

export type SpaceVisibility = Space['visibility']
export type SpaceType = Space['type']

/** The space as the API returns it: the response schema is the one source of this shape. */
export type PublicSpace = typeof SpaceModel.static

export interface CreateSpaceInput {
  name: string
  /** Unique in the organization (src/modules/slugs.ts); derived from the name when not sent. */
  slug?: string
  description?: string | null
  visibility?: SpaceVisibility
  type?: SpaceType
  instructions?: string | null
  addCharacters?: string[]
}

export interface UpdateSpaceInput extends Partial<Omit<CreateSpaceInput, 'name'>> {
  name?: string
  archived?: boolean
  removeCharacters?: string[]
  /** TeamDay's MCP servers and skills (its CLI's `spaces add-mcp`, `add-skill`, …): named only to be refused. */
  addMcps?: unknown
  removeMcps?: unknown
  addSkills?: unknown
  removeSkills?: unknown
}

const UNSERVED = ['addMcps', 'removeMcps', 'addSkills', 'removeSkills'] as const

/** A change this server cannot make is refused, never answered 200 with nothing changed. */
function refuseUnserved(input: UpdateSpaceInput): void {
  const sent = UNSERVED.find((k) => input[k] !== undefined)
  if (sent) throw invalidField(sent, `${sent}: this server has no MCP servers or skills (hosted TeamDay features), so a space cannot have them; nothing was changed`)
}

export const MAX_AGENTS_PER_SPACE = 200

/**
 * A space's agents as the caller may know them (`shownRefs`): one the caller may not see (another
 * member's private agent) is left out, since its id is 404 for them everywhere else; one archived
 * since it was added, or that the caller may not run, says `enabled: false` (TeamDay's CLI runs
 * the first enabled agent of a space, and got a 404). The stored list is not changed:
 * `addCharacters` and `removeCharacters` change only the agents they name.
 */
async function agentRefsFor(db: Db, v: Caller, rows: readonly Pick<Space, 'agentRefs'>[]): Promise<(refs: AgentRef[]) => AgentRef[]> {
  const ids = [...new Set(rows.flatMap((r) => r.agentRefs.map((a) => a.agentId)))]
  const found = new Map<string, Pick<typeof agents.$inferSelect, 'organizationId' | 'userId' | 'visibility' | 'archived'>>()
  for (let i = 0; i < ids.length; i += 500) {
    const a = agents
    const part = await db.select({ id: a.id, organizationId: a.organizationId, userId: a.userId, visibility: a.visibility, archived: a.archived }).from(a).where(inArray(a.id, ids.slice(i, i + 500))).all()
    for (const r of part) found.set(r.id, r)
  }
  return (refs) => {
    const shown: AgentRef[] = []
    for (const ref of refs) {
      const agent = found.get(ref.agentId)
      if (!agent || !canSeeAgent(v, agent)) continue
      shown.push(ref.enabled && !canUseAgent(v, agent) ? { ...ref, enabled: false } : ref)
    }
    return shown
  }
}

export function toPublicSpace(row: Omit<Space, 'contentBytes'>, secretKeys: string[], shownRefs: (refs: AgentRef[]) => AgentRef[]): PublicSpace {
  return {
    id: row.id,
    name: row.name,
    slug: row.slug,
    description: row.description,
    organizationId: row.organizationId,
    visibility: row.visibility,
    type: row.type,
    instructions: row.instructions,
    agentRefs: shownRefs(row.agentRefs),
    secretKeys,
    archived: row.archived,
    archivedAt: row.archivedAt ? row.archivedAt.toISOString() : null,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  }
}

function validateName(name: string): string {
  const n = cleanName(name)
  if (n.length === 0 || n.length > 200) throw invalidField('name', 'name must be 1-200 characters, not only spaces')
  return n
}

/** Only empty spaces exist on this server: git and starter-kit spaces need a workspace backend. */
function validateType(type: SpaceType | undefined): void {
  if (type !== undefined && type !== 'empty') {
    throw invalidField(
      'type',
      `type "${type}" is not supported by this server yet: only "empty" spaces can be created (git clones and starter kits are not implemented)`,
    )
  }
}

/**
 * A space of the caller's organization that the caller may see, by id or slug (spaces/access.ts);
 * otherwise 404 (existence is not revealed).
 */
export async function findVisibleSpace(ctx: Ctx, ref: string): Promise<Space> {
  return found(await visibleSpace(ctx.db, callerOf(ctx), ref), ref)
}

/** findVisibleSpace for a change of the space, inside its transaction (visibleSpaceForWrite: an archive at the same moment waits or is seen). */
export async function findSpaceForWrite(tx: Ctx, ref: string): Promise<Space> {
  return found(await visibleSpaceForWrite(tx.db, callerOf(tx), ref), ref)
}

function found(row: Space | undefined, ref: string): Space {
  if (!row) throw new AppError('not_found', `Space ${cutText(ref, 100)} not found`)
  return row
}

/** Whether a space of the organization has this slug (archived ones keep theirs). */
async function slugInUse(ctx: Ctx, organizationId: string, slug: string): Promise<boolean> {
  return (await spaceByRef(ctx.db, organizationId, slug)) !== undefined
}

/** Members change only the spaces they created; admins any space of the organization. */
export function assertCanEditSpace(principal: Caller, row: Space, what = 'change'): void {
  if (!canEditSpace(principal, row)) {
    throw new AppError('forbidden', `Forbidden: only the space's creator or an organization admin can ${what} it (access denied)`)
  }
}

/**
 * Agents the caller may add: same organization, not archived, visible to the caller. Else 422
 * naming the bad ones as the caller named them (`named`: id → the id or slug sent), so that a
 * slug of an agent the caller may not use never comes back as its id. Inside the transaction
 * that writes the space, the agents read with forShare (src/db/locks.ts): one archived at the
 * same moment either waits for the write or is refused here.
 */
async function checkAgents(ctx: Ctx, principal: Caller, ids: string[], named: Map<string, string>): Promise<void> {
  if (ids.length === 0) return
  const rows = await forShare(
    ctx.db,
    ctx.db
      .select({ id: agents.id, organizationId: agents.organizationId, userId: agents.userId, visibility: agents.visibility, archived: agents.archived })
      .from(agents)
      .where(and(inArray(agents.id, ids), eq(agents.organizationId, principal.organizationId))),
  ).all()
  const found = new Set(rows.filter((a) => canUseAgent(principal, a)).map((r) => r.id))
  const bad = ids.filter((id) => !found.has(id)).map((id) => named.get(id) ?? id)
  if (bad.length > 0) {
    throw new AppError('validation_failed', `Validation failed: addCharacters has unknown or inaccessible agents: ${bad.map((b) => cutText(b, 100)).join(', ')}`, {
      details: bad.map((ref) => ({ field: 'addCharacters', message: `agent ${cutText(ref, 100)} not found, archived, or not visible to you` })),
    })
  }
}

/**
 * The agents a body list names, by id or slug (as in every agent URL), as ids: a slug becomes
 * its agent's id in the organization; an id, or a slug that names no agent, stays as it was
 * (reported when added, ignored when removed). `named` records what the caller sent for each.
 */
async function agentIdsOf(ctx: Ctx, organizationId: string, refs: string[], named: Map<string, string>): Promise<string[]> {
  const ids = await Promise.all(refs.map((ref) => agentFilterId(ctx.db, organizationId, ref)))
  ids.forEach((id, i) => named.has(id) || named.set(id, refs[i]!))
  return ids
}

/** New agentRefs: removals, then additions (already present ones are left untouched). */
async function applyCharacters(ctx: Ctx, principal: Caller, refs: AgentRef[], addRefs: string[] = [], removeRefs: string[] = []): Promise<AgentRef[]> {
  const named = new Map<string, string>()
  const add = await agentIdsOf(ctx, principal.organizationId, addRefs, named)
  const remove = await agentIdsOf(ctx, principal.organizationId, removeRefs, named)
  const addSet = [...new Set(add)]
  const both = addSet.filter((id) => remove.includes(id))
  if (both.length > 0) throw invalidField('removeCharacters', `removeCharacters and addCharacters both name ${both.map((id) => named.get(id) ?? id).join(', ')}`)
  const present = new Set(refs.map((r) => r.agentId))
  // An agent of the space the caller may not see (another member's private agent, added by an
  // admin) is unknown to them here too, as in what they are shown (agentRefsFor): adding it is
  // refused as for any agent they may not see (it was a 200 once present: a probe of whether a
  // guessed slug's agent is in the space), removing it leaves it (it was dropped).
  const unseen = await agentsUnseenBy(ctx.db, principal, [...addSet, ...remove].filter((id) => present.has(id)))
  const toAdd = addSet.filter((id) => !present.has(id))
  await checkAgents(ctx, principal, addSet.filter((id) => !present.has(id) || unseen.has(id)), named)
  const removeSet = new Set(remove.filter((id) => !unseen.has(id)))
  const now = new Date(ctx.clock.now()).toISOString()
  const next = [...refs.filter((r) => !removeSet.has(r.agentId)), ...toAdd.map((agentId) => ({ agentId, enabled: true, addedAt: now, addedBy: principal.userId }))]
  if (next.length > MAX_AGENTS_PER_SPACE) throw invalidField('addCharacters', `a space holds at most ${MAX_AGENTS_PER_SPACE} agents`)
  return next
}

export async function createSpace(ctx: Ctx, input: CreateSpaceInput): Promise<PublicSpace> {
  const principal = callerOf(ctx)
  const name = validateName(input.name)
  validateType(input.type)
  const now = new Date(ctx.clock.now())
  // content_bytes is the database's (a generated column).
  const row: Omit<Space, 'slug' | 'contentBytes'> = {
    id: newId('space'),
    organizationId: principal.organizationId,
    createdBy: principal.userId,
    name,
    description: input.description ?? null,
    visibility: input.visibility ?? 'private',
    type: 'empty',
    instructions: input.instructions ?? null,
    agentRefs: [],
    archived: false,
    archivedAt: null,
    createdAt: now,
    updatedAt: now,
  }
  // Its agents checked, the row inserted and `space.created` recorded in one transaction per
  // attempt (a slug conflict ends it; insertWithSlug then tries again in a new one).
  const adds = input.addCharacters ?? []
  const slug = await insertWithSlug('space', input.slug, name, (s) => slugInUse(ctx, principal.organizationId, s), (slug) =>
    audited(
      ctx,
      async (tx) => {
        if (adds.length > 0) row.agentRefs = await applyCharacters(tx, callerOf(tx), [], adds)
        await tx.db.insert(spaces).values({ ...row, slug }).run()
        return slug
      },
      (slug) => ({ type: 'space.created', organizationId: row.organizationId, targetType: 'space', targetId: row.id, details: { slug, visibility: row.visibility } }),
    ),
  )
  return toPublicSpace({ ...row, slug }, [], await agentRefsFor(ctx.db, principal, [row]))
}

export interface ListSpacesOptions {
  archived?: boolean
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

/** A list's filters (the caller's visibility rule included); bound with `org` and `user`. */
function listWhere(withArchived: boolean, admin: boolean) {
  const s = spaces
  const ph = sql.placeholder
  return [
    eq(s.organizationId, ph('org')),
    withArchived ? undefined : eq(s.archived, false),
    visibleSpacesSql(admin),
  ]
}

function listStatements(db: Db, withArchived: boolean, admin: boolean) {
  const s = spaces
  const where = listWhere(withArchived, admin)
  // The bytes of what members set that can be large (src/db/paging.ts, largePage): instructions
  // of 100,000 characters, a description, up to 200 agents, and the names of up to 500 secrets
  // (`secretKeys`, on the secrets' own index): a page of 200 spaces can be 36 MB.
  const bytes = storedBytes(db, s, [
    sql`(select coalesce(sum(octet_length(${secrets.key}) + 3), 0) from ${secrets} where ${secrets.organizationId} = ${s.organizationId} and ${secrets.scope} = ${s.id})`,
  ])
  return {
    ...budgetedPages(db, () => db.select(listedColumns(s)).from(s).$dynamic(), s, bytes, where),
    counted: countedPages(db, (n) => db.select({ row: listedColumns(s), n }).from(s).$dynamic(), s, where, bytes),
    count: cappedCount(db, s, and(...where)),
    ...sizeStatements(db, s, bytes, where),
  }
}

/**
 * What a list of the caller's spaces depends on: its statements' variant (`suffix`), their
 * parameters, and the filters its cursors are bound to (src/db/paging.ts, readPage), the same
 * for listSpaces and listSpaceSummaries so that either's cursor pages the other.
 */
function listShape(ctx: Ctx, opts: Pick<ListSpacesOptions, 'archived'>) {
  const principal = callerOf(ctx)
  const withArchived = !!opts.archived
  const admin = isOrgAdmin(principal.role)
  const params = { org: principal.organizationId, user: principal.userId }
  const filters = { archived: withArchived, caller: [principal.organizationId, principal.userId] }
  return { principal, withArchived, admin, suffix: `${Number(withArchived)}${Number(admin)}`, params, filters }
}

/** The spaces the caller may see, newest first; a large page's spaces in `rest`, a batch at a time (`spaces` is then empty). */
export async function listSpaces(ctx: Ctx, opts: ListSpacesOptions): Promise<{ spaces: PublicSpace[]; rest?: () => AsyncGenerator<PublicSpace[]> } & ListPage> {
  const { principal, withArchived, admin, suffix, params, filters } = listShape(ctx, opts)
  const q = prepared(ctx.db, `spaces.list.${suffix}`, () => listStatements(ctx.db, withArchived, admin))
  const page = await readPage('spaces', filters, opts, {
    ...statementReads(q, params),
    position: (r) => ({ t: r.createdAt.getTime(), id: r.id }),
    // A large page in batches, for a caller that sends it as it is read; read whole otherwise.
    sizes: opts.batched ? sizesOf(q, params) : undefined,
    budgeted: opts.batched,
  })
  const publicSpaces = async (rows: Omit<Space, 'contentBytes'>[]) => {
    const names = await secretNamesBySpace(ctx, principal.organizationId, rows.map((r) => r.id))
    const refs = await agentRefsFor(ctx.db, principal, rows)
    return rows.map((r) => toPublicSpace(r, names.get(r.id) ?? [], refs))
  }
  return { spaces: await publicSpaces(page.rows), ...listPage(page), rest: mapBatches(page.rest, publicSpaces) }
}

/**
 * The columns of a space that the web console's list shows, and how many secrets it has (on the
 * secrets' own index). The count is a query builder's, not a template naming the columns: in the
 * SELECT list of a one-table query drizzle writes a template's columns without their table, and
 * `organization_id = organization_id` inside the subquery would compare the secret with itself.
 */
const summaryColumns = (db: Db) => ({
  id: spaces.id,
  name: spaces.name,
  slug: spaces.slug,
  visibility: spaces.visibility,
  archived: spaces.archived,
  createdAt: spaces.createdAt,
  secretCount: sql<number>`(${db
    .select({ n: sql`count(*)` })
    .from(secrets)
    .where(and(eq(secrets.organizationId, spaces.organizationId), eq(secrets.scope, spaces.id)))})`.mapWith(Number),
})

/** A space as the web console's list shows it: nothing that can be large (no instructions, description, agents or secret names). */
export type SpaceSummary = Pick<PublicSpace, 'id' | 'name' | 'slug' | 'visibility' | 'archived' | 'createdAt'> & { secretCount: number }

/** The statements of listSpaceSummaries: the list's own filters, order and index, fewer columns. */
function summaryStatements(db: Db, withArchived: boolean, admin: boolean) {
  const s = spaces
  const where = listWhere(withArchived, admin)
  return {
    ...keysetPages(() => db.select(summaryColumns(db)).from(s).$dynamic(), s, where),
    counted: countedPages(db, (n) => db.select({ row: summaryColumns(db), n }).from(s).$dynamic(), s, where),
    count: cappedCount(db, s, and(...where)),
  }
}

/**
 * listSpaces's page with only what the web console's list shows of each space: the same spaces,
 * order, total and cursors (a cursor of either list pages the other), without reading
 * instructions, agents or secret names (a page of 100 spaces can hold 18 MB of them).
 */
export async function listSpaceSummaries(ctx: Ctx, opts: Omit<ListSpacesOptions, 'batched'>): Promise<{ spaces: SpaceSummary[] } & ListPage> {
  const { withArchived, admin, suffix, params, filters } = listShape(ctx, opts)
  const q = prepared(ctx.db, `spaces.summaries.${suffix}`, () => summaryStatements(ctx.db, withArchived, admin))
  const page = await readPage('spaces', filters, opts, {
    ...statementReads(q, params),
    position: (r) => ({ t: r.createdAt.getTime(), id: r.id }),
  })
  return { spaces: page.rows.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })), ...listPage(page) }
}

export async function getSpace(ctx: Ctx, id: string): Promise<PublicSpace> {
  const row = await findVisibleSpace(ctx, id)
  return toPublicSpace(row, await listSecretNames(ctx, row.organizationId, { kind: 'space', spaceId: row.id }), await agentRefsFor(ctx.db, callerOf(ctx), [row]))
}

export async function updateSpace(ctx: Ctx, id: string, input: UpdateSpaceInput): Promise<PublicSpace> {
  const principal = callerOf(ctx)
  validateType(input.type)
  refuseUnserved(input)
  // Read and written in one transaction: adding or removing agents rewrites the space's list of
  // them, and two updates at once must not lose one (on PostgreSQL, ten concurrent adds of
  // different agents kept two, each answered 200).
  // The space is read with forShare: an archive at the same moment waits for this change or is
  // seen by it (agents added to a space archived meanwhile were acknowledged, 200).
  const { updated } = await audited(ctx, async (tx) => {
    const row = await findSpaceForWrite(tx, id)
    assertCanEditSpace(principal, row)
    const now = new Date(tx.clock.now())
    const patch: Partial<Space> = { updatedAt: now }
    if (input.name !== undefined) patch.name = validateName(input.name)
    if (input.slug !== undefined && input.slug !== row.slug) {
      const s = checkSlug(input.slug)
      if (await slugInUse(tx, principal.organizationId, s)) throw slugTaken('space', s)
      patch.slug = s
    }
    if (input.description !== undefined) patch.description = input.description
    if (input.visibility !== undefined) patch.visibility = input.visibility
    if (input.instructions !== undefined) patch.instructions = input.instructions
    if (input.archived !== undefined && input.archived !== row.archived) {
      patch.archived = input.archived
      patch.archivedAt = input.archived ? now : null
    }
    // Nothing goes into an archived space (as no task does): agents were added to one, 200.
    // Removing them, and its own fields, stay open to the editor; unarchiving in the same change
    // lets them in.
    if (input.addCharacters?.length && (input.archived ?? row.archived)) throw archivedSpaceRefuses(row.id, 'addCharacters', 'agents are not added')
    if (input.addCharacters !== undefined || input.removeCharacters !== undefined) {
      patch.agentRefs = await applyCharacters(tx, principal, row.agentRefs, input.addCharacters, input.removeCharacters)
    }
    const { updatedAt: _, ...asked } = patch
    const changed = changes(asked, row)
    if (Object.keys(changed).length === 0) return { updated: row, event: null }
    const updated = (await slugWrite('space', patch.slug ?? row.slug, () => tx.db.update(spaces).set({ ...changed, updatedAt: now }).where(eq(spaces.id, row.id)).returning().get()))!
    return { updated, event: { type: 'space.updated', organizationId: row.organizationId, targetType: 'space', targetId: row.id, details: changeDetails(row, changed) } satisfies AuditInput }
  }, (r) => r.event)
  return toPublicSpace(updated, await listSecretNames(ctx, updated.organizationId, { kind: 'space', spaceId: updated.id }), await agentRefsFor(ctx.db, principal, [updated]))
}

/** 422 for a write into an archived space (`field`: what was sent; `what`: what it would have done). */
export function archivedSpaceRefuses(id: string, field: string, what: string): AppError {
  const message = `space ${id} is archived (or this change archives it): ${what} to an archived space; unarchive it first (PATCH /api/v1/spaces/${id} {"archived": false}), in the same change if you like`
  return invalidField(field, message)
}

/** Archives (soft delete). Idempotent. */
export async function archiveSpace(ctx: Ctx, id: string): Promise<void> {
  const principal = callerOf(ctx)
  const row = await findVisibleSpace(ctx, id)
  assertCanEditSpace(principal, row, 'archive')
  if (row.archived) return
  const now = new Date(ctx.clock.now())
  await audited(
    ctx,
    (tx) => tx.db.update(spaces).set({ archived: true, archivedAt: now, updatedAt: now }).where(and(eq(spaces.id, row.id), eq(spaces.archived, false))).returning({ id: spaces.id }).get(),
    (r) => (r ? { type: 'space.archived', organizationId: row.organizationId, targetType: 'space', targetId: r.id, details: { slug: row.slug } } : null),
  )
}

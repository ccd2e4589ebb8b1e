import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Principal } from '../../auth/principal'
import { isOrgAdmin } from '../../auth/roles'
import type { DB } from '../../db/client'
import { afterParams, beforeCursor, cappedCount, listPage, newestFirst, readPage, type ListPage } from '../../db/paging'
import { prepared } from '../../db/prepared'
import { agents, spaces, type AgentRef, type Space } from '../../db/schema'
import type { Deps } from '../../deps'
import { AppError } from '../../errors'
import { newId } from '../../ids'
import { canUseAgent } from '../agents/access'
import { canEditSpace, canSeeSpace, visibleSpacesSql } from './access'
import { listSecretNames, secretNamesBySpace } from './secrets'
import type { Space as SpaceModel } from './model'

export type SpaceVisibility = Space['visibility']
export type SpaceType = Space['type']

/** The space as the API returns it: the response schema is the one source of this shape. */
export type PublicSpace = typeof SpaceModel.static

export interface CreateSpaceInput {
  name: string
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
}

export const MAX_AGENTS_PER_SPACE = 200

export function toPublicSpace(row: Space, secretKeys: string[]): PublicSpace {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    organizationId: row.organizationId,
    visibility: row.visibility,
    type: row.type,
    instructions: row.instructions,
    agentRefs: row.agentRefs,
    secretKeys,
    archived: row.archived,
    archivedAt: row.archivedAt ? row.archivedAt.toISOString() : null,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  }
}

function invalid(field: string, message: string): AppError {
  return new AppError('validation_failed', `Validation failed: ${message}`, { details: [{ field, message }] })
}

function validateName(name: string): string {
  const n = name.trim()
  if (n.length === 0 || n.length > 200) throw invalid('name', 'name must be 1-200 characters, not only spaces')
  return n
}

/** Only empty spaces exist on this server: git and starter-kit spaces need a workspace backend. */
function validateType(type: SpaceType | undefined): void {
  if (type !== undefined && type !== 'empty') {
    throw invalid(
      'type',
      `type "${type}" is not supported by this server yet: only "empty" spaces can be created (git clones and starter kits are not implemented)`,
    )
  }
}

/** A space of the caller's organization that the caller may see; otherwise 404 (existence is not revealed). */
export function findVisibleSpace(deps: Deps, principal: Principal, id: string): Space {
  const row = prepared(deps.db, 'spaces.get', () =>
    deps.db
      .select()
      .from(spaces)
      .where(and(eq(spaces.id, sql.placeholder('id')), eq(spaces.organizationId, sql.placeholder('org'))))
      .prepare(),
  ).get({ id, org: principal.organizationId })
  if (!row || !canSeeSpace(principal, row)) throw new AppError('not_found', `Space ${id} not found`)
  return row
}

/** Members change only the spaces they created; admins any space of the organization. */
export function assertCanEditSpace(principal: Principal, row: Space, what = 'change'): void {
  if (!canEditSpace(principal, row)) {
    throw new AppError('forbidden', `Forbidden: only the space's creator or an organization admin can ${what} it (access denied)`)
  }
}

/** Agents the caller may add: same organization, not archived, visible to the caller. Else 422 naming the bad ids. */
function checkAgents(deps: Deps, principal: Principal, ids: string[]): void {
  if (ids.length === 0) return
  const found = new Set(
    deps.db
      .select({ id: agents.id, organizationId: agents.organizationId, userId: agents.userId, visibility: agents.visibility, archived: agents.archived })
      .from(agents)
      .where(and(inArray(agents.id, ids), eq(agents.organizationId, principal.organizationId)))
      .all()
      .filter((a) => canUseAgent(principal, a))
      .map((r) => r.id),
  )
  const bad = ids.filter((id) => !found.has(id))
  if (bad.length > 0) {
    throw new AppError('validation_failed', `Validation failed: addCharacters has unknown or inaccessible agent ids: ${bad.map((b) => b.slice(0, 100)).join(', ')}`, {
      details: bad.map((id) => ({ field: 'addCharacters', message: `agent ${id.slice(0, 100)} not found, archived, or not visible to you` })),
    })
  }
}

/** New agentRefs: removals, then additions (already present ones are left untouched). */
function applyCharacters(deps: Deps, principal: Principal, refs: AgentRef[], add: string[] = [], remove: string[] = []): AgentRef[] {
  const addSet = [...new Set(add)]
  const both = addSet.filter((id) => remove.includes(id))
  if (both.length > 0) throw invalid('removeCharacters', `removeCharacters and addCharacters both name ${both.join(', ')}`)
  const present = new Set(refs.map((r) => r.agentId))
  const toAdd = addSet.filter((id) => !present.has(id))
  checkAgents(deps, principal, toAdd)
  const removeSet = new Set(remove)
  const now = new Date(deps.clock.now()).toISOString()
  const next = [...refs.filter((r) => !removeSet.has(r.agentId)), ...toAdd.map((agentId) => ({ agentId, enabled: true, addedAt: now, addedBy: principal.userId }))]
  if (next.length > MAX_AGENTS_PER_SPACE) throw invalid('addCharacters', `a space holds at most ${MAX_AGENTS_PER_SPACE} agents`)
  return next
}

export function createSpace(deps: Deps, principal: Principal, input: CreateSpaceInput): PublicSpace {
  const name = validateName(input.name)
  validateType(input.type)
  const now = new Date(deps.clock.now())
  const row: Space = {
    id: newId('space'),
    organizationId: principal.organizationId,
    createdBy: principal.userId,
    name,
    description: input.description ?? null,
    visibility: input.visibility ?? 'private',
    type: 'empty',
    instructions: input.instructions ?? null,
    agentRefs: applyCharacters(deps, principal, [], input.addCharacters),
    archived: false,
    archivedAt: null,
    createdAt: now,
    updatedAt: now,
  }
  deps.db.insert(spaces).values(row).run()
  return toPublicSpace(row, [])
}

export interface ListSpacesOptions {
  archived?: boolean
  limit: number
  offset: number
  cursor?: string
}

function listStatements(db: DB, withArchived: boolean, admin: boolean) {
  const s = spaces
  const ph = sql.placeholder
  const where = [
    eq(s.organizationId, ph('org')),
    withArchived ? undefined : eq(s.archived, false),
    visibleSpacesSql(admin),
  ]
  const page = (after: boolean) =>
    db
      .select()
      .from(s)
      .where(and(...where, after ? beforeCursor(s.createdAt, s.id) : undefined))
      .orderBy(...newestFirst(s.createdAt, s.id))
      .limit(ph('limit'))
      .offset(ph('offset'))
      .prepare()
  return { first: page(false), after: page(true), count: cappedCount(db, s, and(...where)) }
}

/** The spaces the caller may see, newest first. */
export function listSpaces(deps: Deps, principal: Principal, opts: ListSpacesOptions): { spaces: PublicSpace[] } & ListPage {
  const withArchived = !!opts.archived
  const admin = isOrgAdmin(principal.role)
  const q = prepared(deps.db, `spaces.list.${Number(withArchived)}${Number(admin)}`, () => listStatements(deps.db, withArchived, admin))
  const params = { org: principal.organizationId, user: principal.userId }
  const page = readPage('spaces', { archived: withArchived, caller: [principal.organizationId, principal.userId] }, opts, {
    rows: (limit, offset, after) => (after ? q.after : q.first).all({ ...params, ...afterParams(after), limit, offset }),
    count: (cap) => q.count.get({ ...params, cap })?.n ?? 0,
    position: (r) => ({ t: r.createdAt.getTime(), id: r.id }),
  })
  const names = secretNamesBySpace(deps, principal.organizationId, page.rows.map((r) => r.id))
  return { spaces: page.rows.map((r) => toPublicSpace(r, names.get(r.id) ?? [])), ...listPage(page) }
}

export function getSpace(deps: Deps, principal: Principal, id: string): PublicSpace {
  const row = findVisibleSpace(deps, principal, id)
  return toPublicSpace(row, listSecretNames(deps, row.organizationId, { kind: 'space', spaceId: row.id }))
}

export function updateSpace(deps: Deps, principal: Principal, id: string, input: UpdateSpaceInput): PublicSpace {
  const row = findVisibleSpace(deps, principal, id)
  assertCanEditSpace(principal, row)
  validateType(input.type)
  const now = new Date(deps.clock.now())
  const patch: Partial<Space> = { updatedAt: now }
  if (input.name !== undefined) patch.name = validateName(input.name)
  if (input.description !== undefined) patch.description = input.description
  if (input.visibility !== undefined) patch.visibility = input.visibility
  if (input.instructions !== undefined) patch.instructions = input.instructions
  if (input.archived !== undefined && input.archived !== row.archived) {
    patch.archived = input.archived
    patch.archivedAt = input.archived ? now : null
  }
  if (input.addCharacters !== undefined || input.removeCharacters !== undefined) {
    patch.agentRefs = applyCharacters(deps, principal, row.agentRefs, input.addCharacters, input.removeCharacters)
  }
  const updated = deps.db.update(spaces).set(patch).where(eq(spaces.id, row.id)).returning().get()!
  return toPublicSpace(updated, listSecretNames(deps, row.organizationId, { kind: 'space', spaceId: row.id }))
}

/** Archives (soft delete). Idempotent. */
export function archiveSpace(deps: Deps, principal: Principal, id: string): void {
  const row = findVisibleSpace(deps, principal, id)
  assertCanEditSpace(principal, row, 'archive')
  if (row.archived) return
  const now = new Date(deps.clock.now())
  deps.db.update(spaces).set({ archived: true, archivedAt: now, updatedAt: now }).where(eq(spaces.id, row.id)).run()
}

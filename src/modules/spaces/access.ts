import { and, eq, ne, or, sql, type AnyColumn, type SQL } from 'drizzle-orm'
import { isOrgAdmin } from '../../auth/roles'
import type { Db } from '../../db/connection'
import { forShare } from '../../db/locks'
import { prepared } from '../../db/prepared'
import { spaces, type Space } from '../../db/schema'
import { isSlug, refersToId } from '../slugs'
import type { Viewer } from '../viewer'

/**
 * Who may see a space, and everything that lives in one. The one rule: an organization admin sees
 * every space of the organization; anyone else their own spaces and the non-private ones. Tasks
 * and executions inherit it: a row in a space the viewer may not see is not theirs to see either
 * (tasks/access.ts, executions/access.ts). Each rule comes twice, as a predicate for one row and
 * as SQL for lists; test/access-rules.test.ts checks that both agree.
 */

export type SpaceAccess = Pick<Space, 'organizationId' | 'createdBy' | 'visibility'>

/** The rule inside the organization (the caller checked the organization already). */
function open(v: Viewer, s: Pick<Space, 'createdBy' | 'visibility'>): boolean {
  return isOrgAdmin(v.role) || s.createdBy === v.userId || s.visibility !== 'private'
}

export function canSeeSpace(v: Viewer, s: SpaceAccess): boolean {
  return s.organizationId === v.organizationId && open(v, s)
}

/** Visible and not archived: a space one may run an agent in or file a task under. */
export function canUseSpace(v: Viewer, s: SpaceAccess & Pick<Space, 'archived'>): boolean {
  return canSeeSpace(v, s) && !s.archived
}

/** Change, archive, manage secrets: its creator or an organization admin. */
export function canEditSpace(v: Viewer, s: SpaceAccess): boolean {
  return canSeeSpace(v, s) && (isOrgAdmin(v.role) || s.createdBy === v.userId)
}

/**
 * The rule as a list condition on `spaces` (undefined for admins: the organization filter is all
 * there is). Binds the viewer's id to the `user` placeholder.
 */
export function visibleSpacesSql(admin: boolean): SQL | undefined {
  return admin ? undefined : or(eq(spaces.createdBy, sql.placeholder('user')), ne(spaces.visibility, 'private'))
}

/**
 * For rows that live in a space (column `spaceId`, null = none): the row's space, if any, is one
 * the viewer may see. A correlated lookup by primary key per candidate row, so a list keeps
 * walking its own index in order and a page costs O(limit) as before. Binds `user`.
 *
 * A scalar subquery, not EXISTS: PostgreSQL may run an EXISTS under OR as a "hashed SubPlan",
 * which reads every visible space of the database once per page (it costs the subplan for every
 * row of the organization, not for the page's); a scalar subquery is always a lookup by primary
 * key (test/list-plans.test.ts). No row for the space: NULL, hidden, as EXISTS would.
 * `user`: the viewer's id as a value, for a statement that is not prepared (a placeholder otherwise).
 */
export function inVisibleSpaceSql(spaceId: AnyColumn, admin: boolean, user?: string): SQL | undefined {
  if (admin) return undefined
  return sql`(${spaceId} IS NULL OR (SELECT ${spaces.visibility} <> 'private' OR ${spaces.createdBy} = ${user ?? sql.placeholder('user')} FROM ${spaces} WHERE ${spaces.id} = ${spaceId}))`
}

/**
 * Whether a row in space `spaceId` (null = none) is visible as far as its space goes. `space` is
 * that space (spaceAccessOf); a row whose space is gone is shown to admins only, as in SQL.
 */
export function inVisibleSpace(v: Viewer, spaceId: string | null, space: SpaceAccess | undefined): boolean {
  if (isOrgAdmin(v.role) || spaceId === null) return true
  return space !== undefined && open(v, space)
}

/** The fields of a space the rules read, for the single-row predicates. */
export async function spaceAccessOf(db: Db, id: string | null): Promise<SpaceAccess | undefined> {
  if (id === null) return undefined
  return prepared(db, 'spaces.access', () =>
    db
      .select({ organizationId: spaces.organizationId, createdBy: spaces.createdBy, visibility: spaces.visibility })
      .from(spaces)
      .where(eq(spaces.id, sql.placeholder('id')))
      .prepare(),
  ).get({ id })
}

/**
 * The space `ref` names in an organization: its id (`space_…`) or its slug (src/modules/slugs.ts:
 * a slug never looks like an id). Whoever asks; the callers below apply the rule. Every route with
 * a space in its path, and every body field naming a space, resolves it here.
 */
export function spaceByRef(db: Db, organizationId: string, ref: string): Promise<Space | undefined> {
  if (refersToId(ref, 'space')) {
    return prepared(db, 'spaces.byIdInOrg', () =>
      db.select().from(spaces).where(and(eq(spaces.id, sql.placeholder('ref')), eq(spaces.organizationId, sql.placeholder('org')))).prepare(),
    ).get({ ref, org: organizationId })
  }
  if (!isSlug(ref)) return Promise.resolve(undefined)
  return prepared(db, 'spaces.bySlugInOrg', () =>
    db.select().from(spaces).where(and(eq(spaces.organizationId, sql.placeholder('org')), eq(spaces.slug, sql.placeholder('ref')))).prepare(),
  ).get({ ref, org: organizationId })
}

/**
 * A list filter naming a space by id or slug, as the id to filter on: the slug's space in the
 * organization, else `ref` as it was (matching nothing). The list applies the rule to its rows.
 */
export async function spaceFilterId(db: Db, organizationId: string, ref: string): Promise<string> {
  return refersToId(ref, 'space') ? ref : ((await spaceByRef(db, organizationId, ref))?.id ?? ref)
}

/** The space `ref` (id or slug) names, if the viewer may see it (canSeeSpace). */
export async function visibleSpace(db: Db, v: Viewer, ref: string): Promise<Space | undefined> {
  const s = await spaceByRef(db, v.organizationId, ref)
  return s && canSeeSpace(v, s) ? s : undefined
}

/** The space `ref` (id or slug) names, if the viewer may use it (canUseSpace): run an agent in it, file a task under it. */
export async function usableSpace(db: Db, v: Viewer, ref: string): Promise<Space | undefined> {
  const s = await spaceByRef(db, v.organizationId, ref)
  return s && canUseSpace(v, s) ? s : undefined
}

/**
 * usableSpace for a write that files something under the space (a task, an execution), inside
 * that write's transaction: the row is read with forShare (src/db/locks.ts), so an archive or a
 * visibility change of the space either waits for the write or is seen by this check. A check
 * before the transaction let a probe file tasks in a space archived before they were inserted.
 */
export async function usableSpaceForWrite(tx: Db, v: Viewer, ref: string): Promise<Space | undefined> {
  const s = await spaceForWrite(tx, v, ref)
  return s && canUseSpace(v, s) ? s : undefined
}

/** The space `ref` (id or slug) of the viewer's organization, read with forShare. */
async function spaceForWrite(tx: Db, v: Viewer, ref: string): Promise<Space | undefined> {
  const where = refersToId(ref, 'space') ? eq(spaces.id, ref) : isSlug(ref) ? eq(spaces.slug, ref) : undefined
  if (where === undefined) return undefined
  return forShare(tx, tx.select().from(spaces).where(and(eq(spaces.organizationId, v.organizationId), where))).get()
}

/**
 * visibleSpace for a change of the space itself inside that change's transaction (an update
 * adding agents, secrets being set): read with forShare, so an archive at the same moment either
 * waits for the change or is seen by its check (422). A plain read let a probe on PostgreSQL get
 * agents and secrets acknowledged into a space archived while the change was being made.
 */
export async function visibleSpaceForWrite(tx: Db, v: Viewer, ref: string): Promise<Space | undefined> {
  const s = await spaceForWrite(tx, v, ref)
  return s && canSeeSpace(v, s) ? s : undefined
}

/** spaceAccessOf, inside a write's transaction, the row read with forShare (usableSpaceForWrite). */
export async function spaceAccessForWrite(tx: Db, id: string | null): Promise<SpaceAccess | undefined> {
  if (id === null) return undefined
  return forShare(tx, tx.select({ organizationId: spaces.organizationId, createdBy: spaces.createdBy, visibility: spaces.visibility }).from(spaces).where(eq(spaces.id, id))).get()
}

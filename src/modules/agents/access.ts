import { and, eq, inArray, ne, or, sql, type SQL } from 'drizzle-orm'
import { isOrgAdmin } from '../../auth/roles'
import type { Db } from '../../db/connection'
import { forShare, forUpdate } from '../../db/locks'
import { prepared } from '../../db/prepared'
import { agents, type Agent } from '../../db/schema'
import { isSlug, refersToId } from '../slugs'
import type { Viewer } from '../viewer'

/**
 * Who may see, use and change an agent. The one rule: an organization admin sees every agent of
 * the organization; anyone else their own agents and the non-private ones (organization, public,
 * unlisted). A predicate for one row and the same rule as SQL for lists
 * (test/access-rules.test.ts checks that both agree).
 */

export type AgentAccess = Pick<Agent, 'organizationId' | 'userId' | 'visibility'>

export function canSeeAgent(v: Viewer, a: AgentAccess): boolean {
  return a.organizationId === v.organizationId && (isOrgAdmin(v.role) || a.userId === v.userId || a.visibility !== 'private')
}

/** Visible and not archived: an agent one may run, delegate to, assign a task to or add to a space. */
export function canUseAgent(v: Viewer, a: AgentAccess & Pick<Agent, 'archived'>): boolean {
  return canSeeAgent(v, a) && !a.archived
}

/** Change or archive: its creator or an organization admin. */
export function canEditAgent(v: Viewer, a: AgentAccess): boolean {
  return canSeeAgent(v, a) && (isOrgAdmin(v.role) || a.userId === v.userId)
}

/**
 * Of the agents `ids` (of any organization), those `v` may not see (canSeeAgent): another member's
 * private agent, whose id is 404 for `v` everywhere, is left out where another resource names it
 * (a space's agentRefs, an agent's subagentIds, a task's assignee). An admin sees every agent of
 * the organization: nothing is read for them. One statement per 500 ids; none for no ids.
 */
export async function agentsUnseenBy(db: Db, v: Viewer, ids: Iterable<string>): Promise<Set<string>> {
  const unseen = new Set<string>()
  const all = [...new Set(ids)]
  if (all.length === 0 || isOrgAdmin(v.role)) return unseen
  for (let i = 0; i < all.length; i += 500) {
    const a = agents
    const rows = await db.select({ id: a.id, organizationId: a.organizationId, userId: a.userId, visibility: a.visibility }).from(a).where(inArray(a.id, all.slice(i, i + 500))).all()
    for (const r of rows) if (!canSeeAgent(v, r)) unseen.add(r.id)
  }
  return unseen
}

/**
 * Of the agent references `refs` (ids or slugs, as a path names an agent: src/modules/slugs.ts),
 * those that name an agent of `v`'s organization `v` may not see (agentsUnseenBy): as given, so
 * that what named them can be unnamed. An id or slug of no agent is not in it. Nothing is read
 * for an admin, nor for no refs.
 */
export async function agentRefsUnseenBy(db: Db, v: Viewer, refs: Iterable<string>): Promise<Set<string>> {
  const unseen = new Set<string>()
  const all = [...new Set(refs)]
  if (all.length === 0 || isOrgAdmin(v.role)) return unseen
  const ids = all.filter((r) => refersToId(r, 'char'))
  for (const id of await agentsUnseenBy(db, v, ids)) unseen.add(id)
  for (const slug of all.filter((r) => !refersToId(r, 'char'))) {
    const a = await agentByRef(db, v.organizationId, slug)
    if (a && !canSeeAgent(v, a)) unseen.add(slug)
  }
  return unseen
}

/** The rule as a list condition on `agents` (undefined for admins). Binds `user`. */
export function visibleAgentsSql(admin: boolean): SQL | undefined {
  return admin ? undefined : or(eq(agents.userId, sql.placeholder('user')), ne(agents.visibility, 'private'))
}

/**
 * The agent `ref` names in an organization: its id (`char_…`) or its slug (src/modules/slugs.ts:
 * a slug never looks like an id, so the two cannot be confused). Whoever asks; the callers below
 * apply the rule. Every route with an agent in its path resolves it here.
 */
export function agentByRef(db: Db, organizationId: string, ref: string): Promise<Agent | undefined> {
  if (refersToId(ref, 'char')) {
    return prepared(db, 'agents.byIdInOrg', () =>
      db.select().from(agents).where(and(eq(agents.id, sql.placeholder('ref')), eq(agents.organizationId, sql.placeholder('org')))).prepare(),
    ).get({ ref, org: organizationId })
  }
  if (!isSlug(ref)) return Promise.resolve(undefined)
  return prepared(db, 'agents.bySlugInOrg', () =>
    db.select().from(agents).where(and(eq(agents.organizationId, sql.placeholder('org')), eq(agents.slug, sql.placeholder('ref')))).prepare(),
  ).get({ ref, org: organizationId })
}

/**
 * A list filter naming an agent by id or slug, as the id to filter on: the slug's agent in the
 * organization, else `ref` as it was (matching nothing). The list applies the rule to its rows.
 */
export async function agentFilterId(db: Db, organizationId: string, ref: string): Promise<string> {
  return refersToId(ref, 'char') ? ref : ((await agentByRef(db, organizationId, ref))?.id ?? ref)
}

/**
 * A list's agent filter (an id, as agentFilterId resolves it) as its statement binds it: '' (no
 * agent, so nothing matches) for an agent `v` may not see, as a made-up id finds nothing; lists
 * that show a run or a chat do not name such an agent, and a filter by it told which they were.
 */
export async function agentFilterSeenBy(db: Db, v: Viewer, id: string | undefined): Promise<string | undefined> {
  return id !== undefined && (await agentsUnseenBy(db, v, [id])).size > 0 ? '' : id
}

/** The agent `ref` (id or slug) names, if the viewer may see it (canSeeAgent). */
export async function visibleAgent(db: Db, v: Viewer, ref: string): Promise<Agent | undefined> {
  const a = await agentByRef(db, v.organizationId, ref)
  return a && canSeeAgent(v, a) ? a : undefined
}

/** The agent `ref` (id or slug) names, if the viewer may use it (canUseAgent): run it, file a task for it. */
export async function usableAgent(db: Db, v: Viewer, ref: string): Promise<Agent | undefined> {
  const a = await agentByRef(db, v.organizationId, ref)
  return a && canUseAgent(v, a) ? a : undefined
}

/**
 * usableAgent for a write that depends on the agent (a task assigned to it, a run of it, its
 * place in a space), inside that write's transaction: the row is read with forShare
 * (src/db/locks.ts), so an archive or a visibility change of the agent either waits for the
 * write or is seen by this check.
 */
export async function usableAgentForWrite(tx: Db, v: Viewer, ref: string): Promise<Agent | undefined> {
  const a = await agentByRefLocked(tx, v.organizationId, ref, forShare)
  return a && canUseAgent(v, a) ? a : undefined
}

/**
 * agentByRef inside a write's transaction, the row read with `lock` (src/db/locks.ts): forShare for
 * a write that depends on the agent, forUpdate for a change of the agent itself.
 */
export function agentByRefLocked(tx: Db, organizationId: string, ref: string, lock: typeof forShare | typeof forUpdate): Promise<Agent | undefined> {
  const where = refersToId(ref, 'char') ? eq(agents.id, ref) : isSlug(ref) ? eq(agents.slug, ref) : undefined
  if (where === undefined) return Promise.resolve(undefined)
  return lock(tx, tx.select().from(agents).where(and(eq(agents.organizationId, organizationId), where))).get()
}

import { and, eq } from 'drizzle-orm'
import { cappedCount, countedPages, keysetPages, listPage, type ListPage, readPage, statementReads } from '../../db/paging'
import { prepared } from '../../db/prepared'
import { agents } from '../../db/schema'
import type { Ctx } from '../../context'
import type { Db } from '../../db/connection'
import type { PublicAgent } from './model'

/** The public agent directory (GET /api/public/agents): no principal, every organization. */

/** One directory entry: the response schema is the one source of this shape. */
export type DirectoryAgent = typeof PublicAgent.static

function statements(db: Db) {
  const a = agents
  const where = and(eq(a.visibility, 'public'), eq(a.archived, false))
  const columns = { id: a.id, name: a.name, slug: a.slug, description: a.description, role: a.role, category: a.category, createdAt: a.createdAt }
  return {
    ...keysetPages(() => db.select(columns).from(a).$dynamic(), a, [where]),
    counted: countedPages(db, (n) => db.select({ row: columns, n }).from(a).$dynamic(), a, [where]),
    count: cappedCount(db, a, where),
  }
}

/** Public, non-archived agents of every organization on this server, newest first. */
export async function listPublicAgents(ctx: Ctx, opts: { limit: number; offset: number; cursor?: string }): Promise<{ data: DirectoryAgent[] } & ListPage> {
  const q = prepared(ctx.db, 'agents.publicList', () => statements(ctx.db))
  const page = await readPage('public-agents', {}, opts, {
    ...statementReads(q, {}),
    position: (r) => ({ t: r.createdAt.getTime(), id: r.id }),
  })
  return { data: page.rows.map(({ createdAt: _, ...agent }) => agent), ...listPage(page) }
}

import { and, desc, eq, sql } from 'drizzle-orm'
import { pageWithTotal, totalCount } from '../../db/paging'
import { prepared } from '../../db/prepared'
import { agents } from '../../db/schema'
import type { Deps } from '../../deps'

/** The public agent directory (GET /api/public/agents): no principal, every organization. */

export interface DirectoryAgent {
  id: string
  name: string
  slug: string
  description: string | null
  role: string | null
  category: string | null
}

/** Public, non-archived agents of every organization on this server, newest first. */
export function listPublicAgents(deps: Deps, opts: { limit: number; offset: number }): { data: DirectoryAgent[]; total: number } {
  const query = prepared(deps.db, 'agents.publicList', () => {
    const a = agents
    return deps.db
      .select({ id: a.id, name: a.name, slug: a.slug, description: a.description, role: a.role, category: a.category, total: totalCount() })
      .from(a)
      .where(and(eq(a.visibility, 'public'), eq(a.archived, false)))
      .orderBy(desc(a.createdAt), desc(a.id))
      .limit(sql.placeholder('limit'))
      .offset(sql.placeholder('offset'))
      .prepare()
  })
  const { rows, total } = pageWithTotal((limit, offset) => query.all({ limit, offset }), opts.limit, opts.offset)
  return { data: rows.map(({ total: _, ...agent }) => agent), total }
}

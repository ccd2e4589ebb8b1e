import { sql } from 'drizzle-orm'

/** Select this beside a list query's columns: every row then carries the total match count. */
export const totalCount = () => sql<number>`count(*) OVER ()`

/**
 * One page of a list query whose rows carry `total` (see totalCount). `page(limit, offset)` runs
 * the query; a page past the end has no row to read the total from, so it looks once more.
 */
export function pageWithTotal<R extends { total: number }>(
  page: (limit: number, offset: number) => R[],
  limit: number,
  offset: number,
): { rows: R[]; total: number } {
  const rows = page(limit, offset)
  const total = rows[0]?.total ?? (offset > 0 ? (page(1, 0)[0]?.total ?? 0) : 0)
  return { rows, total }
}

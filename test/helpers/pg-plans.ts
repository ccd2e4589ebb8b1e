/**
 * PostgreSQL's query plans, for the tests that check which index a statement walks
 * (test/list-plans.test.ts, test/execution-queue.test.ts): EXPLAIN (FORMAT JSON), as a tree.
 */
import type postgres from 'postgres'

export interface PgNode {
  'Node Type': string
  'Relation Name'?: string
  /** The table's alias in the statement (`r` for `executions r`). */
  Alias?: string
  'Index Name'?: string
  /** Of an Aggregate: Plain, Sorted (input in group order), Hashed or Mixed. */
  Strategy?: string
  /** The planner's estimate of the rows this node returns. */
  'Plan Rows': number
  /** EXPLAIN ANALYZE only: the rows this node returned (per loop), those its filter read and dropped, and its loops. */
  'Actual Rows'?: number
  'Rows Removed by Filter'?: number
  'Rows Removed by Index Recheck'?: number
  'Actual Loops'?: number
  /** How the node feeds its parent: Outer, Inner, InitPlan (a subquery run once), SubPlan… */
  'Parent Relationship'?: string
  Plans?: PgNode[]
}

/** A plan's nodes, the root first. */
export const nodesOf = (n: PgNode): PgNode[] => [n, ...(n.Plans ?? []).flatMap(nodesOf)]

/**
 * A plan's nodes split into those of its subqueries run once (InitPlans, e.g. a page's capped
 * count in its SELECT list) and the rest.
 */
export function splitInitPlans(root: PgNode): { main: PgNode[]; initPlans: PgNode[] } {
  const main: PgNode[] = []
  const initPlans: PgNode[] = []
  const walk = (n: PgNode, inInit: boolean) => {
    const init = inInit || n['Parent Relationship'] === 'InitPlan'
    ;(init ? initPlans : main).push(n)
    for (const c of n.Plans ?? []) walk(c, init)
  }
  walk(root, false)
  return { main, initPlans }
}

/** The scans that read a table in an index's order (a bitmap heap scan does not). */
export const INDEX_SCANS = ['Index Scan', 'Index Only Scan']

/**
 * EXPLAIN ANALYZE: the rows of `table` the plan read (returned or dropped by a filter or a bitmap's
 * recheck, in every loop): a measure of a statement's work that no load changes.
 */
export const rowsRead = (root: PgNode, table: string): number =>
  nodesOf(root)
    .filter((n) => n['Relation Name'] === table)
    .reduce((sum, n) => sum + ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0)) * (n['Actual Loops'] ?? 1), 0)

/** The plan as indented lines, for a failing assertion's message. */
export const describePlan = (n: PgNode, depth = 0): string =>
  [
    `${'  '.repeat(depth)}${n['Node Type']}${n.Strategy ? ` ${n.Strategy}` : ''}${n['Relation Name'] ? ` on ${n['Relation Name']}${n.Alias && n.Alias !== n['Relation Name'] ? ` ${n.Alias}` : ''}` : ''}${n['Index Name'] ? ` using ${n['Index Name']}` : ''} (rows ${n['Plan Rows']})`,
    ...(n.Plans ?? []).map((x) => describePlan(x, depth + 1)),
  ].join('\n')

const literal = (v: unknown): string => {
  if (v === null || v === undefined) return 'NULL'
  if (typeof v === 'number' || typeof v === 'bigint') return String(v)
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE'
  return `'${String(v instanceof Date ? v.toISOString() : v).replaceAll("'", "''")}'`
}

/**
 * The plan of a statement ($1… parameters) as the server would run it with these values:
 * PREPAREd as postgres-js prepares it (parameter types inferred by the server), then EXPLAIN
 * EXECUTE with the values as literals, under plan_cache_mode force_custom_plan (the plan of the
 * first executions, made for the values) or force_generic_plan (made once for any values, which
 * the server switches to after five executions when it looks no dearer). plan_cache_mode is set
 * on the explaining connection only, and reset; no other planner setting is touched.
 */
export async function explainPg(client: postgres.Sql, sql: string, params: unknown[], mode: 'custom' | 'generic', opts: { analyze?: boolean } = {}): Promise<PgNode> {
  const reserved = await client.reserve()
  try {
    await reserved.unsafe(`SET plan_cache_mode = force_${mode}_plan`)
    await reserved.unsafe(`PREPARE plan_check AS ${sql}`)
    try {
      const [row] = await reserved.unsafe(`EXPLAIN (${opts.analyze ? 'ANALYZE, ' : ''}FORMAT JSON) EXECUTE plan_check${params.length ? `(${params.map(literal).join(', ')})` : ''}`)
      return (row!['QUERY PLAN'] as { Plan: PgNode }[])[0]!.Plan
    } finally {
      await reserved.unsafe('DEALLOCATE plan_check')
      await reserved.unsafe('RESET plan_cache_mode')
    }
  } finally {
    reserved.release()
  }
}

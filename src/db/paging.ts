import { and, asc, desc, getTableColumns, getTableName, sql, type AnyColumn, type SQL } from 'drizzle-orm'
import type { SQLiteColumn, SQLiteSelect, SQLiteTable } from 'drizzle-orm/sqlite-core'
import { AppError, invalidField } from '../errors'
import { MAX_INSTANT_MS } from '../instants'
import { connectionOf, type Db } from './connection'
import { lazy } from './prepared'
import { dbTime } from './schema'
import { LARGE_COLUMNS } from './schema/shared'

/**
 * Lists, newest first, paged by keyset: every list is ordered by `(created_at, id)` descending
 * on an index that starts with the list's equality filters, so a page costs O(limit) whatever
 * the size of the organization. A cursor is the sort key of the last row of a page; the next
 * page is the rows strictly before it (`(created_at, id) < (t, id)`), so rows inserted
 * meanwhile (newer, hence before the first page) are neither repeated nor skipped.
 *
 * `offset` still works (TeamDay's clients send it), and costs O(offset): SQLite walks the
 * skipped rows.
 *
 * `total` is counted only when a list has no cursor, and only up to TOTAL_CAP rows
 * (`SELECT count(*) FROM (SELECT 1 … LIMIT cap + 1)` on the same index); beyond that it is
 * TOTAL_CAP with `totalIsEstimate: true`, meaning "at least". On PostgreSQL the count rides in
 * the page's own statement (countedPages): one round trip instead of two in sequence, which cut
 * the mixed workload's CPU a request by a tenth in teamday and in PostgreSQL alike
 * (bench/mixed.ts). A page that reaches the end of the list needs no count at all (offset +
 * rows); a page past the end (an offset beyond the last row) counts on its own. The total of a
 * first page travels in its cursor, so later pages repeat it without counting again.
 *
 * Why 1,000: counting walks the index at ~40 ns an entry, so a cap of 10,000 adds ~0.4 ms to
 * every first page of a big list, 1.5x a page of a small one (bench/lists.ts); at 1,000 it is
 * ~0.04 ms and a first page costs the same at 1,000 or 100,000 rows.
 */
export const TOTAL_CAP = 1_000

/** The sort key of a row: created_at in ms, then id. */
export interface Position {
  t: number
  id: string
}

/** A row's position and size (PageSource.sizes). */
export interface Sized {
  position: Position
  bytes: number
}

export interface PageRequest {
  limit: number
  offset: number
  /** An opaque `nextCursor` of an earlier page of the same list and filters; empty = none. */
  cursor?: string
}

export interface PageSource<R> {
  /**
   * Up to `limit` rows in list order, skipping `offset`, strictly after `after` when given. A
   * list read within a budget (`budgeted`) gives none when they come to more than `budget` bytes.
   */
  rows(limit: number, offset: number, after: Position | undefined, budget: number): Promise<R[]>
  /** Matching rows, counted up to `cap` (a list without a total leaves this out). */
  count?(cap: number): Promise<number>
  /**
   * A page without a cursor and its capped count in one statement (`countedPages`, PostgreSQL):
   * the count rides on every row, so it comes back whenever the page has a row. Lists with a
   * total give it there; `count` is then asked only of a page past the end. Within `budget` as
   * `rows`.
   */
  counted?(limit: number, offset: number, cap: number, budget: number): Promise<CountedRow<R>[]>
  position(row: R): Position
  /**
   * A list whose rows can be large (executions: a model's whole answer; tasks: their metadata;
   * agents: their system prompts; spaces: their instructions) gives the size of each row of a
   * page (its large columns' bytes, counted by the database, which reads no row into JavaScript
   * for it) with its position: the same statement, selecting only those (sizeStatements). A page
   * of such a list that comes to more than STREAMED_PAGE_BYTES is left to `rest` (readPage), read
   * and sent a batch at a time, so that it never holds the event loop for all of its rows, and a
   * client that reads slowly, or not at all, never has the whole page waiting in the server for
   * it: the next batch is read when the last one has left.
   */
  sizes?(limit: number, offset: number, after: Position | undefined): Promise<Sized[]>
  /**
   * With `sizes`: `rows` and `counted` read a page only when it comes to `budget` bytes or less
   * (budgetedPages), so that a page of small rows costs one statement, as in any list; its sizes
   * are read only when it came back empty (large, or without a row: one statement more). Without,
   * the sizes are read before every page (executions).
   */
  budgeted?: boolean
}

/** A row of a page read with its list's capped count (`countedPages`). */
export interface CountedRow<R> {
  row: R
  n: number
}

export interface Page<R> {
  rows: R[]
  /** The cursor of the next page; null on the last one. */
  nextCursor: string | null
  /** Matching rows; undefined for a list without a total. */
  total?: number
  /** true when `total` is TOTAL_CAP and more match. */
  totalIsEstimate: boolean
  /**
   * Only for a list that gives its rows' sizes (PageSource.sizes), when the page is large: the
   * page's rows (`rows` is then empty), in batches of about STREAMED_BATCH_BYTES each, each read
   * when it is asked for.
   */
  rest?: () => AsyncGenerator<R[]>
}

/** A page whose rows come to more than this many bytes (PageSource.sizes) is sent as it is read. */
export const STREAMED_PAGE_BYTES = 1 << 20
/** About the size of each batch of such a page (one row at least). */
export const STREAMED_BATCH_BYTES = 1 << 20
/** What a row's JSON takes besides its large columns (ids, names, dates), about. */
const ROW_BYTES = 600
/** The budget of a read that has none (PageSource.rows): a large page's batch. */
const NO_BUDGET = Number.MAX_SAFE_INTEGER

/**
 * One page of `list` under `filters` (anything JSON, the caller included: bound into the
 * cursor, so a cursor is refused under other filters, for another caller or by another list
 * instead of silently paging something else).
 */
export async function readPage<R>(list: string, filters: unknown, req: PageRequest, src: PageSource<R>): Promise<Page<R>> {
  const scope = scopeOf(list, filters)
  // A cursor says where its page starts: an offset beside it skipped that many more rows, on
  // every page of a client that kept sending it.
  if (req.cursor && req.offset > 0) throw invalidField('offset', 'offset cannot be combined with cursor: the cursor says where the page starts; leave offset out (or 0) when you follow nextCursor')
  // An empty cursor is the first page (a script's loop often starts with `cursor=`).
  const cursor = req.cursor ? decodeCursor(req.cursor, list, scope, src.count !== undefined) : undefined
  const after = cursor?.after
  // A large page of a list whose rows can be large (PageSource.sizes), read as it is sent.
  const sentAsRead = async (large: LargePage<R>): Promise<Page<R>> => {
    const total = await pageTotal(src, req, cursor, large.more, large.rows, undefined)
    const nextCursor = large.more ? encodeCursor(scope, large.last!, total) : null
    return { rows: [], rest: large.rest, nextCursor, total: total?.n, totalIsEstimate: total?.estimate ?? false }
  }
  // Such a list reads its rows' sizes before every page, unless it reads pages within a budget.
  if (src.sizes && !src.budgeted) {
    const large = await largePage(src, src.sizes, req.limit, req.offset, after)
    if (large.rest) return sentAsRead(large)
  }
  const budget = src.budgeted ? STREAMED_PAGE_BYTES : NO_BUDGET
  // A first page (or one by offset) of a list with a total reads its count in the same statement:
  // one round trip on PostgreSQL instead of two in sequence.
  let counted: number | undefined
  let rows: R[]
  if (!cursor && src.count && src.counted) {
    const read = await src.counted(req.limit + 1, req.offset, TOTAL_CAP + 1, budget)
    counted = read[0]?.n
    rows = read.map((r) => r.row)
  } else rows = await src.rows(req.limit + 1, req.offset, after, budget)
  // A page read within its budget that came back empty has no row, or is large: its sizes tell.
  if (rows.length === 0 && src.budgeted && src.sizes) {
    const large = await largePage(src, src.sizes, req.limit, req.offset, after)
    if (large.rest) return sentAsRead(large)
    // Not large: changed since, or at the budget's edge (the budget counts the row that tells
    // whether more follow). Read as any page.
    if (large.rows > 0) rows = await src.rows(req.limit + 1, req.offset, after, NO_BUDGET)
  }
  const more = rows.length > req.limit
  if (more) rows.length = req.limit
  const total = await pageTotal(src, req, cursor, more, rows.length, counted)
  const last = rows[rows.length - 1]
  const nextCursor = more && last !== undefined ? encodeCursor(scope, src.position(last), total) : null
  return { rows, nextCursor, total: total?.n, totalIsEstimate: total?.estimate ?? false }
}

/**
 * The total of a page of `rows` rows (`more`: another page follows) of a list with a total, else
 * undefined: the cursor's, or known from a page that ends the list, or counted (`counted`: the
 * count read with the page already).
 */
async function pageTotal<R>(src: PageSource<R>, req: PageRequest, cursor: { total: Total } | undefined, more: boolean, rows: number, counted: number | undefined): Promise<Total | undefined> {
  if (!src.count) return undefined
  if (cursor) return cursor.total
  // A page that ends the list knows how many there are, without counting.
  if (!more && (rows > 0 || req.offset === 0)) return { n: req.offset + rows, estimate: false }
  const n = counted ?? (await src.count(TOTAL_CAP + 1))
  return n > TOTAL_CAP ? { n: TOTAL_CAP, estimate: true } : { n, estimate: false }
}

/** What largePage knows of a page from its rows' sizes. */
interface LargePage<R> {
  /** Its rows, at most the page's limit. */
  rows: number
  /** Whether another page follows. */
  more: boolean
  /** Only when the page comes to more than STREAMED_PAGE_BYTES: its rows, in batches. */
  rest?: () => AsyncGenerator<R[]>
  /** With `rest`: the position of its last row. */
  last?: Position
}

/**
 * A page of a list that gives its rows' sizes: when it comes to STREAMED_PAGE_BYTES or less, only
 * how many rows it has (the caller reads it in one statement, as any page); else also its rows in
 * batches of about STREAMED_BATCH_BYTES (`rest`), each read when asked for. Every batch is read
 * by keyset, never by offset: the first after the row before the page (the cursor's, or the row
 * at offset - 1, read with the sizes), each next one after the previous batch's planned end; a
 * batch reads on until it reaches its own planned end. So a row created or deleted elsewhere in
 * the list meanwhile shifts nothing: rows deleted leave the page shorter, a row created inside
 * the page's range joins it, one created ahead of a first page (newer than all) is left to a
 * later look at the list, and no row of the plan is skipped or sent twice.
 * Each call of `rest` reads the page again (an answer that lists the page twice, as the agent
 * list's `agents` and `characters` do, reads it twice rather than keep it).
 */
async function largePage<R>(
  src: PageSource<R>,
  sizes: NonNullable<PageSource<R>['sizes']>,
  limit: number,
  offset: number,
  after: Position | undefined,
): Promise<LargePage<R>> {
  // By offset: the row before the page too, whose position the first batch reads after.
  const before = offset > 0 ? 1 : 0
  const sized = await sizes(limit + 1 + before, offset - before, after)
  const anchor = before && sized.length > 0 ? sized.shift()!.position : after
  const more = sized.length > limit
  if (more) sized.length = limit
  let total = 0
  for (const s of sized) total += s.bytes + ROW_BYTES
  if (total <= STREAMED_PAGE_BYTES) return { rows: sized.length, more }
  // Consecutive rows of about STREAMED_BATCH_BYTES each, one row at least.
  const batches: Position[][] = []
  let batch: Position[] = []
  let bytes = 0
  for (const s of sized) {
    if (batch.length > 0 && bytes + s.bytes + ROW_BYTES > STREAMED_BATCH_BYTES) {
      batches.push(batch)
      batch = []
      bytes = 0
    }
    batch.push(s.position)
    bytes += s.bytes + ROW_BYTES
  }
  if (batch.length > 0) batches.push(batch)
  // A first page from the top of the list: rows newer than its first planned one came since.
  const newest = anchor === undefined ? sized[0]!.position : undefined
  const rest = async function* (): AsyncGenerator<R[]> {
    let from = anchor
    for (const [i, planned] of batches.entries()) {
      const end = planned[planned.length - 1]!
      const mine: R[] = []
      // Until the batch's end: more rows than planned may lie before it (created meanwhile).
      for (let at = from, reached = false; !reached; ) {
        const got = await src.rows(planned.length, 0, at, NO_BUDGET)
        if (got.length < planned.length) reached = true
        for (const r of got) {
          const p = src.position(r)
          at = p
          // Past the batch's end in list order (ids compare as bytes: C collation, see README).
          if (olderThan(p, end)) {
            reached = true
            break
          }
          if (!(i === 0 && newest && olderThan(newest, p))) mine.push(r)
          if (p.t === end.t && p.id === end.id) {
            reached = true
            break
          }
        }
      }
      if (mine.length > 0) yield mine
      from = end
    }
  }
  // Past STREAMED_PAGE_BYTES, the page has a row.
  return { rest, last: sized[sized.length - 1]!.position, rows: sized.length, more }
}

/** Whether `a` comes after `b` in list order (newest first, ties by id, descending). */
function olderThan(a: Position, b: Position): boolean {
  return a.t < b.t || (a.t === b.t && a.id < b.id)
}

/** A large page's batches (Page.rest) as the list's items, each batch made by `map`; undefined for a page read whole. */
export function mapBatches<R, T>(rest: Page<R>['rest'], map: (rows: R[]) => T[] | Promise<T[]>): (() => AsyncGenerator<T[]>) | undefined {
  if (!rest) return undefined
  return async function* () {
    for await (const rows of rest()) yield await map(rows)
  }
}

interface Total {
  n: number
  /** true: at least n. */
  estimate: boolean
}

/** What a list response carries besides its rows. */
export interface ListPage {
  nextCursor: string | null
  total: number
  totalIsEstimate: boolean
}

/** The response fields of a page of a list with a total. */
export function listPage(page: Page<unknown>): ListPage {
  return { nextCursor: page.nextCursor, total: page.total ?? 0, totalIsEstimate: page.totalIsEstimate }
}

/** ORDER BY of every list: newest first, ties by id. */
export const newestFirst = (createdAt: AnyColumn, id: AnyColumn) => [desc(createdAt), desc(id)]

/**
 * The keyset condition of a page after a cursor, as a row value: SQLite uses it as a range on
 * an index ending in (created_at, id). Bound with `afterParams`.
 */
export const beforeCursor = (createdAt: AnyColumn, id: AnyColumn): SQL =>
  sql`(${createdAt}, ${id}) < (${sql.placeholder('afterT')}, ${sql.placeholder('afterId')})`

export const afterParams = (after: Position | undefined) => (after ? { afterT: dbTime(after.t), afterId: after.id } : {})

/**
 * The two prepared page queries of a list: its first page, and a page after a cursor (the
 * keyset condition added to the list's own filters). `select` gives the list's SELECT … FROM in
 * drizzle's dynamic mode; bound with `limit`, `offset` and, after a cursor, `afterParams`.
 */
export function keysetPages<T extends SQLiteSelect>(select: () => T, keys: { createdAt: AnyColumn; id: AnyColumn }, where: (SQL | undefined)[]) {
  return { first: lazy(() => pageQuery(select(), keys, where)), after: lazy(() => pageQuery(select(), keys, [...where, beforeCursor(keys.createdAt, keys.id)])) }
}

/**
 * The bytes of a row's large columns as the database stores them (PageSource.sizes; the columns:
 * src/db/schema/shared.ts, LARGE_COLUMNS), plus `more` (a subquery's sum). On PostgreSQL, the
 * table's `content_bytes`, which it computed when the row was written (no jsonb written out as
 * text at each page); on SQLite, each column's octet_length, which reads the length a value is
 * stored with, not its text (faster than reading any column). No large column is read into
 * JavaScript for it. UTF-8 bytes: the JSON of text full of characters it escapes (`\u0001`) is
 * up to six times as long, so a page so counted at STREAMED_PAGE_BYTES is at most six times that.
 */
export function storedBytes(db: Db, table: SizedTable, more: SQL[] = []): SQL<number> {
  const columns = getTableColumns(table) as Record<string, AnyColumn>
  const byName = new Map(Object.values(columns).map((c) => [c.name, c]))
  const { text, json } = LARGE_COLUMNS[getTableName(table) as keyof typeof LARGE_COLUMNS]
  const parts =
    connectionOf(db).dialect === 'pg' ? [sql`${table.contentBytes}`] : [...text, ...json].map((name) => sql`coalesce(octet_length(${byName.get(name)!}), 0)`)
  return sql<number>`(${sql.join([...parts, ...more], sql` + `)})`.mapWith(Number)
}

/** A table whose rows a list sizes (LARGE_COLUMNS). */
type SizedTable = SQLiteTable & { contentBytes: AnyColumn }

/**
 * The columns a list reads of a sized table's rows: all but `content_bytes`, which only sizes
 * pages (storedBytes, in SQL) and which SQLite computes anew for every row read (a virtual column:
 * measured 6-7 µs a first page of 51 tasks, 20-22 µs of agents).
 */
export function listedColumns<T extends SizedTable>(table: T): Omit<T['_']['columns'], 'contentBytes'> {
  const { contentBytes: _, ...rest } = getTableColumns(table)
  return rest
}

/**
 * The two prepared statements of a list's sizes (PageSource.sizes), first page and after a
 * cursor: the position of each row of a page and its `bytes` (storedBytes), under the list's own
 * filters, order and bounds, on the same index as its pages. Bound as keysetPages. Spread among
 * the list's other statements (`prepared` runs the statements of a group synchronously on SQLite,
 * not those nested deeper).
 */
export function sizeStatements(db: Db, table: SQLiteTable & { createdAt: SQLiteColumn; id: SQLiteColumn }, bytes: SQL<number>, where: (SQL | undefined)[]) {
  const q = keysetPages(() => db.select({ createdAt: table.createdAt, id: table.id, bytes }).from(table).$dynamic(), table, where)
  return { sizesFirst: q.first, sizesAfter: q.after }
}

/** A prepared statement as a list runs it (drizzle's, on either backend). */
interface ListStatement<T> {
  all(values: Record<string, unknown>): Promise<T[]> | T[]
}

/**
 * PageSource's reads from a list's prepared statements (keysetPages or budgetedPages,
 * countedPages, cappedCount), each bound with the list's `params`: its pages, its first page with
 * the capped count (PostgreSQL) and the count alone. A budget is bound too (a statement without
 * one ignores it).
 */
export function statementReads<R>(
  q: { first: ListStatement<R>; after: ListStatement<R>; counted?: ListStatement<CountedRow<R>>; count: { get(values: Record<string, unknown>): Promise<{ n: number } | undefined> | { n: number } | undefined } },
  params: Record<string, unknown>,
): Pick<PageSource<R>, 'rows' | 'counted' | 'count'> {
  return {
    rows: async (limit, offset, after, budget) => (after ? q.after : q.first).all({ ...params, ...afterParams(after), limit, offset, budget }),
    counted: q.counted && (async (limit, offset, cap, budget) => q.counted!.all({ ...params, limit, offset, cap, budget })),
    count: async (cap) => (await q.count.get({ ...params, cap }))?.n ?? 0,
  }
}

/** PageSource.sizes from a list's sizeStatements, bound with the list's `params`. */
export function sizesOf(q: ReturnType<typeof sizeStatements>, params: Record<string, unknown>): NonNullable<PageSource<unknown>['sizes']> {
  return async (limit, offset, after) => {
    const rows = (await (after ? q.sizesAfter : q.sizesFirst).all({ ...params, ...afterParams(after), limit, offset })) as { createdAt: Date; id: string; bytes: number }[]
    return rows.map((r) => ({ position: { t: r.createdAt.getTime(), id: r.id }, bytes: r.bytes }))
  }
}

/**
 * The two prepared page queries of a list whose rows can be large (keysetPages), each read
 * within a budget (PageSource.budgeted): a page passes only when its rows come to `budget` bytes
 * or less, each counted as its `bytes` (storedBytes) and ROW_BYTES, summed by a subquery over the
 * page's own rows (the list's filters, order, `limit` and `offset`) that reads no large column.
 * It depends on no row: PostgreSQL runs it once (an InitPlan, then a One-Time Filter), and SQLite
 * once too. Bound also with `budget`.
 */
export function budgetedPages<T extends SQLiteSelect>(db: Db, select: () => T, table: SQLiteTable & { createdAt: SQLiteColumn; id: SQLiteColumn }, bytes: SQL<number>, where: (SQL | undefined)[]) {
  const afterCursor = () => [...where, beforeCursor(table.createdAt, table.id)]
  return {
    first: lazy(() => pageQuery(select(), table, [...where, withinBudget(db, table, bytes, where)])),
    after: lazy(() => pageQuery(select(), table, [...afterCursor(), withinBudget(db, table, bytes, afterCursor())])),
  }
}

/** The condition of budgetedPages: the page's rows under `where` come to `budget` bytes or less. */
function withinBudget(db: Db, table: SQLiteTable & { createdAt: SQLiteColumn; id: SQLiteColumn }, bytes: SQL<number>, where: (SQL | undefined)[]): SQL {
  const page = db
    .select({ b: sql<number>`${bytes}`.as('b') })
    .from(table)
    .where(and(...where))
    .orderBy(...newestFirst(table.createdAt, table.id))
    .limit(sql.placeholder('limit'))
    .offset(sql.placeholder('offset'))
    .as('page_sizes')
  return sql`(select coalesce(sum(${page.b} + ${sql.raw(String(ROW_BYTES))}), 0) from ${page}) <= ${sql.placeholder('budget')}`
}

/** `query` filtered by `where`, newest first, bound with `limit` and `offset`, prepared. */
function pageQuery<T extends SQLiteSelect>(query: T, keys: { createdAt: AnyColumn; id: AnyColumn }, where: (SQL | undefined)[]) {
  return query
    .where(and(...where))
    .orderBy(...newestFirst(keys.createdAt, keys.id))
    .limit(sql.placeholder('limit'))
    .offset(sql.placeholder('offset'))
    .prepare() as ReturnType<T['prepare']>
}

/**
 * `SELECT count(*) FROM (SELECT 1 FROM table WHERE … ORDER BY created_at, id LIMIT :cap)`,
 * prepared: it walks the same index as the page and stops at the cap. The ORDER BY costs SQLite
 * nothing (the index is in that order) and tells PostgreSQL's planner so: without it, a big
 * organization's count is a sequential scan that stops at the cap only if its rows happen to lie
 * early in the table (test/list-plans.test.ts). Bound with the list's own parameters plus `cap`.
 *
 * It walks from the oldest end, the page from the newest: the count is the same either way (the
 * first `cap` matches of one index), but on PostgreSQL an index-only scan reads the table for
 * every entry on a page not yet marked all-visible, and new rows (the newest end, where writes
 * land) are not until the next VACUUM. Counting the newest 1,001 tasks under steady inserts
 * fetched all 1,001 rows (200-280 µs a count); the oldest, settled long ago, none (170-190 µs,
 * round trip included). SQLite has no visibility map: 38 µs either way.
 */
export function cappedCount(db: Db, table: SQLiteTable & { createdAt: AnyColumn; id: AnyColumn }, where: SQL | undefined) {
  return lazy(() => countQuery(db, table, where).prepare())
}

function countQuery(db: Db, table: SQLiteTable & { createdAt: AnyColumn; id: AnyColumn }, where: SQL | undefined) {
  const matches = db
    .select({ one: sql<number>`1` })
    .from(table)
    .where(where)
    .orderBy(asc(table.createdAt), asc(table.id))
    .limit(sql.placeholder('cap'))
    .as('matches')
  return db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(matches)
}

/**
 * On PostgreSQL, a list's page without a cursor with its capped count (cappedCount) as a column
 * of every row: `SELECT <row>, (SELECT count(*) FROM (SELECT 1 … LIMIT :cap)) AS n FROM … ORDER
 * BY … LIMIT :limit OFFSET :offset`. The subquery depends on no row, so PostgreSQL runs it once
 * (an InitPlan), on the same index as a separate count would. `select` gives the list's SELECT …
 * FROM with the given columns (`row`: the list's own, nested; `n`) in drizzle's dynamic mode;
 * bound with the list's parameters, `limit`, `offset` and `cap`.
 *
 * Undefined on SQLite, where a statement is a function call, not a round trip: the page and its
 * count stay two statements there, and drizzle's mapping of the nested rows cost more than the
 * second call (mixed workload, SQLite: 0.60-0.67x the floor with it, 0.68-0.72x without).
 *
 * With `bytes` (a list whose pages are budgetedPages), the page is read within its budget too,
 * not the count: bound also with `budget`.
 */
export function countedPages<T extends SQLiteSelect>(
  db: Db,
  select: (n: SQL.Aliased<number>) => T,
  table: SQLiteTable & { createdAt: SQLiteColumn; id: SQLiteColumn },
  where: (SQL | undefined)[],
  bytes?: SQL<number>,
) {
  if (connectionOf(db).dialect === 'sqlite') return undefined
  return lazy(() => {
    const n = sql<number>`(${countQuery(db, table, and(...where))})`.mapWith(Number).as('n')
    return pageQuery(select(n), table, bytes ? [...where, withinBudget(db, table, bytes, where)] : where)
  })
}

// ── cursors ─────────────────────────────────────────────────────────────────────────────────

const MAX_CURSOR = 600
const ID = /^[A-Za-z0-9_-]{1,100}$/
const B64URL = /^[A-Za-z0-9_-]+$/

/** A short digest of the list and its filters: cursors carry it and are refused elsewhere. */
function scopeOf(list: string, filters: unknown): string {
  return `${list}.${Bun.hash.wyhash(JSON.stringify(filters) ?? '').toString(36)}`
}

function encodeCursor(scope: string, p: Position, total: Total | undefined): string {
  const payload = total === undefined ? [1, scope, p.t, p.id] : [1, scope, p.t, p.id, total.n, total.estimate ? 1 : 0]
  return Buffer.from(JSON.stringify(payload)).toString('base64url')
}

function badCursor(list: string, why: string): AppError {
  return new AppError(
    'bad_request',
    `Invalid cursor: ${why}. Pass the nextCursor of a previous response of this same list (${list}) with the same filters, or leave cursor out for the first page.`,
    { details: [{ field: 'cursor', message: why }] },
  )
}

function decodeCursor(raw: string, list: string, scope: string, withTotal: boolean): { after: Position; total: Total } {
  if (raw.length > MAX_CURSOR || !B64URL.test(raw)) throw badCursor(list, 'not a cursor')
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
  } catch {
    throw badCursor(list, 'not a cursor')
  }
  if (!Array.isArray(v) || v[0] !== 1 || typeof v[1] !== 'string') throw badCursor(list, 'not a cursor')
  if (v[1] !== scope) {
    throw badCursor(list, v[1].startsWith(`${list}.`) ? 'it was issued for other filters or to another caller' : 'it was issued by another list')
  }
  const [, , t, id, n, estimate] = v
  const totalOk = withTotal ? v.length === 6 && Number.isSafeInteger(n) && n >= 0 && (estimate === 0 || estimate === 1) : v.length === 4
  // A time no row can have (past 9999-12-31) is no cursor: PostgreSQL cannot even compare it.
  if (!Number.isSafeInteger(t) || t < 0 || t > MAX_INSTANT_MS || typeof id !== 'string' || !ID.test(id) || !totalOk) throw badCursor(list, 'not a cursor')
  return { after: { t, id }, total: withTotal ? { n, estimate: estimate === 1 } : { n: 0, estimate: false } }
}

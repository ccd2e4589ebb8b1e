// A large page (more than STREAMED_PAGE_BYTES, sent as it is read: src/db/paging.ts largePage)
// keeps to the rows it planned when the list changes between the plan and the reads of its
// batches: a row created at the top, or one deleted ahead of an offset page, shifts nothing
// (its first batch was read by offset, so one planned row fell off its end and the next batch
// started after it: skipped, on neither this page nor the next).
import { describe, expect, test } from 'bun:test'
import { readPage, STREAMED_BATCH_BYTES, type PageSource, type Position } from '../src/db/paging'

interface Row {
  id: string
  t: number
  bytes: number
}

/** A list in memory, newest first (ties by id, descending), as every list orders its rows. */
function memoryList(rows: Row[]): PageSource<Row> & { rows(...a: Parameters<PageSource<Row>['rows']>): Promise<Row[]>; all: Row[] } {
  const all = rows
  const ordered = () => [...all].sort((a, b) => b.t - a.t || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
  const from = (offset: number, after: Position | undefined) =>
    ordered()
      .filter((r) => !after || r.t < after.t || (r.t === after.t && r.id < after.id))
      .slice(offset)
  return {
    all,
    rows: async (limit, offset, after) => from(offset, after).slice(0, limit),
    sizes: async (limit, offset, after) => from(offset, after).slice(0, limit).map((r) => ({ position: { t: r.t, id: r.id }, bytes: r.bytes })),
    count: async (cap) => Math.min(all.length, cap),
    position: (r) => ({ t: r.t, id: r.id }),
  }
}

const big = Math.floor(STREAMED_BATCH_BYTES / 3)
const list = () => memoryList(Array.from({ length: 30 }, (_, i) => ({ id: `row_${String(i).padStart(2, '0')}`, t: 1000 + i, bytes: big })))
const ids = (rows: Row[]) => rows.map((r) => r.id)

async function sent(page: Awaited<ReturnType<typeof readPage<Row>>>): Promise<Row[]> {
  expect(page.rest).toBeDefined()
  const out: Row[] = []
  for await (const batch of page.rest!()) out.push(...batch)
  return out
}

describe('a large page while the list changes', () => {
  test('a row created at the top after the plan: the first page is the rows planned, and the next page follows on', async () => {
    const src = list()
    const planned = ids((await src.rows(30, 0, undefined, 0)).slice(0, 10))
    const page = await readPage('rows', {}, { limit: 10, offset: 0 }, src)
    src.all.push({ id: 'row_new', t: 5000, bytes: big })
    const first = await sent(page)
    expect(ids(first)).toEqual(planned)
    const second = await readPage('rows', {}, { limit: 10, offset: 0, cursor: page.nextCursor! }, src)
    expect(ids(await sent(second))[0]).toBe('row_19')
  })

  test('by offset: a row created at the top, or one deleted ahead of the page, shifts nothing', async () => {
    for (const change of ['create', 'delete'] as const) {
      const src = list()
      const planned = ids((await src.rows(30, 0, undefined, 0)).slice(5, 15))
      const page = await readPage('rows', {}, { limit: 10, offset: 5 }, src)
      if (change === 'create') src.all.push({ id: 'row_new', t: 5000, bytes: big })
      else src.all.splice(src.all.findIndex((r) => r.id === 'row_29'), 1)
      expect(ids(await sent(page))).toEqual(planned)
    }
  })

  test('a planned row deleted meanwhile leaves the page shorter; the others are all sent once', async () => {
    const src = list()
    const planned = ids((await src.rows(30, 0, undefined, 0)).slice(0, 10))
    const page = await readPage('rows', {}, { limit: 10, offset: 0 }, src)
    src.all.splice(src.all.findIndex((r) => r.id === planned[2]), 1)
    expect(ids(await sent(page))).toEqual(planned.filter((_, i) => i !== 2))
  })
})

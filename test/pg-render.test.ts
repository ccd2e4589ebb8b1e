/**
 * src/db/pg-render.ts renders a tagged-template query and its nested fragments once into the
 * text and parameter order postgres-js builds from them (PgCountedLookup's statement, sent with
 * `unsafe`). Compared with what postgres-js itself sends (its `debug` hook). Needs PostgreSQL
 * (test/helpers/pg.ts): skipped with one line where none answers, a failure in CI.
 */
import { describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { fill, renderOnce, Slot } from '../src/db/pg-render'
import { needPostgres, PG_ADMIN_URL } from './helpers/pg'

const HAVE_PG = await needPostgres('test/pg-render.test.ts')

describe.skipIf(!HAVE_PG)('a statement rendered once from postgres-js fragments', () => {
  test('the same text and parameters as postgres-js builds from the fragments, values by Slot', async () => {
    const seen: [string, unknown[]][] = []
    const sql = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {}, prepare: true, fetch_types: false, debug: (_c, q, p) => seen.push([q, [...p]]) })
    try {
      const shared = (x: never) => sql`(${x}::int + ${7}::int)`
      const query = (a: never, b: never) => sql`SELECT ${shared(a)} AS one, ${shared(b)} AS two, ${sql``}${'c'}::text AS three, ${true ? sql`${a}::int * 2` : sql``} AS four`
      const rendered = renderOnce(sql, query(new Slot(0) as never, new Slot(1) as never))
      expect(rendered.params.filter((p) => p instanceof Slot)).toHaveLength(3)
      const direct = await query(1 as never, 2 as never)
      const once = await sql.unsafe(rendered.text, fill(rendered, [1, 2]) as never[], { prepare: true })
      expect(seen).toHaveLength(2)
      expect(seen[1]).toEqual(seen[0]!)
      expect([...once] as unknown[]).toEqual([...direct])
      expect([...once] as unknown[]).toEqual([{ one: 8, two: 9, three: 'c', four: 2 }])
    } finally {
      await sql.end()
    }
  })

  test("refuses what it does not render as postgres-js would: helpers, undefined, a plain query's text", () => {
    const sql = postgres(PG_ADMIN_URL, { max: 1 })
    expect(() => renderOnce(sql, sql`SELECT * FROM ${sql('t')}`)).toThrow('renderOnce')
    expect(() => renderOnce(sql, sql`SELECT ${undefined as never}`)).toThrow('renderOnce')
    expect(() => renderOnce(sql, 'SELECT 1')).toThrow('renderOnce')
  })
})

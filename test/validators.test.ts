import { beforeAll, expect, test } from 'bun:test'
import { TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler'
import { t as tb } from 'elysia'
import '../src/http/elysia-models'
import { makeTestApp, type TestApp } from './helpers/app'

// Validators compile on first use (src/http/elysia-models.ts, lazyTypeCheck): a route's first
// request no longer compiles every response status it declares. So a schema TypeBox cannot
// compile would fail only when first checked: here every validator of every route is compiled.

let t: TestApp
beforeAll(async () => {
  t = await makeTestApp()
})

type Json = any

/** Every schema a route validates with: query, params, headers, cookie, body, each response status. */
function routeSchemas(app: Json): { where: string; schema: Json }[] {
  const models: Record<string, Json> = app.definitions.type
  const resolve = (s: Json) => (typeof s === 'string' ? models[s] : s)
  const out: { where: string; schema: Json }[] = []
  for (const route of app.routes as Json[]) {
    const where = `${route.method} ${route.path}`
    for (const part of ['query', 'params', 'headers', 'cookie', 'body']) {
      const s = resolve(route.hooks[part])
      if (s) out.push({ where: `${where} ${part}`, schema: s })
    }
    const response = route.hooks.response
    if (response && typeof response === 'object' && !(Symbol.for('TypeBox.Kind') in response)) {
      for (const [status, s] of Object.entries(response)) out.push({ where: `${where} ${status}`, schema: resolve(s) })
    } else if (response) out.push({ where: `${where} response`, schema: resolve(response) })
  }
  return out
}

test('every validator of every route compiles (body, query, params, each response status)', () => {
  const app = t.app as Json
  const references = Object.values(app.definitions.type as Record<string, Json>)
  const schemas = routeSchemas(app)
  expect(schemas.length).toBeGreaterThan(300)
  const failed: string[] = []
  for (const { where, schema } of schemas) {
    if (!schema) {
      failed.push(`${where}: names no model`)
      continue
    }
    try {
      expect(TypeCompiler.Compile(schema, references).Code()).toContain('return')
    } catch (e) {
      failed.push(`${where}: ${(e as Error).message}`)
    }
  }
  expect(failed).toEqual([])
})

test('a validator compiled on first use answers as TypeBox compiled it at once', () => {
  const Item = tb.Object({ id: tb.String(), n: tb.Integer({ minimum: 1 }) }, { $id: '#/components/schemas/LazyItem' })
  const Other = tb.Object({ x: tb.String() }, { $id: '#/components/schemas/LazyOther' })
  const List = tb.Object({ items: tb.Array(tb.Ref('#/components/schemas/LazyItem')), when: tb.Optional(tb.String()) })
  const Dated = tb.Transform(tb.String())
    .Decode((s) => s.length)
    .Encode((n) => 'x'.repeat(n))
  const lazyList = TypeCompiler.Compile(List, [Item, Other])
  expect(lazyList).toBeInstanceOf(TypeCheck)
  // Only the models the schema refers to are its references (Other is not).
  expect((lazyList as Json).references).toEqual([Item])
  expect(lazyList.Code()).toBe(TypeCompiler.Code(List, [Item], { language: 'javascript' }))
  const good = { items: [{ id: 'a', n: 1 }], when: 'now' }
  const bad = { items: [{ id: 'a', n: 0 }] }
  expect([lazyList.Check(good), lazyList.Check(bad)]).toEqual([true, false])
  expect([...lazyList.Errors(bad)].map((e) => e.path)).toEqual(['/items/0/n'])
  expect(lazyList.Decode(good)).toEqual(good)
  expect(() => lazyList.Decode(bad)).toThrow()
  // What TypeCheck's constructor computes (Elysia's t.Integer carries a transform).
  expect((lazyList as Json).hasTransform).toBe((new TypeCheck(List, [Item], () => true, '') as Json).hasTransform)
  expect((TypeCompiler.Compile(tb.Object({ s: tb.String() })) as Json).hasTransform).toBe(false)

  const lazyDated = TypeCompiler.Compile(Dated) as Json
  expect(lazyDated.hasTransform).toBe(true)
  expect(lazyDated.Decode('abc')).toBe(3)
  expect(lazyDated.Encode(2)).toBe('xx')
  expect(lazyDated.Check(3)).toBe(false)
  // Elysia assigns its own hasTransform to what Compile returns.
  const assigned = TypeCompiler.Compile(tb.String())
  Object.assign(assigned, { hasTransform: true })
  expect((assigned as Json).hasTransform).toBe(true)
  expect(assigned.Check('s')).toBe(true)
})

test('validators compile on first use: Compile accepts a schema TypeBox cannot compile, which throws when first checked', () => {
  const unknownRef = TypeCompiler.Compile(tb.Object({ a: tb.Ref('#/components/schemas/NoSuchModel') }), [])
  expect(() => unknownRef.Check({ a: 1 })).toThrow()
})

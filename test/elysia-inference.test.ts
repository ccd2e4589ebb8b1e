import { describe, expect, test } from 'bun:test'
import { sucrose } from 'elysia/sucrose'
import { makeTestApp } from './helpers/app'

/**
 * Elysia reads the source of every hook and handler of a route to learn which parts of the
 * request context the route needs (its "sucrose" inference), and builds only those on each
 * request. A global hook that hands the whole context to a function counts as needing all of
 * them: every route then parsed the Cookie header, copied every request header into an object,
 * defined a `server` getter, and (with a cookie jar present) re-made any Response a route
 * answered with, where a cached agent list is meant to leave as it was built. These checks keep
 * the global hooks (src/app.ts, src/http/observe.ts, …) from bringing that back.
 */
describe('per-request context', () => {
  test('an API route asks for no cookies, no header object and no server unless its own code does', async () => {
    const t = await makeTestApp()
    const routes = (t.app.routes as { method: string; path: string; handler: unknown; hooks: Record<string, unknown> }[]).filter((r) => r.path.startsWith('/api/'))
    expect(routes.length).toBeGreaterThan(40)
    const asked: Record<string, string[]> = {}
    for (const r of routes) {
      const own = sucrose({ handler: r.handler } as never)
      const all = sucrose({ ...r.hooks, handler: r.handler } as never)
      const extra = (['cookie', 'headers', 'server'] as const).filter((k) => all[k] && !own[k])
      if (extra.length > 0) asked[`${r.method} ${r.path}`] = extra
    }
    expect(asked).toEqual({})
  })

  test('the cached agent list goes out as the Response it was built as (no cookie jar on the context)', async () => {
    const t = await makeTestApp()
    const route = (t.app.routes as { method: string; path: string; handler: unknown; hooks: Record<string, unknown> }[]).find((r) => r.method === 'GET' && r.path === '/api/v1/agents')!
    const inferred = sucrose({ ...route.hooks, handler: route.handler } as never)
    expect({ cookie: inferred.cookie, headers: inferred.headers, server: inferred.server }).toEqual({ cookie: false, headers: false, server: false })
  })
})

describe('hooks a route runs', () => {
  type Hook = { fn: (...a: unknown[]) => unknown }
  type Route = { method: string; path: string; hooks: { beforeHandle?: Hook[]; mapResponse?: Hook[] } }
  const asyncHooks = (hooks: Hook[] | undefined) => (hooks ?? []).filter((h) => h.fn.constructor.name === 'AsyncFunction').length

  // Elysia awaits an async hook on every request of a route: the idempotency hooks (a key counts
  // on POST and PATCH only) returned at once on every GET, after two calls and two promise turns.
  test('a GET or DELETE route runs no Idempotency-Key hook; POST and PATCH routes do', async () => {
    const t = await makeTestApp()
    const routes = (t.app.routes as Route[]).filter((r) => r.path.startsWith('/api/v1/'))
    const awaited: Record<string, number> = {}
    for (const r of routes) awaited[`${r.method} ${r.path}`] = asyncHooks(r.hooks.mapResponse)
    const byMethod = (m: string) => Object.entries(awaited).filter(([k]) => k.startsWith(`${m} `))
    expect(byMethod('GET').length).toBeGreaterThan(10)
    expect(byMethod('GET').filter(([, n]) => n > 0)).toEqual([])
    expect(byMethod('DELETE').length).toBeGreaterThan(0)
    expect(byMethod('DELETE').filter(([, n]) => n > 0)).toEqual([])
    expect(byMethod('POST').length).toBeGreaterThan(5)
    expect(byMethod('POST').filter(([, n]) => n !== 1)).toEqual([])
    expect(byMethod('PATCH').filter(([, n]) => n !== 1)).toEqual([])
    // The authenticated list: the auth macro's resolve is its one async hook before the handler.
    const list = (t.app.routes as Route[]).find((r) => r.method === 'GET' && r.path === '/api/v1/agents')!
    expect(asyncHooks(list.hooks.beforeHandle)).toBe(1)
  })
})

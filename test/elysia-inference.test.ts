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

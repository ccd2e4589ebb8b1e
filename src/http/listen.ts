import type { BunAdapter } from 'elysia/adapter/bun'

type Adapter = typeof BunAdapter
type Serve = Parameters<typeof Bun.serve>[0]
/** What `app.listen(options)` takes here: Bun.serve's options, less the handler. */
export type ListenOptions = Omit<Serve, 'fetch' | 'routes' | 'websocket'>

/**
 * An adapter that listens once, with the app's own handler (`app.fetch`) for every request.
 *
 * Elysia's Bun adapter listens twice over: it compiles the app, hands Bun one handler per route
 * (`routes`), then, once the app's asynchronously loaded plugins have settled (teamday has none),
 * compiles the app a second time, builds every route's handler again, reloads the server with
 * them and asks for a garbage collection. On the development machine that second pass took
 * 5–12 ms of a 60–90 ms start (bench/startup.ts; README, Performance). Here the app is compiled
 * once and Bun.serve gets `app.fetch`, Elysia's compiled handler that routes the request itself:
 * the very function in-process tests reach through `app.handle`, so the tested path and the
 * served one are now the same.
 *
 * No WebSocket routes (teamday has none) and no static routes (every handler is a function).
 */
export function listenOnce(adapter: Adapter): Adapter {
  return {
    ...adapter,
    listen: (app) => (options, callback) => {
      if (typeof options !== 'object') throw new TypeError('listen takes Bun.serve options')
      app.compile()
      app.server = Bun.serve({ development: false, idleTimeout: 30, ...(options as ListenOptions), fetch: app.fetch } as Serve)
      for (const hook of app.event.start ?? []) hook.fn(app)
      callback?.(app.server)
    },
  }
}

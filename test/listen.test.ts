/**
 * listenOnce (src/http/listen.ts): the same server as Elysia's listen, without the second start
 * (compile, route map, server reload, garbage collection) Elysia schedules right after it.
 */
import { afterEach, describe, expect, test } from 'bun:test'
import { Elysia, type AnyElysia } from 'elysia'
import { listenOnce } from '../src/http/listen'

// Counts the reloads of the servers this file starts (Elysia's second start reloads its server).
const realServe = Bun.serve
let reloads = 0
;(Bun as { serve: unknown }).serve = (options: Parameters<typeof Bun.serve>[0]) => {
  const server = realServe(options)
  const reload = server.reload.bind(server)
  ;(server as { reload: unknown }).reload = (o: Parameters<typeof server.reload>[0]) => {
    reloads++
    return reload(o)
  }
  return server
}
const apps: AnyElysia[] = []
afterEach(async () => {
  for (const app of apps.splice(0)) await app.stop()
})

/** Everything the microtasks after listening do has run by the next macrotask. */
const settled = () => new Promise((r) => setTimeout(r, 0))

function served(app: AnyElysia): string {
  apps.push(app)
  return `http://127.0.0.1:${app.server!.port}`
}

describe('listenOnce', () => {
  test("Elysia's own listen starts a second time right after it (compile, route map, server reload, a GC): the work listenOnce leaves out", async () => {
    const app = new Elysia().get('/', () => 'ok')
    reloads = 0
    app.listen({ hostname: '127.0.0.1', port: 0 })
    served(app)
    await settled()
    expect(reloads).toBeGreaterThanOrEqual(1)
  })

  test('an app without lazily loaded plugins: one start, and the server answers every route', async () => {
    const app = new Elysia().get('/', () => 'ok').get('/a/:id', ({ params }) => params.id)
    reloads = 0
    listenOnce(app, { hostname: '127.0.0.1', port: 0 })
    const base = served(app)
    await settled()
    expect(reloads).toBe(0)
    expect(await (await fetch(`${base}/`)).text()).toBe('ok')
    expect(await (await fetch(`${base}/a/7`)).text()).toBe('7')
    // Elysia's own group again, untouched.
    expect(typeof (app as unknown as { promisedModules: { then: unknown } }).promisedModules.then).toBe('function')
    expect(Object.getOwnPropertyDescriptor(app, 'promisedModules')).toBeUndefined()
  })

  test('an app with a plugin still loading is listened to as Elysia does: its routes are served once it settles', async () => {
    let arrive!: (p: AnyElysia) => void
    const later = new Promise<AnyElysia>((r) => (arrive = r))
    const app = new Elysia().get('/', () => 'ok').use(later)
    reloads = 0
    listenOnce(app, { hostname: '127.0.0.1', port: 0 })
    const base = served(app)
    arrive(new Elysia().get('/late', () => 'late'))
    await later
    await settled()
    await settled()
    expect(await (await fetch(`${base}/late`)).text()).toBe('late')
    expect(reloads).toBeGreaterThanOrEqual(1)
  })
})

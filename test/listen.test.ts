/**
 * How the app listens (src/http/listen.ts): compiled once, every request through `app.fetch`
 * (the handler in-process tests reach with `app.handle`), on a real socket.
 */
import { afterAll, expect, test } from 'bun:test'
import { makeTestApp } from './helpers/app'

const t = await makeTestApp()
const app = t.app as unknown as { compile(): unknown; listen(o: object): unknown; stop(): Promise<unknown>; server: { port: number } | null }
let compiles = 0
const compile = app.compile.bind(app)
app.compile = () => {
  compiles++
  return compile()
}
app.listen({ hostname: '127.0.0.1', port: 0 })
const base = `http://127.0.0.1:${app.server!.port}`
afterAll(() => app.stop())

test('listening compiles the app once, also after the event loop has turned (no second pass that rebuilds every route)', async () => {
  await Bun.sleep(20)
  expect(compiles).toBe(1)
})

test('the socket answers what app.handle answers: a route, a route with a parameter, HEAD, an unknown path', async () => {
  const health = await fetch(`${base}/api/health`)
  expect(health.status).toBe(200)
  expect(await health.json()).toMatchObject({ status: 'ok' })

  const head = await fetch(`${base}/api/health`, { method: 'HEAD' })
  expect(head.status).toBe(200)
  expect(await head.text()).toBe('')

  const token = await fetch(`${base}/api/v1/tokens/pat_unknown`)
  expect(token.status).toBe(401)
  expect(token.headers.get('content-type')).toContain('application/json')

  const missing = await fetch(`${base}/api/v1/no-such-thing`)
  expect(missing.status).toBe(404)
  expect(((await missing.json()) as { error?: unknown }).error).toBeDefined()
  const inProcess = await t.app.handle(new Request('http://localhost/api/v1/no-such-thing'))
  expect(inProcess.status).toBe(404)
})

import { describe, expect, test } from 'bun:test'
import { resolve } from 'node:path'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { t } from 'elysia'
import '../src/http/elysia-models'
import { bundleInputs } from './helpers/bundle'

/**
 * What `teamday serve` does not pay for at start-up (docs/performance.md): the model SDKs are
 * not evaluated, named models are built once, and validators compile without the app's models.
 * Each check runs in a fresh process, where nothing else has loaded the modules first.
 */

const root = resolve(import.meta.dir, '..')

function inFreshProcess(code: string): string {
  const r = Bun.spawnSync([process.execPath, '-e', code], { cwd: root, env: { ...process.env, TEAMDAY_LOG_LEVEL: 'silent' }, stderr: 'pipe' })
  if (r.exitCode !== 0) throw new Error(r.stderr.toString())
  return r.stdout.toString().trim()
}

const BUILD_APP = `
  import './src/production-mode'
  const { loadConfig } = await import('./src/config')
  const { createRuntime } = await import('./src/runtime')
  const { createApp } = await import('./src/app')
  const { SecretBox } = await import('./src/crypto/secretbox')
  const rt = await createRuntime(loadConfig({}, { dbPath: ':memory:' }), { box: new SecretBox(new Uint8Array(32)) })
`

/** An admin and a token (`token`) on BUILD_APP's runtime. */
const ADMIN_TOKEN = `
  const { operatorContext } = await import('./src/context')
  const { createUser } = await import('./src/modules/users/service')
  const { createToken } = await import('./src/modules/tokens/service')
  const { user, organization } = await createUser(operatorContext(rt), { email: 'a@example.com', orgSlug: 'a', role: 'admin' })
  const { token } = await createToken(operatorContext(rt), { userId: user.id, organizationId: organization.id }, { name: 'a' })
`

describe('start-up costs', () => {
  test('building the runtime and the app evaluates no model SDK; the first execution path loads it', () => {
    const out = inFreshProcess(`${BUILD_APP}
      createApp(rt)
      const sdk = () => Object.keys(require.cache).filter((k) => /node_modules\\/(ai|@ai-sdk\\/[^/]+|zod)\\//.test(k)).length
      const before = sdk()
      const { aiSdk, anthropicSdk } = await import('./src/engine/sdk')
      aiSdk(); anthropicSdk()
      console.log(JSON.stringify({ before, after: sdk() }))
      rt.close()`)
    const { before, after } = JSON.parse(out)
    expect(before).toBe(0)
    expect(after).toBeGreaterThan(0)
  })

  test("building the app and serving a request evaluate no OpenAPI generator; the document's first request loads it", () => {
    const out = inFreshProcess(`${BUILD_APP}
      const app = createApp(rt)
      const generator = () => Object.keys(require.cache).filter((k) => k.includes('node_modules/@elysiajs/openapi/')).length
      const health = await app.handle(new Request('http://localhost/api/health'))
      const before = generator()
      const doc = await app.handle(new Request('http://localhost/swagger/json'))
      const paths = Object.keys((await doc.json()).paths).length
      console.log(JSON.stringify({ health: health.status, before, after: generator(), status: doc.status, paths }))
      rt.close()`)
    const { health, before, after, status, paths } = JSON.parse(out)
    expect(health).toBe(200)
    expect(before).toBe(0)
    expect(status).toBe(200)
    expect(paths).toBeGreaterThan(30)
    expect(after).toBeGreaterThan(0)
  })

  test('a SQLite runtime and app evaluate neither PostgreSQL\'s driver nor its tables; a PostgreSQL start loads them', () => {
    const out = inFreshProcess(`${BUILD_APP}
      createApp(rt)
      // (drizzle's core itself loads some of pg-core: its columns and table, not its database or dialect.)
      const pg = () => Object.keys(require.cache).filter((k) => /node_modules\\/(postgres\\/|drizzle-orm\\/(postgres-js\\/|pg-core\\/(db|dialect)\\.js))|src\\/db\\/(pg|schema\\/pg)\\.ts$/.test(k)).length
      const before = pg()
      const { useDialect } = await import('./src/db/schema')
      useDialect('pg')
      const tables = pg()
      useDialect('sqlite')
      console.log(JSON.stringify({ before, tables }))
      rt.close()`)
    const { before, tables } = JSON.parse(out)
    expect(before).toBe(0)
    expect(tables).toBeGreaterThan(0)
  })

  test("the compiled binary's server bundle holds no model SDK: the SDK is an entry point of its own, required on the first execution", async () => {
    const inputs = Object.keys(await bundleInputs('src/admin-entry.ts', { TEAMDAY_SDK_ENTRY: 'engine/sdk-entry.js' }))
    expect(inputs).toContain('src/engine/sdk.ts')
    expect(inputs.filter((m) => /node_modules\/(ai|@ai-sdk\/[^/]+|zod)\//.test(m) || m === 'src/engine/sdk-entry.ts')).toEqual([])
  })

  // Every serve loads the console with the API; its texts (two languages, ~340 each, 54 of them
  // functions) were built as the module loaded, ~2 ms of a start's CPU (docs/performance.md).
  test("neither createApp nor an API request builds the console's texts; a page's first read of them does", () => {
    const out = inFreshProcess(`${BUILD_APP}
      const app = createApp(rt)
      ${ADMIN_TOKEN}
      const res = await app.handle(new Request('http://localhost/api/v1/agents', { headers: { authorization: 'Bearer ' + token } }))
      const { heapStats } = await import('bun:jsc')
      const functions = () => (Bun.gc(true), heapStats().objectTypeCounts.Function ?? 0)
      const before = functions()
      const { messages } = await import('./src/console/i18n')
      const texts = [messages('en'), messages('de')]
      console.log(JSON.stringify({ status: res.status, built: functions() - before, same: messages('en') === texts[0] && messages('de') === texts[1] }))
      rt.close()`)
    const { status, built, same } = JSON.parse(out)
    expect(status).toBe(200)
    // The 54 functions of the two catalogues are made at that read, not before (0 on the old code).
    expect(built).toBeGreaterThanOrEqual(50)
    expect(same).toBe(true)
  })

  test("neither createApp nor a route's first request computes the app's every model", () => {
    const out = inFreshProcess(`
      import { TModule } from '@sinclair/typebox'
      let copies = 0
      const proto = TModule.prototype
      const withIds = proto.WithIdentifiers
      proto.WithIdentifiers = function (d) { copies += Object.keys(d).length; return withIds.call(this, d) }
      ${BUILD_APP}
      ${ADMIN_TOKEN}
      const app = createApp(rt)
      const models = Object.keys(app.definitions.type).length
      const before = copies
      const res = await app.handle(new Request('http://localhost/api/v1/agents', { headers: { authorization: 'Bearer ' + token } }))
      console.log(JSON.stringify({ before, first: copies - before, models, status: res.status }))
      rt.close()`)
    const { before, first, models, status } = JSON.parse(out)
    expect(status).toBe(200)
    expect(models).toBeGreaterThan(80)
    // Once ~950 copies in createApp (every plugin's .model() and .use() merge rebuilt the module),
    // then ~300 on the first request (Elysia reads the app's module when it compiles a route, and
    // that read built it); now a module is built only for a name imported from it.
    expect(before).toBe(0)
    expect(first).toBeLessThan(models / 2)
  })

  test("a route's first request compiles validators for its query and success response, not for the error statuses it documents", () => {
    const out = inFreshProcess(`
      ${BUILD_APP}
      ${ADMIN_TOKEN}
      const { TypeCompiler } = await import('@sinclair/typebox/compiler')
      const app = createApp(rt)
      const compile = TypeCompiler.Compile
      let compiled = 0
      // Elysia's validators, one per schema (exact-mirror's cleaners compile one per union member too).
      TypeCompiler.Compile = (...args) => { if (!new Error().stack.includes('exact-mirror')) compiled++; return compile(...args) }
      const res = await app.handle(new Request('http://localhost/api/v1/agents', { headers: { authorization: 'Bearer ' + token } }))
      const route = app.routes.find((r) => r.method === 'GET' && r.path === '/api/v1/agents')
      console.log(JSON.stringify({ compiled, status: res.status, documented: Object.keys(route.hooks.response) }))
      rt.close()`)
    const { compiled, status, documented } = JSON.parse(out)
    expect(status).toBe(200)
    // The route still documents its errors (the OpenAPI generator reads these hooks) ...
    expect(documented).toEqual(['200', '400', '401', '403', '422', '429'])
    // ... but its first request compiles the query's and the 200's validators only (seven before).
    expect(compiled).toBe(2)
  })

  test('a validator compiles with only the references its schema names', () => {
    const Named = t.Object({ id: t.String() }, { $id: '#/components/schemas/Named' })
    const Other = t.Object({ n: t.Number() }, { $id: '#/components/schemas/Other' })
    const plain = TypeCompiler.Compile(t.Object({ a: t.String() }), [Named, Other])
    expect((plain as unknown as { references: unknown[] }).references).toEqual([])
    expect(plain.Check({ a: 'x' })).toBe(true)
    const viaRef = TypeCompiler.Compile(t.Object({ item: t.Ref('#/components/schemas/Named') }), [Named, Other])
    expect((viaRef as unknown as { references: unknown[] }).references).toEqual([Named])
    expect(viaRef.Check({ item: { id: 'x' } })).toBe(true)
    expect(viaRef.Check({ item: { id: 1 } })).toBe(false)
  })

  test("evaluating the token module computes no CRC table: the rolling checksum's tables are built when a body is first looked at", () => {
    const out = inFreshProcess(`
      let made = 0
      const Native = Uint32Array
      globalThis.Uint32Array = class extends Native { constructor(...a) { super(...a); made++ } }
      const { holdsSecret, generateToken } = await import('./src/auth/tokens')
      const atImport = made
      const body = generateToken().slice(3)
      console.log(JSON.stringify({ atImport, found: holdsSecret('x ' + body), after: made }))`)
    const { atImport, found, after } = JSON.parse(out)
    expect(atImport).toBe(0)
    expect(found).toBe(true)
    expect(after).toBeGreaterThan(0)
  })
})


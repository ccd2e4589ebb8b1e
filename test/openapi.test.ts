import { beforeAll, describe, expect, test } from 'bun:test'
import { SCOPES } from '../src/auth/roles'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkTokenFormat } from '../src/auth/tokens'
import { ERROR_STATUS } from '../src/errors'
import { openapiDocument } from '../src/cli/admin/openapi'
import { SelfTokenEnvelope } from '../src/modules/tokens/model'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { version as swaggerUiVersion } from 'swagger-ui-dist/package.json'

/** Docs (issue 2, section 7): the committed OpenAPI document, its quality, and the offline Swagger UI. */

const COMMITTED = join(import.meta.dir, '..', 'openapi', 'openapi.json')
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']
const ENVELOPE_KEYS = ['error', 'statusCode', 'statusMessage', 'code', 'message', 'requestId']
const JSON_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'])

type Json = any
interface Op {
  path: string
  method: string
  op: Json
}

let spec: Json
let ops: Op[]
let t: TestApp

beforeAll(async () => {
  spec = await openapiDocument()
  ops = Object.entries(spec.paths as Record<string, Json>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([m]) => METHODS.includes(m))
      .map(([method, op]) => ({ path, method, op: resolvedOperation(op) })),
  )
  t = await makeTestApp()
}, 60_000)

/** A `$ref` to `#/components/…` (a shared parameter or response) resolved; anything else as it is. */
function resolveRef(x: Json): Json {
  return typeof x?.$ref === 'string' ? x.$ref.split('/').slice(1).reduce((o: Json, k: string) => o[k], spec) : x
}

/** An operation with its shared parameters and responses (`components.parameters`, `components.responses`) in place. */
function resolvedOperation(op: Json): Json {
  return {
    ...op,
    ...(op.parameters && { parameters: op.parameters.map(resolveRef) }),
    responses: Object.fromEntries(Object.entries(op.responses ?? {}).map(([status, res]) => [status, resolveRef(res)])),
  }
}

/** Every value found under `key` anywhere in `node`. */
function collect(node: Json, key: string, out: Json[] = []): Json[] {
  if (Array.isArray(node)) for (const v of node) collect(v, key, out)
  else if (node && typeof node === 'object')
    for (const [k, v] of Object.entries(node)) {
      if (k === key) out.push(v)
      // Example values are data, not schema: a field named "type" in an example is a value.
      if (key !== 'examples' && key !== 'example' && (k === 'examples' || k === 'example')) continue
      collect(v, key, out)
    }
  return out
}

const hasExample = (schema: Json) => collect(schema, 'examples').some((e) => Array.isArray(e) && e.length > 0) || collect(schema, 'example').length > 0
/** A response's JSON schema, with every `$ref` to a named model (components.schemas) followed. */
const jsonSchema = (res: Json) => deref(res?.content?.['application/json']?.schema)
const model = (ref: string) => {
  expect(ref).toStartWith('#/components/schemas/')
  const target = spec.components.schemas[ref.slice('#/components/schemas/'.length)]
  expect({ ref, found: target !== undefined }).toEqual({ ref, found: true })
  return target
}
/**
 * The schema with its references resolved, all the way down: `$ref`s are replaced by their
 * models, and an `allOf` (none is published now) is merged into its annotations.
 */
const deref = (schema: Json, depth = 0): Json => {
  if (depth > 20 || !schema || typeof schema !== 'object') return schema
  if (Array.isArray(schema)) return schema.map((s) => deref(s, depth + 1))
  if (typeof schema.$ref === 'string') return deref(model(schema.$ref), depth + 1)
  const out: Json = {}
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'examples' || k === 'example' ? v : deref(v, depth + 1)
  if (Array.isArray(out.allOf)) {
    // The envelope, then what a variant narrows (the 401's `code` enum): merged property by property.
    const { allOf, ...annotations } = out
    const [base, ...narrowing] = allOf as Json[]
    const merged: Json = { ...base, properties: { ...base.properties } }
    for (const n of narrowing) for (const [k, v] of Object.entries(n.properties ?? {})) merged.properties[k] = { ...merged.properties[k], ...(v as Json) }
    return { ...merged, ...annotations }
  }
  return out
}

function expectEnvelopeSchema(schema: Json, label: string) {
  expect({ label, isObject: schema?.type }).toEqual({ label, isObject: 'object' })
  for (const k of ENVELOPE_KEYS) {
    expect({ label, required: schema.required.includes(k) }).toEqual({ label, required: true })
    expect(schema.properties).toHaveProperty(k)
  }
  expect(schema.properties.error.const).toBe(true)
  expect(schema.properties.statusCode.type).toBe('integer')
}

describe('the committed openapi/openapi.json', () => {
  test('equals what the routes generate (run `npm run openapi` after changing a route or model)', () => {
    const committed = readFileSync(COMMITTED, 'utf8')
    expect(JSON.parse(committed)).toEqual(spec)
    // byte-for-byte what `teamday openapi --out` writes
    expect(committed).toBe(JSON.stringify(spec, null, 2) + '\n')
  })

  test('generation is deterministic: no timestamps, random ids or key order that change between runs', async () => {
    await Bun.sleep(5)
    const again = await openapiDocument()
    expect(JSON.stringify(again)).toBe(JSON.stringify(spec))
  })

  test('serving requests does not change the document (Elysia mutates shared schemas when it compiles a route)', async () => {
    const app = await makeTestApp()
    const admin = await makeActor(app, { role: 'admin' })
    const created = await app.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'x' } })
    expect(created.status).toBe(201)
    await app.req('GET', '/api/v1/tokens?limit=5', { token: admin.token })
    await app.req('GET', `/api/v1/tokens/${created.body.id}`, { token: admin.token })
    await app.req('DELETE', `/api/v1/tokens/${created.body.id}`, { token: admin.token })
    await app.req('GET', '/api/health')
    expect(await openapiDocument()).toEqual(spec)
    expect({ ...(await app.req('GET', '/swagger/json')).body, servers: spec.servers }).toEqual(spec)
  })

  test('the served /swagger/json is the same document, with this server in `servers`', async () => {
    const res = await t.req('GET', '/swagger/json')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('application/json')
    expect(res.body.servers).toEqual([{ url: 'http://localhost', description: 'This server' }])
    expect({ ...res.body, servers: spec.servers }).toEqual(spec)
    // Twice from the generator's cache, each with its own server: one served document never leaks into another.
    const other = await t.app.handle(new Request('https://teamday.example.org:8443/swagger/json'))
    expect(((await other.json()) as Json).servers).toEqual([{ url: 'https://teamday.example.org:8443', description: 'This server' }])
    expect((await t.req('GET', '/swagger/json')).body.servers[0].url).toBe('http://localhost')
  })

  test('behind a trusted proxy, `servers` is what the proxy says the client reached; otherwise those headers are ignored', async () => {
    const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'teamday.example.org' }
    const direct = await t.req('GET', '/swagger/json', { headers: forwarded })
    expect(direct.body.servers[0].url).toBe('http://localhost')
    const proxied = await makeTestApp({ config: { trustedProxyHops: 1 } })
    expect((await proxied.req('GET', '/swagger/json', { headers: forwarded })).body.servers[0].url).toBe('https://teamday.example.org')
    // Made from the request's headers, X-Forwarded-Host among them (a cache's key holds none
    // of them): never kept by a cache on the way for the next reader.
    const poisoned = await proxied.req('GET', '/swagger/json', { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' } })
    expect(poisoned.body.servers[0].url).toBe('https://evil.example')
    expect(poisoned.headers.get('cache-control')).toBe('no-store')
    expect((await t.req('GET', '/swagger/json', { headers: { host: 'evil.example' } })).headers.get('cache-control')).toBe('no-store')
    // a malformed host is not used
    expect((await proxied.req('GET', '/swagger/json', { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example/<x>' } })).body.servers[0].url).toBe('https://localhost')
    proxied.rt.close()
  })

  // With TLS at a proxy not declared as trusted (nginx on the same host), the request's origin is
  // http://: Swagger UI's "Try it out" from https://…/swagger called http:// and the browser blocked it.
  test('with TEAMDAY_PUBLIC_URL, `servers` is it first, whatever the request or a trusted proxy says; the page\'s own origin second when it names another host', async () => {
    const pub = await makeTestApp({ config: { publicUrl: 'https://td.example.org' } })
    // The same host over http (TLS at a proxy not declared as trusted): the public URL alone.
    const viaPlainProxy = await pub.app.handle(new Request('http://td.example.org/swagger/json', { headers: { 'x-forwarded-for': '203.0.113.9' } }))
    expect(((await viaPlainProxy.json()) as Json).servers).toEqual([{ url: 'https://td.example.org', description: 'This server' }])
    // Opened at another name of the server (CORS is off by default, so "Try it out" must be able
    // to stay on the page's origin): that one second.
    const other = await pub.app.handle(new Request('http://127.0.0.1:8080/swagger/json'))
    expect(((await other.json()) as Json).servers).toEqual([
      { url: 'https://td.example.org', description: 'This server' },
      { url: 'http://127.0.0.1:8080', description: 'This server, as this page reached it' },
    ])
    pub.rt.close()
    const proxied = await makeTestApp({ config: { publicUrl: 'https://td.example.org/teamday', trustedProxyHops: 1 } })
    const res = await proxied.req('GET', '/swagger/json', { headers: { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'internal.example.org:8080' } })
    expect(res.body.servers).toEqual([
      { url: 'https://td.example.org/teamday', description: 'This server' },
      // With the public URL's path: the page was reached under it (the proxy keeps or strips it).
      { url: 'http://internal.example.org:8080/teamday', description: 'This server, as this page reached it' },
    ])
    const same = await proxied.req('GET', '/swagger/json', { headers: { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'td.example.org' } })
    expect(same.body.servers).toEqual([{ url: 'https://td.example.org/teamday', description: 'This server' }])
    expect({ ...res.body, servers: spec.servers }).toEqual(spec)
    proxied.rt.close()
  })

  test("the sizes the README gives are the document's, within 5 %", async () => {
    // README, API: "the committed file is N KB pretty-printed …; /swagger/json serves it compact,
    // about N KB, and compressed … (N KB gzip)". They had fallen 5-10 % behind as routes came.
    const readme = readFileSync(join(import.meta.dir, '..', 'README.md'), 'utf8')
    const m = /committed file is (\d+) KB pretty-printed[^;]*; `\/swagger\/json` serves it\s+compact, about (\d+) KB, and compressed to a client that accepts it \((\d+) KB gzip\)/.exec(readme)
    expect(m).not.toBeNull()
    const [pretty, compact, gzip] = m!.slice(1).map((n) => Number(n) * 1000)
    const near = (stated: number, actual: number) => ({ stated, near: Math.abs(actual - stated) <= actual * 0.05 })
    const text = JSON.stringify(spec)
    expect(near(pretty!, readFileSync(COMMITTED).length)).toEqual({ stated: pretty!, near: true })
    expect(near(compact!, Buffer.byteLength(text))).toEqual({ stated: compact!, near: true })
    const served = await t.app.handle(new Request('http://localhost/swagger/json', { headers: { 'accept-encoding': 'gzip' } }))
    expect(served.headers.get('content-encoding')).toBe('gzip')
    expect(near(gzip!, (await served.arrayBuffer()).byteLength)).toEqual({ stated: gzip!, near: true })
  })

  test('the committed document names a relative server, `/`', () => {
    expect(spec.servers).toEqual([{ url: '/', description: expect.any(String) }])
    // right after info
    expect(Object.keys(spec).slice(0, 3)).toEqual(['openapi', 'info', 'servers'])
  })
})

describe('document structure', () => {
  test('OpenAPI 3.1.x with title, version, description, license and contact', () => {
    expect(spec.openapi).toMatch(/^3\.1\.\d+$/)
    expect(spec.info.license).toEqual({ name: 'MIT', identifier: 'MIT' })
    expect(spec.info.contact.name).toBeTruthy()
    expect(spec.info.title).toBeTruthy()
    expect(spec.info.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(spec.info.description).toContain('Bearer')
  })

  test('bearerAuth is an HTTP bearer security scheme', () => {
    const scheme = spec.components.securitySchemes.bearerAuth
    expect(scheme.type).toBe('http')
    expect(scheme.scheme).toBe('bearer')
  })

  test('the API is documented: every route is there, the docs routes are not', () => {
    const list = ops.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort()
    const crud = (base: string) => [`GET ${base}`, `POST ${base}`, `GET ${base}/{id}`, `PATCH ${base}/{id}`, `DELETE ${base}/{id}`]
    expect(list).toEqual(
      [
        'GET /api/health',
        'GET /api/health/ready',
        'GET /api/health/database-proof',
        'GET /metrics',
        'GET /api/public/agents',
        'GET /api/v1/tokens',
        'POST /api/v1/tokens',
        'GET /api/v1/tokens/self',
        'DELETE /api/v1/tokens/self',
        'POST /api/v1/tokens/self/rotate',
        'GET /api/v1/tokens/{id}',
        'DELETE /api/v1/tokens/{id}',
        'POST /api/v1/tokens/{id}/rotate',
        ...crud('/api/v1/agents'),
        'POST /api/v1/agents/{id}/execute',
        'GET /api/v1/executions',
        'GET /api/v1/executions/{id}',
        'GET /api/v1/executions/{id}/tree',
        'GET /api/v1/executions/{id}/logs',
        'POST /api/v1/executions/{id}/cancel',
        'POST /api/v1/execute',
        'GET /api/v1/chats',
        'GET /api/v1/chats/{id}',
        'GET /api/v1/chats/{id}/messages',
        ...crud('/api/v1/spaces'),
        'GET /api/v1/spaces/{id}/secrets',
        'POST /api/v1/spaces/{id}/secrets',
        'DELETE /api/v1/spaces/{id}/secrets',
        'GET /api/v1/organizations/{orgId}/env',
        'POST /api/v1/organizations/{orgId}/env',
        'DELETE /api/v1/organizations/{orgId}/env',
        'GET /api/v1/organizations/{orgId}/members',
        'POST /api/v1/organizations/{orgId}/members',
        'GET /api/v1/organizations/{orgId}/members/{userId}',
        'PATCH /api/v1/organizations/{orgId}/members/{userId}',
        'DELETE /api/v1/organizations/{orgId}/members/{userId}',
        ...crud('/api/v1/tasks'),
        'GET /api/v1/audit-events',
        'POST /api/v1/credentials/revoke',
        'POST /api/auth/cli/initiate',
        'GET /api/auth/cli/poll',
        'POST /api/auth/cli/refresh',
        'POST /api/auth/cli/revoke',
        'POST /api/tokens/create',
        'GET /api/tokens/list',
        'POST /api/tokens/{id}/revoke',
      ].sort(),
    )
    for (const p of Object.keys(spec.paths)) {
      expect(p).not.toStartWith('/swagger')
      expect(p).not.toBe('/')
    }
  })

  test('operationIds are unique and every operation has responses with descriptions', () => {
    const ids = ops.map((o) => o.op.operationId)
    expect(new Set(ids).size).toBe(ids.length)
    for (const { op } of ops) {
      expect(Object.keys(op.responses).length).toBeGreaterThan(0)
      for (const res of Object.values(op.responses) as Json[]) expect(res.description).toBeTruthy()
    }
  })

  test('every tag used is declared with a description', () => {
    const declared = new Map((spec.tags as Json[]).map((tag) => [tag.name, tag.description]))
    for (const { op } of ops) for (const tag of op.tags) expect(declared.get(tag)).toBeTruthy()
  })

  test('path parameters are declared and required', () => {
    for (const { path, op } of ops) {
      for (const name of [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1])) {
        const param = (op.parameters ?? []).find((p: Json) => p.name === name && p.in === 'path')
        expect(param).toBeDefined()
        expect(param.required).toBe(true)
      }
    }
  })

  test('schemas are valid JSON Schema types: no "type":"Date" (drizzle-typebox) or other non-JSON types', () => {
    const text = JSON.stringify(spec)
    expect(text).not.toContain('"type":"Date"')
    for (const type of collect(spec, 'type')) {
      if (typeof type !== 'string' && !Array.isArray(type)) continue // a property *named* "type"
      for (const t of [type].flat()) expect(JSON_TYPES.has(t) || t === 'http' || t === 'apiKey' || t === 'oauth2' || t === 'openIdConnect').toBe(true)
    }
  })

  test('resources, lists and error envelopes are named models that responses refer to by $ref', () => {
    const names = Object.keys(spec.components.schemas)
    for (const name of ['Agent', 'AgentList', 'Execution', 'ExecutionList', 'Space', 'SpaceList', 'Task', 'TaskList', 'Token', 'TokenList', 'AuditEvent', 'AuditEventList', 'PublicAgentList', 'Error', 'Unauthorized', 'Forbidden'])
      expect(names).toContain(name)
    expectEnvelopeSchema(spec.components.schemas.Error, 'Error')
    const resolved = (r: any) => (typeof r?.$ref === 'string' ? spec.components.responses[r.$ref.split('/').pop()] : r)
    const ref = (path: string, method: string, status: string) => resolved(spec.paths[path][method].responses[status]).content['application/json'].schema
    expect(ref('/api/v1/agents', 'get', '200')).toEqual({ $ref: '#/components/schemas/AgentList' })
    expect(ref('/api/v1/tasks/{id}', 'get', '404')).toEqual({ $ref: '#/components/schemas/TaskNotFound' })
    // every response schema is a reference: no operation inlines a shape
    for (const { path, method, op } of ops)
      for (const [status, res] of Object.entries(op.responses) as [string, Json][]) {
        if (path === '/api/health') continue
        if (path === '/metrics' && status === '200') {
          // Prometheus text, not JSON: a string schema with an example.
          expect(res.content['text/plain'].schema.type).toBe('string')
          expect(res.content['text/plain'].schema.examples[0]).toContain('# TYPE teamday_http_requests_total counter')
          continue
        }
        const label = `${method} ${path} ${status}`
        expect({ label, ref: typeof resolved(res).content?.['application/json']?.schema?.$ref }).toEqual({ label, ref: 'string' })
      }
    // named models are described once: no schema keyword a lint would reject leaks in through Elysia's registration
    expect(collect(spec.components, '$id')).toEqual([])
  })

  test('no $id with a fragment (invalid in JSON Schema 2020-12)', () => {
    for (const id of collect(spec, '$id')) expect(String(id)).not.toContain('#')
  })

  test('date fields are ISO-8601 strings with format date-time', () => {
    const token = jsonSchema(spec.paths['/api/v1/tokens/{id}'].get.responses['200']).properties.token
    for (const f of ['createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt']) {
      expect([token.properties[f].type].flat()).toContain('string')
      expect(token.properties[f].format).toBe('date-time')
    }
  })

  test('response schemas never declare the secret hash', () => {
    for (const { op } of ops) {
      const text = JSON.stringify(Object.values(op.responses).map((res: Json) => jsonSchema(res)))
      expect(text).not.toMatch(/"(tokenHash|hash|secretHash)"/)
    }
  })
})

/** Every schema object in the document, with where it is (skips example data and property-name maps). */
function schemaNodes(node: Json, at = '#', out: { at: string; schema: Json }[] = []): { at: string; schema: Json }[] {
  if (Array.isArray(node)) node.forEach((v, i) => schemaNodes(v, `${at}/${i}`, out))
  else if (node && typeof node === 'object') {
    if ('type' in node || 'anyOf' in node || 'allOf' in node || '$ref' in node || 'properties' in node) out.push({ at, schema: node })
    for (const [k, v] of Object.entries(node)) if (k !== 'examples' && k !== 'example' && k !== 'default' && k !== 'const') schemaNodes(v, `${at}/${k}`, out)
  }
  return out
}

describe('published schemas (issue 14)', () => {
  test('no TypeBox/Elysia options: no `error` messages, no OpenAPI 3.0 `nullable`', () => {
    for (const { at, schema } of schemaNodes(spec)) {
      // `properties` is a map of names: a property may be called "error" (the envelope's is).
      if (at.endsWith('/properties')) continue
      expect({ at, error: 'error' in schema && typeof schema.error === 'string' }).toEqual({ at, error: false })
      expect({ at, nullable: 'nullable' in schema }).toEqual({ at, nullable: false })
    }
  })

  test('nullable fields are `type: [..., "null"]`', () => {
    const agent = spec.components.schemas.Agent.properties
    expect(agent.role.type).toEqual(['string', 'null'])
    expect(agent.maxTurns.type).toEqual(['integer', 'null'])
    const body = spec.paths['/api/v1/agents'].post.requestBody.content['application/json'].schema.properties
    expect(body.maxTurns.type).toEqual(['integer', 'null'])
    expect(body.maxTurns.minimum).toBe(1)
    // a nullable enum lists null among its values (else a validator refuses the null it allows)
    const { type, enum: values } = spec.components.schemas.Task.properties.assigneeType
    expect({ type, enum: values }).toEqual({ type: ['string', 'null'], enum: ['agent', 'user', null] })
    for (const { at, schema } of schemaNodes(spec))
      if (Array.isArray(schema.type) && schema.type.includes('null') && Array.isArray(schema.enum)) expect({ at, enum: schema.enum.includes(null) }).toEqual({ at, enum: true })
  })

  test("a union of literals keeps its description (@elysiajs/openapi's enum conversion drops it), and the route schema is left as it was", () => {
    const role = spec.components.schemas.SelfTokenEnvelope.properties.token.properties.role
    expect(role).toEqual({ description: SelfTokenEnvelope.properties.token.properties.role.description, type: 'string', enum: ['admin', 'member', 'viewer'] })
    // the source is still the TypeBox union the validator compiled
    expect(SelfTokenEnvelope.properties.token.properties.role.anyOf.map((b: Json) => b.const)).toEqual(['admin', 'member', 'viewer'])
  })

  test('a parameter has its description on the parameter, where Swagger UI shows it, not in its schema', () => {
    const limit = spec.paths['/api/v1/tokens'].get.parameters.find((p: Json) => p.name === 'limit')
    expect(limit.description).toStartWith('Page size')
    expect(limit.schema.description).toBeUndefined()
  })

  test('counts, limits and ids have one type: no `string | integer` anywhere', () => {
    for (const { at, schema } of schemaNodes(spec)) {
      const types = Array.isArray(schema.anyOf) ? schema.anyOf.map((b: Json) => b?.type) : []
      expect({ at, mixed: types.includes('string') && (types.includes('integer') || types.includes('number')) }).toEqual({ at, mixed: false })
    }
    const s = spec.components.schemas
    for (const [model, field] of [['SpaceSecretNames', 'count'], ['OrgSecretNames', 'count'], ['RevokeCredentialsAccepted', 'received'], ['AgentList', 'total'], ['TokenList', 'total']] as const)
      expect({ model, field, type: s[model].properties[field].type }).toEqual({ model, field, type: 'integer' })
    const limit = spec.paths['/api/v1/agents'].get.parameters.find((p: Json) => p.name === 'limit').schema
    expect(limit).toMatchObject({ type: 'integer', minimum: 1, maximum: 200 })
    const days = spec.paths['/api/v1/tokens'].post.requestBody.content['application/json'].schema.properties.expiresInDays
    expect(days).toMatchObject({ type: 'integer', minimum: 7, maximum: 365 })
  })

  test('the 401 names every code authentication answers (src/errors.ts)', () => {
    const codes = Object.entries(ERROR_STATUS)
      .filter(([, status]) => status === 401)
      .map(([code]) => code)
      .sort()
    expect([...spec.components.schemas.Unauthorized.properties.code.enum].sort()).toEqual(codes)
    expect(codes).toContain('missing_token')
  })

  test('request bodies allow fields they do not name (the server ignores them) and say so', () => {
    let bodies = 0
    for (const [path, item] of Object.entries<Json>(spec.paths))
      for (const [method, op] of Object.entries<Json>(item)) {
        if (!op?.requestBody) continue
        bodies++
        expect({ path, method, description: op.requestBody.description }).toEqual({ path, method, description: expect.stringContaining('ignored') })
        for (const media of Object.values<Json>(op.requestBody.content)) expect({ path, method, additional: media.schema.additionalProperties }).toEqual({ path, method, additional: undefined })
      }
    expect(bodies).toBeGreaterThan(15)
  })

  test('the health checks, which no limit counts, document no rate-limit headers', () => {
    for (const path of ['/api/health', '/api/health/ready', '/api/health/database-proof']) expect({ path, headers: Object.keys(spec.paths[path].get.responses['200'].headers) }).toEqual({ path, headers: ['X-Request-Id'] })
  })

  test('each list envelope refers to its resource by $ref; error variants are object models of the envelope', () => {
    const s = spec.components.schemas
    const items = (list: string, field: string) => s[list].properties[field].items
    for (const [list, field, item] of [
      ['AgentList', 'agents', 'Agent'],
      ['AgentList', 'characters', 'Agent'],
      ['SpaceList', 'spaces', 'Space'],
      ['TokenList', 'tokens', 'Token'],
      ['AuditEventList', 'events', 'AuditEvent'],
      ['PublicAgentList', 'data', 'PublicAgent'],
    ])
      expect({ list, field, items: items(list!, field!) }).toEqual({ list, field, items: { $ref: `#/components/schemas/${item}` } })
    expect(s.AgentEnvelope.properties.agent).toEqual({ $ref: '#/components/schemas/Agent' })
    // a recursive model refers to itself
    expect(s.ExecutionTreeNode.properties.children.items).toEqual({ $ref: '#/components/schemas/ExecutionTreeNode' })
    for (const name of ['Unauthorized', 'Forbidden', 'TaskNotFound', 'ValidationFailed', 'BadCursor']) {
      expect(s[name].description).toBeTruthy()
      expect(s[name].examples.length).toBe(1)
    }
    // Every error variant is the envelope's object schema itself, not `allOf: [$ref: Error]`,
    // which Swagger UI's model view labelled "(any)" (test/browser/swagger-models.test.ts): the
    // same properties, required fields and additionalProperties, each property's example the
    // variant's own (a 404's statusCode is 404, not the envelope's 401).
    const envelope = s.Error
    const variants = Object.entries<Json>(s).filter(([name, v]) => name !== 'Error' && (v.allOf !== undefined || ENVELOPE_KEYS.every((k) => v.properties?.[k] !== undefined)))
    expect(variants.length).toBeGreaterThan(60)
    for (const [name, v] of variants) {
      expect({ name, allOf: v.allOf, $ref: v.$ref, type: v.type }).toEqual({ name, allOf: undefined, $ref: undefined, type: 'object' })
      expect({ name, required: v.required, additional: v.additionalProperties }).toEqual({ name, required: envelope.required, additional: false })
      expect({ name, properties: Object.keys(v.properties) }).toEqual({ name, properties: Object.keys(envelope.properties) })
      const sample = v.examples[0]
      for (const [key, p] of Object.entries<Json>(v.properties)) {
        const { examples, ...own } = p
        // The same property as the envelope's (the 401's code also lists its codes, above).
        if (!(name === 'Unauthorized' && key === 'code')) {
          const { examples: _, ...envelopeOwn } = envelope.properties[key]
          expect({ name, key, own }).toEqual({ name, key, own: envelopeOwn })
        }
        if (key in sample && !('const' in p)) expect({ name, key, examples }).toEqual({ name, key, examples: [sample[key]] })
      }
    }
    expect(s.TaskNotFound.properties.statusCode.examples).toEqual([404])
    expect(s.TaskNotFound.properties.code.examples).toEqual(['not_found'])
    // The envelope itself is every operation's `default` response (any other error status).
    for (const { path, method } of ops) expect({ path, method, default: spec.paths[path][method].responses.default }).toEqual({ path, method, default: { $ref: '#/components/responses/Error' } })
    expect(spec.components.responses.Error.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' })
  })

  test('every *List model has typed items: its model by $ref, and a list that is a bare array says their type beside it (Swagger UI labelled TaskList and ExecutionList "array<any>")', () => {
    const s = spec.components.schemas
    const prefix = '#/components/schemas/'
    const lists = Object.keys(s).filter((name) => name.endsWith('List'))
    expect(lists).toEqual(expect.arrayContaining(['TaskList', 'ExecutionList', 'AgentList', 'TokenList', 'SpaceList', 'ChatList', 'MemberList', 'AuditEventList']))
    /** Each array in a list model (the model itself, or its properties), by where it is. */
    const arrays = (name: string): [string, Json][] => {
      const m = s[name]
      if (m.type === 'array') return [[name, m]]
      return Object.entries<Json>(m.properties ?? {})
        .filter(([, p]) => p.type === 'array' || (Array.isArray(p.type) && p.type.includes('array')))
        .map(([key, p]) => [`${name}.${key}`, p])
    }
    let bare = 0
    for (const name of lists) {
      const found = arrays(name)
      expect({ name, arrays: found.length > 0 }).toEqual({ name, arrays: true })
      for (const [where, array] of found) {
        const items = array.items
        // Its items are a named model (a resource, not `any` or an inline copy), an object.
        expect({ where, ref: typeof items?.$ref === 'string' && items.$ref.startsWith(prefix) }).toEqual({ where, ref: true })
        const model = s[items.$ref.slice(prefix.length)]
        expect({ where, model: model?.type }).toEqual({ where, model: 'object' })
        // A model that is the array itself: its collapsed row in Swagger UI reads no reference,
        // so the items say their type too (the model's own, nothing else beside the $ref).
        if (where === name) {
          bare++
          expect({ where, items }).toEqual({ where, items: { $ref: items.$ref, type: model.type } })
        }
      }
    }
    // TaskList and ExecutionList are bare arrays (TeamDay's shape).
    expect(bare).toBe(2)
  })

  test('every named model is used ($ref) somewhere', () => {
    const text = JSON.stringify(spec)
    for (const name of Object.keys(spec.components.schemas)) expect({ name, used: text.includes(`"#/components/schemas/${name}"`) }).toEqual({ name, used: true })
  })

  test('the document stays under 800 KB (it was 932 KB with every shape inlined, before the named models)', () => {
    // 319 KB when the named models landed; the members, CLI sign-in and token-alias routes
    // brought it to about 408 KB, the responses every operation shares (413, 414, 415, 422 for a
    // malformed path parameter: one $ref each) to about 476 KB. A shape inlined again at every
    // use would blow well past this. The default assistant's execute and the three chat routes
    // (their models named once) added about 42 KB; the response headers (X-Request-Id on every
    // response, the rate-limit headers on successes and 429s, each a $ref to components.headers)
    // about 147 KB of the pretty-printed file. What each request body does with fields it does
    // not name (a sentence on 20 bodies) and the 401 codes' enum about 3 KB; an execution's
    // `errorCode` (in Execution and ExecutionTreeNode and their examples) and the execute routes'
    // 503 for the provider's rate limit or overload about 2 KB. The 64 error variants as object
    // models of their own (the envelope's properties each, where `allOf: [$ref: Error]` showed as
    // "(any)" in Swagger UI's model view) about 108 KB, and each operation's own success
    // description about 3 KB: 777 KB, about 470 KB served compact. An execution's
    // `historyTrimmed` (an object of four integers, in Execution and ExecutionTreeNode) about 2 KB;
    // GET /tokens/self's `tokenScopes` and `agentRun` (what an agent run's call may really use)
    // about 4 KB. A database 503's `details.committed`, the execute errors for a caller who lost
    // sight of the run while waiting, and the query-parameter messages (repeated, empty): about
    // 2 KB, to 813 KB. The execute routes' word on `async` with a stream (422), and on the
    // `delegate` tool's list of sub-agents: about 0.5 KB, to 830 KB. A run out of turns
    // (`max_turns_reached`: the execute routes' 422, `maxTurns`, an execution's `errorCode` and
    // its log's event): about 1.3 KB, to 832 KB. POST /tokens/self/rotate's own 403 (its one
    // case, where it shared the create/rotate-by-id model): about 3 KB, to 835 KB. An agent's
    // lists' entries, trimmed and not only spaces (a pattern and a sentence on each list of the
    // agent bodies), and answer_cut's finish reasons: about 1.4 KB, to 837 KB. Every authenticated
    // operation's 429 a reference to one shared response, which also says the failed
    // authentications' 429: 61 KB less, to 776 KB. The 403s that are not the role's, each
    // operation's own (a space's creator, an execution's starter, an execute's parent, the
    // self-revoke's agent run; none for GET /tokens/self), and the members' 409s split by what
    // each route can answer: about 12 KB, to 789 KB. An execute's delegationDepth naming its
    // server-side bound and the readiness 503's second cause (a stopping instance): 0.5 KB, to 789 KB.
    // The CLI's create alias's 403 naming the create rules too: 0.9 KB, to 790 KB. The maxLength
    // case of a path parameter's 422, and the CLI sign-in 429 naming its real limits: 1.5 KB, to 792 KB.
    // The streamed execute's example with the whole `result` event a stream sends (the JSON body and
    // its `execution`, on both execute routes): 3 KB, to 795 KB. A hidden agent's word in the
    // executions' and chats' descriptions: 0.7 KB, to 796 KB. Every authenticated operation's 401 a
    // reference to one shared response (components.responses.Unauthorized), as its 429: 28 KB
    // less, to 768 KB. The rate-limit and token headers every authenticated operation's own 4xx
    // sends, declared (+116 KB written out in each), with each error response that several
    // operations answer alike once in components.responses: 14 KB less, to 754 KB. GET of one
    // member (where the add's Location points) and Location on every 201: 4.5 KB, to 759 KB.
    // What test/openapi-contract.test.ts found answered but not documented: a bad Host's 400 on
    // every operation, the rate-limit headers on public routes' own 4xx, on an execute's 5xx and
    // on the Idempotency-Key's 400 and 409, on a compressed body's 415 (with its Accept-Encoding) and
    // on the database's 503, a streamed execute's X-Accel-Buffering: 11 KB, to 771 KB.
    // A token never outliving its maker (expiresInDays ends with it, expiresAt past it is 422): 2 KB, to 773 KB.
    const bytes = readFileSync(COMMITTED).byteLength
    expect(bytes).toBeLessThan(774_000)
  })

  test('the custom validation messages stay in the validator', async () => {
    const admin = await makeActor(t, { role: 'admin' })
    const res = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: 'x', expiresInDays: 3 } })
    expect(res.status).toBe(422)
    expect(res.body.message).toContain('expiresInDays must be an integer between 7 and 365')
  })
})

describe('every /api/v1 operation', () => {
  /** Authenticated operations: all of /api/v1 except the leak report, which takes no token. */
  const v1 = () => ops.filter((o) => o.path.startsWith('/api/v1/') && o.path !== '/api/v1/credentials/revoke')

  test('there are some', () => {
    expect(v1().length).toBeGreaterThanOrEqual(4)
  })

  test('a request body is required, but where the route takes none as well (a rotation: every field has a default; it said required, and a request without one got 201)', async () => {
    const optional = v1().filter(({ op }) => op.requestBody && op.requestBody.required === false).map(({ method, path }) => `${method} ${path}`)
    expect(optional.sort()).toEqual(['post /api/v1/tokens/self/rotate', 'post /api/v1/tokens/{id}/rotate'])
    for (const { op } of v1()) if (op.requestBody && op.requestBody.required !== false) expect(op.requestBody.required).toBe(true)
    expect(JSON.stringify(spec)).not.toContain('x-optional-body')
  })

  test('has a summary, a description and tags', () => {
    for (const { op } of v1()) {
      expect(op.summary).toBeTruthy()
      expect(op.description).toBeTruthy()
      expect(Array.isArray(op.tags) && op.tags.length > 0).toBe(true)
    }
  })

  test('requires bearerAuth naming the one scope it needs (introspection needs none)', () => {
    for (const { path, method, op } of v1()) {
      const label = `${method} ${path}`
      if (path === '/api/v1/tokens/self') expect({ label, security: op.security }).toEqual({ label, security: [{ bearerAuth: [] }] })
      else {
        expect({ label, n: op.security?.length, keys: Object.keys(op.security?.[0] ?? {}) }).toEqual({ label, n: 1, keys: ['bearerAuth'] })
        expect(op.security[0].bearerAuth.length).toBe(1)
        expect(SCOPES as readonly string[]).toContain(op.security[0].bearerAuth[0])
      }
    }
  })

  test('every POST and PATCH needs a write-type scope (idempotency keys are attached by it)', () => {
    for (const { path, method, op } of v1()) {
      if (method !== 'post' && method !== 'patch') continue
      const scope = op.security?.[0]?.bearerAuth?.[0] ?? ''
      expect({ route: `${method} ${path}`, readOnly: scope === '' || scope.endsWith(':read') }).toEqual({ route: `${method} ${path}`, readOnly: false })
    }
  })

  test('the leak report and the public directory take no token', () => {
    expect(spec.paths['/api/v1/credentials/revoke'].post.security ?? []).toEqual([])
    expect(spec.paths['/api/public/agents'].get.security ?? []).toEqual([])
  })

  test('documents 401 and 403 with the error envelope (but the introspection, which refuses nobody it authenticated: test/openapi-forbidden.test.ts)', () => {
    for (const { path, method, op } of v1()) {
      for (const status of path === '/api/v1/tokens/self' && method === 'get' ? ['401'] : ['401', '403']) {
        const label = `${method} ${path} ${status}`
        expect({ label, has: status in op.responses }).toEqual({ label, has: true })
        expectEnvelopeSchema(jsonSchema(op.responses[status]), label)
      }
    }
  })

  test('every 4xx response it documents is the error envelope', () => {
    for (const { path, method, op } of v1())
      for (const [status, res] of Object.entries(op.responses) as [string, Json][])
        if (status.startsWith('4')) expectEnvelopeSchema(jsonSchema(res), `${method} ${path} ${status}`)
  })

  test('error responses say what the status means here, not just "Error envelope"', () => {
    // A shared response (the 401, components.responses) is read where it is.
    const resolved = (r: any) => (typeof r?.$ref === 'string' ? spec.components.responses[r.$ref.split('/').pop()] : r)
    for (const { op } of v1())
      for (const status of ['401', '403', '404']) if (op.responses[status]) expect(resolved(op.responses[status]).description).not.toBe('Error envelope')
    expect(resolved(spec.paths['/api/v1/tokens'].get.responses['401']).description).toContain('Unauthorized')
    expect(resolved(spec.paths['/api/v1/tokens'].get.responses['403']).description).toContain('Forbidden')
  })

  test('has an example in its request body or success response', () => {
    for (const { path, method, op } of v1()) {
      const success = Object.entries(op.responses).filter(([s]) => s.startsWith('2')).map(([, r]) => jsonSchema(r))
      const body = op.requestBody?.content?.['application/json']?.schema
      const label = `${method} ${path}`
      expect({ label, example: [body, ...success].some((s) => s && hasExample(s)) }).toEqual({ label, example: true })
    }
  })

  test('routes with a token id document 404; POST documents 400, 413 and 422; list documents 422', () => {
    for (const { path, op } of v1()) if (path.includes('{id}')) expect(op.responses).toHaveProperty('404')
    const create = spec.paths['/api/v1/tokens'].post
    for (const s of ['201', '400', '413', '422']) expect(create.responses).toHaveProperty(s)
    expect(spec.paths['/api/v1/tokens'].get.responses).toHaveProperty('422')
  })

  test('POST /tokens takes JSON {name, expiresInDays?} with the 7-365 range and an example', () => {
    const body = spec.paths['/api/v1/tokens'].post.requestBody
    expect(body.required).toBe(true)
    const schema = body.content['application/json'].schema
    expect(schema.required).toEqual(['name'])
    expect(schema.properties.name.minLength).toBe(1)
    const days = schema.properties.expiresInDays
    expect(days.minimum).toBe(7)
    expect(days.maximum).toBe(365)
    expect(hasExample(schema)).toBe(true)
    expect(collect(schema, 'examples').flat()).toContainEqual(expect.objectContaining({ name: expect.any(String) }))
  })

  test('the create response documents the one-time secret and it matches the token format', () => {
    const schema = jsonSchema(spec.paths['/api/v1/tokens'].post.responses['201'])
    expect(schema.properties.token.type).toBe('string')
    const example = collect(schema, 'examples').flat().find((e: Json) => e && typeof e.token === 'string')
    expect(example.token).toMatch(/^td_[A-Za-z0-9]{43}$/)
    expect(checkTokenFormat(example.token)).toBeNull() // a well-formed token, checksum included
    expect(example.maskedToken).toBe(`${example.token.slice(0, 7)}…${example.token.slice(-4)}`)
  })
})

describe('/api/health', () => {
  test('is documented as public (security: []) and answers 200 {status, version}', async () => {
    const op = spec.paths['/api/health'].get
    expect(op.security).toEqual([])
    // 400: a Host that is not host[:port], refused before any route runs.
    expect(Object.keys(op.responses)).toEqual(['200', '400', '413', '414', '422', 'default'])
    expect(op.summary).toBeTruthy()
    expect(op.tags).toEqual(['System'])
    const res = await t.req('GET', '/api/health')
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ status: 'ok', version: spec.info.version })
    // The 422 it documents (the URL's NUL rule, before any route): it answered it undocumented.
    const nul = await t.req('GET', '/api/health?x=%00')
    expect([nul.status, nul.body.code, nul.body.details]).toEqual([422, 'validation_failed', [{ field: 'x', message: 'must not contain the NUL character (%00)' }]])
  })
})

describe('Swagger UI, offline', () => {
  let html: string

  beforeAll(async () => {
    const res = await t.req('GET', '/swagger')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('text/html')
    html = res.text
  }, 60_000)

  test('the page loads its script and stylesheet from /swagger/assets and its icon from /favicon.ico, never from a CDN', async () => {
    const scripts = [...html.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1])
    const styles = [...html.matchAll(/<link[^>]*\shref="([^"]+)"/g)].map((m) => m[1])
    // Named with a version (`?v=`) that changes with the file: a browser's copy of the previous version's is not used.
    expect(scripts.map((s) => s!.replace(/\?v=[0-9a-z.]+$/, ''))).toEqual(['/swagger/assets/swagger-ui-bundle.js', '/swagger/assets/swagger-init.js'])
    expect(styles.map((s) => s!.replace(/\?v=[0-9a-z.]+$/, ''))).toEqual(['/favicon.ico', '/swagger/assets/swagger-ui.css'])
    expect([...scripts, ...styles].every((u) => /\?v=[0-9a-z.]+$/.test(u!))).toBe(true)
    expect(scripts[0]).toBe(`/swagger/assets/swagger-ui-bundle.js?v=${swaggerUiVersion}`)
    for (const u of [...scripts, ...styles]) expect([u, (await t.req('GET', u!)).status]).toEqual([u, 200])
    expect(html).not.toMatch(/unpkg|jsdelivr|cdnjs|cdn\.|googleapis|cloudflare/i)
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//i)
  })

  test('the spec URL resolves to /swagger/json from /swagger and from /swagger/', async () => {
    const url = html.match(/"url":"([^"]+)"/)?.[1]
    expect(url).toBeDefined()
    for (const page of ['http://localhost/swagger', 'http://localhost/swagger/']) expect(new URL(url!, page).pathname).toBe('/swagger/json')
    const slash = await t.req('GET', '/swagger/')
    expect(slash.status).toBe(200)
    expect(slash.text).toContain(`"url":"${url}"`)
  })

  test('the page is Cache-Control: no-cache (asked for again at each use: it names this build\'s versioned files), at /swagger and /swagger/', async () => {
    for (const path of ['/swagger', '/swagger/']) expect({ path, cache: (await t.req('GET', path)).headers.get('cache-control') }).toEqual({ path, cache: 'no-cache' })
    // Its files are cached by their versioned names; the document is never kept (its `servers`).
    expect((await t.req('GET', '/swagger/assets/swagger-init.js')).headers.get('cache-control')).toBe('public, max-age=3600')
    expect((await t.req('GET', '/swagger/json')).headers.get('cache-control')).toBe('no-store')
  })

  test('no call to the online validator (it would send the spec URL to swagger.io)', () => {
    expect(html).toMatch(/"validatorUrl":"none"/)
  })

  test('"Authorize" does not keep the pasted token in localStorage', () => {
    expect(html).toContain('"persistAuthorization":false')
  })

  test('the page has a CSP that allows scripts from this origin only, and no inline script', async () => {
    const res = await t.req('GET', '/swagger')
    expect(res.headers.get('content-security-policy')).toBe("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    const inline = [...html.matchAll(/<script(?![^>]*\ssrc=)([^>]*)>/g)].map((m) => m[1])
    expect(inline).toEqual([' type="application/json" id="swagger-settings"'])
    const init = await t.req('GET', '/swagger/assets/swagger-init.js')
    expect(init.text).toContain('SwaggerUIBundle(')
  })

  test.each([
    ['/swagger/assets/swagger-ui-bundle.js', /javascript/, 'SwaggerUIBundle'],
    ['/swagger/assets/swagger-ui.css', /^text\/css/, '.swagger-ui'],
  ])('%s is served with its content type', async (path, type, marker) => {
    const res = await t.req('GET', path)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(type)
    expect(res.text.length).toBeGreaterThan(10_000)
    expect(res.text).toContain(marker)
  })

  test('the stylesheet pulls nothing from the network', async () => {
    const css = (await t.req('GET', '/swagger/assets/swagger-ui.css')).text
    const urls = [...css.matchAll(/url\(\s*['"]?([^'")]+)/g)].map((m) => m[1]!)
    for (const u of urls) expect(u).toStartWith('data:')
  })

  test('GET /swagger/json is JSON with CORS-free, cache-safe headers and an X-Request-Id', async () => {
    const res = await t.req('GET', '/swagger/json')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('application/json')
    expect(res.body.openapi).toMatch(/^3\.1\./)
    expect(res.headers.get('x-request-id')).toBeTruthy()
  })
})

describe('Idempotency-Key in the document', () => {
  test('every authenticated POST and PATCH documents the header and the 409 and 400 it can add; nothing else does', () => {
    const idempotent = ops.filter(({ method, op }) => (method === 'post' || method === 'patch') && (op.security ?? []).length > 0)
    expect(idempotent.length).toBeGreaterThan(15)
    for (const { path, method, op } of ops) {
      const header = (op.parameters ?? []).find((p: Json) => p.in === 'header' && p.name === 'Idempotency-Key')
      const where = `${method.toUpperCase()} ${path}`
      if (!idempotent.some((o) => o.op === op)) {
        expect({ where, header }).toEqual({ where, header: undefined })
        continue
      }
      expect({ where, required: header?.required }).toEqual({ where, required: false })
      expect({ where, conflict: op.responses['409']?.description }).toEqual({ where, conflict: expect.stringContaining('`idempotency_conflict`') })
      expect({ where, invalid: op.responses['400']?.description }).toEqual({ where, invalid: expect.stringContaining('`invalid_idempotency_key`') })
    }
  })

  test('what it documents is what a retry gets: a token create retried is 409 idempotency_secret_withheld, a bad key 400', async () => {
    const a = await makeActor(t, { role: 'admin' })
    const headers = { 'idempotency-key': 'doc-retry-1' }
    expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'once' }, headers })).status).toBe(201)
    const again = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'once' }, headers })
    expect([again.status, again.body.code]).toEqual([409, 'idempotency_secret_withheld'])
    expect(spec.components.responses.IdempotencyConflict.description).toContain('`idempotency_secret_withheld`')
    expect(spec.paths['/api/v1/tokens'].post.responses['409'].$ref).toBe('#/components/responses/IdempotencyConflict')
    const bad = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'x' }, headers: { 'idempotency-key': 'é' } })
    expect([bad.status, bad.body.code]).toEqual([400, 'invalid_idempotency_key'])
  })
})

describe('statuses every operation of a kind can answer', () => {
  test('a path parameter: 404 (a NUL, %00, in the path names nothing); query parameters: 422 (one the route does not take)', async () => {
    for (const { path, method, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`
      if (path.includes('{')) expect({ where, has404: '404' in op.responses }).toEqual({ where, has404: true })
      if ((op.parameters ?? []).some((p: Json) => p.in === 'query')) expect({ where, has422: '422' in op.responses }).toEqual({ where, has422: true })
    }
    const a = await makeActor(t, { role: 'admin' })
    expect((await t.req('GET', '/api/v1/organizations/%00/env', { token: a.token })).status).toBe(404)
    const unknown = await t.req('GET', '/api/tokens/list?zzz=1', { token: a.token })
    expect([unknown.status, unknown.body.code]).toEqual([422, 'validation_failed'])
  })
})

describe('what any request can be refused with before its route runs, in the document', () => {
  test('every operation documents 413 and 414; those that read a body 415; those with a path parameter a 422 for malformed percent-encoding', () => {
    expect(ops.length).toBeGreaterThan(40)
    for (const { path, method, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`
      const has = (status: string) => ({ where, status, has: status in op.responses })
      for (const status of ['413', '414']) expect(has(status)).toEqual({ where, status, has: true })
      expect(has('415')).toEqual({ where, status: '415', has: op.requestBody !== undefined })
      if (path.includes('{')) expect({ where, malformed: op.responses['422']?.description }).toEqual({ where, malformed: expect.stringContaining('percent-encoding') })
      for (const status of ['413', '414', '415', '422']) if (op.responses[status]) expectEnvelopeSchema(jsonSchema(op.responses[status]), `${where} ${status}`)
    }
    // A body-less POST reads a chunked body once its token is known: its 413 is counted (rate-limit headers), as a body-taking route's is.
    expect(spec.paths['/api/v1/executions/{id}/cancel'].post.responses['413'].$ref).toBe('#/components/responses/PayloadTooLarge413')
    expect(spec.paths['/api/v1/agents/{id}'].delete.responses['413'].$ref).toBe('#/components/responses/PayloadTooLarge')
    expect(spec.paths['/api/v1/agents'].get.responses['414'].$ref).toBe('#/components/responses/UriTooLong')
  })

  test('what it documents is what comes: a 413 on a route without a body, a 414, a 415 for a Content-Encoding, a 422 for %ZZ in an id', async () => {
    const a = await makeActor(t, { role: 'admin' })
    /** Sends the request, expects `status` and `code`, and that the operation documents that status with the model `name`. */
    const documented = async (method: string, template: string, path: string, init: { raw?: string; headers?: Record<string, string> }, status: number, code: string, name: string) => {
      const r = await t.req(method, path, { token: a.token, ...init })
      expect([path, r.status, r.body.code]).toEqual([path, status, code])
      const response = resolveRef(spec.paths[template][method.toLowerCase()].responses[String(status)])
      expect(response.content['application/json'].schema.$ref).toBe(`#/components/schemas/${name}`)
    }
    await documented('POST', '/api/v1/executions/{id}/cancel', '/api/v1/executions/exec_x/cancel', { raw: 'x'.repeat(1_100_000) }, 413, 'payload_too_large', 'PayloadTooLarge')
    await documented('GET', '/api/v1/agents', `/api/v1/agents?q=${'a'.repeat(9000)}`, {}, 414, 'uri_too_long', 'UriTooLong')
    const gzip = { 'content-type': 'application/json', 'content-encoding': 'gzip' }
    await documented('POST', '/api/v1/tasks', '/api/v1/tasks', { raw: '{"title":"x"}', headers: gzip }, 415, 'unsupported_media_type', 'UnsupportedContentEncoding')
    await documented('GET', '/api/v1/agents/{id}', '/api/v1/agents/%ZZ', {}, 422, 'validation_failed', 'InvalidPathParameter')
    const malformed = await t.req('GET', '/api/v1/agents/%ZZ', { token: a.token })
    expect(malformed.body.details).toEqual([{ field: 'id', message: expect.stringContaining('is not valid percent-encoding') }])
  })

  test("the execute's 200 documents the Server-Sent Events it sends with stream: true or Accept: text/event-stream", () => {
    const ok = ops.find((o) => o.path === '/api/v1/agents/{id}/execute' && o.method === 'post')!.op.responses['200']
    expect(Object.keys(ok.content)).toEqual(['application/json', 'text/event-stream'])
    expect(ok.content['text/event-stream'].schema.type).toBe('string')
    expect(ok.content['text/event-stream'].example).toContain('event: meta\ndata: {')
    expect(ok.description).toContain('text/event-stream')
  })
})

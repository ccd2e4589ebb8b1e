import { beforeAll, describe, expect, test } from 'bun:test'
import { openapiDocument } from '../src/cli/admin/openapi'

/**
 * Every field a reader of the Swagger UI sees is explained: each property of each schema (named
 * models, request bodies, responses; nested objects, array items and union branches included)
 * and each parameter has a description. A new field without one fails here, by name.
 */

type Json = any
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace']
const REF = '#/components/schemas/'

let spec: Json

beforeAll(async () => {
  spec = await openapiDocument()
}, 60_000)

const described = (v: Json) => typeof v?.description === 'string' && v.description.trim() !== ''

/**
 * Whether a property says what it is: its own description, or (a `$ref` alone, which cannot
 * carry one in every tool) the description of the model it refers to.
 */
function propertyDescribed(p: Json): boolean {
  if (described(p)) return true
  if (typeof p?.$ref === 'string' && p.$ref.startsWith(REF)) return described(spec.components.schemas[p.$ref.slice(REF.length)])
  return false
}

/** The properties under `schema` without a description, as `where.a.b[].c`; `$ref`s are not followed (each model is walked once). */
function undescribed(schema: Json, where: string, out: string[] = []): string[] {
  if (!schema || typeof schema !== 'object') return out
  if (Array.isArray(schema)) {
    schema.forEach((s, i) => undescribed(s, `${where}|${i}`, out))
    return out
  }
  for (const [name, p] of Object.entries<Json>(schema.properties ?? {})) {
    if (!propertyDescribed(p)) out.push(`${where}.${name}`)
    undescribed(p, `${where}.${name}`, out)
  }
  if (schema.items) undescribed(schema.items, `${where}[]`, out)
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') undescribed(schema.additionalProperties, `${where}{}`, out)
  for (const key of ['anyOf', 'oneOf', 'allOf', 'prefixItems']) if (Array.isArray(schema[key])) undescribed(schema[key], where, out)
  return out
}

function operations(): { label: string; op: Json }[] {
  return Object.entries<Json>(spec.paths).flatMap(([path, item]) =>
    Object.entries<Json>(item)
      .filter(([m]) => METHODS.includes(m))
      .map(([m, op]) => ({ label: `${m.toUpperCase()} ${path}`, op: { ...op, parameters: op.parameters?.map((p: Json) => resolveRef(p)) } })),
  )
}

/** A `$ref` to `#/components/…` (a shared parameter or response) resolved; anything else as it is. */
function resolveRef(x: Json): Json {
  return typeof x?.$ref === 'string' ? x.$ref.split('/').slice(1).reduce((o: Json, k: string) => o[k], spec) : x
}

describe('every field in the OpenAPI document has a description', () => {
  test('the walk finds what it should: a property and a parameter stripped of their description are named', () => {
    const saved = spec
    spec = structuredClone(saved)
    try {
      delete spec.components.schemas.Error.properties.code.description
      const body = spec.paths['/api/v1/tokens'].get
      delete body.parameters.find((p: Json) => p.name === 'limit').description
      expect(undescribed(spec.components.schemas.Error, 'Error')).toContain('Error.code')
      expect(body.parameters.filter((p: Json) => !described(p)).map((p: Json) => p.name)).toContain('limit')
    } finally {
      spec = saved
    }
  })

  test('every property of every named model (components.schemas), nested ones and array items included', () => {
    const missing = Object.entries<Json>(spec.components.schemas).flatMap(([name, s]) => undescribed(s, `components.schemas.${name}`))
    expect(missing).toEqual([])
  })

  test('every property of every inline request body and response schema', () => {
    const missing: string[] = []
    for (const { label, op } of operations()) {
      for (const [type, media] of Object.entries<Json>(op.requestBody?.content ?? {})) undescribed(media.schema, `${label} requestBody ${type}`, missing)
      for (const [status, res] of Object.entries<Json>(op.responses ?? {})) for (const [type, media] of Object.entries<Json>(res.content ?? {})) undescribed(media.schema, `${label} ${status} ${type}`, missing)
    }
    expect(missing).toEqual([])
  })

  test('every parameter (path and query) has a description on the parameter, where Swagger UI shows it', () => {
    const missing = operations().flatMap(({ label, op }) => ((op.parameters ?? []) as Json[]).filter((p) => !described(p)).map((p) => `${label} ${p.in} ${p.name}`))
    expect(missing).toEqual([])
  })
})

/** What a generator writes when it knows nothing of a response, and words that say no more. */
const GENERIC = /^(Response for status \d+|OK|Success|Successful( response| operation)?|Created|Accepted|No Content|Default response)\.?$/i

describe("each operation's success response says what it returns", () => {
  /** Every 2xx of every operation: "METHOD path status" → its description. */
  const successes = () =>
    operations().flatMap(({ label, op }) =>
      Object.entries<Json>(op.responses ?? {})
        .filter(([status]) => status.startsWith('2'))
        .map(([status, res]) => ({ at: `${label} ${status}`, description: resolveRef(res).description as unknown })),
    )

  test('every operation has one', () => {
    for (const { op, label } of operations()) expect({ label, successes: Object.keys(op.responses ?? {}).filter((s) => s.startsWith('2')).length > 0 }).toEqual({ label, successes: true })
  })

  test('none is missing, generic ("Response for status 200", "OK", "Success") or a few words only', () => {
    const bad = successes().filter(({ description }) => typeof description !== 'string' || GENERIC.test(description.trim()) || description.trim().split(/\s+/).length < 4)
    expect(bad).toEqual([])
  })

  test('no two successes say the same thing: each is about its own operation', () => {
    const byText = new Map<string, string[]>()
    for (const { at, description } of successes()) byText.set(String(description), [...(byText.get(String(description)) ?? []), at])
    expect([...byText].filter(([, at]) => at.length > 1)).toEqual([])
  })

  test('the routes\' option that says it does not reach the document', () => {
    expect(JSON.stringify(spec)).not.toContain('x-response-descriptions')
  })
})

import { Kind } from '@sinclair/typebox'
import { isObject, SCHEMA_LISTS, SCHEMA_MAPS, SCHEMA_VALUES } from './openapi-publish'

/**
 * What @elysiajs/openapi's generator reads, adjusted before it reads it. The generator turns a
 * union of literals (`t.Union([t.Literal('active'), …], { description })`) into
 * `{type: 'string', enum}` and drops every option of the union, its description first; the
 * published document (./openapi-publish.ts) could not get it back. `generatorView` gives it the
 * app with such unions already written as that enum, options kept.
 */

type Json = any
type Schema = Record<string, Json>

/**
 * A union of literals as an enum with the union's own options (description, default, examples,
 * error), or undefined for any other schema. The generator writes the same `{type: 'string', enum}`
 * for such a union but without those options.
 */
function literalUnionAsEnum(s: Schema): Schema | undefined {
  const branches = s.anyOf
  if ((s as Record<symbol, unknown>)[Kind] !== 'Union' || !Array.isArray(branches) || branches.length === 0 || !branches.every((b) => isObject(b) && b.const !== undefined)) return undefined
  const { anyOf: _, ...options } = s
  // Own string keys only: TypeBox's symbols (Kind) would make the generator look at it again.
  return { ...Object.fromEntries(Object.entries(options)), type: 'string', enum: branches.map((b: Schema) => b.const) }
}

/**
 * A route or model schema (TypeBox) with every union of literals in it made an enum that keeps
 * its options. Copy on write: an unchanged schema is returned as it is, a changed one is a copy
 * with all its own properties (symbols and non-enumerable `$id` too); the input is never mutated
 * (the validator uses it).
 */
export function keepLiteralUnionOptions(s: Json): Json {
  if (!isObject(s)) return s
  const asEnum = literalUnionAsEnum(s)
  if (asEnum) return asEnum
  let out: Schema | undefined
  const set = (key: string, value: Json) => {
    out ??= Object.create(Object.getPrototypeOf(s), Object.getOwnPropertyDescriptors(s)) as Schema
    out[key] = value
  }
  for (const [key, value] of Object.entries(s)) {
    if (SCHEMA_MAPS.includes(key) && isObject(value)) {
      const mapped = Object.entries(value).map(([k, v]) => [k, keepLiteralUnionOptions(v)] as const)
      if (mapped.some(([k, v]) => v !== value[k])) set(key, Object.fromEntries(mapped))
    } else if (SCHEMA_LISTS.includes(key) && Array.isArray(value)) {
      const mapped = value.map(keepLiteralUnionOptions)
      if (mapped.some((v, i) => v !== value[i])) set(key, mapped)
    } else if (SCHEMA_VALUES.includes(key) && isObject(value)) {
      const mapped = keepLiteralUnionOptions(value)
      if (mapped !== value) set(key, mapped)
    }
  }
  return out ?? s
}

/** The schemas of a route's hooks (a model name, a schema, or a status → schema map for `response`). */
const HOOK_SCHEMAS = ['body', 'query', 'params', 'headers', 'cookie']

function mapHookSchemas(hooks: Schema): Schema {
  const out: Schema = { ...hooks }
  for (const key of HOOK_SCHEMAS) if (isObject(hooks[key])) out[key] = keepLiteralUnionOptions(hooks[key])
  const response = hooks.response
  if (isObject(response)) out.response = Kind in response ? keepLiteralUnionOptions(response) : Object.fromEntries(Object.entries(response).map(([status, r]) => [status, keepLiteralUnionOptions(r)]))
  if (Array.isArray(hooks.standaloneValidator)) out.standaloneValidator = hooks.standaloneValidator.map((v: Json) => (isObject(v) ? mapHookSchemas(v) : v))
  return out
}

/** What the generator calls (protected in Elysia's types, public at run time). */
interface Generated {
  getGlobalRoutes(): Json[]
  getGlobalDefinitions?(): Json
}

/**
 * The app as @elysiajs/openapi's generator reads it (its routes and its models, through
 * getGlobalRoutes and getGlobalDefinitions), with `keepLiteralUnionOptions` applied to every
 * schema, so a described union of literals keeps its description in the document. The app
 * itself, its routes and its schemas are left alone.
 */
export function generatorView<A extends object>(app: A): A {
  return new Proxy(app as A & Generated, {
    get(target, prop) {
      if (prop === 'getGlobalRoutes') return () => target.getGlobalRoutes().map((route) => (isObject(route) && isObject(route.hooks) ? { ...route, hooks: mapHookSchemas(route.hooks) } : route))
      if (prop === 'getGlobalDefinitions')
        return () => {
          const definitions = target.getGlobalDefinitions?.()
          if (!isObject(definitions) || !isObject(definitions.type)) return definitions
          return { ...definitions, type: Object.fromEntries(Object.entries(definitions.type).map(([name, s]) => [name, keepLiteralUnionOptions(s)])) }
        }
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

import { TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler'
import { Elysia, t } from 'elysia'

/**
 * Start-up cost of named models. Elysia's `.model(record)` rebuilds its TypeBox module (a deep
 * copy of every model it knows, quadratic in their number) on every call: also when every name
 * in `record` is already known, which is what each `.use(plugin)` of a plugin with models does,
 * and in every plugin, whose own module is never used (a plugin's routes are added again to the
 * app that uses it, and compile against that app's module on their first request). createApp
 * paid for ~950 model copies (~60% of its time) to end with 89. Here, for a record of TypeBox
 * schemas:
 * - a record that names only known models is skipped: Elysia keeps a known model (it never
 *   replaces one) and would rebuild an identical module;
 * - otherwise the names are recorded as Elysia does, and the module is a ModelsModule (below),
 *   which computes nothing until a name is imported from it.
 * createApp registers every model once at the root.
 * Anything else (a string name, a function, a Standard Schema) goes to Elysia unchanged.
 *
 * First-request cost of named models. Elysia reads the app's module each time it compiles a
 * route (the first request of each): a TypeBox module computes every model when it is built, so
 * the first read cost a full build of all of them. A route's schema that names a model is the
 * module's `Import(name)`, which carries every model of the module; TypeBox's compiler checks
 * each of them in depth (TypeGuard.IsSchema) for each validator it compiles. A ModelsModule
 * imports a model from a module of only the models it refers to (by `$ref`, transitively), which
 * is all a validator can reach; a `$ref` that names no model imports from all of them.
 *
 * Elysia also compiles every validator (query, params, body, each response status) with all the
 * app's models as TypeBox references, which the compiler checks in depth each time. A reference
 * serves only a `$ref` naming its `$id`: TypeCompiler.Compile here gets only the references the
 * schema names (transitively), none for a schema without `$ref`. The code it generates is the same.
 *
 * And it compiles them when they are first used, not when the route is: a route's first request
 * compiled a validator for every response status it declares (six for the agent list: 200,
 * 400, 401, 403, 422, 429), each a code generation and a `new Function`, though one request
 * answers one status and most routes never answer most of theirs (lazyTypeCheck, below). A
 * schema TypeBox cannot compile then fails where it is first checked instead of at the route's
 * first request: test/validators.test.ts compiles every validator of every route.
 *
 * Applied once, when this module is first imported (by src/app.ts).
 */
type Definitions = { type: Record<string, unknown>; typebox: { $defs: Record<string, unknown> } }
type Instance = { definitions: Definitions }
type ModelFn = (this: Instance, name: unknown, model?: unknown) => Instance
const proto = Elysia.prototype as unknown as { model: ModelFn; '~teamdayModels'?: true }

function setTypebox(defs: Definitions, value: unknown): void {
  Object.defineProperty(defs, 'typebox', { value, writable: true, enumerable: true, configurable: true })
}

/** What this file uses of a TypeBox module (its `$defs` are private in TypeBox's types). */
interface Module {
  $defs: Record<string, unknown>
  Import(key: string, options?: unknown): unknown
}

/** The models `key` refers to, itself included; null when a `$ref` names no model. */
function reachable($defs: Record<string, unknown>, key: string): string[] | null {
  const names = new Set([key])
  const seen = new Set<object>()
  const stack: unknown[] = [$defs[key]]
  while (stack.length > 0) {
    const node = stack.pop()
    if (!node || typeof node !== 'object' || seen.has(node)) continue
    seen.add(node)
    const ref = (node as { $ref?: unknown }).$ref
    if (typeof ref === 'string') {
      if (!(ref in $defs)) return null
      if (!names.has(ref)) {
        names.add(ref)
        stack.push($defs[ref])
      }
    }
    for (const value of Object.values(node)) if (value && typeof value === 'object') stack.push(value)
  }
  return [...names]
}

/**
 * The module Elysia reads as `definitions.typebox`, built for what it is asked. Elysia asks a
 * module two things: whether a name is a model (`name in $defs`, or `$defs` spread into a new
 * module for an inline schema with a `$ref`) and `Import(name)` for a route's schema. A TypeBox
 * module computes every model when it is built; this one keeps the models as they were given
 * (what TypeBox's `Module` takes) and, per imported name, builds a module of only the models that
 * name reaches (by `$ref`, transitively), which is all a validator of it can reach: a route's
 * first request computes a few models instead of all 89. A `$ref` that names no model imports
 * from a module of them all.
 */
class ModelsModule implements Module {
  private readonly byName = new Map<string, Module>()

  constructor(readonly $defs: Record<string, unknown>) {}

  Import(key: string, options?: unknown): unknown {
    let module = this.byName.get(key)
    if (module === undefined) {
      const names = key in this.$defs ? reachable(this.$defs, key) : null
      const defs = names === null ? this.$defs : Object.fromEntries(names.map((name) => [name, this.$defs[name]]))
      module = t.Module(defs as never) as unknown as Module
      this.byName.set(key, module)
    }
    return module.Import(key, options)
  }
}

/** The `$ref` strings in a schema (its `$defs` included). */
function refsOf(root: unknown, into: Set<string>): void {
  const seen = new Set<object>()
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const node = stack.pop()
    if (!node || typeof node !== 'object' || seen.has(node)) continue
    seen.add(node)
    const ref = (node as { $ref?: unknown }).$ref
    if (typeof ref === 'string') into.add(ref)
    for (const value of Object.values(node)) if (value && typeof value === 'object') stack.push(value)
  }
}

/** The references a schema can reach through `$ref` (by `$id`), transitively. */
function referencedBy<R extends { $id?: unknown }>(schema: unknown, references: R[]): R[] {
  const refs = new Set<string>()
  refsOf(schema, refs)
  const used: R[] = []
  let grew = refs.size > 0
  while (grew) {
    grew = false
    for (const r of references) {
      if (used.includes(r) || typeof r.$id !== 'string' || !refs.has(r.$id)) continue
      used.push(r)
      refsOf(r, refs)
      grew = true
    }
  }
  return used
}

type Compile = typeof TypeCompiler.Compile

/**
 * A TypeCheck (what TypeCompiler.Compile returns) that compiles on first use: `Check`, `Decode`,
 * `Encode` and `Code()` read `checkFunc` or `code`, which compile the schema once and become plain
 * properties. `references` (only those the schema names) and `hasTransform` are computed when
 * first read; each may be assigned (Elysia assigns its own `hasTransform`).
 */
function lazyTypeCheck(compile: Compile, schema: Parameters<Compile>[0], all: Parameters<Compile>[1]): ReturnType<Compile> {
  const check = Object.create(TypeCheck.prototype) as ReturnType<Compile>
  let compiled: ReturnType<Compile> | undefined
  const real = () => (compiled ??= compile(schema, (check as unknown as { references: Parameters<Compile>[1] }).references))
  const lazy = (key: string, value: () => unknown) =>
    Object.defineProperty(check, key, {
      configurable: true,
      enumerable: true,
      get: () => define(key, value()),
      set: (v: unknown) => define(key, v),
    })
  const define = (key: string, value: unknown) => {
    Object.defineProperty(check, key, { value, writable: true, configurable: true, enumerable: true })
    return value
  }
  define('schema', schema)
  lazy('references', () => (all && all.length > 0 ? referencedBy(schema, all) : (all ?? [])))
  lazy('checkFunc', () => (real() as unknown as { checkFunc: unknown }).checkFunc)
  lazy('code', () => real().Code())
  lazy('hasTransform', () => (real() as unknown as { hasTransform: boolean }).hasTransform)
  return check
}

if (!proto['~teamdayModels']) {
  const compile = TypeCompiler.Compile
  TypeCompiler.Compile = ((schema: Parameters<Compile>[0], references: Parameters<Compile>[1] = []) => lazyTypeCheck(compile, schema, references)) as Compile

  const model = proto.model
  proto.model = function (this: Instance, name: unknown, schema?: unknown) {
    if (!name || typeof name !== 'object' || schema !== undefined) return model.call(this, name, schema)
    const record = name as Record<string, { $id?: string; '~standard'?: unknown }>
    const defs = this.definitions
    const fresh = Object.keys(record).filter((key) => !(key in defs.type))
    if (fresh.length === 0) return this
    if (fresh.some((key) => !record[key] || typeof record[key] !== 'object' || '~standard' in record[key]!)) return model.call(this, name, schema)
    const added: Record<string, unknown> = {}
    for (const key of fresh) {
      const value = record[key]!
      defs.type[key] = value
      value.$id ??= `#/components/schemas/${key}`
      added[key] = value
    }
    // The models known before (a module of ours, or one Elysia built: both take part in a new one).
    const base = defs.typebox as Module | undefined
    setTypebox(defs, new ModelsModule({ ...base?.$defs, ...added }))
    return this
  }
  proto['~teamdayModels'] = true
}

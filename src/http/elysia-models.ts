import { TypeCompiler } from '@sinclair/typebox/compiler'
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
 * - otherwise the names are recorded as Elysia does, and the module is built when first read.
 * createApp registers every model once at the root, so that only the root's module is built.
 * Anything else (a string name, a function, a Standard Schema) goes to Elysia unchanged.
 *
 * First-request cost of named models. A route's schema that names a model is the module's
 * `Import(name)`, which carries every model of the module; TypeBox's compiler checks each of them
 * in depth (TypeGuard.IsSchema) for each validator it compiles: every named response status of a
 * route, on the route's first request, checked all 89 models. The modules built here import a
 * model with only the models it refers to (by `$ref`, transitively), which is all a validator
 * can reach; a `$ref` that names no model keeps them all.
 *
 * Elysia also compiles every validator (query, params, body, each response status) with all the
 * app's models as TypeBox references, which the compiler checks in depth each time. A reference
 * serves only a `$ref` naming its `$id`: TypeCompiler.Compile here gets only the references the
 * schema names (transitively), none for a schema without `$ref`. The code it generates is the same.
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

function narrowImports(module: Module): Module {
  const importAll = module.Import.bind(module)
  const closure = new Map<string, string[] | null>()
  module.Import = (key: string, options?: unknown) => {
    const imported = importAll(key, options) as { $defs: Record<string, unknown> }
    if (!closure.has(key)) closure.set(key, reachable(module.$defs, key))
    const names = closure.get(key)
    if (!names) return imported
    const $defs: Record<string, unknown> = {}
    for (const name of names) $defs[name] = imported.$defs[name]
    return { ...imported, $defs }
  }
  return module
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

if (!proto['~teamdayModels']) {
  const compile = TypeCompiler.Compile
  TypeCompiler.Compile = ((schema: Parameters<typeof compile>[0], references: Parameters<typeof compile>[1] = []) =>
    compile(schema, references.length > 0 ? referencedBy(schema, references) : references)) as typeof compile

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
    // Read lazily: the module this one extends, and the build itself.
    const previous = Object.getOwnPropertyDescriptor(defs, 'typebox')
    Object.defineProperty(defs, 'typebox', {
      enumerable: true,
      configurable: true,
      get() {
        const base = (previous?.get ? previous.get.call(defs) : previous?.value) as Definitions['typebox']
        const built = narrowImports(t.Module({ ...base.$defs, ...added } as never) as unknown as Module)
        setTypebox(defs, built)
        return built
      },
      set(value: unknown) {
        setTypebox(defs, value)
      },
    })
    return this
  }
  proto['~teamdayModels'] = true
}

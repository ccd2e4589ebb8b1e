import { Elysia } from 'elysia'

/**
 * Start-up cost of named models. Elysia's `.model(record)` rebuilds its TypeBox module (a deep
 * copy of every model it knows, quadratic in their number) on every call, also when every name
 * in `record` is already known, which is what each `.use(plugin)` of a plugin with models does:
 * createApp paid for ~950 model copies (~60% of its time) to end with 89. createApp registers
 * every model once at the root, so each later merge names only known models, and a merge that
 * adds nothing is skipped here: Elysia would keep each known model (it never replaces one) and
 * rebuild an identical module. Anything else (a new name, a string name, a function) goes to
 * Elysia unchanged. Applied once, when this module is first imported (by src/app.ts).
 */
type ModelFn = (this: Elysia, name: unknown, model?: unknown) => Elysia
const proto = Elysia.prototype as unknown as { model: ModelFn; '~teamdayModels'?: true }
if (!proto['~teamdayModels']) {
  const model = proto.model
  proto.model = function (this: Elysia, name: unknown, schema?: unknown) {
    if (name && typeof name === 'object' && schema === undefined) {
      const known = (this as unknown as { definitions: { type: Record<string, unknown> } }).definitions.type
      let fresh = false
      for (const key in name) if (!(key in known)) { fresh = true; break }
      if (!fresh) return this
    }
    return model.call(this, name, schema)
  }
  proto['~teamdayModels'] = true
}

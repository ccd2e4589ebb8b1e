import { Kind, Type, TypeRegistry, type SchemaOptions } from '@sinclair/typebox'

/**
 * Query-string integers and booleans, checked as the strings they arrive as.
 *
 * Declared as `t.Integer()` / `t.Boolean()`, a query parameter makes Elysia coerce it with a
 * TypeBox transform, and a schema with a transform is decoded by walking it on every request
 * (twice, in Elysia 1.4): about a fifth of a cached list request. These two kinds check the
 * raw value with one compiled function instead, document themselves as integer / boolean in
 * OpenAPI (the `Kind` symbol is not serialised), and the handler reads them with `intParam` /
 * `boolParam`. Validation messages come from the schema's `error`, as for every other field.
 */
const QUERY_INTEGER = 'TeamdayQueryInteger'
const QUERY_BOOLEAN = 'TeamdayQueryBoolean'
const DIGITS = /^-?\d{1,15}$/

interface IntOptions extends SchemaOptions {
  /** The 422 message, naming the parameter (TypeBox's own would name this custom kind). */
  error: string
  minimum?: number
  maximum?: number
  default?: number
}

function toInt(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) ? value : undefined
  if (typeof value === 'string' && DIGITS.test(value)) return Number(value)
  return undefined
}

if (!TypeRegistry.Has(QUERY_INTEGER)) {
  TypeRegistry.Set<IntOptions>(QUERY_INTEGER, (schema, value) => {
    const n = toInt(value)
    if (n === undefined) return false
    return (schema.minimum === undefined || n >= schema.minimum) && (schema.maximum === undefined || n <= schema.maximum)
  })
}
if (!TypeRegistry.Has(QUERY_BOOLEAN)) {
  TypeRegistry.Set(QUERY_BOOLEAN, (_schema, value) => value === 'true' || value === 'false' || typeof value === 'boolean')
}

/** An integer query parameter (documented as `type: integer`). */
export function QueryInteger(options: IntOptions) {
  return Type.Unsafe<number | string>({ ...options, [Kind]: QUERY_INTEGER, type: 'integer' })
}

/** A boolean query parameter, `true` or `false` (documented as `type: boolean`). */
export function QueryBoolean(options: SchemaOptions & { error: string }) {
  return Type.Unsafe<boolean | string>({ ...options, [Kind]: QUERY_BOOLEAN, type: 'boolean' })
}

/** The value of a validated QueryInteger parameter, or `fallback` when absent. */
export function intParam(value: number | string | undefined, fallback: number): number {
  return value === undefined ? fallback : (toInt(value) ?? fallback)
}

/** The value of a validated QueryBoolean parameter (absent: undefined). */
export function boolParam(value: boolean | string | undefined): boolean | undefined {
  return value === undefined ? undefined : value === true || value === 'true'
}

import { OptionalKind } from '@sinclair/typebox'
import { authRequirementOf, type AuthRequirement } from '../auth/plugin'
import type { BodyRule, ListLimit } from './body'
import { AppError, invalidField } from '../errors'
import { nearestField } from './body-fields'
import { SERVICE_RULE } from './openapi-publish'
import { secretFieldsOf } from './secret-fields'
import { MAX_LIST_ITEMS } from '../json-limits'
import { clipped } from '../text'

export interface RouteRule {
  /** The permission the route needs (src/auth/plugin.ts); undefined for public routes. */
  auth?: AuthRequirement
  body: BodyRule
  /** The query parameters the route declares (its query schema's), when it has one. */
  query?: readonly string[]
  /** Of those, the ones its schema declares as arrays: they may be given more than once. */
  repeatable?: readonly string[]
  /** Fields of its body schema that are objects (records too), as paths of property names, parents first. */
  objects: readonly (readonly string[])[]
  /** The top-level fields its body schema declares, when it declares some (src/http/body-fields.ts). */
  fields?: readonly string[]
  /** Of those, the ones that are arrays: a form may give them once (`scopes=a`) or as `scopes[]`. */
  arrays?: readonly string[]
  /** Of those, the booleans: a form gives them as text (`async=true`). */
  booleans?: readonly string[]
  /** The longest list each top-level array field may hold, and what to say past it (src/http/body.ts). */
  listLimits?: readonly ListLimit[]
  /** The body's fields designed to receive a secret (src/http/secret-fields.ts): the only ones that may hold a token. */
  secretFields?: readonly (readonly string[])[]
  /** A console page's form (not under /api/): a field holding a token is taken out and refused by the page (src/http/secret-fields.ts). */
  pageForm?: boolean
}

type Schema = { type?: unknown; anyOf?: unknown; properties?: Record<string, Schema>; maxItems?: unknown; error?: unknown; [SERVICE_RULE]?: Schema }

function propertiesOf(schema: unknown): Record<string, Schema> | undefined {
  const properties = (schema as Schema | undefined)?.properties
  return properties && typeof properties === 'object' ? properties : undefined
}

/** The object schemas a body schema is: itself, or every member of a union of objects. */
function bodyMembers(schema: unknown): (Schema | undefined)[] {
  const s = schema as Schema | undefined
  return Array.isArray(s?.anyOf) ? (s.anyOf as Schema[]) : [s]
}

/** The top-level fields of a body schema (an object's, or every member's of a union of objects); undefined when it names none. */
function bodyFields(schema: unknown): readonly string[] | undefined {
  const names = bodyMembers(schema).flatMap((m) => Object.keys(propertiesOf(m) ?? {}))
  return names.length > 0 ? [...new Set(names)] : undefined
}

/** The names of a query schema's parameters. */
function queryKeys(schema: unknown): readonly string[] | undefined {
  const properties = propertiesOf(schema)
  return properties ? Object.keys(properties) : undefined
}

/** The properties of an object schema of one JSON type, alone or in a union (nullable, or a list or one value). */
function keysOfType(schema: unknown, type: 'array' | 'boolean'): readonly string[] {
  const is = (s: Schema | undefined): boolean => s?.type === type || (Array.isArray(s?.anyOf) && s.anyOf.some(is))
  return Object.entries(propertiesOf(schema) ?? {}).flatMap(([name, s]) => (is(s) ? [name] : []))
}

/**
 * The top-level array fields of a body schema (alone or in a union: nullable), each with the
 * longest list it may hold: its `maxItems`, or MAX_LIST_ITEMS where the schema declares none.
 * The message past it is the field's own (its schema's `error`, what validation said) when it
 * declares a limit, else one naming MAX_LIST_ITEMS.
 */
export function listLimits(schema: unknown): readonly ListLimit[] {
  const arrayOf = (s: Schema | undefined): Schema | undefined =>
    s?.type === 'array' ? s : Array.isArray(s?.anyOf) ? (s.anyOf as Schema[]).map(arrayOf).find((a) => a !== undefined) : undefined
  // An object's properties, or every member's of a union of objects (as bodyFields), each field once.
  const seen = new Set<string>()
  return bodyMembers(schema).flatMap((m) => Object.entries(propertiesOf(m) ?? {})).flatMap(([field, s]) => {
    const array = arrayOf(s)
    if (array === undefined || seen.has(field)) return []
    seen.add(field)
    const declared = typeof array.maxItems === 'number' ? array.maxItems : undefined
    const own = typeof s.error === 'string' ? s.error : typeof array.error === 'string' ? array.error : undefined
    const max = declared ?? MAX_LIST_ITEMS
    const message = declared !== undefined && own !== undefined ? () => own : (length: number) => `${field} must be an array of at most ${max} entries (it has ${length})`
    return [{ field, max, message }]
  })
}

/**
 * The fields of a body schema that are objects (`t.Object`, `t.Record`), through nested
 * objects' properties, parents first: the body reader checks that each holds an object before
 * Elysia's clean-up turns anything else into one (src/http/body.ts).
 */
function objectPaths(schema: unknown): readonly (readonly string[])[] {
  const out: string[][] = []
  const stack: [Schema, string[]][] = Object.entries(propertiesOf(schema) ?? {}).reverse().map(([k, s]) => [s, [k]])
  while (stack.length > 0) {
    const [s, path] = stack.pop()!
    // Also a field the document states as an object for its service (task `metadata`: t.Unknown
    // for the validator, `type: object` in the document): one rule, the body reader's, for both.
    if (!s || (s.type !== 'object' && s[SERVICE_RULE]?.type !== 'object')) continue
    out.push(path)
    for (const [k, child] of Object.entries(propertiesOf(s) ?? {}).reverse()) stack.push([child, [...path, k]])
  }
  return out
}

/** How a route takes a body, from its schema: `t.Optional(...)` may be absent. */
function bodyRule(schema: unknown): BodyRule {
  if (!schema || typeof schema !== 'object') return 'none'
  return OptionalKind in schema ? 'optional' : 'required'
}

/**
 * What each route (`METHOD path`) needs before its handler: a token with a permission or none,
 * and how it takes a body. Filled from the app's routes once they are all registered; read by
 * the body reader (authenticate first), the per-IP rate limit and idempotency.
 */
/**
 * GET routes that change something (the CLI sign-in's poll hands out its tokens once): a HEAD
 * of one is 405, not a run of the GET that throws its answer away. Every other GET route also
 * answers HEAD, and a 405 lists HEAD beside GET (src/http/errors.ts).
 */
export const GET_WITHOUT_HEAD: ReadonlySet<string> = new Set(['/api/auth/cli/poll'])

/** HEAD asked of a GET route that may not run for it (GET_WITHOUT_HEAD): 405, nothing done. */
export function refuseHead(request: Request, path: string): void {
  if (request.method === 'HEAD') {
    throw new AppError('method_not_allowed', `Method HEAD is not allowed on ${path}: a poll hands out the sign-in's tokens once, and a HEAD would throw them away; use GET.`, { headers: { allow: 'GET' } })
  }
}

/** A registered route as the table keeps it until its rule is first asked for. */
type Registered = { method: string; path: string; hooks?: any }

/** A route's rule, read from its schemas and hooks. */
function ruleOf(r: Registered): RouteRule {
  const query = r.hooks?.query
  const body = r.hooks?.body
  return {
    auth: authRequirementOf(r.hooks),
    body: bodyRule(body),
    query: queryKeys(query),
    repeatable: keysOfType(query, 'array'),
    objects: objectPaths(body),
    fields: bodyFields(body),
    arrays: keysOfType(body, 'array'),
    booleans: keysOfType(body, 'boolean'),
    listLimits: listLimits(body),
    secretFields: secretFieldsOf(r.method, r.path),
    pageForm: !r.path.startsWith('/api/'),
  }
}

export class RouteTable {
  /**
   * By method, then route: asked on every request (twice or more), so no key text is built for it.
   * A route's rule is read from its schemas when it is first asked for (its first request): a
   * start walks none of the ~170 routes' schemas, most of which no request asks for soon.
   */
  private readonly rules = new Map<string, Map<string, { route: Registered; rule?: RouteRule }>>()

  index(routes: readonly Registered[]): void {
    for (const route of routes) {
      let byRoute = this.rules.get(route.method)
      if (byRoute === undefined) this.rules.set(route.method, (byRoute = new Map()))
      byRoute.set(route.path, { route })
    }
  }

  /** HEAD runs the GET route (Elysia), its auth macro included: it is that route's rule. */
  get(method: string, route: string): RouteRule | undefined {
    const entry = this.rules.get(method === 'HEAD' ? 'GET' : method)?.get(route)
    if (entry === undefined) return undefined
    return (entry.rule ??= ruleOf(entry.route))
  }

  authenticates(method: string, route: string): boolean {
    return this.get(method, route)?.auth !== undefined
  }
}

/**
 * The query parameters an empty value leaves out: `cursor=` is the first page (documented: a
 * script's paging loop often starts with it).
 */
const EMPTY_IS_ABSENT: ReadonlySet<string> = new Set(['cursor'])

/**
 * A query parameter the route does not declare, on a route that declares its parameters (the
 * lists): 422 naming it and those it takes, where it was ignored. `GET /tasks?space_id=…` (a
 * misspelt spaceId) answered every task of the organization, and a script deleting what a
 * filtered list returned would have deleted them all. Also a parameter given more than once
 * that the route does not declare as an array: `?status=pending&status=completed` was taken as
 * its last value and answered only completed tasks. And one given empty (`?spaceId=`, what
 * `?spaceId=$SPACE` sends with SPACE unset): some lists took it as no filter (every row), some
 * as a filter nothing matches, the others refused it with their value's rule (but `cursor=`, the
 * first page: EMPTY_IS_ABSENT). Routes without a
 * query schema ignore any query, as before. `query`: the query's names, or [name, value] pairs,
 * in order, repeats included. The names are looked at first: one given twice, once empty
 * (`?status=pending&status=`), is named as given twice, the value's rule is not asked.
 */
export function refusedQueryParameter(rule: RouteRule | undefined, query: Iterable<string | readonly [string, string]>): AppError | null {
  const allowed = rule?.query
  if (allowed === undefined) return null
  const seen = new Set<string>()
  const entries = [...query].map((e) => (typeof e === 'string' ? ([e, undefined] as const) : e))
  const show = (name: string) => clipped(name, 60, '…')
  for (const [name] of entries) {
    const shown = show(name)
    if (allowed.includes(name)) {
      if (!seen.has(name)) {
        seen.add(name)
        continue
      }
      if (rule!.repeatable?.includes(name)) continue
      const message = `query parameter "${shown}" was given more than once: give it once (a repeated parameter is not a list here)`
      return invalidField(shown, message)
    }
    const near = nearestField(name, allowed)
    const message = `unknown query parameter "${shown}"${near ? ` (did you mean ${near}?)` : ''}: this route takes ${allowed.join(', ')}`
    return invalidField(shown, message)
  }
  for (const [name, value] of entries) {
    if (value !== '' || EMPTY_IS_ABSENT.has(name)) continue
    const shown = show(name)
    return invalidField(shown, `query parameter "${shown}" is empty (an unset variable?): give it a value, or leave it out`)
  }
  return null
}

/** The query of a request URL as [name, value] pairs, repeats included; [] without one. */
export function queryEntries(url: string): [string, string][] {
  const q = url.indexOf('?')
  if (q < 0) return []
  // The '&' keeps a second '?' (`/tasks??status=x`) in the first name, where the route reads
  // it too: URLSearchParams drops a leading '?', so `status` looked declared and the filter
  // (`?status` to the route) was dropped.
  return [...new URLSearchParams(`&${url.slice(q + 1)}`)]
}

import { OptionalKind } from '@sinclair/typebox'
import { authRequirementOf, type AuthRequirement } from '../auth/plugin'
import type { BodyRule } from './body'
import { AppError } from '../errors'

export interface RouteRule {
  /** The permission the route needs (src/auth/plugin.ts); undefined for public routes. */
  auth?: AuthRequirement
  body: BodyRule
  /** The query parameters the route declares (its query schema's), when it has one. */
  query?: readonly string[]
}

/** The names of a query schema's parameters. */
function queryKeys(schema: unknown): readonly string[] | undefined {
  const properties = (schema as { properties?: Record<string, unknown> } | undefined)?.properties
  return properties && typeof properties === 'object' ? Object.keys(properties) : undefined
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
export class RouteTable {
  private readonly rules = new Map<string, RouteRule>()

  index(routes: readonly { method: string; path: string; hooks?: any }[]): void {
    for (const r of routes) this.rules.set(`${r.method} ${r.path}`, { auth: authRequirementOf(r.hooks), body: bodyRule(r.hooks?.body), query: queryKeys(r.hooks?.query) })
  }

  /** HEAD runs the GET route (Elysia), its auth macro included: it is that route's rule. */
  get(method: string, route: string): RouteRule | undefined {
    return this.rules.get(`${method === 'HEAD' ? 'GET' : method} ${route}`)
  }

  authenticates(method: string, route: string): boolean {
    return this.get(method, route)?.auth !== undefined
  }
}

/** A parameter name without its case and separators: `space_id`, `SpaceId` and `spaceId` alike. */
const squash = (name: string) => name.replace(/[-_]/g, '').toLowerCase()

/**
 * A query parameter the route does not declare, on a route that declares its parameters (the
 * lists): 422 naming it and those it takes, where it was ignored. `GET /tasks?space_id=…` (a
 * misspelt spaceId) answered every task of the organization, and a script deleting what a
 * filtered list returned would have deleted them all. Routes without a query schema ignore
 * any query, as before.
 */
export function unknownQueryParameter(rule: RouteRule | undefined, names: Iterable<string>): AppError | null {
  const allowed = rule?.query
  if (allowed === undefined) return null
  for (const name of names) {
    if (allowed.includes(name)) continue
    const near = allowed.find((a) => squash(a) === squash(name))
    const shown = name.length > 60 ? `${name.slice(0, 60)}…` : name
    const message = `unknown query parameter "${shown}"${near ? ` (did you mean ${near}?)` : ''}: this route takes ${allowed.join(', ')}`
    return new AppError('validation_failed', `Validation failed: ${message}`, { details: [{ field: shown, message }] })
  }
  return null
}

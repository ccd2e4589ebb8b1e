import { OptionalKind } from '@sinclair/typebox'
import { authRequirementOf, type AuthRequirement } from '../auth/plugin'
import type { BodyRule } from './body'

export interface RouteRule {
  /** The permission the route needs (src/auth/plugin.ts); undefined for public routes. */
  auth?: AuthRequirement
  body: BodyRule
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
    for (const r of routes) this.rules.set(`${r.method} ${r.path}`, { auth: authRequirementOf(r.hooks), body: bodyRule(r.hooks?.body) })
  }

  /** HEAD runs the GET route (Elysia), its auth macro included: it is that route's rule. */
  get(method: string, route: string): RouteRule | undefined {
    return this.rules.get(`${method === 'HEAD' ? 'GET' : method} ${route}`)
  }

  authenticates(method: string, route: string): boolean {
    return this.get(method, route)?.auth !== undefined
  }
}

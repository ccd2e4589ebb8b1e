import { Elysia } from 'elysia'
import type { Actor, Origin } from '../actor'
import { recordAuditOnce } from '../audit/log'
import type { Ctx } from '../context'
import { AppError } from '../errors'
import { loggedPath } from '../http/observe'
import { atPublicPaths, authenticate, bearerChallenge, type TokenLookup } from './authenticate'
import { missingTokenSaid } from './misplaced'
import type { CountedHits } from './pg-lookup'
import type { Principal } from './principal'
import { intersectScopes, roleRefusal, scopesAllow, type Permission } from './roles'

let seq = 0

/** Who a request authenticated as, noted on the request itself (for the access log). */
const AUTHENTICATED = Symbol('teamday.authenticated')
type Authenticated = Request & { [AUTHENTICATED]?: Principal }

/** A permission, or 'authenticated': any valid token, whatever its scopes (e.g. GET /tokens/self). */
export type AuthRequirement = Permission | 'authenticated'

type Set = { headers: Record<string, string | number> }

export interface AuthorizerOptions {
  /** The service context of a request (its origin and id) acting for `actor`. */
  contextOf(actor: Actor, request: Request, set: Set): Ctx
  /**
   * After a token is verified, before its permission is checked (e.g. rate limits per token: 429).
   * `counted`: the request's hits when the look-up counted them already.
   */
  onAuthenticated?(principal: Principal, set: Set, counted?: CountedHits): void | Promise<void>
  /** The token look-up, when not the plain one (PostgreSQL: look-up and counting in one statement). */
  lookup?: TokenLookup
  /** After a presented credential was refused (e.g. a brute-force budget per address: 429 instead of the 401). */
  onRefused?(origin: Origin | null): void | Promise<void>
  /**
   * When `request` is an agent run's own (its `teamday_api` tool's: src/engine/run-requests.ts),
   * the most that run may do: the scopes of the credential that started it (executions.scope_limit).
   * Such a request passes only with the permission in both its token's scopes and these, and its
   * principal holds their intersection, as if it were a token with only those.
   */
  runLimit?(request: Request): RunLimit | undefined
}

/** The limit of an agent run's requests (AuthorizerOptions.runLimit). */
export interface RunLimit {
  executionId: string
  scopes: readonly string[]
}

/**
 * The `Teamday-Token-Expiration` of a response whose request revoked or rotated `token`: set when
 * the request authenticated, it said the calling token's expiry, which no longer holds once the
 * request changed that very token. It then says when the token stops now: the end of a rotation's
 * grace period (the answer's `previousTokenRevokedAt`), or nothing once it has stopped (revoked,
 * or rotated without a grace period), as an execute's stream leaves it out when its token is
 * revoked while open. Another token's change, or a console session's, leaves it as it is.
 */
export function calledTokenChanged(set: Set, ctx: Pick<Ctx, 'actor' | 'clock'>, token: { id: string; revokedAt: Date | string | null }): void {
  if (ctx.actor.kind !== 'token' || ctx.actor.principal.tokenId !== token.id || token.revokedAt === null) return
  const stops = Math.min(new Date(token.revokedAt).getTime(), ctx.actor.principal.tokenExpiresAt.getTime())
  if (stops <= ctx.clock.now()) delete set.headers['teamday-token-expiration']
  else set.headers['teamday-token-expiration'] = new Date(stops).toISOString()
}

/**
 * "Who is calling, and may they": reads the bearer token into a `principal`, then checks that
 * the caller's current role and the token's scopes both grant the permission: 401 for the
 * first, 403 (`forbidden` / `insufficient_scope`) for the second. Once per request: the body
 * parser (src/http/body.ts, via app.ts) asks before it reads a body, so an unauthenticated
 * request never pays for parsing or validation; the route's resolve reuses that answer.
 */
export function requestAuthorizer(options: AuthorizerOptions) {
  const settled = new WeakMap<Request, Promise<Principal>>()
  // Expiry dates as sent in Teamday-Token-Expiration: a few distinct values, computed once each.
  const isoStrings = new Map<number, string>()
  const isoString = (d: Date) => {
    const ms = d.getTime()
    let s = isoStrings.get(ms)
    if (s === undefined) {
      if (isoStrings.size >= 1000) isoStrings.clear()
      isoStrings.set(ms, (s = d.toISOString()))
    }
    return s
  }

  async function authorize(request: Request, set: Set, permission: AuthRequirement): Promise<Principal> {
    const ctx = options.contextOf({ kind: 'anonymous', via: 'api' }, request, set)
    let principal: Principal
    let counted: CountedHits | undefined
    try {
      ;({ principal, counted } = await authenticate(ctx, request.headers.get('authorization'), options.lookup))
      ;(request as Authenticated)[AUTHENTICATED] = principal
    } catch (thrown) {
      // Its message naming the console's token page as clients reach it (a sub-path's prefix).
      const e = atPublicPaths(thrown, ctx.config.publicUrl)
      // Brute force: only attempts that presented a credential count.
      if (e instanceof AppError && e.code !== 'missing_token') {
        const counted = options.onRefused?.(ctx.origin)
        if (counted) await counted
      }
      // No Authorization header: said where the token went instead, if it went somewhere.
      if (e instanceof AppError && e.code === 'missing_token') throw missingTokenSaid(request, e)
      throw e
    }
    // GitHub's pattern: scripts can warn ahead of expiry.
    set.headers['teamday-token-expiration'] = isoString(principal.tokenExpiresAt)
    // Synchronous with the in-process counters (SQLite); awaited only when it is a promise.
    const limited = options.onAuthenticated?.(principal, set, counted)
    if (limited) await limited
    const limit = options.runLimit?.(request)
    if (permission === 'authenticated') return limit ? narrowed(principal, limit) : principal
    const refused = roleRefusal(principal.role, permission)
    if (refused) throw refused
    if (!scopesAllow(principal.scopes, permission)) {
      // The event alone, not in a transaction: the request is refused and changes nothing, so
      // there is no write it must commit with (the same for the run's refusal below, and for
      // tokens/access.ts denied). One that cannot be written is logged; the answer stays 403.
      await recordAuditOnce({ ...ctx, actor: { kind: 'token', principal } }, `scope_denied:${principal.tokenId}:${permission}`, {
        type: 'token.scope_denied',
        tokenId: principal.tokenId,
        details: { requiredScope: permission, tokenScopes: principal.scopes, method: request.method, path: loggedPath(request.url) },
      })
      throw new AppError('insufficient_scope', `Forbidden: this token lacks the ${permission} scope (access denied). Create a token with that scope.`, {
        details: { requiredScopes: [permission], tokenScopes: principal.scopes },
        headers: { 'www-authenticate': `${bearerChallenge('insufficient_scope')}, scope="${permission}"` },
      })
    }
    if (!limit) return principal
    if (!scopesAllow(limit.scopes, permission)) {
      // The space's token may; the credential that started the run may not: the run may not either.
      await recordAuditOnce({ ...ctx, actor: { kind: 'token', principal } }, `run_scope_denied:${principal.tokenId}:${permission}`, {
        type: 'token.scope_denied',
        tokenId: principal.tokenId,
        details: { requiredScope: permission, tokenScopes: principal.scopes, runScopes: [...limit.scopes], executionId: limit.executionId, method: request.method, path: loggedPath(request.url) },
      })
      throw new AppError(
        'insufficient_scope',
        `Forbidden: this agent run was started by a credential without the ${permission} scope (access denied). A run's teamday_api calls may do only what both the space's TEAMDAY_TOKEN and the credential that started the run may; start it with a token that has ${permission}.`,
        {
          details: { requiredScopes: [permission], tokenScopes: principal.scopes, runScopes: [...limit.scopes], executionId: limit.executionId },
          headers: { 'www-authenticate': `${bearerChallenge('insufficient_scope')}, scope="${permission}"` },
        },
      )
    }
    return narrowed(principal, limit)
  }

  return {
    /** Who a request authenticated as, if it presented a valid token (whatever was decided after). */
    authenticated(request: Request): Principal | undefined {
      return (request as Authenticated)[AUTHENTICATED]
    },
    /** The principal of a request for a route needing `permission`: decided once, then reused. Throws the 401/403/429. */
    principal(request: Request, set: Set, permission: AuthRequirement): Promise<Principal> {
      let p = settled.get(request)
      if (p === undefined) settled.set(request, (p = authorize(request, set, permission)))
      return p
    },
  }
}

export type RequestAuthorizer = ReturnType<typeof requestAuthorizer>

/**
 * An agent run's request as the services see it: its token with only the scopes the run may use,
 * so their own scope rules (a token creates, rotates or revokes only tokens it covers:
 * src/modules/tokens/access.ts) hold the run to the credential that started it too.
 */
function narrowed(principal: Principal, limit: RunLimit): Principal {
  return { ...principal, scopes: intersectScopes(principal.scopes, limit.scopes), run: { executionId: limit.executionId, starterScopes: [...limit.scopes] } }
}

/**
 * What a route registered with the auth macro requires, read back from the OpenAPI security
 * requirement the macro gives it; undefined for public routes.
 */
export function authRequirementOf(hooks: any): AuthRequirement | undefined {
  const security = hooks?.detail?.security
  if (!Array.isArray(security)) return undefined
  const scopes = security.find((s: any) => s && Array.isArray(s.bearerAuth))?.bearerAuth as string[] | undefined
  if (!scopes) return undefined
  return scopes.length === 0 ? 'authenticated' : (scopes[0] as Permission)
}

/**
 * The auth plugin: identity and permission, nothing else. `{ auth: 'tokens:read' }` on a route
 * gives its handler the `principal` (see requestAuthorizer) and marks the route with the
 * bearerAuth security requirement in OpenAPI, naming the scope it needs.
 */
export function authPlugin(authorizer: RequestAuthorizer) {
  return new Elysia({ name: 'teamday-auth', seed: ++seq }).macro({
    auth: (permission: AuthRequirement) => ({
      detail: { security: [{ bearerAuth: permission === 'authenticated' ? [] : [permission] }] },
      // Before the query and path are validated (Elysia validates between transform and
      // resolve): a request without a valid token gets its 401 (or 403) whatever its query
      // says, as its body is never read before (app.ts, the body parser). Asked once per
      // request: resolve gets the same answer.
      async transform({ request, set }) {
        await authorizer.principal(request, set, permission)
      },
      async resolve({ request, set }): Promise<{ principal: Principal }> {
        return { principal: await authorizer.principal(request, set, permission) }
      },
    }),
  })
}

export type AuthPlugin = ReturnType<typeof authPlugin>

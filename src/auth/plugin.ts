import { Elysia } from 'elysia'
import type { Deps } from '../deps'
import { AppError } from '../errors'
import { idempotencyHooks } from '../idempotency/hooks'
import { recordAuditEventOnce } from '../modules/audit/service'
import { rateLimiterFor } from '../ratelimit/limiter'
import { authenticate, bearerChallenge } from './authenticate'
import type { Principal } from './principal'
import { roleAllows, scopesAllow, type Permission } from './roles'

let seq = 0

/** toISOString of the last few expiry dates (the cached token rows share their Date objects). */
const isoStrings = new WeakMap<Date, string>()
function isoString(d: Date): string {
  let s = isoStrings.get(d)
  if (s === undefined) isoStrings.set(d, (s = d.toISOString()))
  return s
}

/** A permission, or 'authenticated': any valid token, whatever its scopes (e.g. GET /tokens/self). */
export type AuthRequirement = Permission | 'authenticated'

/**
 * "Who is calling, and may they": reads the bearer token into a `principal`, then checks that
 * the caller's current role and the token's scopes both grant the permission: 401 for the
 * first, 403 (`forbidden` / `insufficient_scope`) for the second. Failed authentications count
 * against the client IP (429 past the budget, valid tokens unaffected); each authenticated
 * request counts against its token's and its user's rate limits.
 *
 * Routes with a body are authorized before the body is read (`beforeBody`, called by the body
 * parser in app.ts): an unauthenticated request never pays for parsing or validation. The
 * route's resolve then reuses that principal; routes without a body authorize in resolve.
 */
/** `clientAddress` resolves a request's client address (src/http/client-address.ts; none by default). */
export function requestAuthorizer(deps: Deps, clientAddress: (request: Request) => string | null = () => null) {
  const limiter = rateLimiterFor(deps)
  const settled = new WeakMap<Request, Principal>()

  function authorize(request: Request, set: { headers: Record<string, string | number> }, permission: AuthRequirement): Principal {
    const header = request.headers.get('authorization')
    // The client address is looked up only when something needs it (a syscall otherwise).
    let ip: string | null | undefined
    const meta = {
      get ip() {
        return ip === undefined ? (ip = clientAddress(request)) : ip
      },
      userAgent: request.headers.get('user-agent'),
      requestId: String(set.headers['x-request-id'] ?? ''),
    }
    let principal: Principal
    try {
      principal = authenticate(deps, header, meta)
    } catch (e) {
      // Brute force: only attempts that presented a credential count.
      if (e instanceof AppError && e.code !== 'missing_token') limiter.authFailed(meta.ip)
      throw e
    }
    // GitHub's pattern: scripts can warn ahead of expiry.
    set.headers['teamday-token-expiration'] = isoString(principal.tokenExpiresAt)
    limiter.consumeAuthenticated(principal.tokenId, principal.userId, set)
    if (permission === 'authenticated') return principal
    if (!roleAllows(principal.role, permission)) {
      throw new AppError('forbidden', `Forbidden: your role (${principal.role}) does not allow ${permission} (access denied)`, {
        details: { requiredPermission: permission, role: principal.role },
      })
    }
    if (!scopesAllow(principal.scopes, permission)) {
      recordAuditEventOnce(deps, `scope_denied:${principal.tokenId}:${permission}`, {
        type: 'token.scope_denied',
        organizationId: principal.organizationId,
        source: 'api',
        actor: principal,
        tokenId: principal.tokenId,
        ip: principal.ip,
        userAgent: principal.userAgent,
        requestId: principal.requestId,
        details: { requiredScope: permission, tokenScopes: principal.scopes, method: request.method, path: new URL(request.url).pathname },
      })
      throw new AppError('insufficient_scope', `Forbidden: this token lacks the ${permission} scope (access denied). Create a token with that scope.`, {
        details: { requiredScopes: [permission], tokenScopes: principal.scopes },
        headers: { 'www-authenticate': `${bearerChallenge('insufficient_scope')}, scope="${permission}"` },
      })
    }
    return principal
  }

  return {
    /** Authorizes a request before its body is read; throws the 401/403/429. */
    beforeBody(request: Request, set: { headers: Record<string, string | number> }, permission: AuthRequirement): void {
      settled.set(request, authorize(request, set, permission))
    },
    /** The principal: the one found before the body was read, or authorized now. */
    principal(request: Request, set: { headers: Record<string, string | number> }, permission: AuthRequirement): Principal {
      return settled.get(request) ?? authorize(request, set, permission)
    },
  }
}

export type RequestAuthorizer = ReturnType<typeof requestAuthorizer>

/**
 * What a route registered with the auth macro requires, read back from the OpenAPI security
 * requirement the macro gives it (the rate limiter reads the same); undefined for public routes.
 */
export function authRequirementOf(hooks: any): AuthRequirement | undefined {
  const security = hooks?.detail?.security
  if (!Array.isArray(security)) return undefined
  const scopes = security.find((s: any) => s && Array.isArray(s.bearerAuth))?.bearerAuth as string[] | undefined
  if (!scopes) return undefined
  return scopes.length === 0 ? 'authenticated' : (scopes[0] as Permission)
}

/**
 * The auth plugin: `{ auth: 'tokens:read' }` on a route gives its handler the `principal`
 * (see requestAuthorizer) and marks the route with the bearerAuth security requirement in
 * OpenAPI, naming the scope it needs. POST/PATCH requests may carry an Idempotency-Key
 * (src/idempotency).
 */
export function authPlugin(deps: Deps, clientAddress: (request: Request) => string | null = () => null, authorizer: RequestAuthorizer = requestAuthorizer(deps, clientAddress)) {
  const idempotency = idempotencyHooks(deps)
  return new Elysia({ name: 'teamday-auth', seed: ++seq }).macro({
    auth: (permission: AuthRequirement) => ({
      detail: { security: [{ bearerAuth: permission === 'authenticated' ? [] : [permission] }] },
      resolve({ request, set }): { principal: Principal } {
        return { principal: authorizer.principal(request, set, permission) }
      },
      // Idempotency keys matter only where a request changes something (POST/PATCH routes all
      // need a write permission); read routes skip the two hooks (≈8 % of a cached GET).
      ...(permission !== 'authenticated' && !permission.endsWith(':read')
        ? { beforeHandle: idempotency.beforeHandle, mapResponse: idempotency.mapResponse }
        : {}),
    }),
  })
}

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
 * The auth plugin: `{ auth: 'tokens:read' }` on a route resolves the bearer token into a
 * `principal` ("who is calling") and then checks that the caller's current role and the
 * token's scopes both grant the permission ("may they do it"): 401 for the first, 403
 * (`forbidden` / `insufficient_scope`) for the second. It also marks the route with the
 * bearerAuth security requirement in OpenAPI, naming the scope it needs.
 *
 * Around that: failed authentications count against the client IP (429 past the budget, valid
 * tokens unaffected), each authenticated request counts against its token's and its user's rate
 * limits, and POST/PATCH requests may carry an Idempotency-Key (src/idempotency).
 */
/** `clientAddress` resolves a request's client address (src/http/client-address.ts; none by default). */
export function authPlugin(deps: Deps, clientAddress: (request: Request) => string | null = () => null) {
  const limiter = rateLimiterFor(deps)
  const idempotency = idempotencyHooks(deps)
  return new Elysia({ name: 'teamday-auth', seed: ++seq }).macro({
    auth: (permission: AuthRequirement) => ({
      detail: { security: [{ bearerAuth: permission === 'authenticated' ? [] : [permission] }] },
      resolve({ request, set }): { principal: Principal } {
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
        if (permission === 'authenticated') return { principal }
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
        return { principal }
      },
      // Idempotency keys matter only where a request changes something (POST/PATCH routes all
      // need a write permission); read routes skip the two hooks (≈8 % of a cached GET).
      ...(permission !== 'authenticated' && !permission.endsWith(':read')
        ? { beforeHandle: idempotency.beforeHandle, mapResponse: idempotency.mapResponse }
        : {}),
    }),
  })
}

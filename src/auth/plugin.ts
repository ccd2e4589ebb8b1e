import { Elysia } from 'elysia'
import type { Deps } from '../deps'
import { AppError } from '../errors'
import { authenticate } from './authenticate'
import type { Principal } from './principal'
import { bearerChallenge } from './authenticate'
import { roleAllows, scopesAllow, type Permission } from './roles'

let seq = 0

/** The client address: the socket's, or the first X-Forwarded-For hop behind a trusted proxy. */
export function clientIp(deps: Deps, request: Request, server: { requestIP(r: Request): { address: string } | null } | null): string | null {
  if (deps.config.trustProxy) {
    const xff = request.headers.get('x-forwarded-for')
    if (xff) return xff.split(',')[0]!.trim().slice(0, 64) || null
    const real = request.headers.get('x-real-ip')
    if (real) return real.trim().slice(0, 64)
  }
  return server?.requestIP(request)?.address ?? null
}

/**
 * The auth plugin: `{ auth: 'tokens:read' }` on a route resolves the bearer token into a
 * `principal` ("who is calling") and then checks that the caller's current role and the
 * token's scopes both grant the permission ("may they do it"): 401 for the first, 403
 * (`forbidden` / `insufficient_scope`) for the second. It also marks the route with the
 * bearerAuth security requirement in OpenAPI.
 */
export function authPlugin(deps: Deps) {
  return new Elysia({ name: 'teamday-auth', seed: ++seq }).macro({
    auth: (permission: Permission) => ({
      detail: { security: [{ bearerAuth: [] }] },
      resolve({ request, server, set }): { principal: Principal } {
        const principal = authenticate(deps, request.headers.get('authorization'), {
          ip: clientIp(deps, request, server),
          userAgent: request.headers.get('user-agent'),
          requestId: String(set.headers['x-request-id'] ?? ''),
        })
        // GitHub's pattern: scripts can warn ahead of expiry.
        set.headers['teamday-token-expiration'] = principal.tokenExpiresAt.toISOString()
        if (!roleAllows(principal.role, permission)) {
          throw new AppError('forbidden', `Forbidden: your role (${principal.role}) does not allow ${permission} (access denied)`, {
            details: { requiredPermission: permission, role: principal.role },
          })
        }
        if (!scopesAllow(principal.scopes, permission)) {
          throw new AppError('insufficient_scope', `Forbidden: this token lacks the ${permission} scope (access denied). Create a token with that scope.`, {
            details: { requiredScopes: [permission], tokenScopes: principal.scopes },
            headers: { 'www-authenticate': `${bearerChallenge('insufficient_scope')}, scope="${permission}"` },
          })
        }
        return { principal }
      },
    }),
  })
}

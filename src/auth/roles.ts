import type { Role } from '../db/schema'
import { AppError } from '../errors'

/**
 * Permissions, named as token scopes (`resource:action`). A route declares the one it needs in
 * the auth macro; a request passes only if the caller's *current* role allows it AND the
 * token's scopes do: a token never exceeds its user.
 */
export const PERMISSIONS = [
  'agents:read',
  'agents:write',
  'agents:execute',
  'executions:read',
  'executions:write',
  'tasks:read',
  'tasks:write',
  'spaces:read',
  'spaces:write',
  'secrets:write',
  'tokens:read',
  'tokens:write',
  'audit:read',
  'members:read',
  'members:write',
  'metrics:read',
] as const
export type Permission = (typeof PERMISSIONS)[number]

/** What a token may be given: every permission, or `*` (the default: all the role allows). */
export const SCOPES = ['*', ...PERMISSIONS] as const
export type Scope = (typeof SCOPES)[number]

const READS: Permission[] = ['agents:read', 'executions:read', 'tasks:read', 'spaces:read']
/** Only admins read the audit log, see or manage the organization's members, and read the server's metrics. */
const ADMIN_ONLY: Permission[] = ['audit:read', 'members:read', 'members:write', 'metrics:read']

const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(PERMISSIONS),
  // Members create and run things; what they may edit (their own) is decided in the services.
  member: new Set(PERMISSIONS.filter((p) => !ADMIN_ONLY.includes(p))),
  // Viewers read only, but they manage their own tokens (a token is how they read by API).
  viewer: new Set<Permission>([...READS, 'tokens:read', 'tokens:write']),
}

export function roleAllows(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission)
}

/** The 403 of a role without `permission` (the API's auth macro, and the console forms that mirror it), or null when it has it. */
export function roleRefusal(role: Role, permission: Permission): AppError | null {
  if (roleAllows(role, permission)) return null
  return new AppError('forbidden', `Forbidden: your role (${role}) does not allow ${permission} (access denied)`, { details: { requiredPermission: permission, role } })
}

/** `*` grants everything; `x:write` implies `x:read` (Stripe's rule). */
export function scopesAllow(scopes: readonly string[], permission: Permission): boolean {
  if (scopes.includes('*') || scopes.includes(permission)) return true
  if (permission.endsWith(':read')) return scopes.includes(permission.replace(/:read$/, ':write'))
  return false
}

/**
 * What both `a` and `b` allow, as a list of scopes: `*` only when both are `*`; otherwise each
 * permission both grant (scopesAllow: so `x:write` and `x:read` give `x:read`). The rights of an
 * agent's run: the credential that started it, and the space token its calls carry
 * (executions.scope_limit).
 */
export function intersectScopes(a: readonly string[], b: readonly string[]): string[] {
  if (a.includes('*')) return [...b]
  if (b.includes('*')) return [...a]
  return PERMISSIONS.filter((p) => scopesAllow(a, p) && scopesAllow(b, p))
}

/**
 * Whether a token with scopes `held` may hand out, rotate or revoke a token with scopes `wanted`:
 * each wanted scope is one `held` grants (so `x:write` covers `x:read`), and `*` is covered only
 * by `*`. A token can then never mint or take over a token that may do more than itself.
 */
export function scopesCover(held: readonly string[], wanted: readonly string[]): boolean {
  if (held.includes('*')) return true
  return wanted.every((s) => s !== '*' && (PERMISSIONS as readonly string[]).includes(s) && scopesAllow(held, s as Permission))
}

/** The scopes of `wanted` that `held` does not cover (see scopesCover), for error messages. */
export function uncoveredScopes(held: readonly string[], wanted: readonly string[]): string[] {
  return wanted.filter((s) => !scopesCover(held, [s]))
}

export function isOrgAdmin(role: Role): boolean {
  return role === 'admin'
}

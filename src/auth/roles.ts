import type { Role } from '../db/schema'

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
] as const
export type Permission = (typeof PERMISSIONS)[number]

/** What a token may be given: every permission, or `*` (the default: all the role allows). */
export const SCOPES = ['*', ...PERMISSIONS] as const
export type Scope = (typeof SCOPES)[number]

const READS: Permission[] = ['agents:read', 'executions:read', 'tasks:read', 'spaces:read']

const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(PERMISSIONS),
  // Members create and run things; what they may edit (their own) is decided in the services.
  member: new Set(PERMISSIONS.filter((p) => p !== 'audit:read')),
  // Viewers read only, but they manage their own tokens (a token is how they read by API).
  viewer: new Set<Permission>([...READS, 'tokens:read', 'tokens:write']),
}

export function roleAllows(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission)
}

/** `*` grants everything; `x:write` implies `x:read` (Stripe's rule). */
export function scopesAllow(scopes: readonly string[], permission: Permission): boolean {
  if (scopes.includes('*') || scopes.includes(permission)) return true
  if (permission.endsWith(':read')) return scopes.includes(permission.replace(/:read$/, ':write'))
  return false
}

export function isOrgAdmin(role: Role): boolean {
  return role === 'admin'
}

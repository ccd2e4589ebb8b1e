import type { Role } from '../db/schema'

/**
 * Permissions, named as token scopes will be (`resource:action`). A route declares the one it
 * needs in the auth macro; the caller's *current* role must allow it. (Token scopes, when
 * added, narrow this further: a token never exceeds its user.)
 */
export const PERMISSIONS = ['tokens:read', 'tokens:write'] as const
export type Permission = (typeof PERMISSIONS)[number]

const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(PERMISSIONS),
  member: new Set(PERMISSIONS),
  // Viewers read only, but they manage their own tokens (a token is how they read by API).
  viewer: new Set<Permission>(['tokens:read', 'tokens:write']),
}

export function roleAllows(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission)
}

export function isOrgAdmin(role: Role): boolean {
  return role === 'admin'
}

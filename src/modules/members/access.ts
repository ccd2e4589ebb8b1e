import type { Actor } from '../../actor'
import { isOrgAdmin } from '../../auth/roles'
import { AppError } from '../../errors'
import { cutText } from '../../text'

/**
 * Who may see and manage an organization's members. The one rule: the admins of that
 * organization, through the API (the auth macro already refused other roles: members:read and
 * members:write are admin permissions, src/auth/roles.ts); the operator, through the admin CLI on
 * the server host; and the server itself (the first-start bootstrap). Another organization's id
 * is 404: its members are not shown and its existence is not confirmed.
 */
export function canManageMembers(actor: Actor, organizationId: string): boolean {
  if (onServerHost(actor)) return true
  // An admin's token (the API) or an admin signed in to the console (src/console/).
  if (actor.kind !== 'token' && actor.kind !== 'session') return false
  const p = actor.principal
  return p.organizationId === organizationId && isOrgAdmin(p.role)
}

/** canManageMembers, or the error to answer: 404 for another organization, 403 for a non-admin. */
export function assertCanManageMembers(actor: Actor, organizationId: string): void {
  if (canManageMembers(actor, organizationId)) return
  if ((actor.kind === 'token' || actor.kind === 'session') && actor.principal.organizationId === organizationId) {
    throw new AppError('forbidden', `Forbidden: only organization admins can see and manage members; your role is ${actor.principal.role} (access denied)`)
  }
  // A caller with an organization is told which id the path takes (theirs is no secret to them):
  // its slug (`default`, as the first start names it) was "not found" beside an organization that is.
  const own = actor.kind === 'token' || actor.kind === 'session' ? `: the path takes an organization id (org_…), and yours is ${actor.principal.organizationId}` : ''
  throw new AppError('not_found', `Organization ${cutText(organizationId, 100)} not found${own}`)
}

/**
 * Whether a change may leave the organization without an admin. Through the API, never (409
 * `last_admin`): an organization must keep someone who can manage it. The operator may: the admin
 * CLI creates organizations with whatever role it is given, and is the way back in.
 */
export function mayLeaveWithoutAdmin(actor: Actor): boolean {
  return onServerHost(actor)
}

/** The admin CLI or the server itself: not a request. */
function onServerHost(actor: Actor): boolean {
  return actor.kind === 'operator' || actor.kind === 'system'
}

import type { Principal } from '../../auth/principal'
import { isOrgAdmin } from '../../auth/roles'
import type { Deps } from '../../deps'
import { AppError } from '../../errors'
import { deleteSecrets, listSecretNames, setSecrets } from '../spaces/secrets'

/**
 * Organization secrets ("env"). Unlike every other resource, a foreign organization id is a 403
 * "Access denied to this organization" rather than a 404: that is what TeamDay answers, and the
 * id is in the URL, not looked up, so the answer reveals nothing a 404 would hide.
 */
function assertOwnOrganization(principal: Principal, orgId: string): void {
  if (orgId !== principal.organizationId) {
    throw new AppError('forbidden', 'Access denied to this organization: your token belongs to another organization (forbidden).')
  }
}

export function listOrgSecrets(deps: Deps, principal: Principal, orgId: string): { organizationId: string; secrets: string[]; count: number } {
  assertOwnOrganization(principal, orgId)
  if (principal.role === 'viewer') {
    throw new AppError('forbidden', 'Forbidden: viewers cannot read organization secret names; members and admins can (access denied)')
  }
  const names = listSecretNames(deps, orgId, { kind: 'org' })
  return { organizationId: orgId, secrets: names, count: names.length }
}

function assertAdmin(principal: Principal): void {
  if (!isOrgAdmin(principal.role)) {
    throw new AppError('forbidden', `Forbidden: only organization admins can change organization secrets; your role is ${principal.role} (access denied)`)
  }
}

export function setOrgSecrets(deps: Deps, principal: Principal, orgId: string, values: Record<string, string>): string[] {
  assertOwnOrganization(principal, orgId)
  assertAdmin(principal)
  return setSecrets(deps, principal, orgId, { kind: 'org' }, values)
}

export function deleteOrgSecrets(deps: Deps, principal: Principal, orgId: string, keys: string[]): string[] {
  assertOwnOrganization(principal, orgId)
  assertAdmin(principal)
  return deleteSecrets(deps, principal, orgId, { kind: 'org' }, keys)
}

import type { Caller } from '../../auth/principal'
import { isOrgAdmin } from '../../auth/roles'
import { callerOf, type Ctx } from '../../context'
import { AppError } from '../../errors'
import { deleteSecrets, listSecretNames, setSecrets } from '../spaces/secrets'

/**
 * Organization secrets ("env"). Unlike every other resource, a foreign organization id is a 403
 * "Access denied to this organization" rather than a 404: that is what TeamDay answers, and the
 * id is in the URL, not looked up, so the answer reveals nothing a 404 would hide.
 */
function assertOwnOrganization(principal: Caller, orgId: string): void {
  if (orgId !== principal.organizationId) {
    throw new AppError('forbidden', `Access denied to this organization: your token belongs to another organization (forbidden). The path takes an organization id (org_…): yours is ${principal.organizationId}.`)
  }
}

export async function listOrgSecrets(ctx: Ctx, orgId: string): Promise<{ organizationId: string; secrets: string[]; count: number }> {
  const principal = callerOf(ctx)
  assertOwnOrganization(principal, orgId)
  if (principal.role === 'viewer') {
    throw new AppError('forbidden', 'Forbidden: viewers cannot read organization secret names; members and admins can (access denied)')
  }
  const names = await listSecretNames(ctx, orgId, { kind: 'org' })
  return { organizationId: orgId, secrets: names, count: names.length }
}

function assertAdmin(principal: Caller): void {
  if (!isOrgAdmin(principal.role)) {
    throw new AppError('forbidden', `Forbidden: only organization admins can change organization secrets; your role is ${principal.role} (access denied)`)
  }
}

export async function setOrgSecrets(ctx: Ctx, orgId: string, values: Record<string, string>): Promise<string[]> {
  const principal = callerOf(ctx)
  assertOwnOrganization(principal, orgId)
  assertAdmin(principal)
  return setSecrets(ctx, orgId, { kind: 'org' }, values)
}

export async function deleteOrgSecrets(ctx: Ctx, orgId: string, keys: string[]): Promise<string[]> {
  const principal = callerOf(ctx)
  assertOwnOrganization(principal, orgId)
  assertAdmin(principal)
  return deleteSecrets(ctx, orgId, { kind: 'org' }, keys)
}

import type { Principal } from '../../auth/principal'
import type { Deps } from '../../deps'
import { deleteSecrets, listSecretNames, setSecrets } from './secrets'
import { assertCanEditSpace, findVisibleSpace } from './service'

/** Space secrets: anyone who may see the space reads the names; its creator or an admin writes. */

export function listSpaceSecrets(deps: Deps, principal: Principal, spaceId: string): { spaceId: string; secrets: string[]; count: number } {
  const space = findVisibleSpace(deps, principal, spaceId)
  const names = listSecretNames(deps, space.organizationId, { kind: 'space', spaceId: space.id })
  return { spaceId: space.id, secrets: names, count: names.length }
}

export function setSpaceSecrets(deps: Deps, principal: Principal, spaceId: string, values: Record<string, string>): string[] {
  const space = findVisibleSpace(deps, principal, spaceId)
  assertCanEditSpace(principal, space, 'change the secrets of')
  return setSecrets(deps, principal, space.organizationId, { kind: 'space', spaceId: space.id }, values)
}

export function deleteSpaceSecrets(deps: Deps, principal: Principal, spaceId: string, keys: string[]): string[] {
  const space = findVisibleSpace(deps, principal, spaceId)
  assertCanEditSpace(principal, space, 'change the secrets of')
  return deleteSecrets(deps, principal, space.organizationId, { kind: 'space', spaceId: space.id }, keys)
}

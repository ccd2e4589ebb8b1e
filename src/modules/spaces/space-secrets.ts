import { callerOf, withTx, type Ctx } from '../../context'
import { deleteSecrets, listSecretNames, setSecrets } from './secrets'
import { archivedSpaceRefuses, assertCanEditSpace, findSpaceForWrite, findVisibleSpace } from './service'

/** Space secrets: anyone who may see the space reads the names; its creator or an admin writes. */

export async function listSpaceSecrets(ctx: Ctx, spaceId: string): Promise<{ spaceId: string; secrets: string[]; count: number }> {
  const space = await findVisibleSpace(ctx, spaceId)
  const names = await listSecretNames(ctx, space.organizationId, { kind: 'space', spaceId: space.id })
  return { spaceId: space.id, secrets: names, count: names.length }
}

/** In one transaction with the space read forShare: secrets are never set in a space archived meanwhile (422, or the archive waits). */
export async function setSpaceSecrets(ctx: Ctx, spaceId: string, values: Record<string, string>): Promise<string[]> {
  return withTx(ctx, async (tx) => {
    const space = await findSpaceForWrite(tx, spaceId)
    assertCanEditSpace(callerOf(tx), space, 'change the secrets of')
    if (space.archived) throw archivedSpaceRefuses(space.id, 'secrets', 'secrets are not set')
    return setSecrets(tx, space.organizationId, { kind: 'space', spaceId: space.id }, values)
  })
}

export async function deleteSpaceSecrets(ctx: Ctx, spaceId: string, keys: string[]): Promise<string[]> {
  const space = await findVisibleSpace(ctx, spaceId)
  assertCanEditSpace(callerOf(ctx), space, 'change the secrets of')
  return deleteSecrets(ctx, space.organizationId, { kind: 'space', spaceId: space.id }, keys)
}

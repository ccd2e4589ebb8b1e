import { and, eq } from 'drizzle-orm'
import type { Services } from '../../context'
import { secrets } from '../../db/schema'
import { API_TOKEN_SECRET, type ApiAccess, type ApiHandler } from '../../engine/api-tool'
import { resolveSecrets } from '../spaces/secrets'

/**
 * What the engine's `teamday_api` tool needs from the rest of the server (src/engine/api-tool.ts):
 * the app's own handler (`handle`: app.handle, so a call meets every rule an outside client does),
 * and the run's token: the TEAMDAY_TOKEN secret of the run's space, opened with the server's box
 * when the run starts (with the organization's secrets below it, as a run's environment is: the
 * space's value is the one taken). A TEAMDAY_TOKEN of the organization alone gives none: the docs
 * put it in the space's settings. Wired by createApp (src/app.ts).
 */
export function agentApiAccess(rt: Pick<Services, 'db' | 'box'>, handle: ApiHandler): ApiAccess {
  return {
    handle,
    async token({ organizationId, spaceId }) {
      if (!spaceId) return null
      const row = await rt.db
        .select({ key: secrets.key })
        .from(secrets)
        .where(and(eq(secrets.organizationId, organizationId), eq(secrets.scope, spaceId), eq(secrets.key, API_TOKEN_SECRET)))
        .get()
      if (!row) return null
      const value = (await resolveSecrets(rt, organizationId, spaceId))[API_TOKEN_SECRET]?.trim()
      return value ? value : null
    },
  }
}

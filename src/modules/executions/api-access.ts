import { and, eq, inArray } from 'drizzle-orm'
import { findCliAccessTokenForAuth, findTokenForAuth } from '../../auth/lookup'
import { ACCESS_TOKEN_PREFIX, hashToken } from '../../auth/tokens'
import type { Services } from '../../context'
import { memberships } from '../../db/schema'
import { API_TOKEN_SECRET, type ApiAccess, type ApiHandler } from '../../engine/api-tool'
import { openSpaceSecret } from '../spaces/secrets'

/**
 * What the engine's `teamday_api` tool needs from the rest of the server (src/engine/api-tool.ts):
 * the app's own handler (`handle`: app.handle, so a call meets every rule an outside client does),
 * and the run's token: the TEAMDAY_TOKEN secret of the run's space, opened with the server's box
 * when the run starts, that row alone (a space's value wins over the organization's in a run's
 * environment too). A TEAMDAY_TOKEN of the organization alone gives none: the docs put it in the
 * space's settings. Wired by createApp (src/app.ts).
 *
 * Only the token's own user gets it: a run started by anyone else, in a space they may use, gets
 * no tool (`not_owner`), or every member who may run an agent there would act with the rights of
 * whoever stored their token in it (an admin's: make themselves admin). One rule, asked here.
 *
 * And only instructions its user trusts steer it (TeamDay: "*your* agent can then use this
 * token"): the agent's system prompt and the space's instructions (when it has any) must each be
 * written by the run's user or by an admin of the organization (as they are now), or the run gets no tool
 * (`not_author`). Otherwise a member's organization-wide agent (or a member's shared space),
 * run by an admin in a space holding the admin's token, had the admin's rights steered by the
 * member's instructions: "make me admin". Who may write them: the agent's creator and admins
 * (canEditAgent), the space's creator and admins (canEditSpace); an admin's edit of another's
 * agent does not make it theirs, so the creator is who is asked. The prompt asked about is the
 * one the run holds (Job.writtenBy, from when it was recorded): a queued run keeps the space's
 * instructions of then, even if they were removed before it started. A child's writers include
 * its parent's (JobInput.steeredBy): its message is its parent's model's.
 */
export function agentApiAccess(rt: Pick<Services, 'db' | 'box'>, handle: ApiHandler): ApiAccess {
  // Whether the writers other than the run's user are all admins of the organization now: asked
  // at the run's start (token) and again at its calls, whatever the space's secret then holds.
  const trusted: ApiAccess['trusted'] = async ({ organizationId, userId }, writtenBy) => {
    const others = [...new Set(writtenBy)].filter((a) => a !== userId)
    if (others.length === 0) return true
    const admins = await rt.db
      .select({ userId: memberships.userId })
      .from(memberships)
      .where(and(eq(memberships.organizationId, organizationId), inArray(memberships.userId, others), eq(memberships.role, 'admin')))
      .all()
    return admins.length === others.length
  }
  return {
    handle,
    async token({ organizationId, spaceId, userId }, writtenBy) {
      if (!spaceId) return null
      // The space's own row, and only it opened: an organization's alone gives no tool, and another
      // secret that does not open (every one was opened to read this one) takes nothing from it.
      const value = (await openSpaceSecret(rt, organizationId, spaceId, API_TOKEN_SECRET))?.trim()
      if (!value) return null
      // Whose credential it is, found as authentication finds it (src/auth/authenticate.ts): a
      // personal access token, or a CLI session's access token (`tdo_…`), by its hash. The run's
      // user's (in the run's organization), or no tool: a value that is no known credential gives
      // none either (default deny: a kind of credential authentication may accept one day is not
      // let through here unchecked).
      const hash = hashToken(value)
      const owner = value.startsWith(ACCESS_TOKEN_PREFIX) ? await findCliAccessTokenForAuth(rt.db, hash) : await findTokenForAuth(rt.db, hash)
      if (!owner || owner.userId !== userId || owner.organizationId !== organizationId) return 'not_owner'
      // Who wrote the prompt as the run holds it (built when it was recorded: instructions changed
      // or removed since are not what it follows), each as they are now.
      return (await trusted({ organizationId, userId }, writtenBy)) ? value : 'not_author'
    },
    trusted,
    async holds({ organizationId, spaceId }, opened) {
      if (!spaceId) return false
      // The space's own row: the value a run opens is the space's (an organization's alone gives no tool).
      return (await openSpaceSecret(rt, organizationId, spaceId, API_TOKEN_SECRET))?.trim() === opened
    },
  }
}

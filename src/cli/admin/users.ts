import { listMembers } from '../../modules/members/service'
import { emailKey } from '../../text'
import { recordAudit } from '../../audit/log'
import { setPassword } from '../../modules/users/passwords'
import { createUser, removeMember, requireOrganization, requireUser, setRole as setMemberRole } from '../../modules/users/service'
import { table } from '../common'
import { readSecret } from '../read-secret'
import { cursorRefusal, limitOf, nextPageNote } from './paging'
import { withRuntime } from './runtime'
import type { Run } from '../spec'

/**
 * `teamday users list|create|set-role|remove` (options and usage: src/cli/registry.ts, which checks
 * the required options before this code loads).
 */

type Member = Run<{ email?: string; org?: string; role?: string; name?: string; db?: string }>

export function create({ values, io }: Member): Promise<void> {
  const email = values.email!
  const org = values.org!
  return withRuntime(io, values.db, async (_rt, ctx) => {
    const r = await createUser(ctx, { email, orgSlug: org, role: values.role as any, name: values.name })
    const where = `organization ${r.organization.slug}${r.createdOrganization ? ' (new organization)' : ''}`
    io.out(
      (r.createdUser ? `created user ${r.user.email} (${r.user.id}) as ${r.membership.role} of ${where}` : `added user ${r.user.email} (${r.user.id}) to ${where} as ${r.membership.role}`) +
        (r.revokedTokenIds.length ? `; revoked ${r.revokedTokenIds.length} token(s) left from an earlier membership` : ''),
    )
  }, { create: true })
}

export function setRole({ values, io }: Member): Promise<void> {
  const email = values.email!
  const org = values.org!
  return withRuntime(io, values.db, async (_rt, ctx) => {
    const m = await setMemberRole(ctx, email, org, values.role!)
    io.out(`${emailKey(email)} is now ${m.role} of ${org}; this applies to their tokens from the next request`)
  })
}

export function remove({ values, io }: Member): Promise<void> {
  const email = values.email!
  const org = values.org!
  return withRuntime(io, values.db, async (_rt, ctx) => {
    const r = await removeMember(ctx, email, org)
    io.out(`removed ${emailKey(email)} from ${org} (was ${r.role}); revoked their ${r.revokedTokenIds.length} token(s) for ${org}: they stay revoked if the user is added again`)
  })
}

/** One page of the organization's members, newest first (--limit, --cursor: src/cli/admin/paging.ts). */
export function list({ values, io }: Run<{ org?: string; limit?: string; cursor?: string; json?: boolean; db?: string }>): Promise<void> {
  const org = values.org!
  const limit = limitOf(values.limit, 100)
  return withRuntime(io, values.db, async (_rt, ctx) => {
    const o = await requireOrganization(ctx, org)
    const page = await listMembers(ctx, o.id, { limit, offset: 0, cursor: values.cursor }).catch((e) => cursorRefusal(e, `teamday users list --org ${o.slug}`, 'the newest members'))
    const { members } = page
    if (values.json) io.out(JSON.stringify({ organization: { id: o.id, slug: o.slug }, members, total: page.total, totalIsEstimate: page.totalIsEstimate, nextCursor: page.nextCursor }, null, 2))
    else if (members.length === 0) io.out(`no members in ${o.slug}`)
    else io.out(table(members as unknown as Record<string, unknown>[], ['email', 'userId', 'role', 'name', 'joinedAt']))
    nextPageNote(io, members.length, 'members', page)
  })
}

/**
 * `teamday users set-password --email E`: the password comes from the terminal (asked twice,
 * not echoed) or from stdin, never from argv (visible in `ps` and shell history).
 */
export async function setUserPassword({ values, io }: Member): Promise<void> {
  const email = values.email!
  const password = await readSecret('New password: ', 'Repeat it: ')
  await withRuntime(io, values.db, async (rt, ctx) => {
    const user = await requireUser(ctx, email)
    await setPassword(ctx, user.id, password)
    // Where browsers reach the console when TEAMDAY_PUBLIC_URL says (a sub-path's too); else its path.
    io.out(`password set for ${user.email}; their console sessions have ended. Sign in at ${rt.config.publicUrl ?? ''}/login`)
  })
}

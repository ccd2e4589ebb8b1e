import { recordAuditEvent } from '../../modules/audit/service'
import { createUser, removeMember, setRole as setMemberRole } from '../../modules/users/service'
import { withRuntime } from '../common'
import type { Run } from '../spec'

/**
 * `teamday users create|set-role|remove` (options and usage: src/cli/registry.ts, which checks
 * the required options before this code loads).
 */

type Member = Run<{ email?: string; org?: string; role?: string; name?: string; db?: string }>

export function create({ values, io }: Member): Promise<void> {
  const email = values.email!
  const org = values.org!
  return withRuntime(io, values.db, (rt) => {
    const r = createUser(rt.db, rt.clock, { email, orgSlug: org, role: values.role as any, name: values.name })
    for (const id of r.revokedTokenIds) {
      recordAuditEvent(rt, { organizationId: r.organization.id, source: 'cli', type: 'token.revoked', tokenId: id, targetType: 'token', targetId: id, details: { reason: 'membership_removed', ownerUserId: r.user.id } })
    }
    io.out(
      `${r.createdUser ? 'created user' : 'added user'} ${r.user.email} (${r.user.id}) to ${r.createdOrganization ? 'new ' : ''}organization ${r.organization.slug} as ${r.membership.role}` +
        (r.revokedTokenIds.length ? `; revoked ${r.revokedTokenIds.length} token(s) left from an earlier membership` : ''),
    )
  })
}

export function setRole({ values, io }: Member): Promise<void> {
  const email = values.email!
  const org = values.org!
  return withRuntime(io, values.db, (rt) => {
    const m = setMemberRole(rt.db, rt.clock, email, org, values.role!)
    io.out(`${email.toLowerCase()} is now ${m.role} of ${org}; this applies to their tokens from the next request`)
  })
}

export function remove({ values, io }: Member): Promise<void> {
  const email = values.email!
  const org = values.org!
  return withRuntime(io, values.db, (rt) => {
    const r = removeMember(rt, email, org)
    io.out(`removed ${email.toLowerCase()} from ${org} (was ${r.role}); revoked their ${r.revokedTokenIds.length} token(s) for ${org}: they stay revoked if the user is added again`)
  })
}

import { recordAuditEvent } from '../../modules/audit/service'
import { createUser, removeMember, setRole } from '../../modules/users/service'
import { EXIT, guard, parse, require_, UsageError, withRuntime, type Io } from '../common'

export const USERS_USAGE = `usage:
  teamday users create --email E --org SLUG [--role admin|member|viewer] [--name N] [--db FILE]
  teamday users set-role --email E --org SLUG --role admin|member|viewer [--db FILE]
  teamday users remove --email E --org SLUG [--db FILE]`

export function usersCommand(args: string[], io: Io): Promise<number> {
  return guard(io, USERS_USAGE, () => {
    const [sub, ...rest] = args
    const opts = { email: { type: 'string' }, org: { type: 'string' }, role: { type: 'string' }, name: { type: 'string' } } as const
    if (sub === undefined || sub === 'help' || sub === '--help') {
      io.out(USERS_USAGE)
      return sub ? EXIT.ok : EXIT.usage
    }
    if (!['create', 'set-role', 'remove'].includes(sub)) throw new UsageError(`unknown users command "${sub}"`)
    const { values } = parse(rest, opts)
    if (values.help) {
      io.out(USERS_USAGE)
      return EXIT.ok
    }
    const email = require_(values.email, '--email')
    const org = require_(values.org, '--org')
    if (sub === 'set-role') require_(values.role, '--role')
    if (sub !== 'create' && values.name !== undefined) throw new UsageError('--name is only for users create')
    return withRuntime(io, values.db, (rt) => {
      if (sub === 'create') {
        const r = createUser(rt.db, rt.clock, { email, orgSlug: org, role: values.role as any, name: values.name })
        for (const id of r.revokedTokenIds) {
          recordAuditEvent(rt, { organizationId: r.organization.id, source: 'cli', type: 'token.revoked', tokenId: id, targetType: 'token', targetId: id, details: { reason: 'membership_removed', ownerUserId: r.user.id } })
        }
        io.out(
          `${r.createdUser ? 'created user' : 'added user'} ${r.user.email} (${r.user.id}) to ${r.createdOrganization ? 'new ' : ''}organization ${r.organization.slug} as ${r.membership.role}` +
            (r.revokedTokenIds.length ? `; revoked ${r.revokedTokenIds.length} token(s) left from an earlier membership` : ''),
        )
      } else if (sub === 'set-role') {
        const m = setRole(rt.db, rt.clock, email, org, values.role!)
        io.out(`${email.toLowerCase()} is now ${m.role} of ${org}; this applies to their tokens from the next request`)
      } else {
        const r = removeMember(rt, email, org)
        io.out(`removed ${email.toLowerCase()} from ${org} (was ${r.role}); revoked their ${r.revokedTokenIds.length} token(s) for ${org}: they stay revoked if the user is added again`)
      }
      return EXIT.ok
    })
  })
}

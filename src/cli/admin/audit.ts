import { organizationIdBySlug, queryAuditEvents } from '../../modules/audit/query'
import { EXIT, guard, parse, table, UsageError, withRuntime, type Io } from '../common'
import { isClientMode } from '../client/common'
import { CLIENT_AUDIT_USAGE, clientAuditCommand } from '../client/audit'

export const ADMIN_AUDIT_USAGE = `usage: admin mode, on the database file (chosen by --org or --db):
  teamday audit list [--org SLUG] [--type T] [--limit N] [--json] --db FILE
      security events, newest first (token created/rotated/revoked, leak reports, scope
      denials, expired-token use, new IPs, secret changes); every organization unless --org`

export const AUDIT_USAGE = `${ADMIN_AUDIT_USAGE}

${CLIENT_AUDIT_USAGE}`

/** Admin mode (the database) iff --org or --db is passed; otherwise client mode over HTTP. */
export function auditCommand(args: string[], io: Io): Promise<number> {
  if (isClientMode(args)) return clientAuditCommand(args, io)
  return guard(io, ADMIN_AUDIT_USAGE, () => {
    const [sub, ...rest] = args
    if (sub === undefined || sub === 'help' || sub === '--help') {
      io.out(AUDIT_USAGE)
      return sub ? EXIT.ok : EXIT.usage
    }
    if (sub !== 'list') throw new UsageError(`unknown audit command "${sub}"`)
    const { values } = parse(rest, { org: { type: 'string' }, type: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } })
    const limitRaw = values.limit ?? '50'
    const limit = Number(limitRaw)
    if (!/^\d+$/.test(limitRaw) || limit < 1 || limit > 1000) throw new UsageError('--limit must be a whole number 1-1000')
    return withRuntime(io, values.db, (rt) => {
      const organizationId = values.org ? organizationIdBySlug(rt, values.org) : null
      const { events, total } = queryAuditEvents(rt, { organizationId, type: values.type, limit, offset: 0 })
      if (values.json) io.out(JSON.stringify({ events, total }, null, 2))
      else if (events.length === 0) io.out('no audit events')
      else {
        const rows = events.map((e) => ({ ...e, actor: e.actorUserId ?? e.source, details: e.details ? JSON.stringify(e.details) : null }))
        io.out(table(rows, ['createdAt', 'type', 'actor', 'tokenId', 'ip', 'requestId', 'details']))
        if (total > events.length) io.out(`(${events.length} of ${total}; use --limit)`)
      }
      return EXIT.ok
    })
  })
}

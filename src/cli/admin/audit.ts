import { parseInstant } from '../../instants'
import { organizationIdBySlug, queryAuditEvents } from '../../modules/audit/query'
import { pruneAuditEvents } from '../../modules/audit/retention'
import { table, UsageError } from '../common'
import { cursorRefusal, limitOf } from './paging'
import { withRuntime } from './runtime'
import type { Run } from '../spec'

/**
 * `teamday audit list` in admin mode (--org or --db): every organization's security events, from
 * the database file (options and usage: src/cli/registry.ts; over HTTP: src/cli/client/audit.ts).
 */
export function list({ values, io }: Run<{ org?: string; type?: string; 'token-id'?: string; 'user-id'?: string; since?: string; until?: string; limit?: string; cursor?: string; json?: boolean; db?: string }>): Promise<void> {
  const limit = limitOf(values.limit, 50)
  return withRuntime(io, values.db, async (_rt, ctx) => {
    const organizationId = values.org ? await organizationIdBySlug(ctx, values.org) : null
    const { events, total, totalIsEstimate, nextCursor } = await queryAuditEvents(ctx, {
      organizationId,
      type: values.type,
      tokenId: values['token-id'],
      userId: values['user-id'],
      since: values.since,
      until: values.until,
      limit,
      offset: 0,
      cursor: values.cursor,
      // A refused cursor in the API's words names its query parameter and nextCursor: here it is --cursor, as printed below.
    }).catch((e) => cursorRefusal(e, 'teamday audit list', 'the newest events'))
    if (values.json) io.out(JSON.stringify({ events, total, totalIsEstimate, nextCursor }, null, 2))
    else if (events.length === 0) io.out('no audit events')
    else {
      const rows = events.map((e) => ({ ...e, actor: e.actorUserId ?? e.source, details: e.details ? JSON.stringify(e.details) : null }))
      io.out(table(rows, ['createdAt', 'type', 'actor', 'tokenId', 'ip', 'requestId', 'details']))
    }
    // Older events: the next page by its cursor (the same options with --cursor), or a narrower
    // --since/--until. On stderr, so that stdout holds only the rows (`| wc -l`) or the JSON (which
    // carries nextCursor itself); it was a line among the rows.
    if (nextCursor) io.err(`${events.length} of ${total}${totalIsEstimate ? '+' : ''} audit events shown; older: the same command with --cursor ${nextCursor}`)
  })
}

/**
 * `teamday audit prune --before DATE`: deletes every organization's events recorded before DATE
 * (in batches: servers keep writing meanwhile), prints how many, and records that it did
 * (src/modules/audit/retention.ts). A date in the future is refused: it would delete what is
 * being recorded now.
 */
export function prune({ values, io }: Run<{ before?: string; db?: string }>): Promise<void> {
  // Both are required options: the parser refused the command without them.
  const before = parseInstant(values.before!)
  if (before === null) throw new UsageError(`--before must be a date (2026-01-01) or an ISO-8601 instant (2026-01-01T00:00:00Z); got "${values.before}"`)
  return withRuntime(io, values.db, async (rt, ctx) => {
    if (before > rt.clock.now()) throw new UsageError(`--before must not be in the future (${new Date(before).toISOString()}): it would delete events being recorded now`)
    const { deleted, organizations } = await pruneAuditEvents(ctx, before)
    io.out(`deleted ${deleted} audit event(s) recorded before ${new Date(before).toISOString()} (${organizations} organization(s)); recorded as audit.pruned`)
  })
}

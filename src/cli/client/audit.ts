import type { ClientValues, Run } from '../spec'
import { filterFlag, makeClient, nextPageHint, noun, output, pageFlags, rows } from './common'

/**
 * `teamday audit list` over HTTP (organization admins): without --org or --db (options and
 * usage: src/cli/registry.ts; admin mode: src/cli/admin/audit.ts).
 */
export async function list({ values, io }: Run<ClientValues & { type?: string; 'token-id'?: string; 'user-id'?: string; since?: string; until?: string; limit?: string; offset?: string; cursor?: string }>): Promise<void> {
  const client = await makeClient(io, values)
  const query = { type: filterFlag(values.type, '--type'), tokenId: filterFlag(values['token-id'], '--token-id'), userId: filterFlag(values['user-id'], '--user-id'), since: filterFlag(values.since, '--since'), until: filterFlag(values.until, '--until'), ...pageFlags(values) }
  const r = await client.request('GET', '/api/v1/audit-events', { query, expect: { events: 'list' } })
  output(io, values.json, r.body, () => {
    const list = r.body.events.map((e: any) => ({ ...e, actor: e.actorUserId ?? e.source }))
    return rows(list, ['createdAt', 'type', 'actor', 'tokenId', 'ip', 'details'], 'no audit events')
  })
  // On stderr, as every other list's (a line of it among the rows broke `| wc -l`); from the
  // server's next cursor, not `total > shown` (the last page of an --offset has none).
  nextPageHint(io, values.json, { noun: noun('audit event'), shown: r.body.events.length, offset: query.offset, cursor: query.cursor, next: r.body.nextCursor, total: r.body.total, estimate: r.body.totalIsEstimate })
}

import { CLIENT_EXIT } from '../../client/errors'
import { UsageError, type Io } from '../common'
import { CLIENT_OPTIONS_USAGE, clientGuard, intFlag, isHelp, makeClient, output, parseClient, rows } from './common'

export const CLIENT_AUDIT_USAGE = `usage: client mode, over HTTP (organization admins):
  teamday audit list [--type T] [--token-id ID] [--user-id ID] [--since ISO] [--until ISO] [--limit N] [--offset N]
${CLIENT_OPTIONS_USAGE}`

export function clientAuditCommand(args: string[], io: Io): Promise<number> {
  return clientGuard(io, CLIENT_AUDIT_USAGE, async () => {
    const [sub, ...rest] = args
    if (isHelp(sub)) {
      io.out(CLIENT_AUDIT_USAGE)
      return sub ? CLIENT_EXIT.ok : CLIENT_EXIT.usage
    }
    if (sub !== 'list') throw new UsageError(`unknown audit command "${sub}"`)
    const { values } = parseClient(
      rest,
      { type: { type: 'string' }, 'token-id': { type: 'string' }, 'user-id': { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' } },
      { min: 0, max: 0, names: '' },
    )
    if (values.help) {
      io.out(CLIENT_AUDIT_USAGE)
      return CLIENT_EXIT.ok
    }
    const client = makeClient(io, values)
    const query = { type: values.type, tokenId: values['token-id'], userId: values['user-id'], since: values.since, until: values.until, limit: intFlag(values.limit, '--limit', 1, 200), offset: intFlag(values.offset, '--offset', 0, 1e9) }
    const r = await client.request('GET', '/api/v1/audit-events', { query })
    output(io, values.json, r.body, () => {
      const list = r.body.events.map((e: any) => ({ ...e, actor: e.actorUserId ?? e.source }))
      const t = rows(list, ['createdAt', 'type', 'actor', 'tokenId', 'ip', 'details'], 'no audit events')
      return r.body.total > list.length ? `${t}\n(${list.length} of ${r.body.total}${r.body.totalIsEstimate ? '+' : ''}; use --limit/--offset)` : t
    })
    return CLIENT_EXIT.ok
  })
}

import { CLIENT_EXIT } from '../../client/errors'
import { UsageError, type Io } from '../common'
import { CLIENT_OPTIONS_USAGE, clientGuard, compact, intFlag, isHelp, listFlag, makeClient, output, parseClient, rows } from './common'
import { enc } from './executions'

export const CLIENT_TOKENS_USAGE = `usage: client mode, over HTTP with your token:
  teamday tokens list [--all] [--status active|expired|revoked] [--limit N] [--offset N]
  teamday tokens create --name N [--expires-in-days D (7-365)] [--scopes a,b]
      prints only the new token on stdout (store it now: it is never shown again)
      --scopes: at most your token's own (the default)
  teamday tokens revoke ID
  teamday tokens rotate ID [--expires-in-days D] [--grace-period-seconds S (0-86400)]
      prints only the new token; the old one stops at once or after the grace period
${CLIENT_OPTIONS_USAGE}`

const COLUMNS = ['id', 'name', 'maskedToken', 'status', 'scopes', 'createdAt', 'expiresAt', 'lastUsedAt']

export function clientTokensCommand(args: string[], io: Io): Promise<number> {
  return clientGuard(io, CLIENT_TOKENS_USAGE, async () => {
    const [sub, ...rest] = args
    if (isHelp(sub)) {
      io.out(CLIENT_TOKENS_USAGE)
      return sub ? CLIENT_EXIT.ok : CLIENT_EXIT.usage
    }
    if (sub === 'list') {
      const { values } = parseClient(rest, { all: { type: 'boolean' }, status: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' } }, { min: 0, max: 0, names: '' })
      if (values.help) return help(io)
      const client = makeClient(io, values)
      const query = { all: values.all ? 'true' : undefined, status: values.status, limit: intFlag(values.limit, '--limit', 1, 200), offset: intFlag(values.offset, '--offset', 0, 1e9) }
      const r = await client.request('GET', '/api/v1/tokens', { query })
      output(io, values.json, r.body, () => rows(r.body.tokens, values.all ? [...COLUMNS, 'userEmail'] : COLUMNS, 'no tokens'))
      return CLIENT_EXIT.ok
    }
    if (sub === 'create') {
      const { values } = parseClient(rest, { name: { type: 'string' }, 'expires-in-days': { type: 'string' }, scopes: { type: 'string' } }, { min: 0, max: 0, names: '' })
      if (values.help) return help(io)
      if (!values.name) throw new UsageError('missing required option --name')
      const body = compact({ name: values.name, expiresInDays: intFlag(values['expires-in-days'], '--expires-in-days', 1, 100000), scopes: listFlag(values.scopes) })
      const client = makeClient(io, values)
      const r = await client.request('POST', '/api/v1/tokens', { body })
      output(io, values.json, r.body, () => r.body.token)
      if (!values.json) io.err(`created token ${r.body.id} (${r.body.name}), expires ${r.body.expiresAt}; copy it now: it is not shown again`)
      return CLIENT_EXIT.ok
    }
    if (sub === 'revoke') {
      const { values, positionals } = parseClient(rest, {}, { min: 1, max: 1, names: 'token ID (see "teamday tokens list")' })
      if (values.help) return help(io)
      const client = makeClient(io, values)
      const r = await client.request('DELETE', `/api/v1/tokens/${enc(positionals[0]!)}`)
      output(io, values.json, r.body, () => `revoked token ${r.body.token.id}; requests using it are refused from now on`)
      return CLIENT_EXIT.ok
    }
    if (sub === 'rotate') {
      const { values, positionals } = parseClient(rest, { 'expires-in-days': { type: 'string' }, 'grace-period-seconds': { type: 'string' } }, { min: 1, max: 1, names: 'token ID (see "teamday tokens list")' })
      if (values.help) return help(io)
      const body = compact({ expiresInDays: intFlag(values['expires-in-days'], '--expires-in-days', 1, 100000), gracePeriodSeconds: intFlag(values['grace-period-seconds'], '--grace-period-seconds', 0, 86400) })
      const client = makeClient(io, values)
      const r = await client.request('POST', `/api/v1/tokens/${enc(positionals[0]!)}/rotate`, { body })
      output(io, values.json, r.body, () => r.body.token)
      if (!values.json) io.err(`rotated: new token ${r.body.id}, expires ${r.body.expiresAt}; the old one stops at ${r.body.previousTokenRevokedAt ?? 'once'}`)
      return CLIENT_EXIT.ok
    }
    throw new UsageError(`unknown tokens command "${sub}"`)
  })
}

function help(io: Io) {
  io.out(CLIENT_TOKENS_USAGE)
  return CLIENT_EXIT.ok
}

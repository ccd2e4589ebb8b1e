import { inline, printToken, tokenRows } from '../common'
import { ClientError } from '../../client/errors'
import type { ClientValues, Run } from '../spec'
import { compact, filterFlag, intFlag, listFlag, makeClient, nextPageHint, noun, output, pageFlags, rows } from './common'
import { enc } from './executions'
import { writeCredentials } from '../../client/credentials'

/**
 * `teamday tokens list|create|revoke|rotate` over HTTP with your token: without --email, --org
 * or --db (options and usage: src/cli/registry.ts; admin mode: src/cli/admin/tokens.ts).
 */

const COLUMNS = ['id', 'name', 'maskedToken', 'status', 'scopes', 'createdAt', 'expiresAt', 'revokedAt', 'lastUsedAt']

export async function list({ values, io }: Run<ClientValues & { all?: boolean; status?: string; limit?: string; offset?: string; cursor?: string }>): Promise<void> {
  const client = await makeClient(io, values)
  const query = { all: values.all ? 'true' : undefined, status: filterFlag(values.status, '--status'), ...pageFlags(values) }
  const r = await client.request('GET', '/api/v1/tokens', { query, expect: { tokens: 'list' } })
  output(io, values.json, r.body, () => rows(tokenRows(r.body.tokens), values.all ? [...COLUMNS, 'userEmail'] : COLUMNS, 'no tokens'))
  nextPageHint(io, values.json, { noun: noun('token'), shown: r.body.tokens.length, offset: query.offset, cursor: query.cursor, next: r.body.nextCursor, total: r.body.total, estimate: r.body.totalIsEstimate })
}

export async function create({ values, io }: Run<ClientValues & { name?: string; 'expires-in-days'?: string; scopes?: string }>): Promise<void> {
  const body = compact({ name: values.name, expiresInDays: intFlag(values['expires-in-days'], '--expires-in-days', 1, 100000), scopes: listFlag(values.scopes) })
  const client = await makeClient(io, values)
  const r = await client.request('POST', '/api/v1/tokens', { body, expect: { token: 'string', id: 'string' } })
  await printToken(io, values.json ? JSON.stringify(r.body, null, 2) : r.body.token, (why) => new ClientError('failed', `token ${r.body.id} was created, but ${why}: nobody received it. Revoke it: teamday tokens revoke ${r.body.id}${urlArgument(values.url)}`))
  if (!values.json) io.err(`created token ${r.body.id} (${inline(r.body.name)}), expires ${r.body.expiresAt}; copy it now: it is not shown again`)
}

export async function revoke({ values, positionals, io }: Run<ClientValues>): Promise<void> {
  const client = await makeClient(io, values)
  const r = await client.request('DELETE', `/api/v1/tokens/${enc(positionals[0]!)}`, { expect: { 'token.id': 'string' } })
  // `revoke self` with a stored sign-in (teamday login) ended that sign-in: it is forgotten, as
  // `teamday logout` forgets it (it stayed, and the next command failed with a hint to set a token).
  const login = positionals[0] === 'self' ? client.opts.login : undefined
  if (login) await writeCredentials(login.file, login.baseUrl, null)
  const earlier = revokedEarlier(r.body.token.revokedAt, r.headers.get('date'))
  const said = earlier ? `token ${r.body.token.id} was already revoked at ${r.body.token.revokedAt}` : `revoked token ${r.body.token.id}; requests using it are refused from now on`
  output(io, values.json, r.body, () => `${said}${login ? `; signed out of ${login.baseUrl} (removed from ${login.file})` : ''}`)
}

/**
 * Whether a token's `revokedAt` is from before this revocation: a minute or more before the
 * answer's Date (both the server's clock; Date has whole seconds, and a retried DELETE whose
 * first answer was lost finds the revocation it made seconds ago). The API answers 200 either way.
 */
export function revokedEarlier(revokedAt: unknown, date: string | null): boolean {
  const at = typeof revokedAt === 'string' ? Date.parse(revokedAt) : NaN
  const now = date === null ? NaN : Date.parse(date)
  return Number.isFinite(at) && Number.isFinite(now) && now - at >= 60_000
}

export async function rotate({ values, positionals, io }: Run<ClientValues & { 'expires-in-days'?: string; 'grace-period-seconds'?: string }>): Promise<void> {
  const body = compact({ expiresInDays: intFlag(values['expires-in-days'], '--expires-in-days', 1, 100000), gracePeriodSeconds: intFlag(values['grace-period-seconds'], '--grace-period-seconds', 0, 86400) })
  const client = await makeClient(io, values)
  const r = await client.request('POST', `/api/v1/tokens/${enc(positionals[0]!)}/rotate`, { body, expect: { token: 'string', id: 'string' } })
  // `rotate self`: the token this command runs with is the old one, which (rotated) may revoke
  // nothing but itself, in its grace period or not: the new one is revoked with another token of
  // the user's, or in the console.
  const self = positionals[0] === 'self'
  const old = self ? `${r.body.rotatedFromId ?? 'self'} (the token this command ran with)` : positionals[0]
  const revokeNew = self
    ? `Revoke the new one with another token of yours (teamday tokens revoke ${r.body.id}${urlArgument(values.url)}) or in the web console (Settings → Profile → Personal Access Tokens, the trash icon)`
    : `Revoke the new one (teamday tokens revoke ${r.body.id}${urlArgument(values.url)}) and, while the old one works, create another (teamday tokens create)`
  await printToken(io, values.json ? JSON.stringify(r.body, null, 2) : r.body.token, (why) =>
    new ClientError('failed', `token ${old} was rotated: the new token ${r.body.id} was created, but ${why}: nobody received it, and the old one stops at ${r.body.previousTokenRevokedAt ?? 'once'}. ${revokeNew}`),
  )
  if (!values.json) io.err(`rotated: new token ${r.body.id}, expires ${r.body.expiresAt}; the old one stops at ${r.body.previousTokenRevokedAt ?? 'once'}`)
}

/** The --url of a command to run next, as this one was given it. */
function urlArgument(url: string | undefined): string {
  if (url === undefined) return ''
  return /^[\w./:@%+=,?&-]+$/.test(url) ? ` --url ${url}` : ` --url '${url.replace(/'/g, `'\\''`)}'`
}

import { notTeamday } from '../../client/errors'
import type { ClientValues, Run } from '../spec'
import { details, makeClient, output } from './common'

/** `teamday whoami` and `teamday health` (options and usage: src/cli/registry.ts). */

export async function whoami({ values, io }: Run<ClientValues>): Promise<void> {
  const client = await makeClient(io, values)
  const r = await client.request('GET', '/api/v1/tokens/self', { expect: { token: 'object' } })
  // Which credential was used (never the credential): --token-file, TEAMDAY_TOKEN, TEAMDAY_API_TOKEN or teamday login.
  output(io, values.json, r.body, () => details({ ...r.body.token, server: client.opts.baseUrl, source: client.opts.tokenSource }, ['email', 'role', 'organizationSlug', 'organizationId', 'id', 'name', 'maskedToken', 'scopes', 'createdAt', 'lastUsedAt', 'expiresAt', 'server', 'source']))
}

export async function health({ values, io }: Run<ClientValues>): Promise<void> {
  // Unauthenticated: no token or stored login is read (a broken one does not fail a health check).
  const client = await makeClient(io, values, { token: false })
  const r = await client.request('GET', '/api/health', { auth: false, timeoutMs: 5_000, expect: { status: 'string', version: 'string' } })
  if (r.body?.status !== 'ok') throw notTeamday(client.opts.baseUrl, r.status, `with ${r.text.slice(0, 200)}`)
  output(io, values.json, r.body, () => `ok: teamday ${r.body.version} at ${client.opts.baseUrl}`)
}

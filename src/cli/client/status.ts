import { notTeamday } from '../../client/errors'
import { allAre } from '../../client/lists'
import type { ClientValues, Run } from '../spec'
import { details, makeClient, output } from './common'

/** `teamday whoami` and `teamday health` (options and usage: src/cli/registry.ts). */

export async function whoami({ values, io }: Run<ClientValues>): Promise<void> {
  const client = await makeClient(io, values)
  const r = await client.request('GET', '/api/v1/tokens/self', { expect: { token: 'object' } })
  // Which credential was used (never the credential): --token-file, TEAMDAY_TOKEN, TEAMDAY_API_TOKEN or teamday login.
  // --json: the API body whole (tokenScopes and agentRun included).
  output(io, values.json, r.body, () => details({ ...r.body.token, ...runRows(r.body.token), server: client.opts.baseUrl, source: client.opts.tokenSource }, ['email', 'role', 'organizationSlug', 'organizationId', 'id', 'name', 'maskedToken', 'scopes', ...runKeys(r.body.token), 'createdAt', 'lastUsedAt', 'expiresAt', 'server', 'source']))
}

interface SelfScopes {
  scopes?: unknown
  tokenScopes?: unknown
  agentRun?: { executionId?: unknown; starterScopes?: unknown } | null
}

/**
 * Beside `scopes` (what this request may do): the token's own `tokenScopes` when they are not
 * the same, or inside an agent run (there `scopes` are only what both the token and the run's
 * starter have), and the run (`agentRun`: its execution id, `starterScopes`). A server that
 * sends neither field, or a request outside a run with nothing narrowed: no more rows.
 */
function runKeys(token: SelfScopes): string[] {
  const run = token.agentRun ? ['agentRun', 'starterScopes'] : []
  const differ = Array.isArray(token.tokenScopes) && (run.length > 0 || !sameScopes(token.tokenScopes, token.scopes))
  return [...(differ ? ['tokenScopes'] : []), ...run]
}

function runRows(token: SelfScopes): Record<string, unknown> {
  return token.agentRun ? { agentRun: token.agentRun.executionId, starterScopes: token.agentRun.starterScopes } : {}
}

function sameScopes(a: unknown[], b: unknown): boolean {
  if (!Array.isArray(b) || a.length !== b.length) return false
  const set = new Set(b)
  return allAre(a, (s) => set.has(s))
}

export async function health({ values, io }: Run<ClientValues>): Promise<void> {
  // Unauthenticated: no token or stored login is read (a broken one does not fail a health check).
  const client = await makeClient(io, values, { token: false })
  const r = await client.request('GET', '/api/health', { auth: false, timeoutMs: 5_000, expect: { status: 'string', version: 'string' } })
  if (r.body?.status !== 'ok') throw notTeamday(client.opts.baseUrl, r.status, `with ${r.text.slice(0, 200)}`)
  output(io, values.json, r.body, () => `ok: teamday ${r.body.version} at ${client.opts.baseUrl}`)
}

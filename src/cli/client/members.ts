import { ClientError, isErrorEnvelope } from '../../client/errors'
import type { ApiClient } from '../../client/http'
import { PageWalk } from '../../client/pages'
import type { ClientValues, Run } from '../spec'
import { compact, details, makeClient, nextPageHint, noun, output, pageFlags, rows } from './common'
import { enc } from './executions'
import { emailKey } from '../../text'

/**
 * `teamday members list|get|add|set-role|remove` over HTTP (organization admins; options and usage:
 * src/cli/registry.ts). The organization is the token's own; a member is named by user id or
 * e-mail.
 */

const COLUMNS = ['email', 'userId', 'role', 'name', 'joinedAt']
const DETAIL = [...COLUMNS, 'lastSignInAt']

/** `/api/v1/organizations/{the token's organization}/members`. */
async function membersPath(client: ApiClient): Promise<string> {
  const self = await client.request('GET', '/api/v1/tokens/self', { expect: { 'token.organizationId': 'string' } })
  return `/api/v1/organizations/${enc(self.body.token.organizationId)}/members`
}

/** A user id as it is, or the user id of the member with this e-mail (looked up page by page). */
async function userIdOf(client: ApiClient, path: string, who: string): Promise<string> {
  if (!who.includes('@')) return who
  // The server's rule (src/text.ts): Anna@X.de, a decomposed é or full-width letters find the member.
  const email = emailKey(who)
  // Ends on a server that repeats its cursor or its page (it asked for the same page for ever).
  const walk = new PageWalk(client.opts.baseUrl, 'members')
  let cursor: string | undefined
  do {
    const r = await client.request('GET', path, { query: { limit: 200, cursor }, expect: { members: 'list' } })
    const found = r.body.members.find((m: any) => emailKey(m.email) === email)
    if (found) return found.userId
    cursor = walk.next(r.body.members.map((m: any) => String(m.userId)), r.body.nextCursor)
  } while (cursor)
  // The API's code for a missing object (`jq .code` reads not_found for every exit 4).
  throw new ClientError('notFound', `${email} is not a member of this organization (see teamday members list)`, undefined, undefined, 'not_found')
}

export async function list({ values, io }: Run<ClientValues & { limit?: string; offset?: string; cursor?: string }>): Promise<void> {
  const client = await makeClient(io, values)
  const query = { ...pageFlags(values) }
  const r = await client.request('GET', await membersPath(client), { query, expect: { members: 'list' } })
  output(io, values.json, r.body, () => rows(r.body.members, COLUMNS, 'no members'))
  nextPageHint(io, values.json, { noun: noun('member'), shown: r.body.members.length, offset: query.offset, cursor: query.cursor, next: r.body.nextCursor, total: r.body.total, estimate: r.body.totalIsEstimate })
}

/** One member (GET …/members/{userId}), named by user id or e-mail; not a member: exit 4. */
export async function get({ values, positionals, io }: Run<ClientValues>): Promise<void> {
  const client = await makeClient(io, values)
  const path = await membersPath(client)
  const r = await client.request('GET', `${path}/${enc(await userIdOf(client, path, positionals[0]!))}`, { expect: { member: 'object' } })
  output(io, values.json, r.body, () => details(r.body.member, DETAIL))
}

export async function add({ values, io }: Run<ClientValues & { email?: string; role?: string; name?: string }>): Promise<void> {
  const client = await makeClient(io, values)
  const r = await client
    .request('POST', await membersPath(client), { body: compact({ email: values.email, role: values.role ?? 'member', name: values.name }), expect: { member: 'object' } })
    .catch((e) => {
      // The API's message names its PATCH route; here the way is a command.
      if (e instanceof ClientError && isErrorEnvelope(e.body) && e.body.code === 'already_member') {
        throw new ClientError(e.kind, e.message, `To change their role: teamday members set-role ${values.email} --role ${values.role ?? 'ROLE'}`, e.body, e.code)
      }
      throw e
    })
  const m = r.body.member
  output(io, values.json, r.body, () => `${r.body.createdUser ? 'created user' : 'added user'} ${m.email} (${m.userId}) as ${m.role}; they need a token to use the API`)
}

export async function setRole({ values, positionals, io }: Run<ClientValues & { role?: string }>): Promise<void> {
  const client = await makeClient(io, values)
  const path = await membersPath(client)
  const r = await client.request('PATCH', `${path}/${enc(await userIdOf(client, path, positionals[0]!))}`, { body: { role: values.role }, expect: { member: 'object' } })
  output(io, values.json, r.body, () => `${r.body.member.email} is now ${r.body.member.role}; this applies to their tokens from the next request`)
}

export async function remove({ values, positionals, io }: Run<ClientValues>): Promise<void> {
  const client = await makeClient(io, values)
  const path = await membersPath(client)
  const r = await client.request('DELETE', `${path}/${enc(await userIdOf(client, path, positionals[0]!))}`, { expect: { member: 'object', revokedTokenIds: 'strings' } })
  output(io, values.json, r.body, () => `removed ${r.body.member.email} (was ${r.body.member.role}); revoked their ${r.body.revokedTokenIds.length} token(s) in this organization`)
}

import { CLIENT_EXIT, ClientError } from '../../client/errors'
import type { Io } from '../common'
import { CLIENT_OPTIONS_USAGE, clientGuard, details, makeClient, output, parseClient } from './common'

export const WHOAMI_USAGE = `usage:
  teamday whoami       the token in use: id, name, scopes, role, organization, user, expiry (never the secret)
${CLIENT_OPTIONS_USAGE}`

export const HEALTH_USAGE = `usage:
  teamday health       GET /api/health without a token; exit 0 when the server answers ok, 5 otherwise
${CLIENT_OPTIONS_USAGE}`

export function whoamiCommand(args: string[], io: Io): Promise<number> {
  return clientGuard(io, WHOAMI_USAGE, async () => {
    const { values } = parseClient(args, {}, { min: 0, max: 0, names: '' })
    if (values.help) {
      io.out(WHOAMI_USAGE)
      return CLIENT_EXIT.ok
    }
    const client = makeClient(io, values)
    const r = await client.request('GET', '/api/v1/tokens/self')
    output(io, values.json, r.body, () => details({ ...r.body.token, server: client.opts.baseUrl }, ['email', 'role', 'organizationSlug', 'organizationId', 'id', 'name', 'maskedToken', 'scopes', 'createdAt', 'lastUsedAt', 'expiresAt', 'server']))
    return CLIENT_EXIT.ok
  })
}

export function healthCommand(args: string[], io: Io): Promise<number> {
  return clientGuard(io, HEALTH_USAGE, async () => {
    const { values } = parseClient(args, {}, { min: 0, max: 0, names: '' })
    if (values.help) {
      io.out(HEALTH_USAGE)
      return CLIENT_EXIT.ok
    }
    const client = makeClient(io, values)
    const r = await client.request('GET', '/api/health', { auth: false, timeoutMs: 5_000 })
    if (r.body?.status !== 'ok') throw new ClientError(CLIENT_EXIT.server, `${client.opts.baseUrl} answered ${r.text.slice(0, 200)}`)
    output(io, values.json, r.body, () => `ok: teamday ${r.body.version} at ${client.opts.baseUrl}`)
    return CLIENT_EXIT.ok
  })
}

import { recordAuditEvent } from '../../modules/audit/service'
import { auditTokenCreated } from '../../modules/tokens/lifecycle'
import { createToken, findTokenById, listTokensOfUser, revokeById } from '../../modules/tokens/service'
import { listMemberships, requireOrganization, requireUser } from '../../modules/users/service'
import { AppError } from '../../errors'
import { EXIT, guard, parse, require_, table, UsageError, withRuntime, type Io } from '../common'
import { isClientMode } from '../client/common'
import { CLIENT_TOKENS_USAGE, clientTokensCommand } from '../client/tokens'

export const ADMIN_TOKENS_USAGE = `usage: admin mode, on the database file (chosen by --email, --org or --db):
  teamday tokens create --email E [--org SLUG] --name N [--expires-in-days D] [--scopes a,b] [--db FILE]
      prints only the token on stdout (store it now: it is never shown again)
      --scopes: comma-separated, e.g. agents:read,tasks:write (default *: all the role allows)
  teamday tokens list --email E [--json] [--db FILE]
  teamday tokens revoke ID --db FILE`

export const TOKENS_USAGE = `${ADMIN_TOKENS_USAGE}

${CLIENT_TOKENS_USAGE}`

/**
 * Two modes, one rule: admin mode (the database, no token needed) iff --email, --org or --db is
 * passed; otherwise client mode (HTTP with TEAMDAY_TOKEN / --token-file).
 */

export function tokensCommand(args: string[], io: Io): Promise<number> {
  if (isClientMode(args)) return clientTokensCommand(args, io)
  return guard(io, ADMIN_TOKENS_USAGE, () => {
    const [sub, ...rest] = args
    if (sub === undefined || sub === 'help' || sub === '--help') {
      io.out(TOKENS_USAGE)
      return sub ? EXIT.ok : EXIT.usage
    }
    if (sub === 'create') {
      const { values } = parse(rest, { email: { type: 'string' }, org: { type: 'string' }, name: { type: 'string' }, 'expires-in-days': { type: 'string' }, scopes: { type: 'string' } })
      const email = require_(values.email, '--email')
      const name = require_(values.name, '--name')
      const daysRaw = values['expires-in-days']
      const days = daysRaw === undefined ? undefined : Number(daysRaw)
      if (daysRaw !== undefined && (!/^\d+$/.test(daysRaw) || !Number.isInteger(days))) throw new UsageError('--expires-in-days must be a whole number of days (7-365)')
      const scopes = values.scopes === undefined ? undefined : values.scopes.split(',').map((s) => s.trim()).filter(Boolean)
      return withRuntime(io, values.db, (rt) => {
        const user = requireUser(rt.db, email)
        const orgs = listMemberships(rt.db, user.id)
        let orgId: string
        if (values.org) {
          const org = requireOrganization(rt.db, values.org)
          if (!orgs.some((m) => m.organization.id === org.id)) throw new AppError('not_found', `${user.email} is not a member of ${org.slug}`)
          orgId = org.id
        } else if (orgs.length === 1) {
          orgId = orgs[0]!.organization.id
        } else if (orgs.length === 0) {
          throw new AppError('not_found', `${user.email} belongs to no organization; add them with "teamday users create"`)
        } else {
          throw new UsageError(`${user.email} belongs to several organizations (${orgs.map((m) => m.organization.slug).join(', ')}); pass --org`)
        }
        const { token, row } = createToken(rt, { userId: user.id, organizationId: orgId }, { name, expiresInDays: days, scopes })
        auditTokenCreated(rt, row, { organizationId: orgId, source: 'cli' })
        io.out(token)
        return EXIT.ok
      })
    }
    if (sub === 'list') {
      const { values } = parse(rest, { email: { type: 'string' }, json: { type: 'boolean' } })
      const email = require_(values.email, '--email')
      return withRuntime(io, values.db, (rt) => {
        const user = requireUser(rt.db, email)
        const tokens = listTokensOfUser(rt, user.id, user.email)
        if (values.json) io.out(JSON.stringify({ tokens, total: tokens.length }, null, 2))
        else if (tokens.length === 0) io.out(`${user.email} has no tokens`)
        else io.out(table(tokens as any, ['id', 'name', 'maskedToken', 'status', 'organizationId', 'createdAt', 'expiresAt', 'lastUsedAt', 'lastUsedIp']))
        return EXIT.ok
      })
    }
    if (sub === 'revoke') {
      const { values, positionals } = parse(rest, {}, 1)
      const id = positionals[0]
      if (!id) throw new UsageError('missing token ID (see "teamday tokens list --email E")')
      return withRuntime(io, values.db, (rt) => {
        const existing = findTokenById(rt.db, id)
        if (!existing) throw new AppError('not_found', `Token ${id} not found`)
        const revoked = revokeById(rt.db, id, 'cli', rt.clock.now(), 'admin_cli')
        if (revoked) {
          recordAuditEvent(rt, { type: 'token.revoked', organizationId: revoked.organizationId, source: 'cli', tokenId: id, targetType: 'token', targetId: id, details: { reason: 'admin_cli' } })
        }
        if (revoked) io.out(`revoked token ${id}; requests using it are refused from now on`)
        else io.out(`token ${id} was already revoked at ${existing.revokedAt!.toISOString()}`)
        return EXIT.ok
      })
    }
    throw new UsageError(`unknown tokens command "${sub}"${sub === 'rotate' ? ' in admin mode (rotate is a client command: run it without --db/--email/--org)' : ''}`)
  })
}


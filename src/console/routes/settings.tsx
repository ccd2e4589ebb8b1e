import { Elysia, t } from 'elysia'
import { AppError } from '../../errors'
import { createTokenForCaller, rotateToken } from '../../modules/tokens/lifecycle'
import { getToken, listTokens, revokeToken } from '../../modules/tokens/service'
import { DAY_MS, MAX_EXPIRY_DAYS } from '../../modules/tokens/validation'
import { listCliSessions } from '../../modules/cli-auth/service'
import { listMemberships } from '../../modules/users/service'
import { FormBody, field, fields, hidden } from '../form'
import { page, redirect, type ConsoleKit } from '../http'
import { HOME } from './auth'
import type { SignedIn } from '../session'
import type { Nav } from '../views/layout'
import { TokenCreatedPage, TokensPage, type TokensPageProps } from '../views/tokens'

const IdParams = t.Object({ id: t.String() })

/** What every signed-in page's header needs: the person and their organizations (the switcher). */
export async function navOf(kit: ConsoleKit, who: SignedIn, request: Request, set: any, current: string): Promise<Nav> {
  const orgs = await listMemberships(kit.ctxOf(who, request, set), who.user.id)
  return { who, current, organizations: orgs.map((m) => ({ id: m.organization.id, slug: m.organization.slug, name: m.organization.name })) }
}

/** The base URL the browser used, for the curl line on the new-token page. */
function baseOf(kit: ConsoleKit, request: Request): string {
  const host = request.headers.get('host') ?? new URL(request.url).host
  return `${kit.isHttps(request) ? 'https' : 'http'}://${host}`
}

/** Settings → Personal Access Tokens (/settings/tokens, alias /settings/api): the same services as /api/v1/tokens. */
export function tokenRoutes(kit: ConsoleKit) {
  const listPage = async (who: SignedIn, request: Request, set: any, extra: Partial<TokensPageProps> & { all?: boolean } = {}, status = 200) => {
    const ctx = kit.ctxOf(who, request, set)
    const all = !!extra.all && who.role === 'admin'
    // "Revoking … will remove the token from your account" (TeamDay's docs): the list is of active
    // tokens (a rotated one in its grace period included) unless the revoked and expired are asked for.
    const { tokens } = await listTokens(ctx, { organization: all, limit: 200, offset: 0, ...(extra.inactive ? {} : { status: 'active' as const }) })
    const cliSessions = await listCliSessions(ctx, who.user.id, who.organization.id)
    const nav = await navOf(kit, who, request, set, '/settings/tokens')
    return page(await (<TokensPage nav={nav} who={who} tokens={tokens} cliSessions={cliSessions} now={ctx.clock.now()} all={all} {...extra} />), { status })
  }

  // Adds its routes to the console's instance itself (a function plugin): a plugin instance
  // would have every route added twice more, once here and once by the console.
  return (app: Elysia) => app
    // The server's front door is the console (sign-in first, then the tokens page, as after a
    // sign-in); the API docs are one link away in its header.
    .get('/', () => redirect(HOME), hidden)
    .get('/settings', () => redirect('/settings/profile'), hidden)
    .get('/settings/api', () => redirect('/settings/tokens'), hidden)
    .get('/settings/tokens', async ({ request, set, query }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const notice = query.revoked ? 'Token revoked: requests with it are refused from now on.' : query.cli_revoked ? 'CLI sign-in revoked: that terminal is signed out; its access and refresh tokens are refused from now on.' : null
      return listPage(who, request, set, { all: query.all === '1', inactive: query.inactive === '1', notice })
    }, hidden)
    .post('/settings/tokens', async ({ request, set, body }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const ctx = kit.ctxOf(who, request, set)
      const form = { name: field(body, 'name'), expires: field(body, 'expires') || '90', date: field(body, 'date'), scopes: fields(body, 'scope') }
      try {
        const scopes = form.scopes.length === 0 || form.scopes.includes('*') ? ['*'] : form.scopes
        let expiry: { expiresInDays?: number; expiresAt?: string }
        if (form.expires === 'custom') {
          const at = Date.parse(`${form.date}T23:59:59.999Z`)
          if (Number.isNaN(at)) throw new AppError('validation_failed', 'Validation failed: choose a custom expiration date (7-365 days from today)')
          expiry = { expiresAt: new Date(Math.min(at, ctx.clock.now() + MAX_EXPIRY_DAYS * DAY_MS)).toISOString() }
        } else expiry = { expiresInDays: Number(form.expires) }
        const { token, row } = await createTokenForCaller(ctx, { name: form.name, scopes, ...expiry })
        const nav = await navOf(kit, who, request, set, '/settings/tokens')
        return page(await (<TokenCreatedPage nav={nav} token={token} name={form.name.trim()} expiresAt={row.expiresAt.toISOString()} base={baseOf(kit, request)} />), { status: 201, secret: true })
      } catch (e) {
        if (e instanceof AppError) return listPage(who, request, set, { error: e.message, form }, e.status)
        throw e
      }
    }, { ...hidden, body: FormBody })
    .post('/settings/tokens/:id/revoke', async ({ request, set, params }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      try {
        await revokeToken(kit.ctxOf(who, request, set), params.id)
      } catch (e) {
        if (e instanceof AppError) return listPage(who, request, set, { error: e.message }, e.status)
        throw e
      }
      return redirect('/settings/tokens?revoked=1')
    }, { ...hidden, body: FormBody, params: IdParams })
    .post('/settings/tokens/:id/rotate', async ({ request, set, params, body }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      try {
        const r = await rotateToken(kit.ctxOf(who, request, set), params.id, { gracePeriodSeconds: Number(field(body, 'grace') || '0') })
        const nav = await navOf(kit, who, request, set, '/settings/tokens')
        const { name } = await getToken(kit.ctxOf(who, request, set), r.row.id)
        return page(await (<TokenCreatedPage nav={nav} token={r.token} name={name} expiresAt={r.row.expiresAt.toISOString()} base={baseOf(kit, request)} rotatedFrom={params.id} />), { status: 201, secret: true })
      } catch (e) {
        if (e instanceof AppError) return listPage(who, request, set, { error: e.message }, e.status)
        throw e
      }
    }, { ...hidden, body: FormBody, params: IdParams })
}

import { Elysia, t } from 'elysia'
import { AppError } from '../../errors'
import { decideLogin, describeLoginRequest, organizationsOf, revokeOwnCliSession } from '../../modules/cli-auth/service'
import { FormBody, field, hidden } from '../form'
import { crossOriginRefused, page, redirect, type ConsoleKit } from '../http'
import { MessagePage } from '../views/auth'
import { AuthorizeDonePage, AuthorizePage } from '../views/cli'

const CodeParams = t.Object({ code: t.String({ maxLength: 200 }) })
const IdParams = t.Object({ id: t.String({ maxLength: 100 }) })

const refused = () => page('<title>Refused</title><h1>Cross-origin request refused</h1><p>This form was sent from another site.</p>', { status: 403 })
const notFound = async () =>
  page(await (<MessagePage title="Link not valid" message="This sign-in link is not valid: no such request. Start again from your terminal." />), { status: 404 })

/**
 * The approval page of a CLI sign-in (the `authUrl` of POST /api/auth/cli/initiate), and the
 * Revoke of a CLI session (they are listed on the tokens page). Sign-in first (then back here through `next`); Approve and
 * Deny are POSTs that pass the cross-origin check; the page is sent with Referrer-Policy:
 * no-referrer (the code is in its URL) like every console page.
 */
export function cliRoutes(kit: ConsoleKit) {
  // Adds its routes to the console's instance itself (a function plugin): a plugin instance
  // would have every route added twice more, once here and once by the console.
  return (app: Elysia) => app
    .get(
      '/cli/authorize/:code',
      async ({ params: { code }, request, set }) => {
        const who = await kit.signedIn(request)
        if (!who) return kit.toSignIn(request)
        const ctx = kit.ctxOf(who, request, set)
        const req = await describeLoginRequest(ctx, code)
        if (!req) return notFound()
        if (req.state !== 'pending') return page(await (<AuthorizeDonePage who={who} state={req.state} />))
        return page(await (<AuthorizePage who={who} req={req} organizations={await organizationsOf(ctx, who.user.id)} />))
      },
      { ...hidden, params: CodeParams },
    )
    .post(
      '/cli/authorize/:code',
      async ({ params: { code }, body, request, set }) => {
        if (crossOriginRefused(request)) return refused()
        const who = await kit.signedIn(request)
        if (!who) return kit.toSignIn(request)
        const ctx = kit.ctxOf(who, request, set)
        const decision = field(body, 'decision')
        if (decision !== 'approve' && decision !== 'deny') {
          const req = await describeLoginRequest(ctx, code)
          if (!req) return notFound()
          return page(await (<AuthorizePage who={who} req={req} organizations={await organizationsOf(ctx, who.user.id)} error="Choose Approve or Deny." />), { status: 422 })
        }
        try {
          await decideLogin(ctx, code, { userId: who.user.id, organizationId: field(body, 'organizationId') || undefined }, decision)
        } catch (e) {
          if (!(e instanceof AppError)) throw e
          if (e.code === 'not_found') return notFound()
          const req = await describeLoginRequest(ctx, code)
          if (!req || req.state !== 'pending') return page(await (<AuthorizeDonePage who={who} state={req?.state ?? 'expired'} />), { status: 409 })
          return page(await (<AuthorizePage who={who} req={req} organizations={await organizationsOf(ctx, who.user.id)} error={e.message} />), { status: e.status })
        }
        return redirect(`/cli/authorize/${code}`)
      },
      { ...hidden, params: CodeParams, body: FormBody },
    )
    // CLI sign-ins are listed on the tokens page (Settings → Personal Access Tokens).
    .get('/settings/cli-sessions', () => redirect('/settings/tokens#cli-sessions'), hidden)
    .post(
      '/settings/cli-sessions/:id/revoke',
      async ({ params: { id }, request, set }) => {
        if (crossOriginRefused(request)) return refused()
        const who = await kit.signedIn(request)
        if (!who) return kit.toSignIn(request)
        try {
          await revokeOwnCliSession(kit.ctxOf(who, request, set), who.user.id, id)
        } catch (e) {
          if (e instanceof AppError && e.code === 'not_found') return notFound()
          throw e
        }
        return redirect('/settings/tokens?cli_revoked=1#cli-sessions')
      },
      { ...hidden, params: IdParams, body: FormBody },
    )
}

import { Elysia, t } from 'elysia'
import { timingSafeEqual } from 'node:crypto'
import { AppError } from '../../errors'
import { decideLogin, describeLoginRequest, organizationsOf, revokeOwnCliSession, type LoginRequest } from '../../modules/cli-auth/service'
import type { Ctx } from '../../context'
import type { SignedIn } from '../session'
import type { Nav } from '../views/layout'
import { FormBody, field, hidden, pageRefusal, shown, typedField, type FormFields } from '../form'
import { page, redirect, type ConsoleKit } from '../http'
import { MessagePage, RefusedPage } from '../views/auth'
import { AuthorizeDonePage, AuthorizePage } from '../views/cli'
import { formView, tokensHref } from '../views/tokens'
import { confirmedAccess } from '../sudo'
import { anonymousNav, errorOf, fieldErrorOf, navOf, settingsPage } from './settings'

const CodeParams = t.Object({ code: t.String({ maxLength: 200 }) })
const IdParams = t.Object({ id: t.String({ maxLength: 100 }) })

const refused = async (request: Request) => page(await (<RefusedPage nav={anonymousNav(request)} />), { status: 403 })
const notFound = async (request: Request) => {
  const nav = anonymousNav(request)
  return page(await (<MessagePage nav={nav} title={nav.t.linkInvalidTitle} message={nav.t.cliLinkInvalid} />), { status: 404 })
}

/**
 * The page of a request no longer pending (AuthorizeDonePage), `req` undefined: expired. An
 * approval says to the person who gave it which organization the terminal was signed in to, and
 * with which role (their role there now: the one the terminal's requests get); to anyone else, nothing.
 */
async function donePage(ctx: Ctx, who: SignedIn, nav: Nav, req: LoginRequest | undefined, status = 200): Promise<Response> {
  const approved = req !== undefined && (req.state === 'approved' || req.state === 'delivered') && req.decidedBy === who.user.id
  const into = approved && req.organizationId ? (await organizationsOf(ctx, who.user.id)).find((o) => o.id === req.organizationId) : undefined
  return page(await (<AuthorizeDonePage nav={nav} state={req?.state ?? 'expired'} into={into} />), { status })
}

/**
 * How long the approval page must have been shown before its Approve counts. Double-clickjacking:
 * another site asks for a double-click and, at its first click, sends the victim's tab to this
 * page of a login it started; the second click lands on Approve. console.js holds such a click
 * back in the browser, but only once it has run (it is deferred, and absent without JavaScript):
 * the server refuses an Approve sent sooner after the page it came from was rendered.
 */
export const APPROVE_AFTER_MS = 1000
const SHOWN_PURPOSE = 'cli-approve-shown'

/** The page's `shownAt` field: when it was rendered, with the server's keyed digest of that and the code. */
function shownStamp(ctx: Ctx, code: string): string {
  const at = ctx.clock.now()
  return `${at}.${ctx.box.digest(`${code}\u0000${at}`, SHOWN_PURPOSE)}`
}

/** Whether `stamp` is one this server rendered for `code`, APPROVE_AFTER_MS or longer ago. */
function shownLongEnough(ctx: Ctx, code: string, stamp: string | undefined): boolean {
  const dot = stamp?.indexOf('.') ?? -1
  if (stamp === undefined || dot <= 0) return false
  const at = Number(stamp.slice(0, dot))
  if (!Number.isSafeInteger(at)) return false
  const given = Buffer.from(stamp.slice(dot + 1))
  // Under any key of the ring: a page shown before a restart with a new current key still counts.
  const signed = ctx.box.digests(`${code}\u0000${at}`, SHOWN_PURPOSE).some((d) => {
    const expected = Buffer.from(d)
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
  return signed && ctx.clock.now() - at >= APPROVE_AFTER_MS
}

/**
 * The approval page of a CLI sign-in (the `authUrl` of POST /api/auth/cli/initiate), and the
 * Revoke of a CLI session (they are listed in Settings → Profile → Personal Access Tokens). Sign-in first (then back here through `next`); Approve and
 * Deny are POSTs that pass the cross-origin check; the page is sent with Referrer-Policy:
 * no-referrer (the code is in its URL) like every console page.
 */
export function cliRoutes(kit: ConsoleKit) {
  // The header's organization switcher comes back to this page (Nav.back): its organization
  // picker then holds the organization switched to, where it led to Settings → Profile and the
  // page was lost. The path holds the login code, as the address bar does (safeNext allows it).
  const navFor = async (who: SignedIn, request: Request, set: any, code: string): Promise<Nav> => ({ ...(await navOf(kit, who, request, set)), back: `/cli/authorize/${code}` })
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
        if (!req) return notFound(request)
        const nav = await navFor(who, request, set, code)
        if (req.state !== 'pending') return donePage(ctx, who, nav, req)
        return page(await (<AuthorizePage nav={nav} who={who} req={req} shownAt={shownStamp(ctx, code)} organizations={await organizationsOf(ctx, who.user.id)} />))
      },
      { ...hidden, params: CodeParams },
    )
    .post(
      '/cli/authorize/:code',
      async ({ params: { code }, body, request, set }) => {
        if (kit.crossOriginRefused(request)) return refused(request)
        const who = await kit.signedIn(request)
        if (!who) return kit.toSignIn(request)
        const ctx = kit.ctxOf(who, request, set)
        const nav = await navFor(who, request, set, code)
        // The organization picked: a page shown again keeps it picked (it fell back to the
        // console's, and the next Approve signed the terminal in there).
        const chosen = typedField(body, 'organizationId')
        // A field holding a token (src/http/secret-fields.ts): the page again with the error (on
        // the organization's choice when it was that one), nothing decided. A field sent twice
        // with different values (`decision=deny&decision=approve`: no decision), a body that is no
        // form: the same (src/http/page-form.ts).
        const pasted = pageRefusal(body)
        if (pasted) {
          const req = await describeLoginRequest(ctx, code)
          if (!req) return notFound(request)
          if (req.state !== 'pending') return donePage(ctx, who, nav, req, 409)
          // The organization's choice is a field shown only to a member of several (else hidden).
          const organizations = await organizationsOf(ctx, who.user.id)
          const fields: FormFields = organizations.length > 1 ? { organizationId: shown('organizationId', (t) => t.cliOrganization) } : {}
          return page(await (<AuthorizePage nav={nav} who={who} req={req} shownAt={shownStamp(ctx, code)} organizations={organizations} chosen={chosen} error={fieldErrorOf(request, pasted, fields)} />), { status: pasted.status })
        }
        const decision = field(body, 'decision')
        if (decision !== 'approve' && decision !== 'deny') {
          const req = await describeLoginRequest(ctx, code)
          if (!req) return notFound(request)
          return page(await (<AuthorizePage nav={nav} who={who} req={req} shownAt={shownStamp(ctx, code)} organizations={await organizationsOf(ctx, who.user.id)} chosen={chosen} error={nav.t.chooseApproveOrDeny} />), { status: 422 })
        }
        // An Approve sent too soon after its page was shown (or from a page without the stamp):
        // the page again, saying so, nothing decided (APPROVE_AFTER_MS). Deny goes at once.
        if (decision === 'approve' && !shownLongEnough(ctx, code, field(body, 'shownAt'))) {
          const req = await describeLoginRequest(ctx, code)
          if (!req) return notFound(request)
          if (req.state !== 'pending') return donePage(ctx, who, nav, req, 409)
          return page(await (<AuthorizePage nav={nav} who={who} req={req} shownAt={shownStamp(ctx, code)} organizations={await organizationsOf(ctx, who.user.id)} chosen={chosen} error={nav.t.cliTooSoon} />), { status: 422 })
        }
        // An Approve mints a CLI session (its tokens outlive this browser's session): the password
        // when it was last proved too long ago (src/console/sudo.tsx). Deny goes without.
        if (decision === 'approve') {
          const gate = await confirmedAccess(kit, who, request, set, body, `/cli/authorize/${code}`, async () => nav)
          if (gate) return gate
        }
        try {
          await decideLogin(ctx, code, { userId: who.user.id, organizationId: field(body, 'organizationId') || undefined }, decision)
        } catch (e) {
          if (!(e instanceof AppError)) throw e
          if (e.code === 'not_found') return notFound(request)
          const req = await describeLoginRequest(ctx, code)
          if (!req || req.state !== 'pending') return donePage(ctx, who, nav, req, 409)
          return page(await (<AuthorizePage nav={nav} who={who} req={req} shownAt={shownStamp(ctx, code)} organizations={await organizationsOf(ctx, who.user.id)} chosen={chosen} error={errorOf(request, e)} />), { status: e.status })
        }
        return redirect(`/cli/authorize/${code}`)
      },
      { ...hidden, params: CodeParams, body: FormBody },
    )
    // CLI sign-ins are listed in Settings → Profile → Personal Access Tokens.
    .get('/settings/cli-sessions', () => redirect('/settings/profile#cli-sessions'), hidden)
    .post(
      '/settings/cli-sessions/:id/revoke',
      async ({ params: { id }, request, set, body }) => {
        if (kit.crossOriginRefused(request)) return refused(request)
        const who = await kit.signedIn(request)
        if (!who) return kit.toSignIn(request)
        // Its hidden fields (the list's view) holding a token, sent twice with different values, a
        // body that is no form: the section with the error, nothing revoked.
        const pasted = pageRefusal(body)
        if (pasted) return settingsPage(kit, who, request, set, { view: formView(body), tokens: { error: errorOf(request, pasted) } }, pasted.status)
        try {
          await revokeOwnCliSession(kit.ctxOf(who, request, set), who.user.id, id)
        } catch (e) {
          // Revoked and deleted since the page was shown (30 days on, "Retention"), or an id typed
          // in: the signed-in page with the error at its list, not the approval link's "Link not
          // valid" on a page that looked signed out.
          if (e instanceof AppError && e.code === 'not_found') {
            const gone = new AppError('not_found', 'No such CLI sign-in; it may have been revoked already.')
            return settingsPage(kit, who, request, set, { view: formView(body), tokens: { error: errorOf(request, gone) } }, gone.status)
          }
          throw e
        }
        // Back to the list as it was (its view fields), at the CLI sign-ins.
        return redirect(tokensHref(formView(body), { cli_revoked: '1' }, 'cli-sessions'))
      },
      { ...hidden, params: IdParams, body: FormBody },
    )
}

import { Elysia, t } from 'elysia'
import { recordAudit } from '../../audit/log'
import { AppError } from '../../errors'
import { findLink, useLink, type LinkPurpose } from '../../modules/users/links'
import { checkPassword } from '../../modules/users/passwords'
import { listMemberships } from '../../modules/users/service'
import { ASSETS } from '../assets'
import { FormBody, field, hidden, pageRefusal, shown, typedField, type FormFields } from '../form'
import { HOME, page, redirect, type ConsoleKit } from '../http'
import { langOf, messages } from '../i18n'
import { endAllSessions, endSession, endSessionBySecret, pruneSessions, startSignedInSession } from '../session'
import { attemptFailed, attemptSucceeded, reserveAttempt, throttleKeys } from '../throttle'
import { MessagePage, RefusedPage, SetPasswordPage, SignInPage } from '../views/auth'
import type { ErrorText } from '../views/layout'
import { anonymousNav, errorOf, fieldErrorOf, navOf } from './settings'
import { PAGE_ORGANIZATION } from '../views/layout'

const SecretParams = t.Object({ secret: t.String() })
/** Where a sign-in leads: Settings → Profile (its Personal Access Tokens section is one click or scroll away). */

/** The page of a form posted from another site (the cross-origin check), in the request's language. */
export async function refusedPage(request: Request): Promise<Response> {
  return page(await (<RefusedPage nav={anonymousNav(request)} />), { status: 403 })
}

/**
 * A form of a page shown for one organization (PageOrganization), sent after the session switched
 * to another: 409, nothing done. Members forms and the token form act on "the current
 * organization": from a tab left open, a role change or a removal hit the same person in the
 * organization switched to since, while the dialog named the other one. Undefined when the form
 * may go on (no such field, or not signed in: the route sends that one to sign in).
 */
export async function switchedOrganizationPage(kit: ConsoleKit, request: Request, body: unknown, set: any): Promise<Response | undefined> {
  // A token in it is the page's to refuse, with the form's other fields (typedField).
  const shownFor = typedField(body, PAGE_ORGANIZATION)
  if (!shownFor) return undefined
  const who = await kit.signedIn(request)
  if (!who || who.organization.id === shownFor) return undefined
  const nav = await navOf(kit, who, request, set)
  const members = new URL(request.url).pathname.startsWith('/org/')
  const link = members ? { href: '/org/members', label: nav.t.navMembers } : { href: '/settings/tokens', label: nav.t.navSettings }
  return page(await (<MessagePage nav={nav} title={nav.t.orgSwitchedTitle} message={nav.t.orgSwitched(who.organization.name)} link={link} />), { status: 409 })
}

/** The console's stylesheet, scripts and icon (src/console/assets.ts): one route each. */
function assetRoutes(app: Elysia): Elysia {
  for (const a of ASSETS) {
    const headers = { 'content-type': a.type, 'cache-control': `public, max-age=${a.maxAge}` }
    app.get(a.path, () => new Response(a.body, { headers }), hidden)
  }
  return app
}

/** Sign-in, sign-out, and the one-time set-up / set-password links. */
export function authRoutes(kit: ConsoleKit) {
  const signInPage = async (request: Request, props: Omit<Parameters<typeof SignInPage>[0], 'nav'>, status = 200) => page(await (<SignInPage nav={anonymousNav(request)} {...props} />), { status })

  const linkRoutes = (purpose: LinkPurpose, base: string, texts: { title: 'setupTitle' | 'setPasswordTitle'; intro: 'setupIntro' | 'setPasswordIntro' }) => (app: Elysia) => {
    // The form's fields (the set-up's asks for a name too; the set-password page shows none).
    const linkFields: FormFields = {
      password: shown('password', (t) => t.newPassword),
      confirm: shown('confirm', (t) => t.repeatPassword),
      ...(purpose === 'setup' ? { name: shown('name', (t) => t.yourName) } : {}),
    }
    const invalid = async (request: Request) => {
      const nav = anonymousNav(request)
      return page(await (<MessagePage nav={nav} title={nav.t.linkInvalidTitle} message={nav.t.linkInvalid} link={{ href: '/login', label: nav.t.signInButton }} />), { status: 404 })
    }
    const needsHttps = async (request: Request) => {
      const nav = anonymousNav(request)
      return page(await (<MessagePage nav={nav} title={nav.t[texts.title]} message={nav.t.needsHttps} />), { status: 400 })
    }
    const form = async (request: Request, secret: string, email: string, error?: ErrorText) => {
      const nav = anonymousNav(request)
      return page(await (<SetPasswordPage nav={nav} action={`${base}${secret}`} email={email} title={nav.t[texts.title]} intro={nav.t[texts.intro]} withName={purpose === 'setup'} error={error} />), {
        status: error === undefined ? 200 : 422,
        secret: true,
      })
    }
    return app
      .get(`${base}:secret`, async ({ params: { secret }, request, set }) => {
        const found = await findLink(kit.anonymousCtx(request, set), purpose, secret)
        if (!found) return invalid(request)
        if (!kit.mayStartSession(request)) return needsHttps(request)
        return form(request, secret, found.user.email)
      }, { ...hidden, params: SecretParams })
      .post(`${base}:secret`, async ({ params: { secret }, body, request, set }) => {
        const ctx = kit.anonymousCtx(request, set)
        const found = await findLink(ctx, purpose, secret)
        if (!found) return invalid(request)
        if (!kit.mayStartSession(request)) return needsHttps(request)
        // A field sent twice with different values, a body that is no form (src/http/page-form.ts).
        const refused = pageRefusal(body)
        if (refused) return form(request, secret, found.user.email, fieldErrorOf(request, refused, linkFields))
        if (field(body, 'password') !== field(body, 'confirm')) return form(request, secret, found.user.email, { message: messages(langOf(request)).passwordsDiffer, field: 'confirm' })
        try {
          await useLink(ctx, purpose, secret, { password: field(body, 'password'), name: field(body, 'name') })
        } catch (e) {
          if (e instanceof AppError) return form(request, secret, found.user.email, fieldErrorOf(request, e, linkFields))
          throw e
        }
        return redirect('/login?done=password')
      }, { ...hidden, body: FormBody, params: SecretParams })
  }

  // Adds its routes to the console's instance itself (a function plugin): a plugin instance
  // would have every route added twice more, once here and once by the console.
  return (app: Elysia) => assetRoutes(app)
    .get('/login', async ({ request, query }) => {
      const next = kit.safeNext(query.next)
      if (await kit.signedIn(request)) return redirect(next ?? HOME)
      const tx = messages(langOf(request))
      if (!kit.mayStartSession(request)) return signInPage(request, { next, error: tx.needsHttps }, 400)
      return signInPage(request, { next, notice: query.done === 'password' ? tx.passwordSetNotice : null })
    }, hidden)
    .post('/login', async ({ request, body, set }) => {
      // A token pasted into the e-mail field: the form again, the error on the field, the field
      // empty (src/http/secret-fields.ts). `next` may hold one (a CLI sign-in's approval path). A
      // field sent twice with different values, a body that is no form: the same (src/http/page-form.ts).
      const pasted = pageRefusal(body)
      const next = kit.safeNext(typedField(body, 'next'))
      const email = typedField(body, 'email').trim()
      const tx = messages(langOf(request))
      if (!kit.mayStartSession(request)) return signInPage(request, { next, email, error: tx.needsHttps }, 400)
      if (pasted) return signInPage(request, { next, email, error: fieldErrorOf(request, pasted, { email: shown('email', (t) => t.email), password: shown('password', (t) => t.password) }) }, pasted.status)
      const ctx = kit.anonymousCtx(request, set)
      const keys = throttleKeys(ctx.box, email, ctx.origin?.ip() ?? null)
      // Before any hashing: a locked account or address costs the server nothing. The attempt
      // counts as a failure from here on, until the password proves right.
      const wait = await reserveAttempt(ctx, keys)
      if (wait > 0) {
        const minutes = Math.ceil(wait / 60_000)
        return signInPage(request, { next, email, error: tx.tooManySignIns(minutes) }, 429)
      }
      const { user, named: known } = await checkPassword(ctx, email, field(body, 'password'))
      const orgs = user ? await listMemberships(ctx, user.id) : []
      // Null also when the password was changed while it was being checked: the old one no longer signs in.
      const started = user && orgs.length > 0 ? await startSignedInSession(ctx, user, orgs[0]!.organization.id) : null
      if (!user || !started) {
        await attemptFailed(ctx, keys)
        // Whose account was tried, when the e-mail is one: the event goes to each organization
        // of theirs, where its admins read it (GET /audit-events); an unknown e-mail is the
        // operator's alone (`teamday audit list`). The page says the same in every case.
        // (What was typed may be no e-mail at all, a password even: then it names no one.)
        // Not in one transaction with attemptFailed's count, on purpose: the count must stand
        // whether or not its event is written (rolled back with a failed event, it would give
        // the guess back: unthrottled guessing for whoever can make audit writes fail), and a
        // transaction per wrong password (on PostgreSQL under the lock every instance's
        // transactions share) would let a guessing flood hold up every write. An event that
        // cannot be written is logged (audit_write_failed); the attempt is counted all the same.
        // The right password and no organization left: none to begin with, or removed from the
        // last one while it was checked (startSignedInSession); a password changed meanwhile is a wrong one.
        const member = user !== null && orgs.length > 0 && (await listMemberships(ctx, user.id)).length > 0
        const reason = user ? (member ? 'wrong_password' : 'no_membership') : known ? 'wrong_password' : 'unknown_email'
        const orgIds = known && reason === 'wrong_password' ? (await listMemberships(ctx, known.id)).map((m) => m.organization.id) : []
        for (const organizationId of orgIds.length > 0 ? orgIds : [null]) {
          await recordAudit(ctx, { type: 'user.sign_in_failed', organizationId, targetType: known ? 'user' : null, targetId: known?.id ?? null, details: { reason } })
        }
        // 422, as the set-password form's refusals: the form came back with an error. Not 401,
        // which requires a WWW-Authenticate challenge (RFC 9110 §15.5.2) that no scheme gives a
        // form; the attempt is counted and throttled above whatever the status.
        return signInPage(request, { next, email, error: tx.wrongCredentials }, 422)
      }
      const { secret } = started
      await attemptSucceeded(ctx, keys)
      await pruneSessions(ctx)
      // Session fixation: whatever session cookie came with this request is ended; the new id is fresh.
      const previous = kit.sessionSecret(request)
      if (previous) await endSessionBySecret(ctx, previous)
      // lastSignInAt and `user.signed_in` were written with the session (startSignedInSession).
      return redirect(next ?? HOME, { 'set-cookie': kit.sessionCookie(request, secret) })
    }, { ...hidden, body: FormBody })
    .post('/logout', async ({ request, set }) => {
      const who = await kit.signedIn(request)
      if (who) await endSession(kit.ctxOf(who, request, set), who.sessionId)
      return redirect('/login', { 'set-cookie': kit.clearCookie(request) })
    }, { ...hidden, body: FormBody })
    .post('/logout/everywhere', async ({ request, set }) => {
      const who = await kit.signedIn(request)
      if (who) await endAllSessions(kit.ctxOf(who, request, set), who.user.id, who.organization.id)
      return redirect('/login', { 'set-cookie': kit.clearCookie(request) })
    }, { ...hidden, body: FormBody })
    .use(linkRoutes('setup', '/setup/', { title: 'setupTitle', intro: 'setupIntro' }))
    .use(linkRoutes('set_password', '/set-password/', { title: 'setPasswordTitle', intro: 'setPasswordIntro' }))
}

import { Elysia, t } from 'elysia'
import { recordAudit } from '../../audit/log'
import { users } from '../../db/schema'
import { AppError } from '../../errors'
import { findLink, useLink, type LinkPurpose } from '../../modules/users/links'
import { checkPassword } from '../../modules/users/passwords'
import { listMemberships } from '../../modules/users/service'
import { eq } from 'drizzle-orm'
import { JS, CSS } from '../assets'
import { FormBody, field, hidden } from '../form'
import { page, redirect, safeNext, type ConsoleKit } from '../http'
import { createSession, endAllSessions, endSession, endSessionBySecret, pruneSessions } from '../session'
import { clearFailures, lockedFor, recordFailure, throttleKeys } from '../throttle'
import { MessagePage, SetPasswordPage, SignInPage } from '../views/auth'

const SecretParams = t.Object({ secret: t.String() })
const GENERIC = 'Wrong e-mail or password.'
const NEEDS_HTTPS =
  'Sign-in is only offered over HTTPS (or from this machine over http://localhost): over plain HTTP the password and the session cookie would cross the network readable by anyone on the way. Open this page with https://, or put a TLS-terminating reverse proxy in front (TEAMDAY_TRUSTED_PROXIES, X-Forwarded-Proto).'
export const HOME = '/settings/tokens'

/** Sign-in, sign-out, and the one-time set-up / set-password links. */
export function authRoutes(kit: ConsoleKit) {
  const signInPage = async (props: Parameters<typeof SignInPage>[0], status = 200) => page(await (<SignInPage {...props} />), { status })

  const linkRoutes = (purpose: LinkPurpose, base: string, title: string, intro: string) => (app: Elysia) => app
      .get(`${base}:secret`, async ({ params: { secret }, request, set }) => {
        const found = await findLink(kit.anonymousCtx(request, set), purpose, secret)
        if (!found) return page(await (<MessagePage title="Link not valid" message="This link is invalid, already used or expired. Ask an administrator for a new one." link={{ href: '/login', label: 'Sign in' }} />), { status: 404 })
        if (!kit.mayStartSession(request)) return page(await (<MessagePage title={title} message={NEEDS_HTTPS} />), { status: 400 })
        return page(await (<SetPasswordPage action={`${base}${secret}`} email={found.user.email} title={title} intro={intro} withName={purpose === 'setup'} />), { secret: true })
      }, { ...hidden, params: SecretParams })
      .post(`${base}:secret`, async ({ params: { secret }, body, request, set }) => {
        const ctx = kit.anonymousCtx(request, set)
        const found = await findLink(ctx, purpose, secret)
        if (!found) return page(await (<MessagePage title="Link not valid" message="This link is invalid, already used or expired. Ask an administrator for a new one." link={{ href: '/login', label: 'Sign in' }} />), { status: 404 })
        if (!kit.mayStartSession(request)) return page(await (<MessagePage title={title} message={NEEDS_HTTPS} />), { status: 400 })
        const again = async (error: string) =>
          page(await (<SetPasswordPage action={`${base}${secret}`} email={found.user.email} title={title} intro={intro} withName={purpose === 'setup'} error={error} />), { status: 422, secret: true })
        if (field(body, 'password') !== field(body, 'confirm')) return again('The two passwords differ.')
        try {
          await useLink(ctx, purpose, secret, { password: field(body, 'password'), name: field(body, 'name') })
        } catch (e) {
          if (e instanceof AppError) return again(e.message)
          throw e
        }
        return redirect('/login?done=password')
      }, { ...hidden, body: FormBody, params: SecretParams })

  // Adds its routes to the console's instance itself (a function plugin): a plugin instance
  // would have every route added twice more, once here and once by the console.
  return (app: Elysia) => app
    .get('/console/assets/console.css', () => new Response(CSS, { headers: { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=3600' } }), hidden)
    .get('/console/assets/console.js', () => new Response(JS, { headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=3600' } }), hidden)
    .get('/login', async ({ request, query }) => {
      const next = safeNext(query.next)
      if (await kit.signedIn(request)) return redirect(next ?? HOME)
      if (!kit.mayStartSession(request)) return signInPage({ next, error: NEEDS_HTTPS }, 400)
      return signInPage({ next, notice: query.done === 'password' ? 'Password set. Sign in with it now.' : null })
    }, hidden)
    .post('/login', async ({ request, body, set }) => {
      const next = safeNext(field(body, 'next'))
      const email = field(body, 'email').trim()
      if (!kit.mayStartSession(request)) return signInPage({ next, email, error: NEEDS_HTTPS }, 400)
      const ctx = kit.anonymousCtx(request, set)
      const keys = throttleKeys(ctx.box, email, ctx.origin?.ip() ?? null)
      // Before any hashing: a locked account or address costs the server nothing.
      const wait = await lockedFor(ctx, keys)
      if (wait > 0) {
        const minutes = Math.ceil(wait / 60_000)
        return signInPage({ next, email, error: `Too many failed sign-ins. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.` }, 429)
      }
      const user = await checkPassword(ctx, email, field(body, 'password'))
      const orgs = user ? await listMemberships(ctx, user.id) : []
      if (!user || orgs.length === 0) {
        await recordFailure(ctx, keys)
        await recordAudit(ctx, { type: 'user.sign_in_failed', organizationId: null, targetType: user ? 'user' : null, targetId: user?.id ?? null, details: { reason: user ? 'no_membership' : 'wrong_credentials' } })
        return signInPage({ next, email, error: GENERIC }, 401)
      }
      await clearFailures(ctx, keys)
      await pruneSessions(ctx)
      // Session fixation: whatever session cookie came with this request is ended; the new id is fresh.
      const previous = kit.sessionSecret(request)
      if (previous) await endSessionBySecret(ctx, previous)
      const { secret, session } = await createSession(ctx, user.id, orgs[0]!.organization.id)
      await ctx.db.update(users).set({ lastSignInAt: new Date(ctx.clock.now()) }).where(eq(users.id, user.id)).run()
      await recordAudit(ctx, { type: 'user.signed_in', organizationId: session.organizationId, actor: { userId: user.id, tokenId: null }, targetType: 'session', targetId: session.id })
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
    .use(linkRoutes('setup', '/setup/', 'Set up teamday', 'Welcome. Choose the password of the first administrator. This link works once.'))
    .use(linkRoutes('set_password', '/set-password/', 'Set your password', 'Choose your console password. This link works once.'))
}

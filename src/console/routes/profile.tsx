import { Elysia, t } from 'elysia'
import { AppError } from '../../errors'
import { checkPassword, setPassword } from '../../modules/users/passwords'
import { updateProfile } from '../../modules/users/profile'
import { FormBody, field, hidden } from '../form'
import { page, redirect, type ConsoleKit } from '../http'
import { endOwnSession, listSessions, type SignedIn } from '../session'
import { clearFailures, lockedFor, recordFailure, throttleKeys } from '../throttle'
import { ProfilePage } from '../views/profile'
import { navOf } from './settings'

const IdParams = t.Object({ id: t.String({ maxLength: 100 }) })

/** Settings → Profile: name, e-mail, password, and the browsers signed in. */
export function profileRoutes(kit: ConsoleKit) {
  const show = async (who: SignedIn, request: Request, set: any, extra: { error?: string; notice?: string } = {}, status = 200) => {
    const sessions = await listSessions(kit.ctxOf(who, request, set), who.user.id, who.sessionId)
    return page(await (<ProfilePage nav={await navOf(kit, who, request, set, '/settings/profile')} who={who} sessions={sessions} {...extra} />), { status })
  }

  /** The current password, throttled like sign-in (a stolen session must not guess it freely). */
  const confirmCurrent = async (who: SignedIn, request: Request, set: any, current: string): Promise<string | null> => {
    const ctx = kit.ctxOf(who, request, set)
    const keys = throttleKeys(ctx.box, who.user.email, ctx.origin?.ip() ?? null)
    if ((await lockedFor(ctx, keys)) > 0) return 'Too many wrong passwords. Try again in 10 minutes.'
    if (!(await checkPassword(ctx, who.user.email, current))) {
      await recordFailure(ctx, keys)
      return 'The current password is wrong.'
    }
    await clearFailures(ctx, keys)
    return null
  }

  // Adds its routes to the console's instance itself (a function plugin): a plugin instance
  // would have every route added twice more, once here and once by the console.
  return (app: Elysia) => app
    .get('/settings/profile', async ({ request, set, query }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const notice = query.saved === 'password' ? 'Password changed. Your other sessions have ended.' : query.saved ? 'Saved.' : query.ended ? 'Session ended: that browser is signed out.' : undefined
      return show(who, request, set, { notice })
    }, hidden)
    // Ends one of your sessions (another browser: lost, shared, forgotten signed in); your own
    // current one is a sign-out.
    .post('/settings/sessions/:id/end', async ({ request, set, params }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      if (!(await endOwnSession(kit.ctxOf(who, request, set), who.user.id, params.id))) {
        return show(who, request, set, { error: 'No such session of yours: it may have ended already.' }, 404)
      }
      if (params.id === who.sessionId) return redirect('/login', { 'set-cookie': kit.clearCookie(request) })
      return redirect('/settings/profile?ended=1#sessions')
    }, { ...hidden, body: FormBody, params: IdParams })
    .post('/settings/profile', async ({ request, set, body }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const email = field(body, 'email').trim().toLowerCase()
      if (email !== who.user.email) {
        const wrong = await confirmCurrent(who, request, set, field(body, 'current'))
        if (wrong) return show(who, request, set, { error: wrong }, 403)
      }
      try {
        await updateProfile(kit.ctxOf(who, request, set), who.user.id, { name: field(body, 'name'), email })
      } catch (e) {
        if (e instanceof AppError) return show(who, request, set, { error: e.message }, e.status)
        throw e
      }
      return redirect('/settings/profile?saved=1')
    }, { ...hidden, body: FormBody })
    .post('/settings/password', async ({ request, set, body }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      if (field(body, 'password') !== field(body, 'confirm')) return show(who, request, set, { error: 'The two new passwords differ.' }, 422)
      const wrong = await confirmCurrent(who, request, set, field(body, 'current'))
      if (wrong) return show(who, request, set, { error: wrong }, 403)
      try {
        await setPassword(kit.ctxOf(who, request, set), who.user.id, field(body, 'password'), { keepSessionId: who.sessionId, organizationId: who.organization.id })
      } catch (e) {
        if (e instanceof AppError) return show(who, request, set, { error: e.message }, e.status)
        throw e
      }
      return redirect('/settings/profile?saved=password')
    }, { ...hidden, body: FormBody })
}

import { Elysia, t } from 'elysia'
import { AppError } from '../../errors'
import { emailKey } from '../../text'
import { checkPassword, setPassword } from '../../modules/users/passwords'
import { checkNewEmail } from '../../modules/members/service'
import { updateProfile } from '../../modules/users/profile'
import { FormBody, echoedField, field, hidden, pageRefusal, shown, type FormFields } from '../form'
import { redirect, type ConsoleKit } from '../http'
import { langOf, messages } from '../i18n'
import { createSession, endOwnSession, type SignedIn } from '../session'
import { attemptFailed, attemptSucceeded, reserveAttempt, throttleKeys } from '../throttle'
import { viewOf } from '../views/tokens'
import type { ErrorText } from '../views/layout'
import type { ProfileForm } from '../views/profile'
import { fieldErrorOf, settingsPage } from './settings'

const IdParams = t.Object({ id: t.String({ maxLength: 100 }) })

/**
 * Settings → Profile: name, e-mail, password, Personal Access Tokens (their forms are in
 * ./settings.tsx), CLI sign-ins, and the browsers signed in.
 */
export function profileRoutes(kit: ConsoleKit) {
  const show = (who: SignedIn, request: Request, set: any, profile: { error?: ErrorText; notice?: string; form?: ProfileForm } = {}, status = 200) => settingsPage(kit, who, request, set, { profile }, status)

  /** The current password, throttled like sign-in (a stolen session must not guess it freely). */
  const confirmCurrent = async (who: SignedIn, request: Request, set: any, current: string): Promise<string | null> => {
    const ctx = kit.ctxOf(who, request, set)
    const tx = messages(langOf(request))
    const keys = throttleKeys(ctx.box, who.user.email, ctx.origin?.ip() ?? null)
    if ((await reserveAttempt(ctx, keys)) > 0) return tx.errTooManyWrongPasswords
    if (!(await checkPassword(ctx, who.user.email, current)).user) {
      await attemptFailed(ctx, keys)
      return tx.errWrongCurrentPassword
    }
    await attemptSucceeded(ctx, keys)
    return null
  }

  // Adds its routes to the console's instance itself (a function plugin): a plugin instance
  // would have every route added twice more, once here and once by the console.
  return (app: Elysia) => app
    .get('/settings/profile', async ({ request, set, query }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const tx = messages(langOf(request))
      const notice = query.saved === 'password' ? tx.noticePasswordChanged : query.saved ? tx.noticeSaved : query.ended ? tx.noticeSessionEnded : undefined
      const tokenNotice = query.revoked ? tx.noticeTokenRevoked : query.cli_revoked ? tx.noticeCliRevoked : undefined
      return settingsPage(kit, who, request, set, { view: viewOf(query), profile: { notice }, tokens: { notice: tokenNotice } })
    }, hidden)
    // Ends one of your sessions (another browser: lost, shared, forgotten signed in); your own
    // current one is a sign-out.
    .post('/settings/sessions/:id/end', async ({ request, set, params }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      if (!(await endOwnSession(kit.ctxOf(who, request, set), who.user.id, params.id))) {
        return show(who, request, set, { error: messages(langOf(request)).errNoSuchSession }, 404)
      }
      if (params.id === who.sessionId) return redirect('/login', { 'set-cookie': kit.clearCookie(request) })
      return redirect('/settings/profile?ended=1#sessions')
    }, { ...hidden, body: FormBody, params: IdParams })
    .post('/settings/profile', async ({ request, set, body }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      // A refused form comes back as it was typed (a token pasted by mistake taken out, as the body
      // reader does: src/http/secret-fields.ts; the current password never); `field`: the one it
      // is about, for its aria-invalid.
      const form = { name: echoedField(body, 'name'), email: echoedField(body, 'email') }
      const fields: FormFields = { name: shown('profile.name', (t) => t.name), email: shown('profile.email', (t) => t.email), current: shown('profile.current', (t) => t.currentPassword) }
      const refused = (e: AppError) => show(who, request, set, { error: fieldErrorOf(request, e, fields), form }, e.status)
      // A token in a field, a field sent twice with different values, a body that is no form.
      const pasted = pageRefusal(body)
      if (pasted) return refused(pasted)
      const email = emailKey(field(body, 'email'))
      // The address as kept, typed another way (upper case, decomposed, full-width), is no change.
      if (email !== emailKey(who.user.email)) {
        // An address that could not be taken is said first: "the current password is wrong" for
        // an empty or malformed address sent on its own sent people after the wrong field.
        try {
          checkNewEmail(email)
        } catch (e) {
          if (e instanceof AppError) return refused(e)
          throw e
        }
        const wrong = await confirmCurrent(who, request, set, field(body, 'current'))
        if (wrong) return show(who, request, set, { error: { message: wrong, field: 'profile.current' }, form }, 403)
      }
      try {
        await updateProfile(kit.ctxOf(who, request, set), who.user.id, { name: field(body, 'name'), email })
      } catch (e) {
        if (e instanceof AppError) return refused(e)
        throw e
      }
      return redirect('/settings/profile?saved=1')
    }, { ...hidden, body: FormBody })
    .post('/settings/password', async ({ request, set, body }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const fields: FormFields = {
        current: shown('password.current', (t) => t.currentPassword),
        password: shown('password.password', (t) => t.newPassword),
        confirm: shown('password.confirm', (t) => t.repeatNewPassword),
      }
      // A field sent twice with different values, a body that is no form (src/http/page-form.ts).
      const refused = pageRefusal(body)
      if (refused) return show(who, request, set, { error: fieldErrorOf(request, refused, fields) }, refused.status)
      if (field(body, 'password') !== field(body, 'confirm')) return show(who, request, set, { error: { message: messages(langOf(request)).errNewPasswordsDiffer, field: 'password.confirm' } }, 422)
      const wrong = await confirmCurrent(who, request, set, field(body, 'current'))
      if (wrong) return show(who, request, set, { error: { message: wrong, field: 'password.current' } }, 403)
      // This browser goes on signed in under a new session id (its old cookie, wherever a copy of
      // it is, ends with the other sessions), in the organization it shows.
      let renewed: string | undefined
      try {
        renewed = await setPassword(kit.ctxOf(who, request, set), who.user.id, field(body, 'password'), {
          organizationId: who.organization.id,
          renewSession: { id: who.sessionId, renew: async (tx) => (await createSession(tx, who.user.id, who.organization.id)).secret },
        })
      } catch (e) {
        if (e instanceof AppError) return show(who, request, set, { error: fieldErrorOf(request, e, fields) }, e.status)
        throw e
      }
      // Signed out meanwhile (elsewhere, "sign out everywhere"): the next page asks to sign in.
      return redirect('/settings/profile?saved=password', renewed === undefined ? {} : { 'set-cookie': kit.sessionCookie(request, renewed) })
    }, { ...hidden, body: FormBody })
}

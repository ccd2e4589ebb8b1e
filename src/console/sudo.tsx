import { eq } from 'drizzle-orm'
import { audited } from '../context'
import { sessions } from '../db/schema'
import { checkPassword } from '../modules/users/passwords'
import { CONFIRM_ACCESS_FIELD, TAKEN_OUT } from '../http/secret-fields'
import { holdsSecret } from '../auth/tokens'
import { echoed, typedField } from './form'
import { page, type ConsoleKit } from './http'
import type { SignedIn } from './session'
import { attemptFailed, attemptSucceeded, reserveAttempt, throttleKeys } from './throttle'
import { ConfirmAccessPage } from './views/sudo'
import type { ErrorText, Nav } from './views/layout'
import { recordAudit } from '../audit/log'
import { langOf, messages } from './i18n'

/**
 * "Sudo mode" (GitHub's name): what hands out a credential that outlives the session (creating or
 * rotating a Personal Access Token, approving a CLI sign-in, an admin's one-time "set your
 * password" link: adding a member who gets one, or the Password link button) asks for the
 * password again when the session's owner last proved it (the sign-in, or such a confirmation)
 * longer ago than CONFIRM_WINDOW_MS. A stolen session cookie alone then mints nothing: a token
 * made with it outlived the owner's password change and "sign out everywhere" (tokens are not
 * sessions), and so did the account a stolen admin session gave its thief with a link. Changing a
 * member's role or removing one hands out no credential (a member signs in with their own
 * password) and does not ask.
 * The form is answered with a "Confirm access" page carrying what was sent (hidden fields, the
 * password never among them); its password right, the same request goes on as sent. Revoking stays
 * one click. The /api/v1 bearer tokens never meet this (sessions never authenticate the API).
 */
export const CONFIRM_WINDOW_MS = 2 * 3_600_000

/**
 * The Confirm access page's password field (a form's own fields are never named so). Exempt from
 * the body reader's secret check on each route it gates (src/http/secret-fields.ts SECRET_FIELDS):
 * a password may look like a token.
 */
export const CONFIRM_FIELD = CONFIRM_ACCESS_FIELD

/**
 * A proof stamped later than now by more than this counts as none (made by a clock since set
 * back): kept, a clock set back a day left the window open for a day and two hours.
 */
const CLOCK_SLACK_MS = 60_000

/** Whether the session's owner proved the password within the window (now: the clock's). */
export function passwordRecent(who: SignedIn, now: number): boolean {
  const age = now - who.passwordProvedAt.getTime()
  return age >= -CLOCK_SLACK_MS && age < CONFIRM_WINDOW_MS
}

/**
 * A form body's fields as sent but the confirmation's password, for the page to carry on (hidden).
 * A secret is never among them: a value holding one goes as a refused form shows it again
 * (echoed: redacted), a field whose name holds one not at all. Each gated form refuses such a
 * value before it asks (a token in the new token's name was carried on in clear).
 */
export function carried(body: unknown): [string, string][] {
  if (body === null || typeof body !== 'object') return []
  const out: [string, string][] = []
  for (const [name, v] of Object.entries(body)) {
    if (name === CONFIRM_FIELD || holdsSecret(name)) continue
    for (const x of Array.isArray(v) ? v : [v]) if (typeof x === 'string' && x !== TAKEN_OUT) out.push([name, holdsSecret(x) ? echoed(x, x.length) : x])
  }
  return out
}

/** The body without the confirmation's password (what the form goes on with: never stored, hashed or shown). */
export function withoutPassword(body: unknown): unknown {
  if (body === null || typeof body !== 'object' || !Object.hasOwn(body, CONFIRM_FIELD)) return body
  const { [CONFIRM_FIELD]: _, ...rest } = body as Record<string, unknown>
  return rest
}

/**
 * The gate of a form that mints a credential: null to go on (the password proved within the
 * window, or just now with the confirmation's field; the form goes on with its body
 * withoutPassword), or the Confirm access page to answer with (asked; a wrong password: 403, the session untouched; too many wrong ones: 429, throttled
 * with sign-in's counts, src/console/throttle.ts). `cancel`: where the page's Cancel leads;
 * `navOf`: the page header's. Called by the token forms (src/console/routes/settings.tsx), the
 * CLI sign-in's Approve (cli.tsx) and, through withConfirmedAccess, the Members page's links
 * (org.tsx); each runs its form's own checks first, so that a refused form is never asked for.
 */
export async function confirmedAccess(kit: ConsoleKit, who: SignedIn, request: Request, set: any, body: unknown, cancel: string, navOf: () => Promise<Nav>): Promise<Response | null> {
  const ctx = kit.ctxOf(who, request, set)
  const now = ctx.clock.now()
  const typed = Object.hasOwn((body ?? {}) as object, CONFIRM_FIELD)
  if (!typed && passwordRecent(who, now)) return null
  const ask = async (error: ErrorText | undefined, status: number) => {
    const nav = await navOf()
    // The form's own address, its query too (a Members page's `cursor`), never one holding a secret.
    const url = new URL(request.url)
    const action = holdsSecret(url.search) ? url.pathname : url.pathname + url.search
    // Sent as a page holding a secret is (never compressed, BREACH): it repeats what was typed.
    return page(await (<ConfirmAccessPage nav={nav} email={who.user.email} action={action} fields={carried(body)} cancel={cancel} error={error} />), { status, secret: true })
  }
  if (!typed) return ask(undefined, 403)
  const t = messages(langOf(request))
  const keys = throttleKeys(ctx.box, who.user.email, ctx.origin?.ip() ?? null)
  if ((await reserveAttempt(ctx, keys)) > 0) return ask({ message: t.errTooManyWrongPasswords, field: CONFIRM_FIELD }, 429)
  const checked = await checkPassword(ctx, who.user.email, typedField(body, CONFIRM_FIELD))
  if (checked.user?.id !== who.user.id) {
    await attemptFailed(ctx, keys)
    // As a failed sign-in is (never the password): the organization's admins read it.
    await recordAudit(ctx, { type: 'user.sign_in_failed', organizationId: who.organization.id, targetType: 'user', targetId: who.user.id, details: { reason: 'wrong_password', step: 'confirm_access' } })
    return ask({ message: t.errWrongPassword, field: CONFIRM_FIELD }, 403)
  }
  await attemptSucceeded(ctx, keys)
  // The proof and its event commit together; a session ended meanwhile (signed out elsewhere) is
  // not brought back, and its form goes nowhere: to sign in.
  const proved = await audited(
    ctx,
    (tx) => tx.db.update(sessions).set({ passwordConfirmedAt: new Date(now) }).where(eq(sessions.id, who.sessionId)).returning({ id: sessions.id }).get(),
    (done) => (done ? { type: 'session.password_confirmed', organizationId: who.organization.id, targetType: 'session', targetId: who.sessionId } : null),
  )
  if (!proved) return kit.toSignIn(request)
  who.passwordProvedAt = new Date(now)
  return null
}

/**
 * Thrown by an action that would hand out a credential (a password link) without the password
 * proved within the window: it rolls the action's transaction back, and withConfirmedAccess asks
 * for the password (the page carrying the form on) instead.
 */
export class ConfirmationNeeded extends Error {
  constructor() {
    super('Confirm access: the password is needed first')
  }
}

/**
 * The gate of a form that hands out a credential only in some cases (adding a member who gets a
 * password link): `act` runs told whether the password was proved within the window, and throws
 * ConfirmationNeeded (before anything is handed out) when that is needed; then the gate
 * (confirmedAccess) asks, and `act` runs again with the proof. A form sent with the confirmation's
 * password (from the Confirm access page) has it checked first. `act`'s own refusals come before
 * any asking, as they would without the gate. Its answer, or the Confirm access page's.
 */
export async function withConfirmedAccess<T>(kit: ConsoleKit, who: SignedIn, request: Request, set: any, body: unknown, cancel: string, navOf: () => Promise<Nav>, act: (proved: boolean) => Promise<T>): Promise<T | Response> {
  if (!Object.hasOwn((body ?? {}) as object, CONFIRM_FIELD)) {
    try {
      return await act(passwordRecent(who, kit.ctxOf(who, request, set).clock.now()))
    } catch (e) {
      if (!(e instanceof ConfirmationNeeded)) throw e
    }
  }
  return (await confirmedAccess(kit, who, request, set, body, cancel, navOf)) ?? act(true)
}

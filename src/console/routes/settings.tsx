import { Elysia, t } from 'elysia'
import { AppError } from '../../errors'
import { createTokenForCaller, rotateToken } from '../../modules/tokens/lifecycle'
import { resolveExpiry, validateScopes, validateTokenName, type CreateTokenInput } from '../../modules/tokens/validation'
import { countTokens, getToken, listTokens, revokeToken } from '../../modules/tokens/service'
import { DATE_ONLY, parseInstant } from '../../instants'
import { listCliSessions } from '../../modules/cli-auth/service'
import { listMemberships } from '../../modules/users/service'
import { FormBody, echoed, field, hasField, hidden, pageRefusal, refusedField, shown, typedField, typedFields, type FormFields } from '../form'
import { FormFieldRefusal } from '../../http/secret-fields'
import { RepeatedFieldRefusal, UnreadableFormRefusal } from '../../http/page-form'
import { onceForm, type FormUsed } from '../form-once'
import { page, redirect, type ConsoleKit } from '../http'
import { errorText, langOf, messages } from '../i18n'
import { HOME } from '../http'
import { listSessions, type SignedIn } from '../session'
import { SWITCHER, type ErrorText, type FormError, type Nav } from '../views/layout'
import { PROFILE_ERROR, ProfilePage, type ProfileForm } from '../views/profile'
import { EXPIRY_CHOICES, formView, TokenCreatedPage, tokensHref, TOKENS_PAGE_SIZE, type TokenForm, type TokenView } from '../views/tokens'
import { GRACE_CHOICES } from '../views/token-row'
import { confirmedAccess, withoutPassword } from '../sudo'

const IdParams = t.Object({ id: t.String() })

/**
 * Whether a custom expiry day (`YYYY-MM-DD` from the form's date input) is a real date (not
 * `2027-02-30`); the service reads it as the API reads a date alone (src/modules/tokens/validation.ts).
 */
const isCustomDate = (date: string): boolean => DATE_ONLY.test(date) && parseInstant(date) !== null

/** The header of a page nobody is signed in to: its language only. */
export function anonymousNav(request: Request): Nav {
  const lang = langOf(request)
  return { who: null, lang, t: messages(lang) }
}

/** What every signed-in page's header needs: the person, their organizations (the switcher), the language. */
export async function navOf(kit: ConsoleKit, who: SignedIn, request: Request, set: any, current?: string): Promise<Nav> {
  const orgs = await listMemberships(kit.ctxOf(who, request, set), who.user.id)
  const lang = langOf(request)
  return { who, lang, t: messages(lang), current, organizations: orgs.map((m) => ({ id: m.organization.id, slug: m.organization.slug, name: m.organization.name })) }
}

/** A refusal in the language of the request, about no field of a form (a token in one: a field the page fills in itself). */
export function errorOf(request: Request, e: AppError): string {
  return fieldErrorOf(request, e, {}).message
}

/**
 * A refusal in the language of the request, and the form field it is about (`fields`: the form's
 * fields, by the service's name and the form's, refusedField), for the field's aria-invalid and
 * named in the message by its label. A token in a field (src/http/secret-fields.ts): in one a
 * person types into, named by its label; in any other (a hidden field), said to be a field the
 * page fills in itself: nobody typed it there, and its name means nothing to the reader. A field
 * sent more than once with different values (src/http/page-form.ts) likewise; a body that came as
 * no form is about none of its fields.
 */
export function fieldErrorOf(request: Request, e: AppError, fields: FormFields): FormError {
  const lang = langOf(request)
  const t = messages(lang)
  const about = refusedField(e, fields)
  if (e instanceof FormFieldRefusal) return about ? { message: t.errTokenInField(about.shown.label(t)), field: about.shown.key } : { message: t.errTokenInPageField, field: null }
  if (e instanceof RepeatedFieldRefusal) return about ? { message: t.errRepeatedField(about.shown.label(t)), field: about.shown.key } : { message: t.errRepeatedPageField, field: null }
  if (e instanceof UnreadableFormRefusal) return { message: t.errUnreadableForm(e.type), field: null }
  return { message: errorText(lang, e, about ? { name: about.name, label: about.shown.label(t) } : undefined), field: about?.shown.key ?? null }
}

/** The fields of the create form a token service's refusal can be about (tokens/validation.ts), by the service's names and the form's. */
const TOKEN_FIELDS: FormFields = (() => {
  const name = shown('name', (t) => t.name)
  const date = shown('date', (t) => t.customDateLabel)
  const expires = shown('expires', (t) => t.expiration)
  const scope = shown('scope', (t) => t.scopes)
  return { name, expiresAt: date, expiresInDays: expires, scopes: scope, date, expires, scope }
})()

export interface SettingsExtra {
  view?: TokenView
  /** A message at the top of the page (name, e-mail, password, sessions). */
  profile?: { error?: ErrorText; notice?: string | null; form?: ProfileForm }
  /** A message in the Personal Access Tokens section, and the create form as it was sent. */
  tokens?: { error?: ErrorText; notice?: string | null; form?: TokenForm }
}

/**
 * Settings → Profile, the one page of a person's settings: profile, Personal Access Tokens
 * (with CLI sign-ins) and sessions. Every form of it comes back here.
 */
export async function settingsPage(kit: ConsoleKit, who: SignedIn, request: Request, set: any, extra: SettingsExtra = {}, status = 200): Promise<Response> {
  const ctx = kit.ctxOf(who, request, set)
  const asked = extra.view ?? { all: false, inactive: false, page: 1 }
  const all = asked.all && who.role === 'admin'
  // "Revoking … will remove the token from your account" (TeamDay's docs): the list is of active
  // tokens (a rotated one in its grace period included) unless the revoked and expired are asked for.
  // Paged by offset, as the API's `offset` (a page of TOKENS_PAGE_SIZE): unlike a cursor, it has a
  // previous page and a page number to come back to after a form; the list is one person's or one
  // organization's tokens, whose index the database walks up to the page.
  const read = (page: number) =>
    listTokens(ctx, { organization: all, limit: TOKENS_PAGE_SIZE, offset: (page - 1) * TOKENS_PAGE_SIZE, ...(asked.inactive ? {} : { status: 'active' as const }) })
  let view = { ...asked, all }
  let list = await read(view.page)
  // A page past the end (its last token revoked, a page number typed in): the last page there is.
  if (list.tokens.length === 0 && view.page > 1) {
    // Past 1,000 the total is "at least" (TOTAL_CAP): counted again up to the offset asked, which
    // the page's own read walked already (every token lies before it).
    const total = list.totalIsEstimate ? await countTokens(ctx, { organization: all, ...(asked.inactive ? {} : { status: 'active' as const }) }, (view.page - 1) * TOKENS_PAGE_SIZE) : list.total
    view = { ...view, page: Math.max(1, Math.ceil(total / TOKENS_PAGE_SIZE)) }
    list = await read(view.page)
  }
  const cliSessions = await listCliSessions(ctx, who.user.id, who.organization.id)
  const sessions = await listSessions(ctx, who.user.id, who.sessionId)
  const nav = await navOf(kit, who, request, set, '/settings/profile')
  // The page's error about the header's organization switcher (a refused POST /org/switch): on it.
  const profileError = extra.profile?.error
  if (profileError && typeof profileError === 'object' && profileError.field === SWITCHER) nav.switcherError = PROFILE_ERROR
  return page(
    await (
      <ProfilePage
        nav={nav}
        who={who}
        sessions={sessions}
        error={extra.profile?.error}
        notice={extra.profile?.notice}
        form={extra.profile?.form}
        tokens={{ tokens: list.tokens, paging: { total: list.total, estimate: list.totalIsEstimate, more: list.nextCursor !== null }, cliSessions, now: ctx.clock.now(), view, error: extra.tokens?.error, notice: extra.tokens?.notice, form: extra.tokens?.form }}
      />
    ),
    { status },
  )
}

/**
 * The create form's token as createTokenForCaller takes it, checked as that will check it (its
 * scopes, name and expiry, in that order: src/modules/tokens/validation.ts) and by the form's own
 * rules (a scope ticked, one of the offered periods, a custom date only with "Custom date"): an
 * AppError for the form to show, before the password is asked for or anything is made.
 */
function tokenInput(form: { name: string; expires: string; date: string; scopes: string[] }, now: number): CreateTokenInput {
  if (form.scopes.length === 0) throw new AppError('validation_failed', messages('en').errNoScope, { details: [{ field: 'scopes', message: 'choose at least one' }] })
  const scopes = form.scopes.includes('*') ? ['*'] : form.scopes
  let expiry: { expiresInDays?: number; expiresAt?: string }
  if (form.expires === 'custom') {
    if (!isCustomDate(form.date)) throw new AppError('validation_failed', messages('en').errCustomDate, { details: [{ field: 'expiresAt', message: 'choose a date' }] })
    expiry = { expiresAt: form.date }
  } else {
    // A date typed in while a period stays chosen (no script to tick "Custom date" for
    // it): which one was meant is unknown, so neither is used in silence.
    if (form.date.trim() !== '') throw new AppError('validation_failed', messages('en').errDateNotChosen, { details: [{ field: 'expiresAt', message: 'a date is filled in, but another period is chosen' }] })
    // Only the periods the form offers: Number() took `1e1`, `0x1e` or ` 30 ` as days.
    const choice = EXPIRY_CHOICES.find((c) => String(c.days) === form.expires)
    if (!choice) throw new AppError('validation_failed', messages('en').errExpiryChoice, { details: [{ field: 'expires', message: 'choose one of the offered periods' }] })
    expiry = { expiresInDays: choice.days }
  }
  validateScopes(scopes)
  validateTokenName(form.name)
  resolveExpiry(expiry, now)
  return { name: form.name, scopes, ...expiry }
}

/**
 * The token forms of Settings → Profile → Personal Access Tokens (the same services as
 * /api/v1/tokens). GET /settings/tokens (and /settings/api) of earlier versions lead to that
 * section, their query kept.
 */
export function tokenRoutes(kit: ConsoleKit) {
  const backToSection = (request: Request, who: SignedIn, set: any, view: TokenView, e: AppError, form?: TokenForm, fields: FormFields = TOKEN_FIELDS) =>
    settingsPage(kit, who, request, set, { view, tokens: { error: fieldErrorOf(request, e, fields), form } }, e.status)
  /**
   * The rotate form's grace period: one of the values its select offers (GRACE_CHOICES; none sent
   * is the first, "old stops now"), where Number() took 1e3 or 0x10 as seconds the form never offers.
   */
  const graceOf = (sent: string): number => {
    const choice = sent === '' ? GRACE_CHOICES[0] : GRACE_CHOICES.find((c) => String(c.seconds) === sent)
    if (!choice) throw new AppError('validation_failed', messages('en').errGraceChoice, { details: [{ field: 'grace', message: 'choose one of the offered periods' }] })
    return choice.seconds
  }
  /** A rotate form's fields, by the service's name and the form's: the grace select of its token's row. */
  const rotateFields = (id: string): FormFields => {
    const grace = shown(`grace.${id}`, (t) => t.graceField)
    return { grace, gracePeriodSeconds: grace }
  }

  /**
   * A token form sent again (a reload of the page that showed the secret, a second click): what
   * the first sending made is named, nothing is made again (src/console/form-once.tsx).
   */
  const formUsedAgain = async (request: Request, who: SignedIn, set: any, view: TokenView, u: FormUsed) => {
    const t = messages(langOf(request))
    let error: string = u.kind === 'busy' ? t.errFormBusy : u.kind === 'interrupted' ? t.errFormInterrupted : t.errFormChanged
    if (u.kind === 'made') {
      const made = await getToken(kit.ctxOf(who, request, set), u.id).catch(() => null)
      error = t.errFormAlreadySent(made ? `${made.name} (${made.maskedToken})` : u.id)
    }
    return settingsPage(kit, who, request, set, { view, tokens: { error } }, 409)
  }

  // Adds its routes to the console's instance itself (a function plugin): a plugin instance
  // would have every route added twice more, once here and once by the console.
  return (app: Elysia) => app
    // The server's front door is the console (sign-in first, then Settings → Profile, as after a
    // sign-in); the API docs are one link away in its header.
    .get('/', () => redirect(HOME), hidden)
    .get('/settings', () => redirect('/settings/profile'), hidden)
    .get('/settings/api', ({ request }) => redirect(`/settings/profile${new URL(request.url).search}#personal-access-tokens`), hidden)
    .get('/settings/tokens', ({ request }) => redirect(`/settings/profile${new URL(request.url).search}#personal-access-tokens`), hidden)
    .post('/settings/tokens', async ({ request, set, body: sentBody }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const ctx = kit.ctxOf(who, request, set)
      // The form as sent, but a Confirm access step's password (src/console/sudo.tsx): that is
      // never stored, hashed (the form's key, onceForm) or shown.
      const body = withoutPassword(sentBody)
      const view = formView(body)
      // The form always sends `scope` (an empty one before its boxes: unticked boxes send nothing),
      // so none ticked is an empty choice, refused as the API refuses `"scopes": []`; a post
      // without the field at all gets the API's default for a missing `scopes`, full access. The
      // field there with no scope name in it (JSON `[]`, `null`, a number) is that empty choice
      // too, never full access.
      // A field holding a token (the name is the token service's own check): the form shown
      // again as typed but that field, the error on it (src/http/secret-fields.ts). A field sent
      // twice with different values, or a body that is no form: the same (src/http/page-form.ts).
      const pasted = pageRefusal(body, ['scope'])
      const sent = typedFields(body, 'scope')
      const form = { name: typedField(body, 'name'), expires: typedField(body, 'expires') || '90', date: typedField(body, 'date'), scopes: hasField(body, 'scope') ? sent.filter((s) => s !== '') : ['*'] }
      if (pasted) return backToSection(request, who, set, view, pasted, { ...form, name: echoed(form.name) })
      return onceForm(ctx, who, request, body, async () => {
        // The form's own checks (its name, scopes and expiry) before the password is asked for:
        // a refused form never reaches Confirm access (a token typed into the name was carried
        // on there, in clear).
        let input: CreateTokenInput
        try {
          input = tokenInput(form, ctx.clock.now())
        } catch (e) {
          if (e instanceof AppError) return { made: null, answer: await backToSection(request, who, set, view, e, { ...form, name: echoed(form.name) }) }
          throw e
        }
        // The password, when it was last proved too long ago (src/console/sudo.tsx): asked inside
        // the form's once-only check, so that a form sent again is named as sent, not asked for.
        const gate = await confirmedAccess(kit, who, request, set, sentBody, tokensHref(view, {}), () => navOf(kit, who, request, set))
        if (gate) return { made: null, answer: gate }
        try {
          const { token, row } = await createTokenForCaller(ctx, input)
          const nav = await navOf(kit, who, request, set, '/settings/profile')
          // Back to the list as it was, on its first page: where the new token is, the newest.
          const back = { ...view, page: 1 }
          const answer = page(await (<TokenCreatedPage nav={nav} token={token} name={form.name.trim()} expiresAt={row.expiresAt.toISOString()} base={kit.publicBase(request)} view={back} />), {
            status: 201,
            secret: true,
          })
          return { made: row.id, answer }
        } catch (e) {
          if (e instanceof AppError) return { made: null, answer: await backToSection(request, who, set, view, e, { ...form, name: echoed(form.name) }) }
          throw e
        }
      }, (u) => formUsedAgain(request, who, set, view, u))
    }, { ...hidden, body: FormBody })
    // Revokes now: an active token, or a rotated one still in its grace period (it stops now
    // instead of at the end of the grace period).
    .post('/settings/tokens/:id/revoke', async ({ request, set, params, body }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const view = formView(body)
      try {
        const pasted = pageRefusal(body)
        if (pasted) throw pasted
        await revokeToken(kit.ctxOf(who, request, set), params.id)
      } catch (e) {
        // Its fields are the page's own (the list's view): a refusal names none of the create form's.
        if (e instanceof AppError) return backToSection(request, who, set, view, e, undefined, {})
        throw e
      }
      return redirect(tokensHref(view, { revoked: '1' }))
    }, { ...hidden, body: FormBody, params: IdParams })
    .post('/settings/tokens/:id/rotate', async ({ request, set, params, body: sentBody }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      // The form as sent, but a Confirm access step's password (src/console/sudo.tsx).
      const body = withoutPassword(sentBody)
      const view = formView(body)
      const pasted = pageRefusal(body)
      if (pasted) return backToSection(request, who, set, view, pasted, undefined, rotateFields(params.id))
      return onceForm(kit.ctxOf(who, request, set), who, request, body, async () => {
        // The form's own check (its grace period) before the password is asked for, as the create form's.
        let gracePeriodSeconds: number
        try {
          gracePeriodSeconds = graceOf(field(body, 'grace'))
        } catch (e) {
          if (e instanceof AppError) return { made: null, answer: await backToSection(request, who, set, view, e, undefined, rotateFields(params.id)) }
          throw e
        }
        // The password, when it was last proved too long ago (src/console/sudo.tsx), as the create form's.
        const gate = await confirmedAccess(kit, who, request, set, sentBody, tokensHref(view, {}), () => navOf(kit, who, request, set))
        if (gate) return { made: null, answer: gate }
        try {
          const ctx = kit.ctxOf(who, request, set)
          const r = await rotateToken(ctx, params.id, { gracePeriodSeconds })
          const nav = await navOf(kit, who, request, set, '/settings/profile')
          const { name } = await getToken(ctx, r.row.id)
          const old = await getToken(ctx, params.id)
          const rotatedFrom = { masked: old.maskedToken, stopsAt: r.previous.revokedAt?.getTime() ?? ctx.clock.now(), now: ctx.clock.now() }
          const answer = page(await (<TokenCreatedPage nav={nav} token={r.token} name={name} expiresAt={r.row.expiresAt.toISOString()} base={kit.publicBase(request)} view={view} rotatedFrom={rotatedFrom} />), {
            status: 201,
            secret: true,
          })
          return { made: r.row.id, answer }
        } catch (e) {
          if (e instanceof AppError) return { made: null, answer: await backToSection(request, who, set, view, e, undefined, rotateFields(params.id)) }
          throw e
        }
      }, (u) => formUsedAgain(request, who, set, view, u))
    }, { ...hidden, body: FormBody, params: IdParams })
}

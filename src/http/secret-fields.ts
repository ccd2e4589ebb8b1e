import { holdsSecret } from '../auth/tokens'
import { AppError, invalidField } from '../errors'
import { firstInJson, SKIP_CONTENTS } from '../json-limits'
import { isSecretKey, SECRET_KEY_RULE } from '../secret-names'

/**
 * "A token's plaintext exists only in its creation response": a token (`td_…`, or a CLI sign-in's
 * `tdo_`/`tdr_`/`tdc_` secret, src/auth/token-text.ts holdsSecret) pasted into a field that is stored
 * (a task's title or metadata, an agent's instructions, a space's description, a message to an
 * agent, a console form) is refused, as GitHub's push protection refuses a commit holding one:
 * 422 naming the field, nothing stored. Checked once, by the body reader (src/http/body.ts), for
 * every route's JSON or form body: the API's, the console's forms', and so the `teamday_api` tool's
 * (an agent's own requests go through the same routes).
 *
 * The fields designed to receive a secret are exempt, all named here, by route (`METHOD path`, as
 * Elysia lists it) and field path (`*`: any key or index there):
 */
/**
 * The Confirm access page's password field (src/console/sudo.tsx CONFIRM_FIELD), sent with the
 * form it gates: a password, checked against its hash and never stored, shown or carried on.
 */
export const CONFIRM_ACCESS_FIELD = 'confirmAccessPassword'

export const SECRET_FIELDS: Readonly<Record<string, readonly string[]>> = {
  // A space's or the organization's secret values: sealed at rest, never shown (a TEAMDAY_TOKEN is the documented use).
  'POST /api/v1/spaces/:id/secrets': ['secrets.*'],
  'POST /api/v1/organizations/:orgId/env': ['secrets.*'],
  // A leaked-token report: the credentials are the point (hashed, never stored as sent).
  'POST /api/v1/credentials/revoke': ['credentials'],
  // The CLI sign-in: its refresh token, to refresh or revoke.
  'POST /api/auth/cli/refresh': ['refreshToken'],
  'POST /api/auth/cli/revoke': ['refreshToken'],
  // Console: passwords (checked against a hash, never stored as sent) and a space secret's value.
  // …and the sign-in's `next`: the page to go back to, never stored. The CLI approval page's path
  // holds its login code (`/cli/authorize/tdc_…`), as the browser's address bar does; any other
  // secret there is dropped by safeNext (src/console/http.ts), never echoed.
  'POST /login': ['password', 'next'],
  // …and the header's organization switcher's `next` (Nav.back: the CLI approval page's path), by the same rule.
  'POST /org/switch': ['next'],
  'POST /setup/:secret': ['password', 'confirm'],
  'POST /set-password/:secret': ['password', 'confirm'],
  'POST /settings/password': ['current', 'password', 'confirm'],
  'POST /settings/profile': ['current'],
  'POST /spaces/:id/secrets': ['value'],
  // The forms Confirm access gates (src/console/sudo.tsx): its password, with the form's own fields.
  // A password shaped like a token (`td_` and 37 letters) was taken out, and the right one counted
  // as a wrong one (audited, throttled toward locking sign-in).
  'POST /settings/tokens': [CONFIRM_ACCESS_FIELD],
  'POST /settings/tokens/:id/rotate': [CONFIRM_ACCESS_FIELD],
  'POST /cli/authorize/:code': [CONFIRM_ACCESS_FIELD],
  'POST /org/members': [CONFIRM_ACCESS_FIELD],
  'POST /org/members/:userId/link': [CONFIRM_ACCESS_FIELD],
}

/**
 * Console form fields whose page refuses a token itself, through its service's own rule: the new
 * token's name (src/modules/tokens/validation.ts), whose refusal says why a name must hold none.
 * The page shows the form again with the name as typed, the token redacted. Never stored either way.
 */
export const CHECKED_BY_PAGE: Readonly<Record<string, readonly string[]>> = {
  'POST /settings/tokens': ['name'],
}

/** The field paths of a route the body reader leaves alone (SECRET_FIELDS, CHECKED_BY_PAGE), as lists of segments. */
export function secretFieldsOf(method: string, path: string): readonly (readonly string[])[] {
  const key = `${method} ${path}`
  return [...(SECRET_FIELDS[key] ?? []), ...(CHECKED_BY_PAGE[key] ?? [])].map((p) => p.split('.'))
}

/**
 * What a console form's field that held a secret holds instead (takeSecretsOutOfForm): no client
 * can send it (the NUL character is refused in every body), and it survives the copies Elysia
 * makes of a body before the page gets it. Every console form refuses it itself (pageRefusal,
 * src/console/form.ts, where its own refusals are handled) and shows its form again with the
 * error on the field, what it shows again read without it (typedField); `field` throws the
 * refusal, should a page read it anyway (the console's 422 page). Either way the token reaches
 * no page.
 */
export const TAKEN_OUT = '\u0000[a token was taken out of this field]'

/**
 * Takes out of a console form (parsed, flat: field → string or list of strings) every field that
 * holds a secret outside the exempt ones (TAKEN_OUT in its place). A field's name that holds one
 * cannot be taken out: that is thrown, the console's 422 page.
 */
export function takeSecretsOutOfForm(form: Record<string, unknown>, exempt: readonly (readonly string[])[]): void {
  for (let refused = secretRefusal(form, exempt); refused !== null; refused = secretRefusal(form, exempt)) {
    const path = (refused.details as { field: string }[])[0]!.field
    const name = /^[^.[]*/.exec(path)![0]
    if (path.endsWith('[key]') || !Object.hasOwn(form, name)) throw refused
    form[name] = TAKEN_OUT
  }
}

/**
 * The refusal of a console form's field that held a secret (TAKEN_OUT): the API's 422 about
 * `field`, which a console page words for a person itself (src/console/routes/settings.tsx
 * fieldErrorOf): the field named by its visible label, or, for a field the page fills in itself
 * (a hidden one), said to be one.
 */
export class FormFieldRefusal extends AppError {
  constructor(readonly field: string) {
    const e = invalidField(field, refusalMessage(field))
    super(e.code, e.message, { details: e.details })
  }
}

/** The refusal of a console form's field that held a secret (TAKEN_OUT), or of its first such field when `name` is not given; null when none. */
export function formRefusal(form: unknown, name?: string): FormFieldRefusal | null {
  if (form === null || typeof form !== 'object') return null
  const names = name === undefined ? Object.keys(form) : [name]
  for (const n of names) {
    const v = (form as Record<string, unknown>)[n]
    if (v === TAKEN_OUT || (Array.isArray(v) && v.includes(TAKEN_OUT))) return new FormFieldRefusal(n)
  }
  return null
}

/**
 * The refusal of a body that holds a secret outside its route's exempt fields, or null.
 * `text`: the JSON body as sent, when there is one: looked at first, in one pass (well under a
 * millisecond for 64 KiB), so that a body without a secret anywhere costs no walk of its values.
 * JSON keeps every string's characters as they are unless escaped (`\u0074d_`), so a text with
 * a `\u` escape is walked anyway; so is one with any other escape and a `td` in it: a near miss
 * whose wrong character is one JSON escapes (`td_AbC\"dE…`, `\\`, `\n`, `\t`) is two characters
 * in the text, no near miss there, and was stored as sent.
 */
export function secretRefusal(body: unknown, exempt: readonly (readonly string[])[], text?: string): AppError | null {
  if (text !== undefined && !text.includes('\\u') && !(text.includes('\\') && text.includes('td')) && !holdsSecret(text)) return null
  const field = secretPath(body, exempt)
  return field === null ? null : invalidField(field, refusalMessage(field))
}

function refusalMessage(field: string): string {
  return `${field} must not contain a token or another secret: what is sent here is stored and shown to others in the organization, and a token's plaintext is kept nowhere but in its creation response. To give an agent a token or another secret, set it as a space secret (POST /api/v1/spaces/{id}/secrets), where it is sealed and never shown; if you pasted a token here by mistake, nothing was stored`
}

/**
 * Where in `body` (parsed JSON or form) the first string or key holding a secret is, as a field
 * path (`metadata.notes`, `tags[2]`), skipping the exempt paths; null when nowhere. Iterative. A
 * key that holds one is named by its parent's path and `[key]`, never shown.
 */
function secretPath(body: unknown, exempt: readonly (readonly string[])[]): string | null {
  return firstInJson(body, (v, path, at) => {
    if (at.length > 0 && isExempt(at, exempt)) return SKIP_CONTENTS
    if (typeof v === 'string') return holdsSecret(v) ? path || 'body' : undefined
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).some(holdsSecret)) return `${path || 'body'}[key]`
    return undefined
  })
}

function isExempt(at: readonly string[], exempt: readonly (readonly string[])[]): boolean {
  return exempt.some((p) => p.length === at.length && p.every((seg, i) => seg === '*' || seg === at[i]))
}

/**
 * The refusal of secret names failing the rule (UPPER_SNAKE_CASE, at most 128 characters), or null
 * when all pass. A name failing it is told by its position, never shown: it is often a value pasted
 * into the name's field (`sk-live-…`), and the 422 goes back through proxies, logs and the console's
 * page. Said by the service (validateSecretKeys, src/modules/spaces/secrets.ts) and in place of a
 * refusal of the body that would name such a key by its path (secretNamesFirst).
 */
export function secretNamesRefusal(keys: readonly string[], field: string): AppError | null {
  const bad: number[] = []
  keys.forEach((k, i) => {
    if (!isSecretKey(k)) bad.push(i + 1)
  })
  if (bad.length === 0) return null
  // "key 2 of 3", "keys 1, 3 of 3"; a lone name is just "key".
  const where = keys.length === 1 ? '' : bad.length === 1 ? ` ${bad[0]} of ${keys.length}` : `s ${bad.join(', ')} of ${keys.length}`
  return new AppError(
    'validation_failed',
    `Validation failed: ${field} has invalid key${where} (not shown: it may be a value pasted as a name): keys must be ${SECRET_KEY_RULE}`,
    { details: bad.map((n) => ({ field, message: `key ${n} of ${keys.length} must be UPPER_SNAKE_CASE, at most 128 characters` })) },
  )
}

/**
 * The refusal of the first record of secret values (`secrets.*` in a route's SECRET_FIELDS,
 * `exempt`) in `body` holding a key that is not a secret name, told by position; null when none.
 * Said in place of a refusal that would name such a key by its path (`secrets.sk-live-…`): the
 * body reader's (the NUL character, a key given twice, …) and validation's (a value that is not a
 * string or over 64 KiB, src/http/errors.ts). Names alone are the service's to check, after the
 * access checks (a member's bad name to an admin-only route is 403 before it is 422).
 */
export function secretNamesFirst(body: unknown, exempt: readonly (readonly string[])[]): AppError | null {
  for (const p of exempt) {
    if (p.length < 2 || p.at(-1) !== '*') continue
    let record: unknown = body
    for (const name of p.slice(0, -1)) record = record !== null && typeof record === 'object' && Object.hasOwn(record, name) ? (record as Record<string, unknown>)[name] : undefined
    if (record === null || typeof record !== 'object' || Array.isArray(record)) continue
    const refused = secretNamesRefusal(Object.keys(record), p.slice(0, -1).join('.'))
    if (refused) return refused
  }
  return null
}

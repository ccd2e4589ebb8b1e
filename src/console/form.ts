import { holdsTokenBody, redactTokens } from '../auth/tokens'
import { t } from 'elysia'
import type { Messages } from './i18n'
import { formRefusal, FormFieldRefusal, TAKEN_OUT } from '../http/secret-fields'

/** Console forms: any flat form body (urlencoded); handlers read fields with `field`. */
export const FormBody = t.Object({}, { additionalProperties: true })
export const NoBody = undefined

/**
 * A form field as one string ('' when absent, or when repeated with different values). A field
 * that held a token (taken out by the body reader, src/http/secret-fields.ts) throws its 422
 * refusal, which a page meets only where its own refusals are handled: each form checks
 * `formRefusal(body)` there first, and reads what it shows before that with `typedField`.
 */
export function field(body: unknown, name: string): string {
  const v = sent(body, name)
  if (v === TAKEN_OUT) throw new FormFieldRefusal(name)
  return v
}

/**
 * A field's one value as sent ('' when absent, or when repeated with different values), or
 * TAKEN_OUT when it (one of its values) held a token: the one reading of a field, and so the one
 * check for a token, that `field` and `typedField` share.
 */
function sent(body: unknown, name: string): string {
  const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined
  // Sent more than once: the same value is that value; different ones (`decision=deny&decision=approve`)
  // are no answer, as if the field were missing (the form's own check then refuses it), never one picked.
  if (Array.isArray(v)) return v.includes(TAKEN_OUT) ? TAKEN_OUT : v.length > 0 && v.every((x) => x === v[0]) && typeof v[0] === 'string' ? v[0] : ''
  return typeof v === 'string' ? v : ''
}

/** Every value of a repeated field (checkboxes); a field that held a token throws, as `field`. */
export function fields(body: unknown, name: string): string[] {
  const refused = formRefusal(body, name)
  if (refused) throw refused
  const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string')
  return typeof v === 'string' ? [v] : []
}

/**
 * A form field as typed, for what a page shows or carries again before its error handling runs
 * (the list's view, a form shown again, a hidden field): '' for a field that held a token, which
 * `field` would throw. The page then refuses the form itself (`formRefusal(body)`, the first field
 * that held one) where its own refusals are handled, so that it shows its form again.
 */
export function typedField(body: unknown, name: string): string {
  const v = sent(body, name)
  return v === TAKEN_OUT ? '' : v
}

/** Every value of a repeated field as typed (typedField): the values that held a token left out. */
export function typedFields(body: unknown, name: string): string[] {
  const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined
  const all = Array.isArray(v) ? v : [v]
  return all.filter((x): x is string => typeof x === 'string' && x !== TAKEN_OUT)
}

/** The console's route options: hidden from the OpenAPI document (it describes /api only). */
export const hidden = { detail: { hide: true } } as const

/**
 * A form field a refusal can be about, as its page shows it: the key its view gives it
 * (FormError.field, src/console/views/layout.tsx: for its aria-invalid) and its label in the
 * page's language (the text of its <label> or its group's <legend>, or the name a screen reader
 * is given), which the refusal's message names.
 */
export interface ShownField {
  key: string
  label: (t: Messages) => string
}

/**
 * The fields of a form a refusal can name: by the service's name for each and by the form's own
 * (a token pasted into it); a field not here (a hidden one) is one the page fills in itself.
 */
export type FormFields = Record<string, ShownField>

export const shown = (key: string, label: (t: Messages) => string): ShownField => ({ key, label })

/**
 * The form field a refusal is about: the first `field` of its details (invalidField's
 * `[{ field, message }]`), by that name (`name`) and as the form shows it; null when it names
 * none of the form's fields.
 */
export function refusedField(e: { details?: unknown }, fields: FormFields): { name: string; shown: ShownField } | null {
  const first = Array.isArray(e.details) ? (e.details[0] as { field?: unknown } | undefined) : undefined
  const name = typeof first?.field === 'string' ? first.field : null
  return name !== null && Object.hasOwn(fields, name) ? { name, shown: fields[name]! } : null
}

/**
 * A text field as a refused form shows it again: as typed, but a token pasted into it redacted
 * (`td_…[redacted]`, as error bodies do), and a token's 43 characters without their prefix not
 * shown at all (the field comes back empty). A secret is never echoed in a page. At most `max`
 * characters come back.
 */
export function echoed(typed: string, max = 1000): string {
  if (typed === '') return typed
  const text = redactTokens(typed.slice(0, max))
  return holdsTokenBody(text) ? '' : text
}

/** A form field as a refused form shows it again (echoed); '' for one that held a token. */
export function echoedField(body: unknown, name: string, max?: number): string {
  return echoed(typedField(body, name), max)
}

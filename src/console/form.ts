import { holdsTokenBody, redactPrefixed } from '../auth/tokens'
import { t } from 'elysia'
import type { Messages } from './i18n'
import { FormFieldRefusal, TAKEN_OUT } from '../http/secret-fields'
import { RepeatedFieldRefusal, UnreadableFormRefusal, unreadableFormRefusal } from '../http/page-form'
import { cutText } from '../text'

/** Console forms: any flat form body (urlencoded); handlers read fields with `field`. */
export const FormBody = t.Object({}, { additionalProperties: true })
export const NoBody = undefined

/**
 * A form field as one string ('' when absent). A field that held a token (taken out by the body
 * reader, src/http/secret-fields.ts), one sent more than once with different values (never one of
 * them picked: `decision=deny&decision=approve`), or a body that came as no form
 * (src/http/page-form.ts) throws its 422 refusal, which a page meets only where its own refusals
 * are handled: each form checks `pageRefusal(body)` there first, and reads what it shows before
 * that with `typedField`. The same value twice is that value.
 */
export function field(body: unknown, name: string): string {
  const v = sent(body, name)
  if (typeof v !== 'string') throw v
  return v
}

/** What a form field can be refused for as sent (sent). */
type FieldRefusal = FormFieldRefusal | RepeatedFieldRefusal | UnreadableFormRefusal

/**
 * A field's one value as sent ('' when absent), or its refusal: the body came as no form, the
 * field (one of its values) held a token, or it was sent more than once with different values.
 * The one reading of a field (read), and so the one check of it (checked), that `field`,
 * `fields`, `typedField` and `pageRefusal` share.
 */
function sent(body: unknown, name: string): string | FieldRefusal {
  const v = read(body, name)
  return v instanceof UnreadableFormRefusal ? v : checked(name, v.value)
}

/**
 * A field's value as the body holds it (undefined when absent, or no body at all), read once; or
 * the refusal of a body that came as no form.
 */
function read(body: unknown, name: string): { value: unknown } | UnreadableFormRefusal {
  if (body === null || typeof body !== 'object') return { value: undefined }
  return unreadableFormRefusal(body) ?? { value: (body as Record<string, unknown>)[name] }
}

/** The check of a field's value as read: its one value ('' for none), or its refusal. */
function checked(name: string, v: unknown): string | FormFieldRefusal | RepeatedFieldRefusal {
  if (Array.isArray(v)) {
    if (v.includes(TAKEN_OUT)) return new FormFieldRefusal(name)
    if (v.some((x) => x !== v[0])) return new RepeatedFieldRefusal(name)
    return typeof v[0] === 'string' ? v[0] : ''
  }
  if (v === TAKEN_OUT) return new FormFieldRefusal(name)
  return typeof v === 'string' ? v : ''
}

/**
 * What a console form as a whole is refused for, before a page reads its fields, or null: a body
 * that came as no form (src/http/page-form.ts), a field that held a token (the first one;
 * src/http/secret-fields.ts), or else a field sent more than once with different values
 * (`name=a&name=b`; `lists`: the form's fields that are lists, its checkbox groups, which may be).
 * Each form checks it first where its own refusals are handled, and shows itself again with it
 * (src/console/routes/settings.tsx fieldErrorOf words it, naming the field by its label).
 */
export function pageRefusal(body: unknown, lists: readonly string[] = []): FieldRefusal | null {
  if (body === null || typeof body !== 'object') return null
  let repeated: RepeatedFieldRefusal | null = null
  for (const name of Object.keys(body)) {
    const v = sent(body, name)
    if (v instanceof RepeatedFieldRefusal) {
      if (!lists.includes(name)) repeated ??= v
    } else if (typeof v !== 'string') return v
  }
  return repeated
}

/**
 * Every value of a repeated field (checkboxes); a field that held a token, or a body that came as
 * no form, throws, as `field`.
 */
export function fields(body: unknown, name: string): string[] {
  // Read once: the values returned are the values checked.
  const v = read(body, name)
  if (v instanceof UnreadableFormRefusal) throw v
  const refused = checked(name, v.value)
  if (typeof refused !== 'string' && !(refused instanceof RepeatedFieldRefusal)) throw refused
  if (Array.isArray(v.value)) return v.value.filter((x): x is string => typeof x === 'string')
  return typeof v.value === 'string' ? [v.value] : []
}

/**
 * A form field as typed, for what a page shows or carries again before its error handling runs
 * (the list's view, a form shown again, a hidden field): '' for a field that `field` would throw
 * for (a token, different values, no form). The page then refuses the form itself
 * (`pageRefusal(body)`) where its own refusals are handled, so that it shows its form again.
 */
export function typedField(body: unknown, name: string): string {
  const v = sent(body, name)
  return typeof v === 'string' ? v : ''
}

/** Whether the body has the field at all, whatever it holds (one that held a token included). */
export function hasField(body: unknown, name: string): boolean {
  return body !== null && typeof body === 'object' && Object.hasOwn(body, name)
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
 * (`td_…[redacted]`, as error bodies do; a near miss too), and a token's 43 characters without their prefix not
 * shown at all (the field comes back empty). A secret is never echoed in a page. At most `max`
 * characters come back.
 */
export function echoed(typed: string, max = 1000): string {
  if (typed === '') return typed
  // Looked for in the whole text, before the cut: a secret across the `max`-th character, cut
  // there, is no longer one the search knows (a token's 43 characters cut to 40 without their
  // prefix, a near miss `td_Ab.…` cut to 40), yet its first 37 characters rebuild it. No fixed
  // window past `max` is enough: each redaction before the cut shortens the text (a token's 46
  // characters become 14, a long `td_…` run more), bringing later characters under it. One linear
  // pass over a field of a body the reader has already searched whole (src/http/secret-fields.ts).
  const text = redactPrefixed(typed)
  return holdsTokenBody(text) ? '' : cutText(text, max)
}

/** A form field as a refused form shows it again (echoed); '' for one that held a token. */
export function echoedField(body: unknown, name: string, max?: number): string {
  return echoed(typedField(body, name), max)
}

import { holdsTokenBody, redactTokens } from '../auth/tokens'
import { t } from 'elysia'
import { formRefusal, TAKEN_OUT } from '../http/secret-fields'

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
  const refused = formRefusal(body, name)
  if (refused) throw refused
  const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined
  // Sent more than once: the same value is that value; different ones (`decision=deny&decision=approve`)
  // are no answer, as if the field were missing (the form's own check then refuses it), never one picked.
  if (Array.isArray(v)) return v.length > 0 && v.every((x) => x === v[0]) && typeof v[0] === 'string' ? v[0] : ''
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
  return formRefusal(body, name) ? '' : field(body, name)
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
 * The form field a service's refusal is about: the first `field` of its details (invalidField's
 * `[{ field, message }]`), as the form calls it (`names`: the service's field → the form's key,
 * src/console/views/layout.tsx FormError); null when it names none of the form's fields.
 */
export function refusedField(e: { details?: unknown }, names: Record<string, string>): string | null {
  const first = Array.isArray(e.details) ? (e.details[0] as { field?: unknown } | undefined) : undefined
  const name = typeof first?.field === 'string' ? first.field : null
  return name !== null && Object.hasOwn(names, name) ? names[name]! : null
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

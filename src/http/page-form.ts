import { AppError, invalidField } from '../errors'

/**
 * A console page's form body the body reader could not read as a form (src/http/body.ts): a
 * multipart/form-data or text/plain body. The API answers such a body 422 "send JSON", which says
 * nothing on a console page; a page is given this instead, a body whose one key (its name holds
 * the NUL character, which no form field sent can: src/http/body.ts refuses it) records the type
 * it came as. Every console form refuses it itself first (pageRefusal, src/console/form.ts), and
 * shows its form again with the message, as for a field that held a token; `field` throws it,
 * should a page read a field anyway (the console's 422 page).
 */
export const UNREADABLE_FORM = '\u0000unreadable form'

/** The body a console page gets for a body of `type` that is no form (see UNREADABLE_FORM). */
export function unreadableForm(type: string): Record<string, unknown> {
  return { [UNREADABLE_FORM]: type }
}

/**
 * The refusal of a console form that came as no form (UNREADABLE_FORM): `type`, the media type it
 * came as ('' for none). A console page words it for a person itself (src/console/routes/settings.tsx
 * fieldErrorOf); the message here is the console's 422 page's.
 */
export class UnreadableFormRefusal extends AppError {
  constructor(readonly type: string) {
    const sent = type !== '' ? `as ${type}` : 'without a Content-Type'
    const e = invalidField(
      'form',
      `the form could not be read: it was sent ${sent}, and the console's forms send their fields URL-encoded (application/x-www-form-urlencoded). Nothing was done: fill in the form and send it again from its page.`,
    )
    super(e.code, e.message, { details: e.details })
  }
}

/** The refusal of a console form sent as something else (UNREADABLE_FORM), or null. */
export function unreadableFormRefusal(form: unknown): UnreadableFormRefusal | null {
  if (form === null || typeof form !== 'object' || !Object.hasOwn(form, UNREADABLE_FORM)) return null
  const type = (form as Record<string, unknown>)[UNREADABLE_FORM]
  return new UnreadableFormRefusal(typeof type === 'string' ? type : '')
}

/**
 * The refusal of a form field sent more than once with different values (`name=a&name=b`): a
 * form sends each of its fields once, but for its lists (checkboxes); which value was meant is
 * unknown, so none is used. The same value twice is that value. A console page words it for a
 * person itself, the field named by its label (src/console/routes/settings.tsx fieldErrorOf); the
 * message here is the console's 422 page's.
 */
export class RepeatedFieldRefusal extends AppError {
  constructor(readonly field: string) {
    const e = invalidField(field, `the field ${field} was sent more than once, with different values; a form sends it once. Nothing was done: fill in the form and send it again.`)
    super(e.code, e.message, { details: e.details })
  }
}

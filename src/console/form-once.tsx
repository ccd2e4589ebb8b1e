import type { Ctx } from '../context'
import { AppError } from '../errors'
import { IdempotencyKeys, requestHash } from '../idempotency/service'
import { field } from './form'
import { SESSION_MAX_MS, type SignedIn } from './session'

/**
 * Forms that show a secret once (a new token, a rotation) are sent at most once each. Their
 * answer is a page (no redirect: the secret is never in a URL or a stored page), so a reload of
 * it re-sent the form: a second token nobody saw while the first stayed active, and a rotation
 * sent again more than a minute later was taken for reuse of the old secret and revoked the new
 * token just copied. Each such form carries a random key; the first use is recorded in the
 * Idempotency-Key store (under the signed-in person, the created token's id only, never the page),
 * and a second use is answered by naming what the first made instead of doing it again.
 */
export const FORM_KEY = 'formKey'

export function FormKey() {
  return <input type="hidden" name={FORM_KEY} value={crypto.randomUUID()} />
}

/** What a second use of a form's key is told: the id the first use made, or why it cannot go on. */
export type FormUsed = { kind: 'made'; id: string } | { kind: 'busy' | 'changed' | 'interrupted' }

/** What FormKey writes: anything else (a tampered form) is sent as a form without a key. */
const KEY_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * Runs `act` once per form key of this person: `act` returns its answer and the id of
 * what it made (null when it made nothing: a refusal, after which the form may be sent again).
 * A form without a key (a script's POST) just runs.
 */
export async function onceForm(ctx: Ctx, who: SignedIn, request: Request, body: unknown, act: () => Promise<{ made: string | null; answer: Response }>, used: (u: FormUsed) => Promise<Response>): Promise<Response> {
  const key = field(body, FORM_KEY)
  // A key this console did not write (300 characters, a tab): no API wording about an
  // Idempotency-Key header nobody sent; the form goes on as a form without one.
  if (!KEY_SHAPE.test(key)) return (await act()).answer
  const store = new IdempotencyKeys({ db: ctx.db, box: ctx.box, clock: ctx.clock })
  const path = new URL(request.url).pathname
  const { [FORM_KEY]: _, ...rest } = (body ?? {}) as Record<string, unknown>
  let begun
  try {
    // Kept as long as a session may last: with the API's 24 hours, the page left open in a tab and
    // re-sent days later (a reload, a restored tab) made a second token, or rotated the rotated
    // token again (which then counted as reuse of a leaked secret and revoked the new token just
    // copied; now a 409 naming the successor). Under the person, not the session: a password
    // change gives the browser a new session id, and the page another tab had open, reloaded
    // after it, made a second token (a form's key is random, so no one else's form shares it).
    begun = await store.begin({ tokenId: `console-user:${who.user.id}`, key, method: 'POST', path, hash: requestHash(ctx.box, 'POST', path, rest), ttlMs: SESSION_MAX_MS })
  } catch (e) {
    if (!(e instanceof AppError)) throw e
    if (e.code === 'idempotency_secret_withheld') return used({ kind: 'made', id: String((e.details as { createdId?: unknown } | undefined)?.createdId ?? '') })
    if (e.code === 'idempotency_in_progress') return used({ kind: 'busy' })
    if (e.code === 'idempotency_conflict') return used({ kind: 'changed' })
    if (e.code === 'idempotency_interrupted') return used({ kind: 'interrupted' })
    throw e
  }
  if (begun.kind !== 'new') return used({ kind: 'busy' })
  let done
  try {
    done = await act()
  } catch (e) {
    await store.release(begun.id)
    throw e
  }
  if (done.made === null) await store.release(begun.id)
  else await store.complete(begun.id, done.answer.status, null, {}, { id: done.made, kind: 'secret' })
  return done.answer
}

import { AppError, errorMessage, invalidField } from '../errors'
import type { IdPrefix } from '../ids'
import { randomBase62 } from '../auth/random'
import { cutText, trimChar, trimEndChar } from '../text'

/**
 * Slugs of agents and spaces: a second name for URLs and scripts (`/agents/deploy-bot/execute`),
 * unique within the organization. Lower-case ASCII letters, digits and dashes, 1-64 characters,
 * not starting or ending with a dash. Never an underscore: every id has one (`char_…`,
 * `space_…`), so a slug can never equal an id and a path parameter is an id exactly when it
 * starts with the resource's id prefix (`refersToId`). Ids stay the canonical name in responses.
 */
export const SLUG_MAX = 64
export const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/
/** SLUG_PATTERN as a JSON Schema pattern (the OpenAPI document and the validator). */
export const SLUG_PATTERN_SOURCE = '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$'

export const SLUG_RULE = '1-64 lower-case letters (a-z), digits or dashes, not starting or ending with a dash (no underscores: ids have one)'

export function isSlug(s: string): boolean {
  return SLUG_PATTERN.test(s)
}

/** Whether a path parameter names a row by id (`char_…` for agents) rather than by slug. */
export function refersToId(ref: string, prefix: IdPrefix): boolean {
  return ref.startsWith(`${prefix}_`)
}

/**
 * Latin letters that are no letter and an accent, so that dropping accents kept nothing of them:
 * "Søren" gave `s-ren`, "Łódź" `d`, "Straße" `stra-e`. Written as the usual ASCII spelling.
 */
const LATIN_LETTERS: Record<string, string> = { ø: 'o', æ: 'ae', œ: 'oe', ß: 'ss', đ: 'd', ð: 'd', ł: 'l', þ: 'th', ı: 'i' }

/**
 * The slug a name gives: accents dropped (ø, æ, ß and the like spelt in ASCII), lower case,
 * every run of anything but a-z/0-9 one dash, trimmed, at most 64 characters; `fallback` when
 * nothing is left ("日本" → "agent").
 * Not unique: `chooseSlug` makes it so.
 */
export function deriveSlug(name: string, fallback: string): string {
  const dashed = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[øæœßđðłþı]/g, (c) => LATIN_LETTERS[c]!)
    .replace(/[^a-z0-9]+/g, '-')
  const s = trimEndChar(trimChar(dashed, '-').slice(0, SLUG_MAX), '-')
  return s || fallback
}

function invalidSlug(value: string): AppError {
  const message = `slug must be ${SLUG_RULE}; got "${cutText(value, 100)}"`
  return invalidField('slug', message)
}

/** A slug sent by a client, checked against the pattern (422 otherwise). */
export function checkSlug(value: string): string {
  if (!isSlug(value)) throw invalidSlug(value)
  return value
}

export function slugTaken(what: 'agent' | 'space', slug: string): AppError {
  return new AppError('slug_taken', `Conflict: the slug "${slug}" is already used by another ${what} of your organization. Choose another slug.`, {
    details: [{ field: 'slug', message: `"${slug}" is taken` }],
  })
}

/** A short random suffix: lower-case letters and digits. */
function suffix(n: number): string {
  return randomBase62(n * 2).toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, n).padEnd(n, '0')
}

/**
 * The slug of a new row: `explicit` when given (checked; 409 `slug_taken` when another row of the
 * organization has it), else derived from the name, with a short random suffix when the derived
 * slug is taken (`deploy-bot-k3x9`). `taken` asks the table.
 */
export async function chooseSlug(
  what: 'agent' | 'space',
  explicit: string | undefined,
  name: string,
  taken: (slug: string) => Promise<boolean>,
): Promise<string> {
  if (explicit !== undefined) {
    const s = checkSlug(explicit)
    if (await taken(s)) throw slugTaken(what, s)
    return s
  }
  const base = deriveSlug(name, what)
  if (!(await taken(base))) return base
  const stem = trimEndChar(base.slice(0, SLUG_MAX - 9), '-')
  for (const n of [4, 4, 4, 8, 8]) {
    const s = `${stem}-${suffix(n)}`
    if (!(await taken(s))) return s
  }
  throw new AppError('slug_taken', `Conflict: could not find a free slug for "${cutText(name, 100)}"; send one in \`slug\`.`)
}

/** Runs an update that sets `slug`: a concurrent request that took it first is a 409 `slug_taken`. */
export async function slugWrite<T>(what: 'agent' | 'space', slug: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (e) {
    if (isSlugConflict(e)) throw slugTaken(what, slug)
    throw e
  }
}

/**
 * Inserts a row under a slug chosen by chooseSlug. Two requests creating objects of the same
 * name at once both find the name's slug free and both insert it: the unique index lets one
 * through. The other chooses again (the slug is taken now, so it gets a suffix) and retries, up
 * to three tries in all; with an explicit slug the loser is 409 `slug_taken`, as the slug it asked
 * for is taken. Never inside a transaction: a failed statement ends a PostgreSQL transaction.
 */
export async function insertWithSlug<T>(
  what: 'agent' | 'space',
  explicit: string | undefined,
  name: string,
  taken: (slug: string) => Promise<boolean>,
  insert: (slug: string) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const slug = await chooseSlug(what, explicit, name, taken)
    try {
      return await insert(slug)
    } catch (e) {
      if (!isSlugConflict(e)) throw e
      if (explicit !== undefined || attempt >= 3) throw slugTaken(what, slug)
    }
  }
}

/**
 * Whether a failed insert or update broke the (organization_id, slug) unique index: two requests
 * chose the same slug at once. The caller answers 409 `slug_taken`.
 */
export function isSlugConflict(e: unknown): boolean {
  const m = errorMessage(e)
  return /UNIQUE constraint failed: \w+\.organization_id, \w+\.slug/.test(m) || (/duplicate key value/.test(m) && /_slug_unique/.test(m))
}

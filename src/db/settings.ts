import { eq } from 'drizzle-orm'
import { DecryptionError, type SecretBox } from '../crypto/secretbox'
import type { Db } from './connection'
import { personalAccessTokens, settings } from './schema'

export async function getSetting(db: Db, key: string): Promise<string | undefined> {
  return (await db.select({ value: settings.value }).from(settings).where(eq(settings.key, key)).get())?.value
}

export async function putSetting(db: Db, key: string, value: string, now: number): Promise<void> {
  await db
    .insert(settings)
    .values({ key, value, updatedAt: new Date(now) })
    .onConflictDoUpdate({ target: settings.key, set: { value, updatedAt: new Date(now) } })
    .run()
}

const KEY_CHECK = 'encryption_key_check'
const KEY_CHECK_PLAIN = 'teamday-key-check-v1'

export class WrongKeyError extends Error {}

/** One piece of sealed data, when the database holds any (a token's name): what a key must open. */
export function sealedSample(db: Db): Promise<{ id: string; nameEnc: string } | undefined> {
  return db.select({ id: personalAccessTokens.id, nameEnc: personalAccessTokens.nameEnc }).from(personalAccessTokens).limit(1).get()
}

/** The database's sealed key check value, when it has one (none yet: a new database). */
export function readKeyCheck(db: Db): Promise<string | undefined> {
  return getSetting(db, KEY_CHECK)
}

/**
 * Proves at start-up that the configured key opens what this database holds: a database
 * encrypted under another key is refused with a clear message instead of yielding garbage later.
 * A new database (no check value yet) gets one sealed under the current key, unless `store` is
 * false (commands that must not write); of two processes starting at once the first one's stays
 * and the other is checked against it.
 *
 * The check value is never re-sealed here, under a newer key: the data (secrets, token names,
 * addresses) stays sealed under the key it was written with until `teamday rekey` re-seals it.
 * Moving the check sooner would let the new key alone pass every start-up check while requests
 * fail on the data it cannot open; left where it is, a start without the old key (in
 * TEAMDAY_ENCRYPTION_KEYS_PREVIOUS) is refused at once. Only rekey moves it (`moveKeyCheck`), in
 * the transaction that re-sealed everything else (README: Keys, Rotating the key).
 */
export async function verifyEncryptionKey(db: Db, box: SecretBox, now: number, opts: { store?: boolean } = {}): Promise<void> {
  let stored = await readKeyCheck(db)
  if (stored === undefined) {
    if (opts.store === false) return
    // No check, yet sealed data (a damaged or hand-edited database): the key must open it before
    // a check is stamped under it; any key was stamped, and the data became unreadable for good.
    const sample = await sealedSample(db)
    if (sample) {
      try {
        box.open(sample.nameEnc, `pat.name:${sample.id}`)
      } catch (e) {
        throw new WrongKeyError(
          `The encryption key does not open this database's sealed data (${e instanceof DecryptionError ? e.message : String(e)}), and its key check is missing. ` +
            'Start with the TEAMDAY_ENCRYPTION_KEY (or key file) the database was created with; after a key rotation, keep the old key in TEAMDAY_ENCRYPTION_KEYS_PREVIOUS.',
        )
      }
    }
    await db
      .insert(settings)
      .values({ key: KEY_CHECK, value: box.seal(KEY_CHECK_PLAIN, `settings.${KEY_CHECK}`), updatedAt: new Date(now) })
      .onConflictDoNothing({ target: settings.key })
      .run()
    stored = (await readKeyCheck(db))!
  }
  let plain: string
  try {
    plain = box.open(stored, `settings.${KEY_CHECK}`)
  } catch (e) {
    const why = e instanceof DecryptionError ? e.message : String(e)
    throw new WrongKeyError(
      `The encryption key does not match this database (${why}). ` +
        'Start with the TEAMDAY_ENCRYPTION_KEY (or key file) the database was created with; after a key rotation, keep the old key in TEAMDAY_ENCRYPTION_KEYS_PREVIOUS.',
    )
  }
  if (plain !== KEY_CHECK_PLAIN) throw new WrongKeyError('The encryption key check value is corrupt.')
}

/**
 * Re-seals the key check under the current key (`teamday rekey`, last, inside the transaction
 * that re-sealed every other value: from then on a start without the old keys is accepted).
 * Returns whether it moved; false when it was under the current key already. A check no
 * configured key opens throws WrongKeyError: nothing may vouch for a key it was not sealed with.
 */
export async function moveKeyCheck(db: Db, box: SecretBox, now: number): Promise<boolean> {
  const stored = await readKeyCheck(db)
  if (stored === undefined || !box.isStale(stored)) return false
  if (!keyOpensCheck(box, stored)) throw new WrongKeyError('The encryption key check value does not open under any configured key: list the key the database was sealed with in TEAMDAY_ENCRYPTION_KEYS_PREVIOUS.')
  await putSetting(db, KEY_CHECK, box.seal(KEY_CHECK_PLAIN, `settings.${KEY_CHECK}`), now)
  return true
}

/** The setting that records which key a database is sealed under (backup and restore read it with plain SQL). */
export const KEY_CHECK_SETTING = KEY_CHECK

/** Whether `box` opens a database's key check value (read-only: nothing is re-sealed). */
export function keyOpensCheck(box: SecretBox, stored: string): boolean {
  try {
    return box.open(stored, `settings.${KEY_CHECK}`) === KEY_CHECK_PLAIN
  } catch {
    return false
  }
}

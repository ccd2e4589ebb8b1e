import { eq } from 'drizzle-orm'
import { DecryptionError, type SecretBox } from '../crypto/secretbox'
import type { Db } from './connection'
import { settings } from './schema'

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

/**
 * Proves at start-up that the configured key opens what this database holds: a database
 * encrypted under another key is refused with a clear message instead of yielding garbage later.
 * A check value sealed under a previous key is re-sealed under the current one.
 */
export async function verifyEncryptionKey(db: Db, box: SecretBox, now: number): Promise<void> {
  const stored = await getSetting(db, KEY_CHECK)
  if (stored === undefined) {
    await putSetting(db, KEY_CHECK, box.seal(KEY_CHECK_PLAIN, `settings.${KEY_CHECK}`), now)
    return
  }
  let plain: string
  try {
    plain = box.open(stored, `settings.${KEY_CHECK}`)
  } catch (e) {
    const why = e instanceof DecryptionError ? e.message : String(e)
    throw new WrongKeyError(
      `The encryption key does not match this database (${why}). ` +
        'Start with the TEAMDAY_ENCRYPTION_KEY (or key file) the database was created with.',
    )
  }
  if (plain !== KEY_CHECK_PLAIN) throw new WrongKeyError('The encryption key check value is corrupt.')
  if (box.isStale(stored)) await putSetting(db, KEY_CHECK, box.seal(KEY_CHECK_PLAIN, `settings.${KEY_CHECK}`), now)
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

import { randomBytes } from 'node:crypto'
import { and, eq, gte, inArray, lt, lte, sql } from 'drizzle-orm'
import { deleteBatch } from './batch-delete'
import { DecryptionError, type SecretBox } from '../crypto/secretbox'
import type { Db } from './connection'
import { dbNow, dbTime, personalAccessTokens, settings } from './schema'

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
/** The database's random identity (stampDatabaseId). */
const DATABASE_ID = 'database_id'

export class WrongKeyError extends Error {}

/** One piece of sealed data, when the database holds any (a token's name): what a key must open. */
export function sealedSample(db: Db): Promise<{ id: string; nameEnc: string } | undefined> {
  return db.select({ id: personalAccessTokens.id, nameEnc: personalAccessTokens.nameEnc }).from(personalAccessTokens).limit(1).get()
}

/** The database's sealed key check value, when it has one (none yet: a new database). */
export function readKeyCheck(db: Db): Promise<string | undefined> {
  return getSetting(db, KEY_CHECK)
}

/** What a start reads of the settings, in one query (src/runtime.ts): the key check, and the database's identity. */
export interface StartSettings {
  /** The sealed key check value; none yet: a new database. */
  keyCheck?: string
  /** The database's random identity (src/db/identity.ts); none: a new database, or one an older build made. */
  databaseId?: string
}

export async function readStartSettings(db: Db): Promise<StartSettings> {
  const rows = await db.select({ key: settings.key, value: settings.value }).from(settings).where(inArray(settings.key, [KEY_CHECK, DATABASE_ID])).all()
  const found: StartSettings = {}
  for (const r of rows) {
    if (r.key === KEY_CHECK) found.keyCheck = r.value
    else found.databaseId = r.value
  }
  return found
}

/**
 * What to do about a key that does not open the database, as README (Keys, Rotating the key) says
 * it: the key the database is sealed under is the one it was created with only until a rotation
 * is finished (`teamday rekey` moves it to the new key), and during a rotation the old key is
 * listed beside the new one (what a `rekey` run without it lacks). It said "the key the database
 * was created with", wrong after a finished rotation.
 */
const WRONG_KEY_ADVICE =
  'Start with the key the database is sealed under (TEAMDAY_ENCRYPTION_KEY, or the key file): the one it was created with, or the one the last teamday rekey re-sealed it under. ' +
  'During a key rotation, until teamday rekey has run, list the old key in TEAMDAY_ENCRYPTION_KEYS_PREVIOUS (README: Rotating the key).'

/**
 * Proves that the configured key opens a database's key check value (as read by the caller): a
 * database encrypted under another key is refused with a clear message instead of yielding
 * garbage later.
 */
export function openKeyCheck(box: SecretBox, stored: string): void {
  let plain: string
  try {
    plain = box.open(stored, `settings.${KEY_CHECK}`)
  } catch (e) {
    const why = e instanceof DecryptionError ? e.message : String(e)
    throw new WrongKeyError(
      `The encryption key does not match this database (${why}). ${WRONG_KEY_ADVICE}`,
    )
  }
  if (plain !== KEY_CHECK_PLAIN) throw new WrongKeyError('The encryption key check value is corrupt.')
}

/**
 * Gives a database that has no key check one, sealed under the current key, and proves the key
 * opens the check that is then stored: of two processes starting at once the first one's stays
 * and the other is checked against it. `sample` is the database's sealed data as the caller read
 * it (sealedSample): with no check, yet sealed data (a damaged or hand-edited database), the key
 * must open that data before a check is stamped under it; any key was stamped, and the data
 * became unreadable for good.
 */
export async function stampKeyCheck(db: Db, box: SecretBox, now: number, sample: { id: string; nameEnc: string } | undefined): Promise<void> {
  if (sample) {
    try {
      box.open(sample.nameEnc, `pat.name:${sample.id}`)
    } catch (e) {
      throw new WrongKeyError(
        `The encryption key does not open this database's sealed data (${e instanceof DecryptionError ? e.message : String(e)}), and its key check is missing. ${WRONG_KEY_ADVICE}`,
      )
    }
  }
  await db
    .insert(settings)
    .values({ key: KEY_CHECK, value: box.seal(KEY_CHECK_PLAIN, `settings.${KEY_CHECK}`), updatedAt: new Date(now) })
    .onConflictDoNothing({ target: settings.key })
    .run()
  openKeyCheck(box, (await readKeyCheck(db))!)
}

/**
 * Reads the key check and proves the key opens it (openKeyCheck); a new database (no check value
 * yet) gets one (stampKeyCheck), unless `store` is false (commands that must not write).
 * createRuntime does the same from the settings it read once.
 *
 * The check value is never re-sealed here, under a newer key: the data (secrets, token names,
 * addresses) stays sealed under the key it was written with until `teamday rekey` re-seals it.
 * Moving the check sooner would let the new key alone pass every start-up check while requests
 * fail on the data it cannot open; left where it is, a start without the old key (in
 * TEAMDAY_ENCRYPTION_KEYS_PREVIOUS) is refused at once. Only rekey moves it (`moveKeyCheck`), in
 * the transaction that re-sealed everything else (README: Keys, Rotating the key).
 */
export async function verifyEncryptionKey(db: Db, box: SecretBox, now: number, opts: { store?: boolean } = {}): Promise<void> {
  const stored = await readKeyCheck(db)
  if (stored !== undefined) return openKeyCheck(box, stored)
  if (opts.store !== false) await stampKeyCheck(db, box, now, await sealedSample(db))
}

/**
 * The database's identity, given one when it has none (a new database, or one an older build
 * made): a random value, of two processes starting at once the first one's. What `serve
 * --reuse-port` compares (src/db/identity.ts); it never leaves the process.
 */
export async function stampDatabaseId(db: Db, now: number): Promise<string> {
  await db
    .insert(settings)
    .values({ key: DATABASE_ID, value: randomBytes(32).toString('base64url'), updatedAt: new Date(now) })
    .onConflictDoNothing({ target: settings.key })
    .run()
  return (await getSetting(db, DATABASE_ID))!
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

/** The setting that holds a database's identity (migrate-data leaves it behind: a copy is another database). */
export const DATABASE_ID_SETTING = DATABASE_ID

/** Whether `box` opens a database's key check value (read-only: nothing is re-sealed). */
export function keyOpensCheck(box: SecretBox, stored: string): boolean {
  try {
    return box.open(stored, `settings.${KEY_CHECK}`) === KEY_CHECK_PLAIN
  } catch {
    return false
  }
}

/**
 * `serve --reuse-port`'s probes of live shared state (src/cli/admin/port-holder.ts): a starting
 * process writes a random nonce under `reuse_port_probe:<random name>` in its own database, asks
 * the process on its port to prove it reads that row (GET /api/health/database-proof), and
 * deletes the row. A row is good for LIVE_PROBE_TTL_MS from when it was written; one a crash
 * left behind is ignored from then on and deleted by the next housekeeping run (src/housekeeping.ts).
 * Both times are the database's (dbNow): the writer and the reader are different processes, on
 * PostgreSQL possibly on machines whose clocks are more than the TTL apart.
 */
const LIVE_PROBE = 'reuse_port_probe:'
/** The first key past every probe's (';' follows ':'): the probes are a range of the primary key. */
const LIVE_PROBE_END = 'reuse_port_probe;'
/** Longer than one question with its retries (src/cli/admin/port-holder.ts: 3 tries of 3 s). */
export const LIVE_PROBE_TTL_MS = 60_000

export async function putLiveProbe(db: Db, name: string, nonce: string): Promise<void> {
  await db.insert(settings).values({ key: LIVE_PROBE + name, value: nonce, updatedAt: dbNow() }).run()
}

/** The nonce a probe's name holds, unless it is missing or out of date (written more than the TTL before or after the database's now). */
export async function readLiveProbe(db: Db, name: string): Promise<string | undefined> {
  const row = await db
    .select({ value: settings.value })
    .from(settings)
    .where(and(eq(settings.key, LIVE_PROBE + name), gte(settings.updatedAt, dbNow(-LIVE_PROBE_TTL_MS)), lte(settings.updatedAt, dbNow(LIVE_PROBE_TTL_MS))))
    .get()
  return row?.value
}

export async function deleteLiveProbe(db: Db, name: string): Promise<void> {
  await db.delete(settings).where(eq(settings.key, LIVE_PROBE + name)).run()
}

/** Where `serve --reuse-port` writes its probes: this database (src/cli/admin/port-holder.ts Prober). */
export function liveProbeStore(db: Db) {
  return { put: (name: string, nonce: string) => putLiveProbe(db, name, nonce), remove: (name: string) => deleteLiveProbe(db, name) }
}

/** Housekeeping: up to `limit` probes written more than the TTL ago by the database's clock (a start that crashed while asking). */
export function deleteStaleLiveProbes(db: Db, limit: number): Promise<number> {
  return deleteBatch(db, settings, settings.key, and(gte(settings.key, LIVE_PROBE), lt(settings.key, LIVE_PROBE_END), lt(settings.updatedAt, dbNow(-LIVE_PROBE_TTL_MS)))!, limit)
}

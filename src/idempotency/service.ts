import { and, eq, inArray, sql } from 'drizzle-orm'
import { holdsSecret } from '../auth/tokens'
import type { Clock } from '../clock'
import type { SecretBox } from '../crypto/secretbox'
import type { Db } from '../db/connection'
import { deleteBatch } from '../db/batch-delete'
import { dbTime, idempotencyKeys, roleRanksBelow } from '../db/schema'
import { AppError } from '../errors'
import { newId } from '../ids'
import { jsonTextKept } from '../json-text'
import { afterOtherRequests } from '../next-turn'

/** Stored responses are replayed for 24 h. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000
/**
 * An in-progress key older than this is taken as interrupted (its server stopped, or could not
 * record the answer): 409 idempotency_interrupted, never run again (the first may have written).
 */
export const IN_PROGRESS_STALE_MS = 10 * 60_000
export const MAX_KEY_LENGTH = 255
const PURGE_EVERY_MS = 60_000
/** Expired keys deleted at most by one lazy purge (IdempotencyKeys.purgeExpired). */
const PURGE_BATCH = 1000
const KEY_SHAPE = /^[\x20-\x7e]{1,255}$/
/** A response body this long or longer (its JSON) is serialized, sealed and stored in event-loop turns of their own (complete). */
const LARGE_BODY_CHARS = 256 * 1024

/**
 * A key's states besides 'in_progress' (claimed, nothing of its work committed) and 'completed'
 * (its answer stored): COMMITTED, its request's work committed (set in that work's own
 * transaction: markWorkCommitted in src/context.ts), its answer not known yet; ANSWER_LOST, its
 * work committed but its request was answered with an error saying nothing of it (a COMMIT
 * whose answer was lost with the connection): never run again (409 idempotency_interrupted).
 */
export const COMMITTED = 'committed'
const ANSWER_LOST = 'answer_lost'

/** The execution a key's request recorded (markWorkCommitted), kept with its answer once completed (never sent in a replay). */
const STARTED_EXECUTION = 'x-teamday-started-execution'

/** Marks a completed key whose response was not stored (see completeIdempotent), and why. */
const WITHHELD = 'x-teamday-withheld-id'
const WITHHELD_KIND = 'x-teamday-withheld-kind'

/**
 * The role of the caller a stored answer was made for (src/http/idempotency.ts adds it to what it
 * stores). A replay hands the answer only to the same role or a higher one (roleRanksBelow): one made for an admin holds what a
 * member may not read (another member's private agent with its system prompt, a task in their
 * private space), and replayed to the admin demoted since, it gave that back on their next retry.
 */
export const ANSWERED_FOR_ROLE = 'x-teamday-answered-for-role'

/** Why a response was not stored: it held a secret, or it was a stream. */
export type WithheldKind = 'secret' | 'stream'

export interface IdempotentRequest {
  tokenId: string
  key: string
  method: string
  /** Path and query string. */
  path: string
  /** requestHash of method, path and body: the same key with another request is a conflict. */
  hash: string
  /** Whether a stored hash that is not `hash` is this request's all the same (sameRequestAs). */
  sameAs?: (stored: string) => boolean
  /**
   * Records at once the key `id` found in progress, when this process holds its outcome and is
   * waiting to record it (the database was out of reach when the request answered); true when it
   * went: the key is then freed (a failed request) or holds its answer.
   */
  settle?: (id: string) => Promise<boolean>
  /** How long the key is kept (IDEMPOTENCY_TTL_MS unless said): a console form's, as long as its session may last. */
  ttlMs?: number
  /** The caller's role as of this request: a stored answer made for a higher role is not replayed (ANSWERED_FOR_ROLE). */
  role?: string
}

export type BeginResult =
  | { kind: 'new'; id: string }
  | { kind: 'replay'; status: number; body: unknown; headers: Record<string, string> }

export function validateIdempotencyKey(key: string): void {
  // Two Idempotency-Key headers arrive as one, joined by ", ": taken as one key, a request sent
  // with two keys (a client's and a proxy's, a retry library's and the caller's) matched neither.
  if (key.includes(', ')) {
    throw new AppError(
      'invalid_idempotency_key',
      'Invalid Idempotency-Key header: it holds ", ", so more than one was sent (they arrive joined by a comma and a space), or a comma and a space were typed; send exactly one key, e.g. a UUID.',
      { details: [{ field: 'Idempotency-Key', message: 'must be sent once, without ", "' }] },
    )
  }
  if (!KEY_SHAPE.test(key)) {
    throw new AppError(
      'invalid_idempotency_key',
      `Invalid Idempotency-Key header: it must be 1-${MAX_KEY_LENGTH} printable ASCII characters, e.g. a UUID.`,
      { details: [{ field: 'Idempotency-Key', message: `must be 1-${MAX_KEY_LENGTH} printable ASCII characters` }] },
    )
  }
  // Only a key's digest is stored (keyDigest), but a token pasted here is a client's mistake all
  // the same (it went to a header meant for a value of its own making): refused as a body field
  // holding one is (src/http/secret-fields.ts), so the client learns of it.
  if (holdsSecret(key)) {
    throw new AppError(
      'invalid_idempotency_key',
      'Invalid Idempotency-Key header: it holds a token or another secret, which would be stored with the key; nothing was done or stored. Send a key of your own making, e.g. a UUID.',
      { details: [{ field: 'Idempotency-Key', message: 'must not contain a token or another secret' }] },
    )
  }
}

/**
 * What is stored of an Idempotency-Key, and looked up (with the token: keys are per token): its
 * SHA-256, hex. Stored as sent, a key holding part of a token (its first 30 characters pass
 * validateIdempotencyKey) or any other secret sat in the database in plaintext for a day. Not a
 * keyed digest: a rotation of the server key would orphan every stored key, and a key is the
 * client's own random value, not something worth guessing.
 */
export function keyDigest(key: string): string {
  return new Bun.CryptoHasher('sha256').update(key).digest('hex')
}

/**
 * What binds a key to its request: a keyed digest (HMAC under the server key, SecretBox.digest)
 * of method, path and body. A plain SHA-256 of them, stored beside the path, let anyone with the
 * database file or a backup confirm guesses of what a body held (a secret's value set with
 * `teamday spaces secrets set`, a token's name) offline, without the key.
 */
export function requestHash(box: SecretBox, method: string, path: string, body: unknown): string {
  return box.digest(requestText(method, path, body), 'idempotency.request')
}

/**
 * Whether a key's stored hash is this request's, as an earlier server stored it: under a previous
 * key of the ring (a retry across a key rotation), or as the plain SHA-256 (hex) teamday stored
 * before the keyed digest (a retry across that upgrade; keys live 24 h). Both got 409
 * idempotency_conflict, "a different request", and a client taking its advice (a new key) made
 * the request twice. Asked only when the current digest differs.
 */
export function sameRequestAs(box: SecretBox, stored: string, method: string, path: string, body: unknown): boolean {
  // Its digest's key was dropped after a rekey: the request cannot be compared, and a retry is
  // far likelier than a key reused for another request; a replay never runs anything twice.
  if (stored === REKEYED_REQUEST_HASH) return true
  const text = requestText(method, path, body)
  if (/^[0-9a-f]{64}$/.test(stored)) return new Bun.CryptoHasher('sha256').update(text).digest('hex') === stored
  return box.digests(text, 'idempotency.request').includes(stored)
}

/**
 * What `teamday rekey` stores as the request hash of every key it finds: a hash is a digest under
 * the key it was made with, and once that key is dropped (the rotation's last step) nothing can
 * compare a request with it; a retry with the key was 409 idempotency_conflict, "a different
 * request", whose advice (a new key) made the request twice. Such a key replays its answer to
 * any request sent with it, for the rest of its 24 hours.
 */
export const REKEYED_REQUEST_HASH = 'rekeyed'

function requestText(method: string, path: string, body: unknown): string {
  return `${method} ${path}\n${JSON.stringify(body ?? null)}`
}

/** What the key store works with (a service context has it all). */
export interface KeyStoreDeps {
  db: Db
  box: SecretBox
  clock: Clock
}

/**
 * Expired keys, at most `limit` of them (the hourly housekeeping, src/housekeeping.ts: a server
 * that stops receiving keyed requests purges nothing lazily); returns how many went.
 */
export async function deleteExpiredIdempotencyKeys(db: Db, now: number, limit: number): Promise<number> {
  return deleteBatch(db, idempotencyKeys, idempotencyKeys.id, sql`${idempotencyKeys.expiresAt} < ${dbTime(now)}`, limit)
}

/**
 * Marks the key `id` as its request's work committed, from inside that work's transaction (`db`:
 * its handle), so that the mark and the work commit together or not at all: a failure whose
 * outcome is unknown (a COMMIT whose answer was lost with the connection) then frees the key only
 * when the work did not commit (IdempotencyKeys.release). One UPDATE of the key's own row (no
 * other request writes it), the same for every transaction of the request.
 */
export async function markWorkCommitted(db: Db, id: string, executionId?: string): Promise<void> {
  const t = idempotencyKeys
  if (executionId === undefined) {
    await db.update(t).set({ state: COMMITTED }).where(and(eq(t.id, id), eq(t.state, 'in_progress'))).run()
    return
  }
  // An execute's run, recorded in this transaction: the key names it, so that a retry after its
  // answer was lost (ANSWER_LOST) tells which execution it was, as idempotency_stream_started does.
  await db.update(t).set({ state: COMMITTED, responseHeaders: { [STARTED_EXECUTION]: executionId } }).where(and(eq(t.id, id), inArray(t.state, ['in_progress', COMMITTED]))).run()
}

/** The Idempotency-Key store of one app: stored responses, and when expired keys were last purged. */
export class IdempotencyKeys {
  private lastPurge = 0

  constructor(private readonly deps: KeyStoreDeps) {}

  /**
   * Deletes a batch of expired keys, at most once a minute (lazily, from begin): one bounded
   * statement, so a keyed request never waits behind a backlog's deletion (the hourly
   * housekeeping drains the rest).
   */
  async purgeExpired(): Promise<void> {
    const now = this.deps.clock.now()
    if (now - this.lastPurge < PURGE_EVERY_MS) return
    this.lastPurge = now
    await deleteExpiredIdempotencyKeys(this.deps.db, now, PURGE_BATCH)
  }

  /**
   * Claims `key` for this token: a fresh key is stored as in progress ('new'); a completed one
   * with the same request is replayed; a different request with the same key → 409
   * idempotency_conflict; one still in progress → 409 idempotency_in_progress.
   */
  async begin(req: IdempotentRequest): Promise<BeginResult> {
    const { deps } = this
    validateIdempotencyKey(req.key)
    await this.purgeExpired()
    const now = deps.clock.now()
    const t = idempotencyKeys
    const keyHash = keyDigest(req.key)
    for (let attempt = 0; attempt < 3; attempt++) {
      const id = newId('idem')
      const inserted = await deps.db
        .insert(t)
        .values({
          id,
          tokenId: req.tokenId,
          keyHash,
          method: req.method,
          path: req.path,
          requestHash: req.hash,
          state: 'in_progress',
          responseStatus: null,
          responseBody: null,
          responseHeaders: null,
          createdAt: new Date(now),
          expiresAt: new Date(now + (req.ttlMs ?? IDEMPOTENCY_TTL_MS)),
        })
        .onConflictDoNothing()
        .returning({ id: t.id })
        .get()
      if (inserted) return { kind: 'new', id }
      const existing = await deps.db.select().from(t).where(and(eq(t.tokenId, req.tokenId), eq(t.keyHash, keyHash))).get()
      if (!existing) continue
      if (existing.expiresAt.getTime() <= now) {
        await deps.db.delete(t).where(eq(t.id, existing.id)).run()
        continue
      }
      // A request that never answered (its server was killed, or lost its database between the
      // write and the key's record): it may have written or not, and nothing here can tell. Taken
      // over, it ran a second time (two tasks for one key, 11 minutes apart): a new key instead,
      // once the client has looked.
      const interrupted = existing.state === 'in_progress' && existing.createdAt.getTime() < now - IN_PROGRESS_STALE_MS
      if (existing.requestHash !== req.hash && !req.sameAs?.(existing.requestHash)) {
        throw new AppError(
          'idempotency_conflict',
          `Idempotency-Key conflict: this key was already used with a different request (${existing.method} ${existing.path} or another body). Use a new key for a new request.`,
        )
      }
      // Its request answered while the database was out of reach, so its key could not be freed
      // (a 503 saying "retry") or given its answer: done now, as this retry shows the database
      // answers again; it was 409 idempotency_in_progress until the key went stale.
      if ((existing.state === 'in_progress' || existing.state === COMMITTED) && (await req.settle?.(existing.id))) continue
      const started = existing.state === COMMITTED || existing.state === ANSWER_LOST ? existing.responseHeaders?.[STARTED_EXECUTION] : undefined
      if (existing.state === ANSWER_LOST && started !== undefined) {
        throw new AppError(
          'idempotency_interrupted',
          `Idempotency-Key of a request whose answer was lost: the request first sent with this key (${existing.method} ${existing.path}) recorded execution ${started}, but the database connection was lost as it was, so it was answered with an error; it is not run again. Read it with GET /api/v1/executions/${started}: one failed as "not started" never ran (start it again with a new key); otherwise follow it there.`,
          { details: { since: existing.createdAt.toISOString(), committed: true, executionId: started } },
        )
      }
      if (existing.state === ANSWER_LOST) {
        throw new AppError(
          'idempotency_interrupted',
          `Idempotency-Key of a request whose answer was lost: the request first sent with this key (${existing.method} ${existing.path}) took effect, in whole or in part (changes of it were committed), but the database failed as they were or after, so it was answered with an error; it is not run again. Look at what it did (e.g. list what it created), rather than sending it again.`,
          { details: { since: existing.createdAt.toISOString(), committed: true } },
        )
      }
      if (interrupted || (existing.state === COMMITTED && existing.createdAt.getTime() < now - IN_PROGRESS_STALE_MS)) {
        throw new AppError(
          'idempotency_interrupted',
          `Idempotency-Key of an interrupted request: the request first sent with this key (${existing.method} ${existing.path}) started ${Math.round((now - existing.createdAt.getTime()) / 60_000)} minutes ago and has not answered (its server stopped, or it is still running: a long synchronous execute), so it may or may not take effect; it is not run again. Check whether it did (e.g. list what it would have created), then send it with a new key if needed.`,
          { details: { since: existing.createdAt.toISOString(), ...(started !== undefined ? { executionId: started } : {}) } },
        )
      }
      if (existing.state !== 'completed') {
        throw new AppError('idempotency_in_progress', 'Idempotency-Key in use: a request with this key is still being processed. Retry after it finishes.')
      }
      const createdId = existing.responseHeaders?.[WITHHELD]
      if (createdId !== undefined && existing.responseHeaders?.[WITHHELD_KIND] === 'stream') {
        throw new AppError(
          'idempotency_stream_started',
          `Idempotency-Key already used: that request started execution ${createdId} as a stream, which is not run again or replayed. Read its status and result with GET /api/v1/executions/${createdId}.`,
          { details: { executionId: createdId } },
        )
      }
      if (createdId !== undefined) {
        throw new AppError(
          'idempotency_secret_withheld',
          `Idempotency-Key already used: that request created ${createdId}, whose secret was shown only once and is not stored. Use it if you kept it; otherwise revoke ${createdId} and create a new one with a new key.`,
          { details: { createdId } },
        )
      }
      const { [ANSWERED_FOR_ROLE]: answeredFor, [STARTED_EXECUTION]: executionId, ...headers } = existing.responseHeaders ?? {}
      if (answeredFor !== undefined && req.role !== undefined && roleRanksBelow(req.role, answeredFor)) {
        // The work was done (the answer is stored), but for the role the caller had then: their
        // role is lower since (an admin made a member, a member a viewer), and the answer may hold
        // what they may no longer read. Not replayed, and not run again either. One made higher
        // (a member made admin) may see all the answer shows: replayed. An execute's names the
        // execution it started (an id, not its answer), so that a client follows it there.
        throw new AppError(
          'idempotency_interrupted',
          `Idempotency-Key of a request that was done while your role in this organization was ${answeredFor}; it is ${req.role} now, so its answer is not replayed (it may show what you may no longer see), and it is not run again. ${executionId !== undefined ? `It started execution ${executionId}: read it with GET /api/v1/executions/${executionId} if you may.` : 'Look at what it did with what you may read now (e.g. GET the object it changed or created), rather than sending it again.'}`,
          { details: { since: existing.createdAt.toISOString(), committed: true, roleThen: answeredFor, roleNow: req.role, ...(executionId !== undefined ? { executionId } : {}) } },
        )
      }
      const body = existing.responseBody === null ? null : JSON.parse(deps.box.open(existing.responseBody, `idem:${existing.id}`))
      return { kind: 'replay', status: existing.responseStatus ?? 200, body, headers }
    }
    throw new AppError('idempotency_in_progress', 'Idempotency-Key in use: a request with this key is still being processed. Retry after it finishes.')
  }

  /**
   * Stores the first response, its body sealed with the server key. With `withheld` (a response
   * that held a secret, or a stream) no body is stored at all: only which object the request
   * created.
   */
  async complete(id: string, status: number, body: unknown, headers: Record<string, string>, withheld?: { id: string; kind: WithheldKind }): Promise<void> {
    const { deps } = this
    // An execute's answer (its result, and its last message) escaped once, and the JSON kept for
    // the response that sends it next (jsonTextKept): a route's value, which nothing changes since.
    const json = withheld === undefined ? (typeof body === 'object' && body !== null ? jsonTextKept(body) : JSON.stringify(body ?? null)) : null
    // A large body (an execute's answer: MiBs) is serialized, sealed and written in event-loop
    // turns of their own: at once, they held every other request for the three together.
    const large = json !== null && json.length >= LARGE_BODY_CHARS
    if (large) await afterOtherRequests()
    const sealed = json === null ? null : deps.box.seal(json, `idem:${id}`)
    if (large) await afterOtherRequests()
    // The execution an execute started stays named with its answer: a retry refused its replay (a
    // role lower since) is told which one. Its answer names it (`executionId`, as the execute
    // routes answer, synchronous or not): no read of what markWorkCommitted wrote, a round trip on
    // every keyed write's answer (the client CLI keys every POST and PATCH).
    const executionId = withheld === undefined && typeof body === 'object' && body !== null ? (body as { executionId?: unknown }).executionId : undefined
    const started = typeof executionId === 'string' ? executionId : undefined
    await deps.db
      .update(idempotencyKeys)
      .set({ state: 'completed', responseStatus: status, responseBody: sealed, responseHeaders: withheld === undefined ? { ...headers, ...(started !== undefined ? { [STARTED_EXECUTION]: started } : {}) } : { [WITHHELD]: withheld.id, [WITHHELD_KIND]: withheld.kind } })
      .where(eq(idempotencyKeys.id, id))
      .run()
  }

  /**
   * Frees a key whose request failed, so the client may retry with it. `outcomeUnknown`: the
   * failure does not say what was written (the database connection lost, a COMMIT whose answer
   * never came; an internal error): the key is freed only when its request's work did not commit
   * (markWorkCommitted, written in the work's own transaction: the DELETE waits for a transaction
   * still holding the row, and sees its outcome); one whose work committed is kept, as ANSWER_LOST,
   * never to run again. Any other failure is a deliberate answer of the route and frees the key.
   */
  async release(id: string, outcomeUnknown: boolean | 'committed' = false): Promise<void> {
    const t = idempotencyKeys
    // Its answer (a 503 for the database) says part of its work committed: never run again,
    // whether or not that part marked the key (a write outside withTx does not).
    if (outcomeUnknown === 'committed') {
      await this.deps.db.update(t).set({ state: ANSWER_LOST }).where(and(eq(t.id, id), inArray(t.state, ['in_progress', COMMITTED]))).run()
      return
    }
    if (!outcomeUnknown) {
      await this.deps.db.delete(t).where(and(eq(t.id, id), inArray(t.state, ['in_progress', COMMITTED]))).run()
      return
    }
    await this.deps.db.delete(t).where(and(eq(t.id, id), eq(t.state, 'in_progress'))).run()
    await this.deps.db.update(t).set({ state: ANSWER_LOST }).where(and(eq(t.id, id), eq(t.state, COMMITTED))).run()
  }
}

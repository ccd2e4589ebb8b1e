import type { Actor, Origin } from './actor'
import { recordAudit, type AuditInput, type AuditLog } from './audit/log'
import { currentActor } from './auth/revoked'
import type { Caller } from './auth/principal'
import type { Clock } from './clock'
import type { Config } from './config'
import type { SecretBox } from './crypto/secretbox'
import { connectionOf, type Db, type DbConnection } from './db/connection'
import { errorCodes, transactionConflict } from './db/unavailable'
import { markWorkCommitted } from './idempotency/service'
import type { Logger } from './logger'

export type { Actor, Origin } from './actor'

/** What every service call gets from the runtime (src/runtime.ts). */
export interface Services {
  db: Db
  clock: Clock
  box: SecretBox
  log: Logger
  audit: AuditLog
  config: Config
}

/**
 * A service call's context (openstatus' ServiceContext): the database — or the transaction the
 * call runs in —, the clock, the secret box, the logger and the audit log, who acts (`actor`)
 * and in which request. Services take it first and never see HTTP.
 */
export interface Ctx extends Services {
  actor: Actor
  requestId: string | null
  origin: Origin | null
  /**
   * The record id of the request's Idempotency-Key, when it was sent one (src/http/idempotency.ts):
   * every transaction of the request marks it as committed with its work (withTx).
   */
  idempotencyKeyId: string | null
}

export function contextOf(services: Services, actor: Actor, request: { requestId?: string | null; origin?: Origin | null; idempotencyKeyId?: string | null } = {}): Ctx {
  return {
    db: services.db,
    clock: services.clock,
    box: services.box,
    log: services.log,
    audit: services.audit,
    config: services.config,
    actor,
    requestId: request.requestId ?? null,
    origin: request.origin ?? null,
    idempotencyKeyId: request.idempotencyKeyId ?? null,
  }
}

/** The server acting on its own (start-up, the execution engine). */
export const systemContext = (services: Services): Ctx => contextOf(services, { kind: 'system' })

/** The admin CLI, working on the database file. */
export const operatorContext = (services: Services): Ctx => contextOf(services, { kind: 'operator' })

/**
 * The caller of a context that acts for a token or a console session (the same services serve
 * both); anything else is a programming error.
 */
export function callerOf(ctx: Ctx): Caller {
  if (ctx.actor.kind !== 'token' && ctx.actor.kind !== 'session') throw new Error(`this service needs a caller; it was called for ${ctx.actor.kind}`)
  return ctx.actor.principal
}

/**
 * Runs `fn` in a transaction: the context it hands `fn` queries through the transaction, so
 * everything `fn` does with it (audit events included) commits or rolls back together. Inside a
 * transaction already, `fn` joins it. Use only the context `fn` is given: a statement through
 * the outer one fails (src/db/connection.ts). A request's actor comes with the role its user
 * holds at the start of the transaction (src/auth/current-role.ts): decisions by role belong
 * inside it. A request authenticated by a token (or a CLI sign-in) whose revocation has come into
 * force since is refused there, 401 token_revoked and nothing written (src/auth/revoked.ts): a
 * request is let in before its body is read, and a body still uploading when its token was
 * revoked (a stolen token's PATCH making its accomplice admin) wrote after the revocation. Both
 * are one statement (currentActor), which on PostgreSQL holds the credential's row for the rest of
 * the transaction: a revocation committing meanwhile waits for this one's commit.
 */
export async function withTx<T>(ctx: Ctx, fn: (tx: Ctx) => Promise<T>): Promise<T> {
  const conn = connectionOf(ctx.db)
  if (conn.isTransaction(ctx.db)) return fn(ctx)
  // PostgreSQL rolls a transaction back whole to end a deadlock (40P01) or a serialization
  // failure (40001): nothing of it was written, so it is run again from its start, up to
  // TX_ATTEMPTS times in all, a few milliseconds apart (then the error: a 503 with Retry-After).
  // Both were a refusal of a request that nothing was wrong with (40001 a 500).
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTxOnce(conn, ctx, fn)
    } catch (e) {
      if (attempt >= TX_ATTEMPTS || !transactionConflict(e)) throw e
      ctx.log.warn('transaction_retried', { requestId: ctx.requestId, code: errorCodes(e).find((c) => c.startsWith('40')), attempt })
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt))
    }
  }
}

/** How many times withTx runs a transaction the database rolled back for a concurrent one (transactionConflict). */
export const TX_ATTEMPTS = 3

async function withTxOnce<T>(conn: DbConnection, ctx: Ctx, fn: (tx: Ctx) => Promise<T>): Promise<T> {
  const later: (() => void)[] = []
  const result = await conn.transaction(async (db) => {
    committedHooks.set(db, later)
    try {
      const actor = await currentActor(db, ctx.actor, ctx.clock.now())
      const result = await fn({ ...ctx, db, actor })
      // With the work, in its transaction: a COMMIT whose answer is lost leaves the key's state
      // telling whether it landed (a key is never freed while its work may have committed).
      if (ctx.idempotencyKeyId !== null) await markWorkCommitted(db, ctx.idempotencyKeyId)
      return result
    } finally {
      // Before COMMIT, while the transaction is still this one: SQLite hands every transaction
      // the same handle, and the next must not find these.
      committedHooks.delete(db)
    }
  })
  for (const f of later) f()
  return result
}

/**
 * Runs `fn`, a write of one statement that relies on no read (its conditions are in the statement
 * itself), as it is; but in a request sent with an Idempotency-Key, in a transaction of its own
 * with the key's mark (markWorkCommitted), so that a connection lost as it commits never frees a
 * key whose work landed. That transaction takes no lock and waits for no other (DbConnection
 * transaction `alone`): serialized as withTx's are, keyed task writes took five times as long.
 */
export async function withKeyMarked<T>(ctx: Ctx, fn: (tx: Ctx) => Promise<T>): Promise<T> {
  const conn = connectionOf(ctx.db)
  const key = ctx.idempotencyKeyId
  if (key === null || conn.isTransaction(ctx.db)) return fn(ctx)
  const later: (() => void)[] = []
  const result = await conn.transaction(async (db) => {
    committedHooks.set(db, later)
    try {
      const result = await fn({ ...ctx, db })
      await markWorkCommitted(db, key)
      return result
    } finally {
      committedHooks.delete(db)
    }
  }, { alone: true })
  for (const f of later) f()
  return result
}

/** What each open transaction of withTx does once it has committed (afterCommit). */
const committedHooks = new WeakMap<Db, (() => void)[]>()

/**
 * Runs `f` once the transaction `ctx` queries through has committed (withTx's; at once outside
 * one), never when it rolls back: for what must tell only of a change that was made — a log line
 * such as `execution_cancelled`, written from inside the transaction, told of a cancel that a
 * later failure (an audit event refused) rolled back. Lines about a failure itself (why it rolled
 * back) are written at once, not through this.
 */
export function afterCommit(ctx: Pick<Ctx, 'db'>, f: () => void): void {
  const hooks = committedHooks.get(ctx.db)
  if (hooks) hooks.push(f)
  else f()
}

/**
 * Runs a change and records its audit events in one transaction (withTx: joined when there is
 * one already), so they commit together or not at all, on SQLite and PostgreSQL: a crash or an
 * error between the two leaves neither. `events` says what happened from `fn`'s result (null or
 * an empty list: nothing changed, nothing recorded); each event's actor, source, address, user
 * agent and request id come from the context, as recordAudit's do.
 */
export function audited<T>(ctx: Ctx, fn: (tx: Ctx) => Promise<T>, events: (result: T) => AuditInput | readonly AuditInput[] | null): Promise<T> {
  return withTx(ctx, async (tx) => {
    const result = await fn(tx)
    const list = events(result)
    for (const e of list == null ? [] : Array.isArray(list) ? list : [list as AuditInput]) await recordAudit(tx, e)
    return result
  })
}

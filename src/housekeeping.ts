import type { Clock } from './clock'
import type { Config } from './config'
import { deleteEndedSessions } from './console/session'
import { deleteStaleSignInFailures } from './console/throttle'
import { connectionOf, SqliteConnection, type Db } from './db/connection'
import { errorMessage } from './errors'
import { deleteStaleLiveProbes } from './db/settings'
import { deleteExpiredIdempotencyKeys } from './idempotency/service'
import type { Logger } from './logger'
import { AUDIT_PRUNE_BATCH, deleteAuditEventsBefore } from './modules/audit/retention'
import { deleteEndedCliSessions, deleteExpiredAccessTokens, deleteFinishedLoginCodes } from './modules/cli-auth/cleanup'
import { deleteExecutionTreesBefore, EXECUTION_PRUNE_BATCH } from './modules/executions/retention'
import { deleteSpentLinks } from './modules/users/links'

/**
 * The hourly housekeeping of `teamday serve`, on SQLite and PostgreSQL alike: it deletes what is
 * dead by any reading (ended console sessions; CLI sign-ins 30 days after their refresh token
 * expired or they were revoked, with their access tokens; access tokens a day after they expired;
 * finished login codes; one-time links a day after they were used or expired; expired
 * Idempotency-Keys and sign-in failure counts that no longer count, which were otherwise deleted
 * only as new ones came in; the `serve --reuse-port` probes a start that crashed left behind) and, when the operator asked for it, audit events older than
 * TEAMDAY_AUDIT_RETENTION_DAYS and finished executions (with their logs) older than
 * TEAMDAY_EXECUTION_RETENTION_DAYS. Nothing else ever deleted them. On SQLite it then brings the
 * planner's statistics up to date where a table changed a lot (SqliteConnection.optimize).
 *
 * It rides on the lease sweep's timer (src/engine/leases.ts, every half lease), which tells it of
 * each tick; it runs at the first tick (the start) and then at the first tick an hour or more
 * after its last run, by the runtime's clock (tests move it). Every statement deletes a bounded
 * batch (1,000 rows, or 250 delegation trees with their logs) and the next waits for a turn of the
 * event loop, so a big backlog never holds the write lock for long (SQLite has one writer) and
 * requests go on between batches. Several instances on one database each run it: deleting rows
 * another just deleted deletes nothing, so that is harmless.
 */

export const HOUSEKEEPING_EVERY_MS = 3_600_000
/** Rows per statement for the small rows (sessions, tokens, codes, links). */
const BATCH = 1000
const DAY_MS = 86_400_000

export interface HousekeepingDeps {
  db: Db
  clock: Clock
  log: Logger
  config: Pick<Config, 'auditRetentionDays' | 'executionRetentionDays'>
}

/** What one run deleted, per kind. */
export interface HousekeepingCounts {
  consoleSessions: number
  cliSessions: number
  cliAccessTokens: number
  cliLoginCodes: number
  oneTimeLinks: number
  idempotencyKeys: number
  signInFailures: number
  /** `serve --reuse-port` probes a start that crashed while asking left behind (src/db/settings.ts). */
  reusePortProbes: number
  auditEvents: number
  executions: number
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

export class Housekeeping {
  private lastRun: number | null = null
  private running: Promise<HousekeepingCounts> | null = null
  private stopping = false

  constructor(private readonly deps: HousekeepingDeps) {}

  /** A tick of the timer it rides on: starts a run when one is due; never waits for it, never throws. */
  tick(): void {
    void this.runIfDue()
  }

  /**
   * Runs when none ran yet, or an hour or more has passed since the last one started (a clock set
   * back counts as due), unless one is running or the server is stopping. Resolves with what the
   * run deleted, or null when none was due.
   */
  runIfDue(): Promise<HousekeepingCounts | null> {
    const now = this.deps.clock.now()
    if (this.running || this.stopping) return Promise.resolve(null)
    if (this.lastRun !== null && now >= this.lastRun && now - this.lastRun < HOUSEKEEPING_EVERY_MS) return Promise.resolve(null)
    this.lastRun = now
    const run = this.run(now).finally(() => {
      if (this.running === run) this.running = null
    })
    this.running = run
    return run
  }

  /** Stops starting batches, and waits for the one in flight (before the database closes). */
  async stop(): Promise<void> {
    this.stopping = true
    await this.running
  }

  private async run(now: number): Promise<HousekeepingCounts> {
    const { db, config, log } = this.deps
    const started = performance.now()
    const audit = config.auditRetentionDays
    const runs = config.executionRetentionDays
    const counts: HousekeepingCounts = {
      consoleSessions: await this.drain('consoleSessions', BATCH, (n) => deleteEndedSessions(db, now, n)),
      cliSessions: await this.drain('cliSessions', BATCH, (n) => deleteEndedCliSessions(db, now, n)),
      cliAccessTokens: await this.drain('cliAccessTokens', BATCH, (n) => deleteExpiredAccessTokens(db, now, n)),
      cliLoginCodes: await this.drain('cliLoginCodes', BATCH, (n) => deleteFinishedLoginCodes(db, now, n)),
      oneTimeLinks: await this.drain('oneTimeLinks', BATCH, (n) => deleteSpentLinks(db, now, n)),
      idempotencyKeys: await this.drain('idempotencyKeys', BATCH, (n) => deleteExpiredIdempotencyKeys(db, now, n)),
      signInFailures: await this.drain('signInFailures', BATCH, (n) => deleteStaleSignInFailures(db, now, n)),
      reusePortProbes: await this.drain('reusePortProbes', BATCH, (n) => deleteStaleLiveProbes(db, n)),
      auditEvents: audit === null ? 0 : await this.drain('auditEvents', AUDIT_PRUNE_BATCH, async (n) => (await deleteAuditEventsBefore(db, now - audit * DAY_MS, n)).length),
      executions: runs === null ? 0 : await this.drain('executions', EXECUTION_PRUNE_BATCH, (n) => deleteExecutionTreesBefore(db, now - runs * DAY_MS, n)),
    }
    // SQLite's statistics, taken anew where a table changed a lot (PostgreSQL's autovacuum
    // analyzes its tables itself; serve warns when it is off).
    const conn = connectionOf(db)
    if (conn instanceof SqliteConnection && !this.stopping) {
      try {
        conn.optimize()
      } catch (e) {
        log.warn('housekeeping_failed', { kind: 'optimize', error: errorMessage(e) })
      }
    }
    if (Object.values(counts).some((n) => n > 0)) {
      log.info('housekeeping', { deleted: counts, durationMs: Math.round(performance.now() - started), auditRetentionDays: audit, executionRetentionDays: runs })
    }
    return counts
  }

  /**
   * One kind, batch after batch, until a batch comes back short (nothing more to delete now) or
   * the server stops. A failure is logged and ends this kind's turn, not the others'.
   */
  private async drain(kind: keyof HousekeepingCounts, limit: number, batch: (limit: number) => Promise<number>): Promise<number> {
    let total = 0
    try {
      for (;;) {
        if (this.stopping) return total
        const n = await batch(limit)
        total += n
        if (n < limit) return total
        await nextTurn()
      }
    } catch (e) {
      this.deps.log.warn('housekeeping_failed', { kind, deletedBefore: total, error: errorMessage(e) })
      return total
    }
  }
}

import { and, eq, getTableColumns, inArray, isNull, lt, ne, notInArray, or, sql, type SQL } from 'drizzle-orm'
import type { Clock } from '../clock'
import { connectionOf, type Db } from '../db/connection'
import { dbNow, dbTime, dialect, executions, type Execution } from '../db/schema'
import { errorMessage } from '../errors'
import type { Logger } from '../logger'
import { ACTIVE, addLog } from './store'

/**
 * Execution leases, for several processes on one database (PostgreSQL instances, or `teamday
 * serve --reuse-port` processes on one SQLite file): each unfinished execution names the
 * instance that queued or runs it (`instance_id`) and holds a lease (`lease_expires_at`) that
 * instance renews while it works (Engine, one UPDATE every lease/3 for all of them, on either
 * database). An instance that dies (kill -9, a lost machine) stops renewing; once its leases
 * lapse, any other instance fails those executions (`failLapsed`, at start-up and every lease/2:
 * `startLeaseSweep`), and no instance fails another's runs while that one renews their leases.
 * A restart after a crash is the same case: the new process fails the old one's runs once their
 * leases lapse (at most TEAMDAY_EXECUTION_LEASE_MS after the crash, and the next sweep), not at
 * once: it cannot tell them from a live neighbour's. An instance cut off from the database for
 * longer than a lease cannot be told from a dead one: its runs are failed by the others, and it
 * stops them when it reads their rows again (Engine's watcher).
 *
 * A lease is written and judged by one clock (leaseUntil, leaseTime): on PostgreSQL the database's
 * (clock_timestamp() in the statements that write a lease, now() in those that judge it), since instances on several machines
 * have clocks that disagree; judged by each instance's own, one whose clock ran ahead of another's
 * by more than a lease failed that one's live runs, and one behind kept a dead one's runs alive
 * that much longer. On SQLite every process on the file runs on one machine, whose clock is
 * the process's (its injected Clock): leases are written and judged by that.
 */

/**
 * The lease clock's now, `offsetMs` on (src/engine/leases.ts): the database's on PostgreSQL,
 * the process's (`now`) on SQLite, as a value for a statement (compared with or written to
 * `lease_expires_at`).
 */
export function leaseTime(now: number, offsetMs = 0): SQL {
  return dialect === 'pg' ? dbNow(offsetMs) : sql`${dbTime(now + offsetMs)}`
}

/**
 * The end of a lease written now, `leaseMs` on, by the lease clock (leaseTime): on PostgreSQL
 * the database's clock when the statement runs (clock_timestamp()), not its transaction's start
 * (now()). The insert of a run waits in its transaction for the advisory lock that serializes
 * every instance's transactions (src/db/pg.ts): behind another instance's long transaction (a
 * `teamday rekey`, a lock held to the statement timeout, 30 s by default, as long as the default
 * lease), a lease counted from the transaction's start was that much shorter, lapsed or nearly so
 * once committed, and another instance's sweep failed the run just queued before its first
 * renewal. The statements that judge a lease keep now() (leaseTime): within a transaction that
 * waited it is earlier, which only judges a lease more leniently.
 */
export function leaseUntil(now: number, leaseMs: number): SQL {
  return dialect === 'pg' ? sql.raw(`(clock_timestamp() + interval '${Math.trunc(leaseMs)} milliseconds')`) : sql`${dbTime(now + leaseMs)}`
}

/**
 * Whether an execution's lease has lapsed (or it has none) by the lease clock, as a column of the
 * statement that reads the row (1 or 0): never a lease read and held against this process's clock.
 */
export function leaseLapsed(now: number): SQL<number> {
  return sql`(CASE WHEN ${executions.leaseExpiresAt} IS NULL OR ${executions.leaseExpiresAt} < ${leaseTime(now)} THEN 1 ELSE 0 END)`.mapWith(Number)
}

/** An execution's row, and whether its lease has lapsed (leaseLapsed), in one read. */
export async function rowAndLease(db: Db, id: string, now: number): Promise<{ row: Execution; lapsed: boolean } | undefined> {
  const got = await db
    .select({ ...getTableColumns(executions), lapsed: leaseLapsed(now) })
    .from(executions)
    .where(eq(executions.id, id))
    .get()
  if (!got) return undefined
  const { lapsed, ...row } = got
  return { row: row as Execution, lapsed: lapsed === 1 }
}

/**
 * Renews the leases of the executions this instance queues or runs, a lease from when the
 * renewal is written (`now` is the clock, read then). On PostgreSQL the statement reads the
 * database's clock as it runs (leaseUntil); on SQLite it runs in a transaction and reads the
 * clock once that holds the file's write lock: read before, behind another `--reuse-port`
 * process's long write (up to the busy timeout), each renewal was that much short of a lease, as
 * a run's first lease was (createJob, src/engine/prepare.ts).
 */
export async function renewLeases(db: Db, ids: readonly string[], instanceId: string, now: () => number, leaseMs: number): Promise<void> {
  if (ids.length === 0) return
  const renew = (d: Db) => {
    const until = leaseUntil(now(), leaseMs)
    // A renewal never shortens a lease: one that read the clock earlier and lands later (two
    // renewals in flight at once) left the later one's lease overwritten by its own, shorter.
    return d
      .update(executions)
      .set({ instanceId, leaseExpiresAt: sql`CASE WHEN ${executions.leaseExpiresAt} > ${until} THEN ${executions.leaseExpiresAt} ELSE ${until} END` as unknown as Date })
      .where(and(inArray(executions.id, [...ids]), inArray(executions.status, ACTIVE)))
      .run()
  }
  const conn = connectionOf(db)
  if (conn.dialect === 'sqlite') await conn.transaction(async (tx) => void (await renew(tx)))
  else await renew(db)
}

/** The error of an execution failed for its lapsed lease (failLapsed). */
export const LAPSED = 'interrupted: the instance running it stopped, or could not reach the database, for longer than its lease (its lease lapsed)'

/**
 * Fails unfinished executions whose lease lapsed (or that never had one), except those `self`
 * still holds: the instance sweeping is alive, so the runs it runs or queues are too, even when
 * it could not renew their leases (a database outage longer than a lease). `held`: the ids its
 * engine runs or queues now. One of its own rows it no longer holds is failed like another's: a
 * run whose end could not be recorded (the database out of reach, its disk full, at that moment)
 * stayed `running` for the life of the process, and four of them took every slot of
 * TEAMDAY_MAX_CONCURRENT_EXECUTIONS. Returns how many.
 */
export async function failLapsed(
  db: Db,
  now: number,
  self: string | null,
  reason = LAPSED,
  held?: readonly string[],
  /** Only these executions (a cancel's: Engine.cancel); without it, every one the rule takes. */
  only?: readonly string[],
): Promise<number> {
  const at = new Date(now)
  // Without `held`, none of self's rows; with it, self's but those.
  const spared = self === null || held?.length === 0 ? undefined : held === undefined ? or(isNull(executions.instanceId), ne(executions.instanceId, self)) : or(isNull(executions.instanceId), ne(executions.instanceId, self), notInArray(executions.id, [...held]))
  // Its end by this clock, but never before its start: the run was started by the instance that
  // held it, whose clock may run ahead of this one's (another machine), and a completedAt before
  // startedAt gave it a negative duration. A pending run (no startedAt) ends at `at`. A CASE, as
  // PostgreSQL's GREATEST and SQLite's max() treat a NULL start differently.
  const end = sql`(CASE WHEN ${executions.startedAt} > ${dbTime(now)} THEN ${executions.startedAt} ELSE ${dbTime(now)} END)`
  const rows = await db
    .update(executions)
    .set({ status: 'failed', error: reason, errorCode: 'service_unavailable', completedAt: end as unknown as Date, updatedAt: at })
    .where(and(inArray(executions.status, ACTIVE), or(isNull(executions.leaseExpiresAt), lt(executions.leaseExpiresAt, leaseTime(now))), spared, only === undefined ? undefined : inArray(executions.id, [...only])))
    .returning({ id: executions.id })
    .all()
  for (const r of rows) await addLog(db, r.id, now, 'error', 'interrupted', { reason })
  return rows.length
}

export interface SweepDeps {
  db: Db
  clock: Clock
  log: Logger
  /** The sweeping instance (the runs it holds are alive: never failed by its sweep). */
  instanceId: string
  /** The executions this instance runs or queues now (Engine.held); without it, all of its own are spared. */
  held?: () => readonly string[]
  leaseMs: number
  /**
   * Other periodic work riding on this timer rather than a timer of its own (the hourly
   * housekeeping, src/housekeeping.ts): told of every tick, at start-up too, it decides itself
   * whether it is due and never holds the lease sweep up; stopped with it.
   */
  also?: readonly Periodic[]
  /**
   * Tells `also` of the start this long after the start-up sweep instead of with it (serve: once
   * its start is over, so that the first housekeeping pass, a dozen statements, does not compete
   * with the start and its first requests). A stop before then cancels it; a tick of the timer
   * that comes first tells them anyway.
   */
  alsoFirstAfterMs?: number
}

/** Work told of each tick of the lease sweep's timer (see SweepDeps.also). */
export interface Periodic {
  /** Starts its work when due; returns at once and never throws. */
  tick(): void
  /** Starts nothing more and resolves once what runs has ended. */
  stop(): Promise<void>
}

/** One sweep: fails the executions whose lease lapsed, and logs how many. */
export async function sweepLapsed(d: SweepDeps): Promise<number> {
  const n = await failLapsed(d.db, d.clock.now(), d.instanceId, undefined, d.held?.())
  if (n > 0) d.log.warn('executions_interrupted', { count: n, reason: 'lease lapsed' })
  return n
}

/**
 * What `teamday serve` runs, on both databases: a sweep at start-up (what a crash left behind
 * whose leases lapsed already), then one every half lease (the rest, and any instance that dies
 * later). Never everything unfinished at start-up: another process on the same database
 * (--reuse-port on one SQLite file, another PostgreSQL instance) runs and queues its own, and
 * failing them aborted its model calls. Each tick also tells `also` (the housekeeping). Returns how
 * many the first sweep failed, and `stop`.
 */
export async function startLeaseSweep(d: SweepDeps): Promise<{ interrupted: number; stop: () => Promise<void> }> {
  const interrupted = await sweepLapsed(d)
  const others = d.also ?? []
  const tellOthers = () => {
    for (const p of others) p.tick()
  }
  let first: ReturnType<typeof setTimeout> | null = null
  if (d.alsoFirstAfterMs === undefined) tellOthers()
  else {
    first = setTimeout(tellOthers, d.alsoFirstAfterMs)
    ;(first as { unref?: () => void }).unref?.()
  }
  const timer = setInterval(() => {
    sweepLapsed(d).catch((e) => d.log.warn('lease_sweep_failed', { error: errorMessage(e) }))
    for (const p of others) p.tick()
  }, d.leaseMs / 2)
  // Never what keeps a process alive.
  ;(timer as { unref?: () => void }).unref?.()
  return {
    interrupted,
    stop: async () => {
      clearInterval(timer)
      if (first !== null) clearTimeout(first)
      await Promise.all(others.map((p) => p.stop()))
    },
  }
}

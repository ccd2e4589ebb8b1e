import type { Clock } from './clock'
import { errorMessage } from './errors'
import type { Logger } from './logger'

/**
 * The clock of an instance on PostgreSQL: the database's, followed between readings by this
 * machine's monotonic clock. Instances on several machines store and compare instants through one
 * database (a rate-limit or sign-in window one opened and another judges, a token's expiry or a
 * rotation's grace period one wrote, a console session, an Idempotency-Key, a sign-in code, the
 * approval page's stamp, a row's createdAt that orders lists), and each machine's own clock
 * disagrees with the others' by as much as NTP has not corrected yet (seconds to minutes after a
 * boot, more after a VM's suspend). Read by each instance's own clock, a window opened by an
 * instance 90 s ahead looked like one made before a clock was set back to the other, which
 * restarted it at each request: requests alternating between the two never spent a token's
 * budget, an address's failed authentications or an account's sign-in throttle (found for the
 * clock-skew review, test/pg-clock-skew.test.ts).
 *
 * The database's clock is read at start and every SYNC_EVERY_MS (clock_timestamp(), the reading
 * with the shortest round trip of a few, placed at its middle); `now()` is the last reading plus
 * the monotonic time since. So this machine's wall clock never shows: neither its offset from the
 * database's nor a step of it (NTP, an operator) while the process runs. A reading that fails (the
 * database out of reach) keeps the last one. Leases are judged in SQL by the database's clock
 * itself (src/engine/leases.ts). SQLite needs none of this: every process on the file is on one
 * machine.
 */
export class DatabaseClock implements Clock {
  /** The database's time (ms since the epoch) at the last reading, and this machine's monotonic time then. */
  private at = 0
  private monoAt = 0
  private timer: ReturnType<typeof setInterval> | null = null
  /** Whether the last reading found this machine's wall clock off by more than SKEW_WARN_MS (said once until it is back within). */
  private skewed = false

  constructor(
    private readonly machine: Clock,
    /** One reading of the database's clock, ms since the epoch. */
    private readonly read: () => Promise<number>,
    private readonly log: Logger,
    /**
     * A command that runs once (the admin CLI's): one reading, not SAMPLES (each a round trip
     * before the command's own work; the shortest of several only sharpens the offset by part of
     * a round trip), and its skew said at debug level, not warned on every command's stderr.
     */
    private readonly brief = false,
  ) {}

  /** A clock read from the database now, and again every `everyMs` until stop(). */
  static async start(machine: Clock, read: () => Promise<number>, log: Logger, everyMs = SYNC_EVERY_MS, brief = false): Promise<DatabaseClock> {
    const c = new DatabaseClock(machine, read, log, brief)
    await c.sync()
    c.timer = setInterval(() => void c.sync().catch((e) => log.debug('database_clock_unread', { error: errorMessage(e) })), everyMs)
    ;(c.timer as { unref?: () => void }).unref?.()
    return c
  }

  now = (): number => Math.floor(this.at + (this.machine.monotonic() - this.monoAt))

  monotonic = (): number => this.machine.monotonic()

  /** Reads the database's clock (SAMPLES times, the shortest round trip kept). */
  async sync(): Promise<void> {
    let best: { rtt: number; at: number; mono: number } | null = null
    for (let i = 0; i < (this.brief ? 1 : SAMPLES); i++) {
      const before = this.machine.monotonic()
      const at = await this.read()
      const after = this.machine.monotonic()
      if (best === null || after - before < best.rtt) best = { rtt: after - before, at, mono: (before + after) / 2 }
    }
    this.at = best!.at
    this.monoAt = best!.mono
    const offsetMs = Math.round(this.machine.now() - this.now())
    const skewed = Math.abs(offsetMs) > SKEW_WARN_MS
    if (skewed && !this.skewed) this.log[this.brief ? 'debug' : 'warn']('clock_skew', { offsetMs, note: "this machine's clock is off the database's by that much (positive: ahead); teamday keeps time by the database's, but sync the machines' clocks (NTP)" })
    this.skewed = skewed
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }
}

/** How often the database's clock is read again (a drift of the machine's monotonic clock never adds up past a few milliseconds). */
export const SYNC_EVERY_MS = 60_000
/** Readings per sync: the one with the shortest round trip is kept (its middle is the closest to the database's instant). */
const SAMPLES = 3
/** An offset of this machine's wall clock from the database's past which the log says so (clock_skew). */
export const SKEW_WARN_MS = 5_000

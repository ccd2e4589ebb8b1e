export interface Clock {
  /** Milliseconds since the epoch: the wall clock, for instants (what is stored and shown). */
  now(): number
  /**
   * Milliseconds on a clock that never steps (its origin means nothing): for durations, which the
   * wall clock gets wrong when it is stepped (NTP, an operator) while they run.
   */
  monotonic(): number
}

export const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() }

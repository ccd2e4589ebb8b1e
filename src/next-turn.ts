/**
 * Resolves once the event loop has read its sockets and run its timers: the requests that came
 * in meanwhile are handled before what awaits it. For work that handles MiBs in steps (a run's
 * end with a large answer), between the steps.
 *
 * A timer, not setImmediate: on Bun 1.4 the callback of a setImmediate runs before the sockets
 * are read again. Measured (2026-12, bench as in docs/performance.md, "The end of a run with a
 * large answer"): a server doing 10 ms of work, setImmediate, 10 ms more, kept a client's
 * requests waiting as long as one 20 ms block did (p90 20-25 ms, p99 26-53 ms); with setTimeout(0)
 * in between, half as long (p90 0.3-8 ms, p99 12-18 ms).
 */
export function afterOtherRequests(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0))
}

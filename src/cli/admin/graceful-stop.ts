import { errorMessage } from '../../errors'
import type { Logger } from '../../logger'

/** A listening server: an Elysia app or a Bun server (`stop(true)` cuts the connections still open). */
export interface Stoppable {
  stop(closeActiveConnections?: boolean): Promise<unknown>
}

export interface StopParts {
  /** The HTTP listeners (the API, the separate metrics listener). */
  servers: Stoppable[]
  /** The execution engine (src/engine/runner.ts `shutdown`). */
  engine: { shutdown(graceMs: number): Promise<void> }
  /** Closes the database (SQLite's file, PostgreSQL's pool): the very last step. */
  close: () => Promise<void>
  log: Logger
  /** How long running executions may take to finish before they are aborted. */
  graceMs: number
  /** How long in-flight requests may take to end once the engine has stopped; then they are cut. */
  drainMs: number
  /**
   * First, for `closingMs`: every answer says `Connection: close` (and readiness 503) while the
   * listeners still accept. Then no kept-alive connection is left idle for the stop to close
   * under a request its client sends at that moment.
   */
  closing?: { drain: { closing: boolean }; closingMs: number }
}

const sleep = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))

/**
 * The graceful stop of `teamday serve` (SIGTERM, SIGINT), in this order:
 *
 * 0. for `closing.closingMs`, answers close their connections (`Connection: close`) and readiness
 *    is 503: a keep-alive connection in use gets its request's answer and is closed by it, where
 *    the stop below closed it as idle under a request just sent (a reset, the request lost: 8 of
 *    8 busy connections at every stop, found from outside);
 * 1. stop accepting: the listeners close (a load balancer's next connection is refused and
 *    goes to another instance), idle keep-alive connections are closed, each busy one closes once
 *    its response is sent;
 * 2. the engine stops (src/engine/runner.ts `shutdown`): no new runs, this instance's queued runs
 *    fail, its running ones get `graceMs` to finish, then are aborted; other instances' runs are
 *    not touched;
 * 3. the in-flight requests end (a synchronous execute answers with its run), at most `drainMs`
 *    more, after which the connections still open are cut;
 * 4. only then the database closes: no request still in flight can find its pool ended.
 *
 * A step that fails is logged and does not skip the next ones: the database is never closed under
 * a request that may still use it.
 */
export async function gracefulStop(p: StopParts): Promise<void> {
  if (p.closing) {
    p.closing.drain.closing = true
    await sleep(p.closing.closingMs)
  }
  // Which listeners have drained: the cut below is only for the others (an Elysia app asked to
  // stop once it has stopped prints "Elysia isn't running" and a stack trace to stdout).
  const done = new Set<Stoppable>()
  const stopped = p.servers.map((s) =>
    s.stop().then(
      () => {
        done.add(s)
        return 'drained' as const
      },
      (e) => {
        p.log.warn('http_stop_failed', { error: errorMessage(e) })
        return 'drained' as const
      },
    ),
  )
  try {
    await p.engine.shutdown(p.graceMs)
  } catch (e) {
    p.log.warn('engine_shutdown_failed', { error: errorMessage(e) })
  }
  const drained = await Promise.race([Promise.all(stopped), sleep(p.drainMs)])
  if (drained === 'timeout') {
    p.log.warn('http_drain_timeout', { afterMs: p.drainMs, note: 'requests still in flight were cut' })
    await Promise.all(p.servers.filter((s) => !done.has(s)).map((s) => s.stop(true).catch(() => {})))
    // The cut connections' handlers may still be running: give them a moment to see it.
    await Promise.race([Promise.all(stopped), sleep(1000)])
  }
  await p.close()
}

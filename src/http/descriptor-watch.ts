import { readdirSync, readFileSync } from 'node:fs'

/**
 * Open files (sockets included) against the process's limit, looked at every few seconds, and
 * said in the log when they run out. With every descriptor taken (`ulimit -n` or systemd's
 * `LimitNOFILE` hard limit reached by open connections), the listener cannot accept: new
 * connections wait in the kernel's backlog until one closes (an idle keep-alive connection after
 * the idle timeout), Bun's accept loop takes a core meanwhile (measured: 40–70 % of a CPU), and
 * nothing was logged. Now `file_descriptors_exhausted` (warn) says so once, and
 * `file_descriptors_available` (info) once the count is back under RECOVERED of the limit; in
 * between, idle keep-alive connections are closed at each look (watchDescriptors' `closeIdle`).
 * Bun gives no way to pause accepting (nor the spare descriptor nginx and libev keep for
 * EMFILE): the spin lasts until a descriptor is free.
 *
 * Read from /proc/self/fd (a directory listing: no file of the process, SQLite's least of all,
 * is opened or closed; DESIGN.md). Elsewhere than Linux, nothing is watched.
 */
export interface DescriptorCount {
  /** Descriptors open now; null when they cannot even be listed (no descriptor left to list them with). */
  open: number | null
  /** The soft limit (RLIMIT_NOFILE), null when unknown. */
  limit: number | null
}

/** Exhausted: fewer descriptors left than this (the listener's next accepts, a database file, a model call's socket). */
export const SPARE_DESCRIPTORS = 8
/** Available again: at most this share of the limit in use (no line for each connection that comes and goes at the edge). */
export const RECOVERED = 0.9
/** A listing of /proc/self/fd took 0.9 ms at 300 descriptors, 4.9 ms at 10,000 (2026-12-07): at most 0.25 % of the main thread. */
export const DESCRIPTOR_CHECK_MS = 2000

export interface DescriptorLog {
  warn(msg: string, fields: Record<string, unknown>): void
  info(msg: string, fields: Record<string, unknown>): void
}

/** One look: logs a change of state, and returns the state now (true: exhausted). */
export function descriptorState(count: DescriptorCount, exhausted: boolean, log: DescriptorLog): boolean {
  const { open, limit } = count
  if (limit === null) return exhausted
  const full = open === null || open >= limit - SPARE_DESCRIPTORS
  if (full && !exhausted) {
    log.warn('file_descriptors_exhausted', {
      open: open ?? limit,
      limit,
      note: 'open files and connections have reached the limit: new connections wait unanswered until some close (idle ones close after the idle timeout). Raise the limit (systemd LimitNOFILE=, docker --ulimit nofile=, ulimit -n) or put a proxy that limits connections in front',
    })
    return true
  }
  if (exhausted && open !== null && open <= limit * RECOVERED) {
    log.info('file_descriptors_available', { open, limit })
    return false
  }
  return exhausted
}

/** The process's own count (Linux); null where /proc is not there. */
export function procDescriptors(): (() => DescriptorCount) | null {
  const limit = softLimit()
  if (limit === null) return null
  return () => {
    try {
      return { open: readdirSync('/proc/self/fd').length, limit }
    } catch (e) {
      // EMFILE/ENFILE: listing takes a descriptor of its own, and none is left. Anything else: not known.
      const code = (e as { code?: string }).code
      return code === 'EMFILE' || code === 'ENFILE' ? { open: null, limit } : { open: null, limit: null }
    }
  }
}

function softLimit(): number | null {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return line ? Number(line[1]) : null
  } catch {
    return null
  }
}

/**
 * Looks every `everyMs` (a timer that does not keep the process alive); returns its stop. A
 * look that took long (the listing grows with the descriptors: 4.9 ms at 10,000, so some 30 ms
 * near systemd's LimitNOFILE of 65,536, on the main thread) puts the next one off, so that the
 * watch never takes more than a thousandth of the process's CPU: it waits SPENT_SHARE⁻¹ times the
 * CPU the last look took, at most LONGEST_WAIT_MS.
 */
export function watchDescriptors(
  log: DescriptorLog,
  count: (() => DescriptorCount) | null = procDescriptors(),
  everyMs = DESCRIPTOR_CHECK_MS,
  now: () => number = cpuMs,
  closeIdle?: () => number,
): () => void {
  if (count === null) return () => {}
  let exhausted = false
  let timer: ReturnType<typeof setTimeout> | null = null
  let stopped = false
  const look = () => {
    const started = now()
    exhausted = descriptorState(count(), exhausted, log)
    // At each look while exhausted, the keep-alive connections that wait for nothing are closed:
    // their descriptors go to the connections waiting in the backlog (they waited for the idle
    // timeout, 30 s, while Bun's accept loop spun on EMFILE). Requests under way are untouched.
    if (exhausted && closeIdle) {
      const closed = closeIdle()
      if (closed > 0) log.info('idle_connections_closed', { closed, note: 'every descriptor was taken: idle keep-alive connections were closed so that waiting ones are accepted' })
    }
    if (stopped) return
    timer = setTimeout(look, nextLookMs(everyMs, now() - started))
    ;(timer as { unref?: () => void }).unref?.()
  }
  timer = setTimeout(look, everyMs)
  ;(timer as { unref?: () => void }).unref?.()
  return () => {
    stopped = true
    if (timer !== null) clearTimeout(timer)
  }
}

/** The share of the main thread the watch may take (watchDescriptors). */
export const SPENT_SHARE = 0.001
/** The longest the watch waits between looks, however long the last one took (a minute: the exhaustion is said within it). */
export const LONGEST_WAIT_MS = 60_000

/** How long the watch waits after a look that cost `spentMs` of CPU (watchDescriptors). */
export function nextLookMs(everyMs: number, spentMs: number): number {
  return Math.min(LONGEST_WAIT_MS, Math.max(everyMs, spentMs / SPENT_SHARE))
}

/** The process's CPU time in ms: what a look costs, not the wall time a descheduled thread also counts. */
function cpuMs(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

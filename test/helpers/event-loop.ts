/**
 * How the event loop fared while `f` ran, seen by a 1 ms timer that notes each firing: `longest`,
 * the most `clock` advanced between two firings (or from the last to the end), and `ticks`, how
 * often it fired. By the wall clock (default), the longest time the loop was held; by the main
 * thread's CPU clock, the most work done in one turn (what a loaded machine does not stretch).
 */
export async function watchEventLoop<T>(f: () => Promise<T>, clock: () => number = () => performance.now()): Promise<{ value: T; longest: number; ticks: number }> {
  let last = clock()
  let longest = 0
  let ticks = 0
  const timer = setInterval(() => {
    const now = clock()
    longest = Math.max(longest, now - last)
    last = now
    ticks++
  }, 1)
  let value: T
  try {
    value = await f()
  } finally {
    clearInterval(timer)
  }
  return { value, longest: Math.max(longest, clock() - last), ticks }
}

/** The main thread's CPU time in ms (user and system): watchEventLoop's clock for work done in a turn. */
export function threadCpuMs(): number {
  const u = process.threadCpuUsage()
  return (u.user + u.system) / 1000
}

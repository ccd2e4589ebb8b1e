/**
 * The compiled binary starts with JavaScriptCore's tier-up thresholds scaled by
 * STARTUP_JIT_POLICY (scripts/build.ts, `--compile-jit-policy`): a start evaluates hundreds of
 * modules and registers every route once, code that runs once or a few hundred times, and the
 * JIT compiled much of it for nothing, on the main thread and on threads of its own that compete
 * for the cores. A client or admin command ends before the scale matters; `serve` sets the
 * normal policy back once it has started (normalJitAfterStart), so that requests tier up as
 * they always did. Run from source (`bun src/main.ts`, the tests) the policy is the normal one
 * throughout, and setting it again changes nothing.
 */
export const STARTUP_JIT_POLICY = 10

/** How long after listening `serve` keeps the start-up policy: its first requests run start-up code too (each route's handler and validators compile on first use). */
export const STARTUP_JIT_MS = 1000

/**
 * Schedules the return to JavaScriptCore's normal JIT policy; the timer keeps no process alive.
 * Returns its cancellation, for a server stopped before then.
 */
export function normalJitAfterStart(ms = STARTUP_JIT_MS): () => void {
  const timer = setTimeout(() => Bun.unsafe.setJITPolicy(1), ms)
  ;(timer as { unref?: () => void }).unref?.()
  return () => clearTimeout(timer)
}

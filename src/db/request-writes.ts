import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * Whether a request's work has committed a change: a 503 for the database (src/http/errors.ts)
 * said "Nothing was changed by this request" also when an earlier part of it had committed (an
 * execute that recorded its execution and then started it, a token created and its last use
 * recorded, a console form's several steps): only the statement that failed was rolled back.
 *
 * The HTTP app runs each request inside `trackRequestWrites` (src/app.ts). Its work starts when
 * its service context is made (`requestWorkStarted`: src/http/context.ts, the console's): what
 * commits before that is the request's bookkeeping (rate-limit counters, a token's or a session's
 * last use, its Idempotency-Key's claim), not a change it asked for. From then on the database
 * layer reports each commit that changed a row (`changesCommitted`: a transaction that wrote, a
 * write outside one that changed a row; src/db/connection.ts, src/db/pg.ts), and anything the
 * request started meanwhile (a run it began) reports with it.
 */
export class RequestWrites {
  /** Whether the request's work has started (its service context was made). */
  working = false
  /** Commits of the request's work that changed rows. */
  commits = 0
}

const scope = new AsyncLocalStorage<RequestWrites>()

/** Runs `fn` (one request's handling) with its own record of commits. */
export function trackRequestWrites<T>(fn: () => T): T {
  return scope.run(new RequestWrites(), fn)
}

/** The request's work begins: commits from now on are its changes. */
export function requestWorkStarted(): void {
  const w = scope.getStore()
  if (w) w.working = true
}

/** A commit that changed rows, in whatever request (if any) is running. */
export function changesCommitted(): void {
  const w = scope.getStore()
  if (w?.working) w.commits++
}

/** Whether the running request's work has committed changes already (false outside a request). */
export function requestCommitted(): boolean {
  return (scope.getStore()?.commits ?? 0) > 0
}

/** A data-modifying statement's first word; a WITH query modifies when one of its parts does. */
const MODIFYING = /^\s*(?:insert|update|delete|replace)\b/i
const MODIFYING_PART = /\b(?:insert\s+into|update\s+"?\w+"?\s+set|delete\s+from)\b/i

/** Whether `sql` is a statement that may change rows (not a read, also not a WITH … SELECT). */
export function modifies(sql: string): boolean {
  return MODIFYING.test(sql) || (/^\s*with\b/i.test(sql) && MODIFYING_PART.test(sql))
}

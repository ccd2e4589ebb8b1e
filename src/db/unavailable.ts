/** PostgreSQL's SQLSTATEs of a database that cannot take this request now (not of a bad request). */
const PG_UNAVAILABLE: Record<string, string> = {
  '55P03': 'The database is busy: a lock this request needs is held by another session.',
  '57014': 'The database is busy: a statement ran into its timeout (TEAMDAY_DB_STATEMENT_TIMEOUT_MS).',
  '40P01': 'The database is busy: this request was chosen to end a deadlock.',
  // Only under an isolation level above READ COMMITTED (default_transaction_isolation set on the
  // database or teamday's role): a 500 "internal error" before.
  '40001': 'The database is busy: this request could not be serialized with a concurrent one (SQLSTATE 40001).',
  '57P01': 'The database is restarting or shutting down.',
  '57P02': 'The database is restarting or shutting down.',
  '57P03': 'The database is starting up and not accepting connections yet.',
  '25006': 'The database takes no writes (a read-only standby, or default_transaction_read_only).',
  '53300': 'The database has no connection to spare (too many clients).',
  '53100': 'The database server is out of disk space.',
  '53200': 'The database server is out of memory.',
  '58030': 'The database server could not read or write its files (an I/O error).',
  // A REVOKE (or an ownership change) while the server runs: every request failed as a 500
  // "internal error", and a start printed drizzle's failed SQL with its parameters.
  '42501': "The database refused teamday's role access to its tables or schema (permission denied, SQLSTATE 42501): an operator must grant the role its privileges again.",
  // A new pool connection refused while the server runs (its other connections ended: a restart,
  // pg_terminate_backend): a pg_hba.conf change, a role made NOLOGIN or renamed, a password rotated
  // on the database before teamday's URL, the database renamed. Every request was a 500 "internal error".
  '28000': "The database refused teamday's connection (SQLSTATE 28000: no pg_hba.conf entry allows it, or its role does not exist or may not log in): an operator must allow it again.",
  '28P01': "The database refused teamday's password (SQLSTATE 28P01): the password in the database URL does not match its role's (changed on one side only); an operator must make them match.",
  '3D000': 'The database named in the database URL does not exist (SQLSTATE 3D000: dropped or renamed): an operator must restore it or correct the URL.',
}

/** SQLite's (extended) result codes of a file that cannot take a write now, by prefix. */
const SQLITE_UNAVAILABLE: [prefix: string, why: string][] = [
  ['SQLITE_BUSY', 'The database is busy: another process holds its write lock (an admin command, a rekey or a restore).'],
  ['SQLITE_LOCKED', 'The database is busy: another process holds its write lock (an admin command, a rekey or a restore).'],
  ['SQLITE_FULL', 'The disk holding the database is full.'],
  ['SQLITE_READONLY_DBMOVED', 'The database file was deleted, moved or replaced while the server ran: nothing more is written to it. Put the file back and restart the server (or restore a backup).'],
  ['SQLITE_READONLY', 'The database file cannot be written (its permissions, its folder\'s, or a read-only mount).'],
  ['SQLITE_IOERR', 'The database file could not be read or written (an I/O error of its disk).'],
  ['SQLITE_CANTOPEN', 'The database file could not be opened.'],
]
/**
 * Driver and socket codes of a database out of reach: refused, reset, timed out, closed; its host
 * name not resolving (ENOTFOUND, EAI_AGAIN: deploy/compose.yaml's `db` while its container
 * restarts, Docker's DNS forgetting it meanwhile) or its host without a route (EHOSTUNREACH,
 * ENETUNREACH), or a connection aborted (ECONNABORTED). The last five were a 500 "internal
 * error", and a run's end written meanwhile was not tried again.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED'])
/** Of NETWORK_CODES, a host name that does not resolve: said so, as "not answering" would send an operator to the server. */
const NAME_NOT_RESOLVED = new Set(['ENOTFOUND', 'EAI_AGAIN'])

/**
 * A TLS handshake the server ended (node's words for it, with ECONNRESET): said as such, as "not
 * answering" sent an operator looking for a server that did answer, without TLS.
 */
const TLS_REFUSED = "The database ended the connection during the TLS handshake: it does not offer TLS (PostgreSQL's ssl setting is off), while the URL's sslmode requires it (require, verify-ca, verify-full, or a client certificate); turn TLS on in PostgreSQL, or use sslmode=prefer or disable."

function tlsRefused(error: unknown): boolean {
  let e: unknown = error
  for (let depth = 0; depth < 5 && e instanceof Error; depth++) {
    if (e.message.includes('before secure TLS connection was established')) return true
    e = e.cause
  }
  return false
}

/**
 * teamday's tables gone from under a running server (dropped, the database emptied or replaced by
 * one that was never migrated, a search_path or schema that no longer has them): every request
 * was a 500 "internal error", logged with the failed SQL, one line per request. A 503 saying so.
 */
export const SCHEMA_MISSING = "The database does not have teamday's tables (dropped, or a database or schema that was never migrated): an operator must restore a backup (teamday restore), or run teamday migrate to create empty ones."

/**
 * Whether `error` (or a cause) says a table the statement names does not exist: PostgreSQL's
 * SQLSTATE 42P01 (undefined_table: "relation … does not exist"), SQLite's "no such table"
 * (SQLITE_ERROR, told only by its message).
 */
export function schemaMissing(error: unknown): boolean {
  let e: unknown = error
  for (let depth = 0; depth < 5 && e !== null && typeof e === 'object'; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown }
    // 42P01 is also "missing FROM-clause entry for table", a statement's own bug: only a relation
    // that does not exist is a schema gone (a bug must stay a 500 with its SQL in the log).
    // Told apart by the routine that raised it, which PostgreSQL never translates (the message is
    // in the server's lc_messages): errorMissingRTE for the FROM-clause entry.
    if (code === '42P01' && (e as { routine?: unknown }).routine !== 'errorMissingRTE') return true
    if (typeof code === 'string' && code.startsWith('SQLITE_ERROR') && typeof message === 'string' && message.startsWith('no such table: ')) return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}

/**
 * Why the database cannot serve this request right now, when that is what `error` (or one of
 * its causes: drizzle wraps the driver's error) says: a SQLite file locked by another writer (an
 * admin command, `teamday rekey`, a backup restore) past the busy timeout, its disk full, its
 * file read-only or failing, or PostgreSQL busy, restarting, read-only, out of space or out of reach. Those are the server's state, not the request's fault
 * nor a bug: 503 with Retry-After, where they were a 500 "internal error". Else null.
 */
export function databaseUnavailable(error: unknown): string | null {
  if (tlsRefused(error)) return TLS_REFUSED
  if (schemaMissing(error)) return SCHEMA_MISSING
  for (const code of errorCodes(error)) {
    if (code.startsWith('SQLITE_')) {
      for (const [prefix, why] of SQLITE_UNAVAILABLE) if (code.startsWith(prefix)) return why
    }
    if (PG_UNAVAILABLE[code] !== undefined) return PG_UNAVAILABLE[code]!
    if (NAME_NOT_RESOLVED.has(code)) return "The database's host name does not resolve (its DNS lookup failed)."
    if (NETWORK_CODES.has(code)) return 'The database is not answering.'
  }
  return null
}

/**
 * Codes of a PostgreSQL that is not up yet at a start: nothing listening (refused, reset, no
 * route), its host name not resolving yet (a container still being created), nothing answering
 * as PostgreSQL in time, a server starting up, shutting down or full (57P03, 57P01, 57P02,
 * 53300). `teamday serve` waits for them (TEAMDAY_DB_START_WAIT_MS: compose or systemd starting
 * it before the database, where it exited 1 at once); what waiting cannot fix fails at once: a
 * password refused (28P01), no pg_hba.conf entry (28000), a database that does not exist (3D000),
 * TLS refused by the server, a privilege missing.
 */
const NOT_UP_YET = new Set([...NETWORK_CODES].filter((c) => c !== 'CONNECTION_ENDED').concat(['57P01', '57P02', '57P03', '53300']))

/** How often a start waiting for the database says so (`database_waiting`, createRuntime: across its attempts and the first contact's retries inside each). */
export const DATABASE_WAITING_SAID_EVERY_MS = 5000

/** The code of a start that waited TEAMDAY_DB_START_WAIT_MS for the database in vain (PgConnection.waitForDatabase). */
export const DATABASE_NOT_UP = 'DATABASE_NOT_UP'

/** The code of a start's wait for the database ended by a signal (SIGTERM while it waited: src/cli/admin/serve.ts). */
export const WAIT_STOPPED = 'WAIT_STOPPED'

/** The error of a start's wait for the database at `where` ended by `stop` (its reason: the signal). */
export function waitStopped(stop: AbortSignal, where: string): Error {
  return Object.assign(new Error(`stopped (${String(stop.reason)}) while waiting for the database at ${where}`), { code: WAIT_STOPPED })
}

/** Waits `ms`, or fails with WAIT_STOPPED as soon as `stop` is aborted (waitStopped). */
export async function pauseUnlessStopped(ms: number, stop: AbortSignal | undefined, where: string): Promise<void> {
  if (stop?.aborted) throw waitStopped(stop, where)
  let timer: ReturnType<typeof setTimeout> | undefined
  let onAbort = () => {}
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(resolve, ms)
      onAbort = () => reject(waitStopped(stop!, where))
      stop?.addEventListener('abort', onAbort, { once: true })
    })
  } finally {
    clearTimeout(timer)
    stop?.removeEventListener('abort', onAbort)
  }
}

/** `work`'s outcome, or a failure with WAIT_STOPPED as soon as `stop` is aborted (`work` then goes on unheard). */
export async function untilStopped<T>(work: Promise<T>, stop: AbortSignal | undefined, where: string): Promise<T> {
  if (stop === undefined) return work
  if (stop.aborted) throw waitStopped(stop, where)
  work.catch(() => {})
  let onAbort = () => {}
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => {
      onAbort = () => reject(waitStopped(stop, where))
      stop.addEventListener('abort', onAbort, { once: true })
    })])
  } finally {
    stop.removeEventListener('abort', onAbort)
  }
}

/** Whether `error` (or a cause) says the database is not up yet, so that waiting for it may help (NOT_UP_YET). */
export function notUpYet(error: unknown): boolean {
  if (tlsRefused(error)) return false
  return errorCodes(error).some((c) => NOT_UP_YET.has(c))
}

/** `error` as an operator reads it: why the database cannot take it (databaseUnavailable), then the innermost error's own words. */
export function unavailableReason(error: unknown): string {
  let inner = error
  for (let depth = 0; depth < 5 && inner instanceof Error && inner.cause instanceof Error; depth++) inner = inner.cause
  const words = inner instanceof Error ? inner.message : String(inner)
  const why = databaseUnavailable(error)
  return why === null ? words : `${why} (${words})`
}

/**
 * Codes of a connection lost with a statement in flight (reset, closed, or no answer by the
 * deadline): the server may have run it. Not ECONNREFUSED nor CONNECT_TIMEOUT (no connection, so
 * nothing was sent), nor ENOTFOUND or EAI_AGAIN (a name lookup, before any connection), nor
 * CONNECTION_ENDED (the pool was shut down before the statement went). EHOSTUNREACH,
 * ENETUNREACH and ECONNABORTED are counted in flight: mostly a connect()'s, but Linux also ends
 * an established connection with EHOSTUNREACH (ICMP errors while it retransmits), so a statement
 * may have gone; "not known" is the answer that is never false.
 */
const LOST_IN_FLIGHT = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED'])

/** Errors of a COMMIT whose answer was lost (markCommitInDoubt): whether it landed is not known. */
const commitsInDoubt = new WeakSet<object>()

/**
 * Marks `error`, the failure of a transaction whose COMMIT was in flight, when it is a connection
 * lost (LOST_IN_FLIGHT): the COMMIT may have landed on the server, so "nothing was changed" is not
 * known (src/http/errors.ts answers it so). A COMMIT the server answered with an error (a
 * serialization failure, a full disk) did not commit: not marked. Returns `error`.
 */
export function markCommitInDoubt(error: unknown): unknown {
  if (error !== null && typeof error === 'object' && errorCodes(error).some((c) => LOST_IN_FLIGHT.has(c))) commitsInDoubt.add(error)
  return error
}

/** Whether `error` (or one of its causes) is a transaction's failure whose COMMIT may have landed (markCommitInDoubt). */
export function commitInDoubt(error: unknown): boolean {
  let e: unknown = error
  for (let depth = 0; depth < 5 && e !== null && typeof e === 'object'; depth++) {
    if (commitsInDoubt.has(e)) return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}

/** PostgreSQL's SQLSTATEs of a transaction rolled back whole because of a concurrent one: a deadlock (40P01), a serialization failure (40001). */
const CONFLICTS = new Set(['40P01', '40001'])

/**
 * Whether `error` says its transaction was rolled back whole by the database to let a concurrent
 * one through (CONFLICTS), so that running the whole transaction again is safe and likely to pass.
 * Not a COMMIT whose answer was lost (commitInDoubt): that one may have landed.
 */
export function transactionConflict(error: unknown): boolean {
  return !commitInDoubt(error) && errorCodes(error).some((c) => CONFLICTS.has(c))
}

/** Codes that will not pass by waiting: the pool was shut down, the file was moved away, a privilege was revoked, the connection refused by authentication, the database gone (and, schemaMissing, its tables gone). */
const FOR_GOOD = new Set(['CONNECTION_ENDED', 'SQLITE_READONLY_DBMOVED', '42501', '28000', '28P01', '3D000'])

/** Whether `error` (or a cause) says the database will not take writes again by waiting (FOR_GOOD). */
export function unavailableForGood(error: unknown): boolean {
  return schemaMissing(error) || errorCodes(error).some((c) => FOR_GOOD.has(c))
}

/** Whether `error` says the database cannot take the write now but may by waiting (not FOR_GOOD): worth trying again. */
export function unavailableForNow(error: unknown): boolean {
  return databaseUnavailable(error) !== null && !unavailableForGood(error)
}

/** Codes of a database that did not answer in time: a statement timeout, a connection not made, no answer by the deadline. */
const TIMED_OUT = new Set(['57014', 'CONNECT_TIMEOUT', 'ETIMEDOUT'])

/** Whether `error` (or a cause) says the database did not answer within its time (waiting again would take as long). */
export function timedOut(error: unknown): boolean {
  return errorCodes(error).some((c) => TIMED_OUT.has(c))
}

/** The string codes of `error` and of its causes (drizzle wraps the driver's error), outermost first. */
export function errorCodes(error: unknown): string[] {
  const codes: string[] = []
  let e: unknown = error
  for (let depth = 0; depth < 5 && e !== null && typeof e === 'object'; depth++) {
    const { code } = e as { code?: unknown }
    if (typeof code === 'string') codes.push(code)
    e = (e as { cause?: unknown }).cause
  }
  return codes
}

/**
 * Runs `write` again while the database cannot take it (databaseUnavailable: a restart, a
 * refused or dropped connection, a lock held past the busy timeout), backing off from 50 ms to
 * 1 s, for at most `windowMs` of elapsed time; then, or on any other error, throws what the last
 * attempt threw. Only for writes that are safe to send twice: a dropped connection may have
 * carried the first attempt to the server (the engine's are conditional updates, which change
 * nothing the second time). `onRetry` hears each failure that will be retried.
 */
export async function retryWhileUnavailable<T>(write: () => Promise<T>, windowMs: number, onRetry?: (error: unknown, attempt: number) => void): Promise<T> {
  const start = performance.now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await write()
    } catch (e) {
      const pause = Math.min(50 * 2 ** (attempt - 1), 1000)
      if (!unavailableForNow(e) || performance.now() - start + pause > windowMs) throw e
      onRetry?.(e, attempt)
      await new Promise((resolve) => setTimeout(resolve, pause))
    }
  }
}

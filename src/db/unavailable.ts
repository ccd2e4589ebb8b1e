/** PostgreSQL's SQLSTATEs of a database that cannot take this request now (not of a bad request). */
const PG_UNAVAILABLE: Record<string, string> = {
  '55P03': 'The database is busy: a lock this request needs is held by another session.',
  '57014': 'The database is busy: a statement ran into its timeout (TEAMDAY_DB_STATEMENT_TIMEOUT).',
  '40P01': 'The database is busy: this request was chosen to end a deadlock.',
  '57P01': 'The database is restarting or shutting down.',
  '57P02': 'The database is restarting or shutting down.',
  '57P03': 'The database is starting up and not accepting connections yet.',
  '25006': 'The database takes no writes (a read-only standby, or default_transaction_read_only).',
  '53300': 'The database has no connection to spare (too many clients).',
}
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT'])

/**
 * Why the database cannot serve this request right now, when that is what `error` (or one of
 * its causes: drizzle wraps the driver's error) says: a SQLite file locked by another writer (an
 * admin command, `teamday rekey`, a backup restore) past the busy timeout, or PostgreSQL busy,
 * restarting, read-only or out of reach. Those are the server's state, not the request's fault
 * nor a bug: 503 with Retry-After, where they were a 500 "internal error". Else null.
 */
export function databaseUnavailable(error: unknown): string | null {
  let e: unknown = error
  for (let depth = 0; depth < 5 && e !== null && typeof e === 'object'; depth++) {
    const { code } = e as { code?: unknown }
    if (typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))) {
      return 'The database is busy: another process holds its write lock (an admin command, a rekey or a restore).'
    }
    if (typeof code === 'string' && PG_UNAVAILABLE[code] !== undefined) return PG_UNAVAILABLE[code]!
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return 'The database is not answering.'
    e = (e as { cause?: unknown }).cause
  }
  return null
}

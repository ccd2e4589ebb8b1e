import { Database, type Statement } from 'bun:sqlite'

/**
 * "Has anything been committed to the database since I last looked?", for the row cache of
 * the connection (src/db/sqlite.ts), which must see every commit, including commits by other
 * connections and processes sharing the file (the admin CLI, a second instance).
 *
 * Only what SQLite reports through its API is used (never its files: see DESIGN.md, "Never
 * touch SQLite's own files"):
 * - this connection's own writes, told by the connection at its one choke point (every
 *   statement that is not a plain SELECT calls `noteWrite()` when it runs);
 * - `PRAGMA data_version`, which changes when another connection has committed. It is a
 *   statement (a read transaction, a few system calls), so it is sampled at most once per
 *   event-loop turn, at the first look in that turn. A request read from a socket in a later
 *   turn than a commit therefore sees it: a revocation by `teamday tokens revoke` refuses the
 *   very next request. Requests already read in the same turn as the commit are concurrent
 *   with it and may be answered from before it. A sample taken outside a request (a timer's
 *   housekeeping pass or lease sweep) ends in that turn's immediates, which Bun runs before it
 *   polls the sockets again: a request that arrived meanwhile is read after the sample ended
 *   (test/read-cache.test.ts holds this order).
 */
export class ChangeSignal {
  private gen = 0
  private version: unknown = undefined
  private sampled = false
  private closed = false
  private stmt: Statement | undefined
  private readonly unsample = () => {
    this.sampled = false
  }

  constructor(private readonly client: Database) {}

  /** A number that differs from the previous call's whenever a commit happened in between. */
  generation(): number {
    if (this.closed) return ++this.gen
    if (!this.sampled) {
      // Compiled by bun:sqlite's own prepare: never through the caching one in src/db/sqlite.ts.
      this.stmt ??= Database.prototype.prepare.call(this.client, 'PRAGMA data_version')
      // Sampled only once read: a look that throws (SQLITE_BUSY, an I/O error) left the turn's
      // later looks answering from before a commit they never asked about.
      const v = (this.stmt.values() as unknown[][])[0]![0]
      this.sampled = true
      setImmediate(this.unsample)
      if (v !== this.version) {
        this.version = v
        this.gen++
      }
    }
    return this.gen
  }

  /** This connection wrote (or may have): the next look reports a change. */
  noteWrite(): void {
    this.gen++
  }

  close(): void {
    this.closed = true
    this.stmt?.finalize()
    this.stmt = undefined
  }
}

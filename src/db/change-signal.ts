import { Database, type Statement } from 'bun:sqlite'
import { existsSync } from 'node:fs'
import type { DB } from './client'

/**
 * "Has anything been committed to the database since I last looked?" answered without running
 * a statement, for in-process read caches (src/cache/read-cache.ts) that must see every write,
 * including writes by other processes sharing the file (the admin CLI, a second instance).
 *
 * SQLite in WAL mode keeps a wal-index header at the start of the `-shm` file, which every
 * connection maps into memory; each commit, by any connection of any process, rewrites it
 * (the last frame number, its checksum and the WAL salts change; https://sqlite.org/walformat.html,
 * "The WAL-Index Header"). We map the first 48 bytes read-only-by-convention and compare them
 * with the copy taken at the previous look: a few nanoseconds, where a statement costs
 * microseconds. While this process holds its connection open SQLite never truncates that file.
 *
 * Where the header cannot be mapped (an in-memory database, a file not in WAL mode) the
 * fallback asks SQLite: `total_changes()` counts this connection's writes (the only writer of an
 * in-memory database) and `data_version` changes when another connection commits to the file.
 *
 * A PostgreSQL backend would implement the same interface from LISTEN/NOTIFY.
 */
export interface ChangeSignal {
  /** A number that differs from the previous call's whenever a commit happened in between. */
  generation(): number
  close(): void
}

const HEADER_WORDS = 12

class WalHeaderSignal implements ChangeSignal {
  /** The mapped header; null when it could not be mapped (then the fallback answers); undefined before the first look. */
  private words: Uint32Array | null | undefined
  private readonly seen = new Uint32Array(HEADER_WORDS)
  private gen = 0
  private closed = false

  constructor(
    private readonly shmPath: string,
    private readonly fallback: ChangeSignal,
  ) {}

  /** One attempt, at the first look (after start-up has opened the WAL): never a system call per request. */
  private map(): Uint32Array | null {
    if (!existsSync(this.shmPath)) return null
    try {
      const bytes = Bun.mmap(this.shmPath, { size: HEADER_WORDS * 4 })
      if (bytes.byteLength < HEADER_WORDS * 4) return null
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, HEADER_WORDS)
      this.seen.set(words)
      return words
    } catch {
      return null
    }
  }

  generation(): number {
    if (this.closed) return ++this.gen
    if (this.words === undefined) this.words = this.map()
    const w = this.words
    if (w === null) return this.fallback.generation()
    const s = this.seen
    // Words 2..11: change counter, page size, last frame, page count, checksums, salts.
    for (let i = 2; i < HEADER_WORDS; i++) {
      if (w[i] !== s[i]) {
        s.set(w)
        return ++this.gen
      }
    }
    return this.gen
  }

  close(): void {
    this.closed = true
    this.words = null
    this.fallback.close()
  }
}

class StatementSignal implements ChangeSignal {
  private stmt: Statement | undefined
  private last = ''
  private gen = 0
  private closed = false

  constructor(private readonly db: DB) {}

  generation(): number {
    if (this.closed) return ++this.gen
    // Compiled by bun:sqlite's own prepare: never through the caching one in src/db/sqlite.ts.
    this.stmt ??= Database.prototype.prepare.call(this.db.$client, 'SELECT total_changes() AS c, (SELECT data_version FROM pragma_data_version()) AS v')
    const row = this.stmt.get() as { c: number; v: number }
    const stamp = `${row.c}:${row.v}`
    if (stamp !== this.last) {
      this.last = stamp
      this.gen++
    }
    return this.gen
  }

  close(): void {
    this.closed = true
    this.stmt?.finalize()
    this.stmt = undefined
  }
}

const signals = new WeakMap<DB, ChangeSignal>()

/** Called by openDatabase: `file` is the database file, or null for an in-memory database. */
export function attachChangeSignal(db: DB, file: string | null): void {
  const fallback = new StatementSignal(db)
  signals.set(db, file ? new WalHeaderSignal(`${file}-shm`, fallback) : fallback)
}

export function changeSignal(db: DB): ChangeSignal {
  let s = signals.get(db)
  if (!s) signals.set(db, (s = new StatementSignal(db)))
  return s
}

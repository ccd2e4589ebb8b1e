import { changeSignal, type ChangeSignal } from '../db/change-signal'
import type { DB } from '../db/client'

/**
 * Results of hot reads (the token look-up of every authenticated request, data versions),
 * kept in memory only until the next commit to the database by anyone: the database's change
 * signal (src/db/change-signal.ts) is this cache's one invalidation point. A revocation, a
 * role change or a removed membership, whether made through the API, the admin CLI or another
 * instance on the same file, is therefore seen by the very next request, and nothing here
 * needs to be told about writes.
 *
 * Values must be treated as read-only by callers: they are shared between requests.
 */
export class ReadCache {
  private readonly entries = new Map<string, unknown>()
  private gen = -1

  constructor(
    private readonly signal: ChangeSignal,
    private readonly maxEntries = 10_000,
  ) {}

  /** The cached value for `key`, or `load()`'s when absent; `undefined` results are not kept. */
  get<T>(key: string, load: () => T | undefined): T | undefined {
    const g = this.signal.generation()
    if (g !== this.gen) {
      this.entries.clear()
      this.gen = g
    }
    let v = this.entries.get(key) as T | undefined
    if (v === undefined) {
      v = load()
      if (v !== undefined) {
        // Bounded: a flood of distinct keys empties the cache rather than growing it.
        if (this.entries.size >= this.maxEntries) this.entries.clear()
        this.entries.set(key, v)
      }
    }
    return v
  }

  get size(): number {
    return this.entries.size
  }
}

const caches = new WeakMap<DB, ReadCache>()

/** The read cache of a database handle (one per handle, shared by every module). */
export function readCache(db: DB): ReadCache {
  let c = caches.get(db)
  if (!c) caches.set(db, (c = new ReadCache(changeSignal(db))))
  return c
}

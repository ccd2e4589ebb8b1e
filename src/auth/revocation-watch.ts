import { and, inArray } from 'drizzle-orm'
import type { Clock } from '../clock'
import type { Db } from '../db/connection'
import { cliSessions, personalAccessTokens } from '../db/schema'
import { errorMessage } from '../errors'
import type { Logger } from '../logger'
import type { Principal } from './principal'
import { revokedSql } from './revoked'

/** How often the tokens of requests still open are checked (a revocation ends them within about this). */
export const REVOCATION_CHECK_MS = 1000

interface Watched {
  credential: Principal['credential']
  tokenId: string
  onRevoked: () => void
}

/**
 * "Revoking a token … stops all API requests using that token" (TeamDay's docs): a request is
 * refused from the next one on by authentication, but a request still open when its token is
 * revoked (an execute's event stream, a synchronous execute waiting for its run) was let in
 * before. Such a request registers here while it is open; every REVOCATION_CHECK_MS one
 * statement per kind of token asks which of the watched tokens (personal access tokens, CLI
 * sign-ins) have been revoked since, whichever instance revoked them, and their requests end
 * (`onRevoked`). A rotated token in its grace period is revoked when the grace ends; any other
 * revocation is in force once committed, whatever its time (src/auth/revoked.ts). Expiry does
 * not end a request: it was valid when it came. No request open: no timer, no statement.
 */
export class RevocationWatch {
  private readonly watched = new Map<symbol, Watched>()
  private timer: ReturnType<typeof setInterval> | null = null
  private checking = false

  constructor(private readonly deps: { db: Db; clock: Clock; log: Logger }) {}

  /** Watches a request's token while it is open; the function returned stops (call it when the request ends). */
  watch(principal: Pick<Principal, 'credential' | 'tokenId'>, onRevoked: () => void): () => void {
    const key = Symbol()
    this.watched.set(key, { credential: principal.credential, tokenId: principal.tokenId, onRevoked })
    if (this.timer === null) {
      this.timer = setInterval(() => void this.check(), REVOCATION_CHECK_MS)
      ;(this.timer as { unref?: () => void }).unref?.()
    }
    return () => {
      this.watched.delete(key)
      this.stopWhenIdle()
    }
  }

  get size(): number {
    return this.watched.size
  }

  /** One check of every watched token; ends the requests whose token is revoked. */
  async check(): Promise<void> {
    if (this.checking || this.watched.size === 0) return
    this.checking = true
    try {
      const revoked = await this.revokedOf([...this.watched.values()])
      for (const [key, w] of this.watched) {
        if (!revoked.has(`${w.credential}:${w.tokenId}`)) continue
        this.watched.delete(key)
        w.onRevoked()
      }
    } catch (e) {
      // The database is away for a moment: the next tick asks again.
      this.deps.log.warn('revocation_check_failed', { error: errorMessage(e) })
    } finally {
      this.checking = false
      this.stopWhenIdle()
    }
  }

  private async revokedOf(all: Watched[]): Promise<Set<string>> {
    const now = new Date(this.deps.clock.now())
    const ids = (kind: Watched['credential']) => [...new Set(all.filter((w) => w.credential === kind).map((w) => w.tokenId))]
    const out = new Set<string>()
    const pats = ids('pat')
    if (pats.length) {
      const t = personalAccessTokens
      for (const r of await this.deps.db.select({ id: t.id }).from(t).where(and(inArray(t.id, pats), revokedSql(t, now))).all()) out.add(`pat:${r.id}`)
    }
    const sessions = ids('cli')
    if (sessions.length) {
      const s = cliSessions
      for (const r of await this.deps.db.select({ id: s.id }).from(s).where(and(inArray(s.id, sessions), revokedSql(s, now))).all()) out.add(`cli:${r.id}`)
    }
    return out
  }

  private stopWhenIdle(): void {
    if (this.watched.size > 0 || this.timer === null) return
    clearInterval(this.timer)
    this.timer = null
  }

  stop(): void {
    this.watched.clear()
    this.stopWhenIdle()
  }
}

import { and, inArray } from 'drizzle-orm'
import type { Clock } from '../clock'
import type { Db } from '../db/connection'
import { cliSessions, memberships, personalAccessTokens, spaces, type Role, type Space } from '../db/schema'
import { errorMessage } from '../errors'
import type { Logger } from '../logger'
import type { Principal } from './principal'
import { revokedSql } from './revoked'

/** How often the tokens of requests still open are checked (a revocation ends them within about this). */
export const REVOCATION_CHECK_MS = 1000

/** The fields of a space an access rule reads (modules/spaces/access.ts SpaceAccess). */
export type WatchedSpace = Pick<Space, 'organizationId' | 'createdBy' | 'visibility'>

/** Why a watched request lost its access while it was open, its token unrevoked (Access.onLost). */
export type AccessLost = 'membership_revoked' | 'access_changed'

/**
 * What a request's answer still needs besides its token, asked on the same tick as the token:
 * that its user is still a member of the organization, and `allowed` with their role as it is
 * now (and, with `spaceId`, that space as it is now: undefined once it is gone). The rule itself
 * is the caller's (a resource's access.ts): this reads what it needs, once a tick for every
 * request watched.
 */
export interface Access {
  spaceId?: string | null
  allowed(role: Role, space: WatchedSpace | undefined): boolean
  onLost(why: AccessLost): void
}

interface Watched {
  credential: Principal['credential']
  tokenId: string
  organizationId: string
  userId: string
  onRevoked: () => void
  access?: Access
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
 *
 * A request watched with an `access` (an execute's event stream, a large list page) is also
 * ended when its user is no longer allowed what it sends (`onLost`): removed from the
 * organization, or their role or a space changed so that the resource's rule no longer lets
 * them see it. Asked on the same tick: one statement for the roles of all such requests and one
 * for the spaces they name, whatever their number; never a statement per event or batch sent.
 */
export class RevocationWatch {
  private readonly watched = new Map<symbol, Watched>()
  private timer: ReturnType<typeof setInterval> | null = null
  private checking = false

  constructor(private readonly deps: { db: Db; clock: Clock; log: Logger }) {}

  /** Watches a request's token while it is open; the function returned stops (call it when the request ends). */
  watch(principal: Pick<Principal, 'credential' | 'tokenId' | 'organizationId' | 'userId'>, onRevoked: () => void, access?: Access): () => void {
    const key = Symbol()
    const { credential, tokenId, organizationId, userId } = principal
    this.watched.set(key, { credential, tokenId, organizationId, userId, onRevoked, access })
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
      const all = [...this.watched.values()]
      const revoked = await this.revokedOf(all)
      const access = await this.accessOf(all.filter((w) => w.access !== undefined))
      for (const [key, w] of this.watched) {
        if (revoked.has(`${w.credential}:${w.tokenId}`)) {
          this.watched.delete(key)
          w.onRevoked()
          continue
        }
        // Watched since the statements above were made: asked on the next tick.
        if (w.access === undefined || !access.asked.has(w)) continue
        const role = access.roles.get(`${w.organizationId}:${w.userId}`)
        const space = w.access.spaceId ? access.spaces.get(w.access.spaceId) : undefined
        const lost: AccessLost | null = role === undefined ? 'membership_revoked' : w.access.allowed(role, space) ? null : 'access_changed'
        if (lost === null) continue
        this.watched.delete(key)
        w.access.onLost(lost)
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

  /** The current roles of the users of `all` (none: no longer a member), and the spaces they name. */
  private async accessOf(all: Watched[]): Promise<{ asked: Set<Watched>; roles: Map<string, Role>; spaces: Map<string, WatchedSpace> }> {
    const roles = new Map<string, Role>()
    const found = new Map<string, WatchedSpace>()
    if (all.length === 0) return { asked: new Set(), roles, spaces: found }
    const users = [...new Set(all.map((w) => w.userId))]
    const orgs = [...new Set(all.map((w) => w.organizationId))]
    const m = memberships
    for (const r of await this.deps.db.select({ organizationId: m.organizationId, userId: m.userId, role: m.role }).from(m).where(and(inArray(m.userId, users), inArray(m.organizationId, orgs))).all()) {
      roles.set(`${r.organizationId}:${r.userId}`, r.role)
    }
    const ids = [...new Set(all.flatMap((w) => (w.access?.spaceId ? [w.access.spaceId] : [])))]
    if (ids.length) {
      const s = spaces
      for (const r of await this.deps.db.select({ id: s.id, organizationId: s.organizationId, createdBy: s.createdBy, visibility: s.visibility }).from(s).where(inArray(s.id, ids)).all()) {
        found.set(r.id, { organizationId: r.organizationId, createdBy: r.createdBy, visibility: r.visibility })
      }
    }
    return { asked: new Set(all), roles, spaces: found }
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

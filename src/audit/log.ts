import { errorMessage } from '../errors'
import type { Actor, Origin } from '../actor'
import { redactSecrets } from '../auth/tokens'
import type { Clock } from '../clock'
import { isSealed, type SecretBox } from '../crypto/secretbox'
import { connectionOf, type Db } from '../db/connection'
import { auditEvents, type AuditEvent } from '../db/schema'
import { insertStatements } from '../db/prepared'
import { BASE62, randomBase62 } from '../auth/random'
import type { Logger } from '../logger'

/**
 * The audit log: security-relevant events (token lifecycle, scope denials, secret changes, agent
 * runs started).
 * Below the modules: authentication, services and the admin CLI all write it. Callers pass
 * names and ids only — never a token, a secret value or a request body.
 */
export const AUDIT_EVENT_TYPES = [
  'token.created',
  'token.rotated',
  'token.revoked',
  'token.leak_reported',
  'token.family_revoked',
  'token.scope_denied',
  'token.expired_used',
  'token.new_ip',
  'secret.set',
  'secret.deleted',
  'member.added',
  'member.role_changed',
  'member.removed',
  'user.signed_in',
  'user.sign_in_failed',
  'user.password_changed',
  'user.password_link_created',
  'session.ended',
  'session.password_confirmed',
  'cli.login_approved',
  'cli.login_denied',
  'cli.token_refreshed',
  'cli.session_revoked',
  'execution.created',
  'execution.cancelled',
  'agent.created',
  'agent.updated',
  'agent.archived',
  'space.created',
  'space.updated',
  'space.archived',
  'task.deleted',
  'user.profile_updated',
  'audit.pruned',
] as const

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number]

export type AuditSource = 'api' | 'console' | 'cli' | 'leak_report' | 'system'

/**
 * An event. Who did it, from where and in which request come from the context it is recorded
 * in (see `defaults`); `organizationId`, `source` and `actor` may say otherwise (e.g. an
 * expired token's owner, before the request has a principal).
 */
export interface AuditInput {
  type: AuditEventType
  organizationId?: string | null
  source?: AuditSource
  actor?: { userId: string; tokenId: string | null } | null
  tokenId?: string | null
  targetType?: string | null
  targetId?: string | null
  details?: Record<string, unknown> | null
}

/** What recording needs of a service context (src/context.ts). */
export interface AuditScope {
  db: Db
  box: SecretBox
  clock: Clock
  log: Logger
  audit: AuditLog
  actor: Actor
  requestId: string | null
  origin: Origin | null
}

/** Repeated events (scope denials, expired-token use) are recorded at most once per window. */
export const AUDIT_DEDUPE_MS = 60_000
const MAX_DEDUPE_KEYS = 10_000

const SOURCES: Record<Exclude<Actor['kind'], 'anonymous'>, AuditSource> = { token: 'api', session: 'console', operator: 'cli', system: 'system' }
/** An event's source by who acts: a request's is where it came in (an anonymous one's too); `cli` is the admin CLI on the database. */
const sourceOf = (actor: Actor): AuditSource => (actor.kind === 'anonymous' ? actor.via : SOURCES[actor.kind])

/**
 * The id of an event recorded at `at` (ms), given the last one this writer made: lists order
 * events by (time, id), newest first, and events of one millisecond (a member's removal and
 * the revocation of each of their tokens, a burst of requests) came out in the order of their
 * random ids. Within the millisecond of the last id, the next is that id plus one (in base 62,
 * whose characters sort as bytes: `0-9A-Za-z`, C collation); in another, a random one, as
 * newId's (20 base62 characters), but for its first character, never `z`, so that adding one
 * never overflows (62^19 events in one millisecond). As ULIDs' monotonic mode: an id tells no
 * count, only that the last one of this process was in the same millisecond.
 * Per process: events of two instances in one millisecond are in no order with each other.
 */
export function nextEventId(last: { at: number; id: string } | null, at: number): string {
  if (last !== null && last.at === at) return incremented(last.id)
  let first = randomBase62(1)
  while (first === 'z') first = randomBase62(1)
  return `evt_${first}${randomBase62(19)}`
}

/** `id` (`evt_` + base62) plus one. */
function incremented(id: string): string {
  const digits = id.split('')
  for (let i = digits.length - 1; i >= 4; i--) {
    const d = BASE62.indexOf(digits[i]!)
    if (d < 61) {
      digits[i] = BASE62[d + 1]!
      return digits.join('')
    }
    digits[i] = '0'
  }
  throw new Error(`audit event id ${id} cannot be incremented`)
}

/** The audit writer of one runtime; it remembers recently deduplicated events (see recordOnce). */
export class AuditLog {
  private readonly recent = new Map<string, number>()
  /** The last event id made, and its millisecond (nextEventId). */
  private last: { at: number; id: string } | null = null

  /**
   * Records an event through the context's database (inside a transaction: the transaction's).
   * Outside a transaction it never throws: an audit write failure is logged, not turned into a
   * 500. Inside one it is logged and thrown: the transaction rolls back, so the change it audits
   * is not made without its event (fail closed). Swallowed there, SQLite committed the change
   * without its event, and PostgreSQL, whose failed statement aborts the transaction, turned the
   * COMMIT into a ROLLBACK while the request answered as if the change had been made.
   */
  async record(scope: AuditScope, e: AuditInput): Promise<void> {
    try {
      const at = scope.clock.now()
      const id = nextEventId(this.last, at)
      this.last = { at, id }
      const { box } = scope
      // Where and with what a token was used is token metadata: sealed like the token's own
      // last-used IP and user agent (AES-256-GCM, bound to this row), and so are the details.
      // Redacted of tokens first: details and user agents can carry client input.
      const seal = (v: string | null | undefined, field: string) => (v ? box.seal(redactSecrets(v), `audit.${field}:${id}`) : null)
      const principal = scope.actor.kind === 'token' || scope.actor.kind === 'session' ? scope.actor.principal : null
      const actor = e.actor !== undefined ? e.actor : principal
      await insertStatements(scope.db, auditEvents).run({
        id,
        organizationId: e.organizationId !== undefined ? e.organizationId : (principal?.organizationId ?? null),
        type: e.type,
        actorUserId: actor?.userId ?? null,
        actorTokenId: actor?.tokenId ?? null,
        source: e.source ?? sourceOf(scope.actor),
        tokenId: e.tokenId ?? null,
        targetType: e.targetType ?? null,
        targetId: e.targetId ?? null,
        ip: seal(scope.origin?.ip(), 'ip'),
        userAgent: seal(scope.origin?.userAgent?.slice(0, 512), 'ua'),
        requestId: scope.requestId,
        details: e.details ? (seal(JSON.stringify(e.details), 'details') as unknown as Record<string, unknown>) : null,
        createdAt: new Date(at),
      })
    } catch (err) {
      scope.log.error('audit_write_failed', { type: e.type, error: errorMessage(err) })
      if (inTransaction(scope.db)) throw err
    }
  }

  /**
   * Records an event unless the same `dedupeKey` was recorded less than `windowMs` ago (by this
   * process). For events a misbehaving client can repeat on every request, so the log (and the
   * database) cannot be flooded. Returns whether it recorded.
   */
  async recordOnce(scope: AuditScope, dedupeKey: string, e: AuditInput, windowMs = AUDIT_DEDUPE_MS): Promise<boolean> {
    const now = scope.clock.now()
    const last = this.recent.get(dedupeKey)
    if (last !== undefined && now - last < windowMs) return false
    if (this.recent.size >= MAX_DEDUPE_KEYS) this.recent.clear()
    this.recent.delete(dedupeKey)
    this.recent.set(dedupeKey, now)
    await this.record(scope, e)
    return true
  }
}

/** Records an event in the context's audit log (see AuditLog.record). */
export function recordAudit(scope: AuditScope, e: AuditInput): Promise<void> {
  return scope.audit.record(scope, e)
}

function inTransaction(db: Db): boolean {
  try {
    return connectionOf(db).isTransaction(db)
  } catch {
    return false
  }
}

/** Records an event at most once per window per `dedupeKey` (see AuditLog.recordOnce). */
export function recordAuditOnce(scope: AuditScope, dedupeKey: string, e: AuditInput, windowMs?: number): Promise<boolean> {
  return scope.audit.recordOnce(scope, dedupeKey, e, windowMs)
}

/** Opens the sealed fields of a stored audit event (see AuditLog.record). */
export function openAuditFields(box: SecretBox, e: AuditEvent): { ip: string | null; userAgent: string | null; details: Record<string, unknown> | null } {
  const open = (v: unknown, field: string) => (typeof v === 'string' ? (unsealedAuditText(v) ?? box.open(v, `audit.${field}:${e.id}`)) : null)
  const legacy = unsealedAuditDetails(e.details)
  const details = legacy === null ? open(e.details, 'details') : legacy
  return { ip: open(e.ip, 'ip'), userAgent: open(e.userAgent, 'ua'), details: details === null ? null : JSON.parse(details) }
}

/**
 * An event's address or user agent as a build before the audit log's fields were sealed
 * (2026-11-23) wrote it, as it was; null for a sealed value (or none). Opened as sealed, such a
 * database's audit log was a 500 (GET /audit-events, `teamday audit list`) and `teamday rekey`
 * failed on it; rekey seals them (src/db/rekey.ts).
 */
export function unsealedAuditText(v: unknown): string | null {
  return typeof v === 'string' && !isSealed(v) ? v : null
}

/** An event's details as such a build wrote them (a JSON object, not a sealed string), as JSON text; null otherwise. */
export function unsealedAuditDetails(v: unknown): string | null {
  return v !== null && typeof v === 'object' ? JSON.stringify(v) : null
}

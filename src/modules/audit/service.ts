import type { Principal } from '../../auth/principal'
import { auditEvents, type AuditEvent } from '../../db/schema'
import type { Deps } from '../../deps'
import { redactTokens } from '../../auth/tokens'
import { newId } from '../../ids'

/**
 * The audit log: security-relevant events (token lifecycle, scope denials, secret changes).
 * Callers pass names and ids only — never a token, a secret value or a request body.
 */
export type AuditEventType =
  | 'token.created'
  | 'token.rotated'
  | 'token.revoked'
  | 'token.leak_reported'
  | 'token.family_revoked'
  | 'token.scope_denied'
  | 'token.expired_used'
  | 'token.new_ip'
  | 'secret.set'
  | 'secret.deleted'
  | 'member.removed'

export interface AuditInput {
  type: AuditEventType
  organizationId: string | null
  source: 'api' | 'cli' | 'leak_report' | 'system'
  actor?: Pick<Principal, 'userId' | 'tokenId'> | null
  tokenId?: string | null
  targetType?: string | null
  targetId?: string | null
  ip?: string | null
  userAgent?: string | null
  requestId?: string | null
  details?: Record<string, unknown> | null
}

/** Records an event. Never throws: an audit write failure is logged, not turned into a 500. */
export function recordAuditEvent(deps: Deps, e: AuditInput): void {
  try {
    const id = newId('evt')
    // Where and with what a token was used is token metadata: sealed like the token's own
    // last-used IP and user agent (AES-256-GCM, bound to this row), and so are the details.
    // Redacted of tokens first: details and user agents can carry client input.
    const seal = (v: string | null | undefined, field: string) => (v ? deps.box.seal(redactTokens(v), `audit.${field}:${id}`) : null)
    deps.db
      .insert(auditEvents)
      .values({
        id,
        organizationId: e.organizationId,
        type: e.type,
        actorUserId: e.actor?.userId ?? null,
        actorTokenId: e.actor?.tokenId ?? null,
        source: e.source,
        tokenId: e.tokenId ?? null,
        targetType: e.targetType ?? null,
        targetId: e.targetId ?? null,
        ip: seal(e.ip, 'ip'),
        userAgent: seal(e.userAgent?.slice(0, 512), 'ua'),
        requestId: e.requestId ?? null,
        details: e.details ? (seal(JSON.stringify(e.details), 'details') as unknown as Record<string, unknown>) : null,
        createdAt: new Date(deps.clock.now()),
      })
      .run()
  } catch (err) {
    deps.logger.error('audit_write_failed', { type: e.type, error: err instanceof Error ? err.message : String(err) })
  }
}

/** Opens the sealed fields of a stored audit event (see recordAuditEvent). */
export function openAuditFields(deps: Deps, e: AuditEvent): { ip: string | null; userAgent: string | null; details: Record<string, unknown> | null } {
  const open = (v: unknown, field: string) => (typeof v === 'string' ? deps.box.open(v, `audit.${field}:${e.id}`) : null)
  const details = open(e.details, 'details')
  return { ip: open(e.ip, 'ip'), userAgent: open(e.userAgent, 'ua'), details: details === null ? null : JSON.parse(details) }
}

/** The request context of a principal, spread into an AuditInput. */
export function auditContext(p: Principal): Pick<AuditInput, 'organizationId' | 'actor' | 'ip' | 'userAgent' | 'requestId' | 'source'> {
  return { organizationId: p.organizationId, actor: p, ip: p.ip, userAgent: p.userAgent, requestId: p.requestId, source: 'api' }
}

/** Repeated events (scope denials, expired-token use) are recorded at most once per window. */
export const AUDIT_DEDUPE_MS = 60_000
const MAX_DEDUPE_KEYS = 10_000
const recent = new WeakMap<Deps['db'], Map<string, number>>()

/**
 * Records an event unless the same `dedupeKey` was recorded less than `windowMs` ago (by this
 * process). For events a misbehaving client can repeat on every request, so the log (and the
 * database) cannot be flooded. Returns whether it recorded.
 */
export function recordAuditEventOnce(deps: Deps, dedupeKey: string, e: AuditInput, windowMs = AUDIT_DEDUPE_MS): boolean {
  let seen = recent.get(deps.db)
  if (!seen) recent.set(deps.db, (seen = new Map()))
  const now = deps.clock.now()
  const last = seen.get(dedupeKey)
  if (last !== undefined && now - last < windowMs) return false
  if (seen.size >= MAX_DEDUPE_KEYS) seen.clear()
  seen.delete(dedupeKey)
  seen.set(dedupeKey, now)
  recordAuditEvent(deps, e)
  return true
}

import type { Principal } from '../../auth/principal'
import { auditEvents } from '../../db/schema'
import type { Deps } from '../../deps'
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
    deps.db
      .insert(auditEvents)
      .values({
        id: newId('evt'),
        organizationId: e.organizationId,
        type: e.type,
        actorUserId: e.actor?.userId ?? null,
        actorTokenId: e.actor?.tokenId ?? null,
        source: e.source,
        tokenId: e.tokenId ?? null,
        targetType: e.targetType ?? null,
        targetId: e.targetId ?? null,
        ip: e.ip ?? null,
        userAgent: e.userAgent?.slice(0, 512) ?? null,
        requestId: e.requestId ?? null,
        details: e.details ?? null,
        createdAt: new Date(deps.clock.now()),
      })
      .run()
  } catch (err) {
    deps.logger.error('audit_write_failed', { type: e.type, error: err instanceof Error ? err.message : String(err) })
  }
}

/** The request context of a principal, spread into an AuditInput. */
export function auditContext(p: Principal): Pick<AuditInput, 'organizationId' | 'actor' | 'ip' | 'userAgent' | 'requestId' | 'source'> {
  return { organizationId: p.organizationId, actor: p, ip: p.ip, userAgent: p.userAgent, requestId: p.requestId, source: 'api' }
}

import { and, desc, eq, gte, lte, sql, type SQL } from 'drizzle-orm'
import type { Principal } from '../../auth/principal'
import { auditEvents, organizations, type AuditEvent } from '../../db/schema'
import type { Deps } from '../../deps'
import { AppError } from '../../errors'
import { openAuditFields } from './service'

export interface PublicAuditEvent {
  id: string
  type: string
  source: string
  organizationId: string | null
  actorUserId: string | null
  actorTokenId: string | null
  tokenId: string | null
  targetType: string | null
  targetId: string | null
  ip: string | null
  userAgent: string | null
  requestId: string | null
  details: Record<string, unknown> | null
  createdAt: string
}

export interface AuditFilter {
  /** null = every organization (admin CLI only). */
  organizationId: string | null
  type?: string
  tokenId?: string
  userId?: string
  since?: string
  until?: string
  limit: number
  offset: number
}

export function toPublicAuditEvent(deps: Deps, e: AuditEvent): PublicAuditEvent {
  const sealed = openAuditFields(deps, e)
  return {
    id: e.id,
    type: e.type,
    source: e.source,
    organizationId: e.organizationId,
    actorUserId: e.actorUserId,
    actorTokenId: e.actorTokenId,
    tokenId: e.tokenId,
    targetType: e.targetType,
    targetId: e.targetId,
    ip: sealed.ip,
    userAgent: sealed.userAgent,
    requestId: e.requestId,
    details: sealed.details,
    createdAt: e.createdAt.toISOString(),
  }
}

function instant(field: 'since' | 'until', value: string | undefined): Date | undefined {
  if (value === undefined) return undefined
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) {
    throw new AppError('validation_failed', `Validation failed: ${field} must be an ISO-8601 date-time`, { details: [{ field, message: `${field} must be an ISO-8601 date-time` }] })
  }
  return new Date(ms)
}

/** Audit events, newest first, filtered; `total` counts every match. */
export function queryAuditEvents(deps: Deps, f: AuditFilter): { events: PublicAuditEvent[]; total: number } {
  const a = auditEvents
  const since = instant('since', f.since)
  const until = instant('until', f.until)
  const conds: (SQL | undefined)[] = [
    f.organizationId === null ? undefined : eq(a.organizationId, f.organizationId),
    f.type ? eq(a.type, f.type) : undefined,
    f.tokenId ? eq(a.tokenId, f.tokenId) : undefined,
    f.userId ? eq(a.actorUserId, f.userId) : undefined,
    since ? gte(a.createdAt, since) : undefined,
    until ? lte(a.createdAt, until) : undefined,
  ]
  const where = and(...conds)
  const rows = deps.db.select().from(a).where(where).orderBy(desc(a.createdAt), desc(a.id)).limit(f.limit).offset(f.offset).all()
  const total = deps.db.select({ n: sql<number>`count(*)` }).from(a).where(where).get()?.n ?? 0
  return { events: rows.map((r) => toPublicAuditEvent(deps, r)), total }
}

/** GET /audit-events: the caller's organization only (the route requires audit:read). */
export function listAuditEvents(deps: Deps, principal: Principal, f: Omit<AuditFilter, 'organizationId'>) {
  return queryAuditEvents(deps, { ...f, organizationId: principal.organizationId })
}

export function organizationIdBySlug(deps: Deps, slug: string): string {
  const org = deps.db.select({ id: organizations.id }).from(organizations).where(eq(organizations.slug, slug)).get()
  if (!org) throw new AppError('not_found', `Organization ${slug} not found`)
  return org.id
}

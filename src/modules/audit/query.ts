import { and, eq, getTableColumns, gte, lte, sql } from 'drizzle-orm'
import { AUDIT_EVENT_TYPES, openAuditFields } from '../../audit/log'
import { callerOf, type Ctx } from '../../context'
import type { SecretBox } from '../../crypto/secretbox'
import type { Db } from '../../db/connection'
import { cappedCount, countedPages, keysetPages, listPage, type ListPage, readPage, statementReads } from '../../db/paging'
import { prepared } from '../../db/prepared'
import { auditEvents, dbTime, organizations, type AuditEvent } from '../../db/schema'
import { AppError, invalidField } from '../../errors'
import type { AuditEventSchema } from './model'
import { clampInstant, DATE_ONLY, filterInstant } from '../../instants'
import { cutText } from '../../text'

/** The event as the API returns it: the response schema is the one source of this shape. */
export type PublicAuditEvent = typeof AuditEventSchema.static

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
  cursor?: string
}

export function toPublicAuditEvent(box: SecretBox, e: AuditEvent): PublicAuditEvent {
  const sealed = openAuditFields(box, e)
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

/** A date alone (`2026-12-01`) is the whole day, UTC: `until` then takes in its last millisecond. */
function instant(field: 'since' | 'until', value: string | undefined): Date | undefined {
  const ms = filterInstant(field, value)
  if (ms === undefined) return undefined
  return new Date(field === 'until' && DATE_ONLY.test(value!) ? clampInstant(ms + 86_400_000 - 1) : ms)
}

/**
 * The `type` filter is one of AUDIT_EVENT_TYPES, or none: an unknown one (a typo) would match
 * nothing and read as an empty log, so it is refused, naming the types there are. The API, the
 * admin CLI's `audit list` and the console's audit page all filter through here.
 */
export function checkAuditType(type: string | undefined): void {
  if (!type || (AUDIT_EVENT_TYPES as readonly string[]).includes(type)) return
  const message = `type "${cutText(type, 100)}" is not an audit event type; the types are: ${AUDIT_EVENT_TYPES.join(', ')}`
  throw new AppError('validation_failed', `Validation failed: ${message}`, { details: [{ field: 'type', message }] })
}

type AuditFilters = Omit<AuditFilter, 'limit' | 'offset' | 'cursor'>

/** One prepared statement per combination of filters, each on an index that starts with them. */
function listStatements(db: Db, f: AuditFilters) {
  const a = auditEvents
  const ph = sql.placeholder
  const where = [
    f.organizationId === null ? undefined : eq(a.organizationId, ph('org')),
    f.type ? eq(a.type, ph('type')) : undefined,
    f.tokenId ? eq(a.tokenId, ph('tokenId')) : undefined,
    f.userId ? eq(a.actorUserId, ph('userId')) : undefined,
    f.since ? gte(a.createdAt, ph('since')) : undefined,
    f.until ? lte(a.createdAt, ph('until')) : undefined,
  ]
  return {
    ...keysetPages(() => db.select().from(a).$dynamic(), a, where),
    counted: countedPages(db, (n) => db.select({ row: getTableColumns(a), n }).from(a).$dynamic(), a, where),
    count: cappedCount(db, a, and(...where)),
  }
}

/** Audit events, newest first, filtered, one page; `total` counts the matches (up to TOTAL_CAP). */
export async function queryAuditEvents(ctx: Ctx, f: AuditFilter): Promise<{ events: PublicAuditEvent[] } & ListPage> {
  checkAuditType(f.type)
  const since = instant('since', f.since)
  const until = instant('until', f.until)
  // Swapped (a range written backwards): it was an empty log, read as "nothing happened".
  if (since !== undefined && until !== undefined && since.getTime() > until.getTime()) {
    throw invalidField('until', `until (${f.until}) is before since (${f.since}): no event could match; swap them`)
  }
  const filters: AuditFilters = { organizationId: f.organizationId, type: f.type || undefined, tokenId: f.tokenId || undefined, userId: f.userId || undefined, since: f.since, until: f.until }
  const shape = [filters.organizationId !== null, filters.type, filters.tokenId, filters.userId, since, until].map((v) => Number(!!v)).join('')
  const q = prepared(ctx.db, `audit.list.${shape}`, () => listStatements(ctx.db, filters))
  const params = { org: f.organizationId, type: filters.type, tokenId: filters.tokenId, userId: filters.userId, since: since && dbTime(since.getTime()), until: until && dbTime(until.getTime()) }
  const page = await readPage('audit-events', filters, f, {
    ...statementReads(q, params),
    position: (r) => ({ t: r.createdAt.getTime(), id: r.id }),
  })
  return { events: page.rows.map((r) => toPublicAuditEvent(ctx.box, r)), ...listPage(page) }
}

/** GET /audit-events: the caller's organization only (the route requires audit:read). */
export function listAuditEvents(ctx: Ctx, f: Omit<AuditFilter, 'organizationId'>) {
  return queryAuditEvents(ctx, { ...f, organizationId: callerOf(ctx).organizationId })
}

export async function organizationIdBySlug(ctx: Ctx, slug: string): Promise<string> {
  const org = await ctx.db.select({ id: organizations.id }).from(organizations).where(eq(organizations.slug, slug)).get()
  if (!org) throw new AppError('not_found', `Organization ${slug} not found`)
  return org.id
}

import { t } from 'elysia'
import { cursorParam, limitParam, offsetParam, pageExample, pageFields } from '../list-models'
import { named, successField } from '../shared-models'
import { serviceRule } from '../../http/openapi-publish'
import { ISO_INSTANT_PATTERN } from '../../instants'
import { AUDIT_EVENT_TYPES } from '../../audit/log'

const exampleEvent = {
  id: 'evt_5Rt8Yu2IoP4aS6dF9gHj',
  type: 'token.rotated',
  source: 'api',
  organizationId: 'org_9Tr4Kx2LmQ7vB1nZ8wYc',
  actorUserId: 'user_4Fk9QzL2mP7xR1vN8tBc',
  actorTokenId: 'pat_7Hq2LmX9vB3nR8kT1wYz',
  tokenId: 'pat_7Hq2LmX9vB3nR8kT1wYz',
  targetType: 'token',
  targetId: 'pat_2Lk9Qw4ErT7yU1iO3pAs',
  ip: '203.0.113.7',
  userAgent: 'curl/8.5.0',
  requestId: 'req_3xY7kQ2mN8pL4vR6tB1c',
  details: { newTokenId: 'pat_2Lk9Qw4ErT7yU1iO3pAs', gracePeriodSeconds: 3600 },
  createdAt: '2026-11-23T10:00:00.000Z',
}

/** Every event type (src/audit/log.ts). */
export const AUDIT_TYPES = AUDIT_EVENT_TYPES

export const AuditEventSchema = t.Object(
  {
    id: t.String({ description: 'Event id (evt_…)' }),
    type: t.String({ description: `One of ${AUDIT_TYPES.join(', ')}` }),
    source: t.String({ description: 'How the actor acted: api, console, cli, leak_report or system' }),
    organizationId: t.Nullable(t.String({ description: 'The organization the event belongs to (this list shows only yours)' })),
    actorUserId: t.Nullable(t.String({ description: 'Who did it (null for the admin CLI and leak reports)' })),
    actorTokenId: t.Nullable(t.String({ description: 'With which token' })),
    tokenId: t.Nullable(t.String({ description: 'The token the event is about' })),
    targetType: t.Nullable(t.String({ description: 'The kind of object acted on: token, token_family, user, session, cli_login, cli_session, agent, space, task, organization or execution; null when none' })),
    targetId: t.Nullable(t.String({ description: 'The id of that object; null when none' })),
    ip: t.Nullable(t.String({ description: 'The client address of the request that caused it (behind a trusted proxy: the address the proxy reports); null when not from a request (admin CLI) or unknown' })),
    userAgent: t.Nullable(t.String({ description: 'The User-Agent of that request, first 512 characters, with anything that looks like a token redacted; null when none' })),
    requestId: t.Nullable(t.String({ description: 'The X-Request-Id of that request (req_…); null when not from a request' })),
    details: t.Nullable(t.Record(t.String(), t.Unknown(), { description: 'Event specifics (reason, scopes…); never a secret' })),
    createdAt: t.String({ description: 'When it happened, ISO-8601' }),
  },
  { description: 'One security audit event', examples: [exampleEvent] },
)

export const AuditEventList = t.Object(
  { success: successField, events: t.Array(AuditEventSchema, { description: 'This page of events, newest first' }), ...pageFields('events') },
  { examples: [{ success: true, events: [exampleEvent], ...pageExample }] },
)

export const ListAuditEventsQuery = t.Object({
  type: t.Optional(t.String({ maxLength: 100, description: 'Only this event type, e.g. token.revoked; an unknown type is refused (422), not answered with no events', examples: ['token.revoked'], error: 'type must be an event type such as token.revoked', ...serviceRule({ enum: [...AUDIT_TYPES] }) })),
  tokenId: t.Optional(t.String({ maxLength: 100, description: 'Only events about this token', error: 'tokenId must be a token id (pat_...)' })),
  userId: t.Optional(t.String({ maxLength: 100, description: 'Only events by this user (the actor)', error: 'userId must be a user id (user_...)' })),
  since: t.Optional(t.String({ maxLength: 40, description: 'From this instant (ISO-8601 full date or date-time, inclusive; a date alone: from its start, UTC; one before the year 1000 selects from the start)', examples: ['2026-12-01', '2026-12-01T09:00:00Z'], error: 'since must be an ISO-8601 date-time', ...serviceRule({ pattern: ISO_INSTANT_PATTERN }) })),
  until: t.Optional(t.String({ maxLength: 40, description: 'Up to this instant (ISO-8601 full date or date-time, inclusive; a date alone: to its end, UTC; one after the year 9999 selects to the end; before `since`: 422)', examples: ['2026-12-01', '2026-12-01T17:00:00Z'], error: 'until must be an ISO-8601 date-time', ...serviceRule({ pattern: ISO_INSTANT_PATTERN }) })),
  limit: limitParam,
  offset: offsetParam('Events'),
  cursor: cursorParam,
})

/** Named in the OpenAPI document; routes refer to them by name. */
export const auditModels = named({ AuditEvent: AuditEventSchema, AuditEventList })

import { t } from 'elysia'
import { errorResponse, named, successField } from '../shared-models'
import { limitParam, offsetParam } from '../list-models'
import { serviceRule } from '../../http/openapi-publish'
import { ISO_INSTANT_PATTERN } from '../../instants'
import { NOT_ONLY_SPACES_PATTERN } from '../../text'

export const STATUS_ERROR = 'Invalid status. Must be: pending, in_progress, completed, cancelled'

export const exampleTask = {
  id: 'task_5Nq8LmX2vB3nR8kT1wYa',
  title: 'Review the Q3 report',
  description: 'Check the numbers against the ledger',
  status: 'in_progress',
  priority: 'high',
  assignedTo: 'char_8Kq2LmX9vB3nR8kT1wYz',
  assigneeType: 'agent',
  spaceId: 'space_3Hw7QzL4mN8xR1vB6tKc',
  organizationId: 'org_9Tr4Kx2LmQ7vB1nZ8wYc',
  createdBy: 'user_4Fk9QzL2mP7xR1vN8tBc',
  dueDate: '2026-12-31T17:00:00.000Z',
  completedAt: null,
  metadata: { source: 'cli' },
  createdAt: '2026-11-23T10:00:00.000Z',
  updatedAt: '2026-11-23T11:00:00.000Z',
}

const statusDoc = 'pending | in_progress | completed | cancelled'
export const TaskStatus = t.Union([t.Literal('pending'), t.Literal('in_progress'), t.Literal('completed'), t.Literal('cancelled')], {
  description: statusDoc,
  error: `status: ${STATUS_ERROR}`,
})
export const TaskPriority = t.Union([t.Literal('low'), t.Literal('medium'), t.Literal('high'), t.Literal('urgent')], {
  description: 'low | medium | high | urgent (default medium)',
  error: 'priority must be one of: low, medium, high, urgent',
})
const assigneeType = (description: string) => t.Union([t.Literal('agent'), t.Literal('user')], { description, error: 'assigneeType must be agent or user' })
// Sent alone (without assignedTo or assignTo) it is 422 (the service's resolveAssignee): said in
// words, as a JSON Schema `dependentSchemas` of either field made Redocly's recommended rules warn.
const AssigneeType = assigneeType('agent or user; inferred from an assignedTo id starting with char_ or user_ when not sent. Only together with assignedTo (or assignTo): alone it is 422')

const taskFields = {
  id: t.String({ description: 'Task id (task_...)' }),
  title: t.String({ description: 'What to do' }),
  description: t.Nullable(t.String({ description: 'Free text; null if not set' })),
  status: TaskStatus,
  priority: TaskPriority,
  assignedTo: t.Nullable(t.String({ description: 'An agent id (char_...), a user id (user_...), or free text; null with assigneeType "agent": assigned to an agent you may not see (another member\'s private agent), which this pair sent back in an update keeps' })),
  assigneeType: t.Nullable(assigneeType('What assignedTo names: an agent or a user; null when unassigned or assigned as free text')),
  spaceId: t.Nullable(t.String({ description: 'The space the task belongs to (space_…); null if none' })),
  organizationId: t.String({ description: 'The organization the task belongs to (org_…)' }),
  createdBy: t.String({ description: 'The user who created the task' }),
  dueDate: t.Nullable(t.String({ description: 'When it is due, ISO-8601; null if not set' })),
  completedAt: t.Nullable(t.String({ description: 'Set when the status becomes completed; cleared when it leaves completed' })),
  metadata: t.Record(t.String(), t.Unknown(), { description: 'Free-form JSON object' }),
  createdAt: t.String({ description: 'When it was created, ISO-8601' }),
  updatedAt: t.String({ description: 'When it last changed, ISO-8601' }),
}

export const Task = t.Object(taskFields, { description: 'A task for an agent or a person', examples: [exampleTask] })

/** A single task: its fields at the top level, plus success (TeamDay's shape). */
export const TaskResponse = t.Object({ success: successField, ...taskFields }, { examples: [{ success: true, ...exampleTask }] })

const nullableText = (field: string, max: number, description: string) =>
  t.Optional(t.Nullable(t.String({ maxLength: max, description }), { error: `${field} must be a string of at most ${max} characters, or null` }))

const editable = {
  description: nullableText('description', 20_000, 'Free text'),
  priority: t.Optional(TaskPriority),
  assignedTo: nullableText('assignedTo', 200, 'Who does it: an agent id (char_...) or user id (user_...) of your organization, or free text; null unassigns (a blank string is 422), except null with assigneeType "agent" on a task assigned to an agent you may not see, which is how that task is shown to you: sent back, it keeps that agent'),
  assignTo: nullableText('assignTo', 200, 'Alias of assignedTo (older clients); assignedTo wins when both are sent'),
  assigneeType: t.Optional(t.Nullable(AssigneeType)),
  spaceId: t.Optional(t.Nullable(t.String({ maxLength: 100, description: 'A space of your organization, by id or slug (stored as its id); null detaches' }), { error: 'spaceId must be a space id, a space slug or null' })),
  dueDate: t.Optional(
    // No `format: 'date-time'`: that check (RFC 3339, then Elysia's) refused a date alone outside
    // 1900-2099 and a time without an offset, which the service's rule (parseInstant, as for
    // `since`, `until` and a token's `expiresAt`) takes; the service checks it, 422 naming dueDate.
    t.Nullable(
      t.String({
        maxLength: 40,
        description: 'ISO-8601 with a year from 1000 to 9999: a date-time (`2026-12-31T17:00:00Z`, an offset, or none: the server\'s local time) or a date alone (its midnight, UTC)',
        examples: ['2026-12-31T17:00:00Z', '2100-01-01'],
        ...serviceRule({ pattern: ISO_INSTANT_PATTERN }),
      }),
      { error: 'dueDate must be an ISO-8601 date-time such as 2026-12-31T17:00:00Z, or null' },
    ),
  ),
  metadata: t.Optional(
    t.Unknown({
      description: 'A JSON object of at most 64 KiB as JSON (nesting counts toward the body limit of 32 levels); replaces the stored one as a whole',
      examples: [{ source: 'cli' }],
      ...serviceRule({ type: 'object', additionalProperties: true }),
    }),
  ),
}

const titleField = t.String({ minLength: 1, maxLength: 500, description: 'What to do', error: 'title must be a string of 1-500 characters (it is required)', ...serviceRule({ pattern: NOT_ONLY_SPACES_PATTERN }) })

export const CreateTaskBody = t.Object(
  { title: titleField, ...editable },
  {
    examples: [
      // Swagger UI fills this in: it works as it is (an agent's slug, or the same text when there is no such agent).
      { title: 'Review the Q3 report', description: 'Check the numbers', priority: 'high', assignTo: 'deploy-bot', dueDate: '2026-12-31T17:00:00Z' },
    ],
  },
)

export const UpdateTaskBody = t.Object(
  { title: t.Optional(titleField), status: t.Optional(TaskStatus), ...editable },
  { examples: [{ status: 'completed' }, { priority: 'urgent', assignedTo: null }] },
)

export const ListTasksQuery = t.Object({
  status: t.Optional(t.Union(TaskStatus.anyOf, { description: 'Only tasks with this status', error: TaskStatus.error })),
  priority: t.Optional(t.Union(TaskPriority.anyOf, { description: 'Only tasks with this priority', error: TaskPriority.error })),
  assignedTo: t.Optional(t.String({ maxLength: 200, description: 'Only tasks assigned to this: an agent by id or slug (the slug of an agent you may see is taken as its id, as when assigning), a user id, or the free text exactly as stored', error: 'assignedTo must be a string of at most 200 characters' })),
  spaceId: t.Optional(t.String({ maxLength: 100, description: 'Only tasks in this space (its id or slug)', error: 'spaceId must be a string of at most 100 characters' })),
  limit: limitParam,
  offset: offsetParam(),
  cursor: t.Optional(
    t.String({ description: 'Opaque: from the `Link: <…>; rel="next"` (or `X-Next-Cursor`) header of the previous page of this same list with the same filters. Leave out (or empty) for the first page.' }),
  ),
})

export const TaskIdParams = t.Object({ id: t.String({ description: 'Task id (task_...)', examples: ['task_5Nq8LmX2vB3nR8kT1wYa'] }) })

/** A bare JSON array, as TeamDay's CLI reads it (like executions); paging is in headers. */
export const TaskList = t.Array(Task, { description: 'A bare JSON array, newest first; paging in the X-Total-Count and Link headers', examples: [[exampleTask]] })

export const TaskNotFound = errorResponse(404, 'not_found', 'Not found: no such task, or a task of another organization.', 'Task task_5Nq8LmX2vB3nR8kT1wYa not found')

export const TaskForbidden = errorResponse(
  403,
  'forbidden',
  'Forbidden: your role does not allow writing tasks (viewers), or you are a member changing a task you neither created nor are assigned to.',
  'Forbidden: only the task\'s creator, its assignee or an organization admin can change this task (access denied)',
)

export const TaskBodyInvalid = errorResponse(422, 'validation_failed', 'Validation failed: `details` names each invalid field.', `Validation failed: status: ${STATUS_ERROR}`, [
  { field: 'status', message: `status: ${STATUS_ERROR}` },
])

export const TaskQueryInvalid = errorResponse(422, 'validation_failed', 'Validation failed: a query parameter is invalid, unknown, repeated or empty; `details` names it.', 'Validation failed: limit must be an integer between 1 and 200', [
  { field: 'limit', message: 'limit must be an integer between 1 and 200' },
])

export const TaskDeleted = t.Object({ success: successField }, { description: 'The task is deleted', examples: [{ success: true }] })

/** Named in the OpenAPI document; routes refer to them by name. */
export const taskModels = named({ Task, TaskResponse, TaskList, TaskDeleted, TaskNotFound, TaskForbidden, TaskBodyInvalid, TaskQueryInvalid })

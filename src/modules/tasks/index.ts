import { Elysia } from 'elysia'
import { API_V1, created, type RouteKit } from '../../http/context'
import { authErrors, bodyErrors, sharedModels } from '../shared-models'
import { CreateTaskBody, ListTasksQuery, TaskIdParams, taskModels, UpdateTaskBody } from './model'
import { createTask, deleteTask, getTask, listTasks, updateTask } from './service'
import { intParam } from '../query-params'
import { badCursor, listModels, pagingHeaderDocs, setPagingHeaders } from '../list-models'
import { RESPONSE_DESCRIPTIONS, RESPONSE_HEADERS } from '../../http/openapi-publish'
import { StreamedArray, streamedJson } from '../../http/streamed-json'

const writeErrors = { ...authErrors, ...bodyErrors, 403: 'TaskForbidden', 422: 'TaskBodyInvalid' } as const

/** The named OpenAPI models of these routes (also registered once by createApp: src/app.ts). */
export const tasksApiModels = { ...sharedModels, ...listModels, ...taskModels }

export function tasksModule({ auth, ctx, watchToken, listening }: RouteKit) {
  return new Elysia({ prefix: `${API_V1}/tasks`, tags: ['Tasks'] })
    .use(auth)
    .model(tasksApiModels)
    .get(
      '',
      async ({ principal, query, request, set }) => {
        const c = ctx(principal, request, set)
        const page = await listTasks(c, {
          status: query.status,
          priority: query.priority,
          assignedTo: query.assignedTo,
          spaceId: query.spaceId,
          limit: intParam(query.limit, 50),
          offset: intParam(query.offset, 0),
          cursor: query.cursor,
          batched: true,
        })
        // TeamDay's CLI reads a bare array (`taskList.length`); paging travels in headers. A large
        // page is sent as it is read (src/db/paging.ts, largePage).
        setPagingHeaders(set, request, page)
        if (!page.rest) return page.tasks
        // Elysia's types take a Response or the schema's value, not a union of both.
        return (await streamedJson(request, new StreamedArray(page.rest), c.config.compression, watchToken(principal), listening())) as unknown as typeof page.tasks
      },
      {
        auth: 'tasks:read',
        query: ListTasksQuery,
        response: { 200: 'TaskList', 400: badCursor, 422: 'TaskQueryInvalid', ...authErrors },
        detail: {
          summary: 'List tasks',
          [RESPONSE_DESCRIPTIONS]: { 200: 'A page of the tasks you may see, newest first, as a bare JSON array; paging in the X-Total-Count and Link headers.' },
          description:
            'The tasks of your organization, newest first, as a bare JSON array (TeamDay\'s shape, like executions). Tasks are organization-wide, except those in a space you may not see (a private space of another member): they are left out, and a get of one is 404. Filters: `status`, `priority`, `assignedTo` (an agent id or slug, a user id, or free text), `spaceId` (id or slug). Paging in headers: `X-Total-Count` (capped at 1000, then `X-Total-Count-Estimate: true`) and, when there is a next page, `Link: <…&cursor=…>; rel="next"` (RFC 8288) and `X-Next-Cursor`. `offset` works too (slower for deep pages).',
          [RESPONSE_HEADERS]: { 200: pagingHeaderDocs('tasks', `${API_V1}/tasks`, true) },
        },
      },
    )
    .post(
      '',
      async ({ principal, body, request, set }) => {
        const task = await createTask(ctx(principal, request, set), body)
        created(set, 'tasks', task.id)
        return { success: true as const, ...task }
      },
      {
        auth: 'tasks:write',
        body: CreateTaskBody,
        response: { 201: 'TaskResponse', ...writeErrors },
        detail: {
          summary: 'Create a task',
          [RESPONSE_DESCRIPTIONS]: { 201: 'The task created (`pending`), its fields at the top level.' },
          description:
            'Creates a task in your organization; it starts `pending` (a `status` or `id` sent by the client is ignored). `assignTo` is accepted as an alias of `assignedTo`; an agent (char_...) or user (user_...) assignee must belong to your organization. `spaceId` must be an active space of your organization. Returns the task\'s fields at the top level.',
        },
      },
    )
    .get('/:id', async ({ principal, params, request, set }) => ({ success: true as const, ...(await getTask(ctx(principal, request, set), params.id)) }), {
      auth: 'tasks:read',
      params: TaskIdParams,
      response: { 200: 'TaskResponse', 404: 'TaskNotFound', ...authErrors },
      detail: { summary: 'Get a task', description: 'One task of your organization, its fields at the top level. Another organization\'s task is 404.', [RESPONSE_DESCRIPTIONS]: { 200: 'The task, its fields at the top level.' } },
    })
    .patch(
      '/:id',
      async ({ principal, params, body, request, set }) => ({ success: true as const, ...(await updateTask(ctx(principal, request, set), params.id, body)) }),
      {
        auth: 'tasks:write',
        params: TaskIdParams,
        body: UpdateTaskBody,
        response: { 200: 'TaskResponse', 404: 'TaskNotFound', ...writeErrors },
        detail: {
          summary: 'Update a task',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The task as it is after the change, its fields at the top level.' },
          description:
            'Changes the fields sent. null clears `description` and `dueDate`, unassigns (`assignedTo`; but `assignedTo: null` with `assigneeType: "agent"`, how a task assigned to an agent hidden from you is shown, keeps that agent) and detaches (`spaceId`); `title`, `status`, `priority` and `metadata` take no null (422: send `{}` to empty the metadata). `status` is one of pending, in_progress, completed, cancelled (any may follow any): entering completed sets `completedAt`, leaving it clears it. `metadata` replaces the stored object. Members may change tasks they created or that are assigned to them; admins any task of the organization.',
        },
      },
    )
    .delete(
      '/:id',
      async ({ principal, params, request, set }) => {
        await deleteTask(ctx(principal, request, set), params.id)
        return { success: true as const }
      },
      {
        auth: 'tasks:write',
        params: TaskIdParams,
        response: { 200: 'TaskDeleted', 404: 'TaskNotFound', ...authErrors, 403: 'TaskForbidden' },
        detail: {
          summary: 'Delete a task',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The task is deleted: `success: true`.' },
          description: 'Deletes the task for good (tasks are not archived). Members may delete tasks they created or that are assigned to them; admins any task of the organization.',
        },
      },
    )
}

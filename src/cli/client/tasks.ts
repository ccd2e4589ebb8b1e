import { inline, UsageError } from '../common'
import type { ClientValues, Run } from '../spec'
import { compact, created, details, filterFlag, getOrDelete, makeClient, nextPageHint, noun, output, pageFlags, rows } from './common'
import { enc } from './executions'
import { readTexts } from './text-input'

/** `teamday tasks …` over HTTP (options and usage: src/cli/registry.ts). */

type Fields = { title?: string; description?: string; 'description-file'?: string; priority?: string; 'assign-to'?: string; 'assigned-to'?: string; 'assignee-type'?: string; space?: string; due?: string; metadata?: string; status?: string; unassign?: boolean }

const COLUMNS = ['id', 'title', 'status', 'priority', 'assignedTo', 'spaceId', 'dueDate', 'updatedAt']
const DETAIL = ['id', 'title', 'description', 'status', 'priority', 'assignedTo', 'assigneeType', 'spaceId', 'dueDate', 'completedAt', 'metadata', 'createdBy', 'createdAt', 'updatedAt']

/**
 * The assignee: `--assign-to` or `--assigned-to` on every tasks command (TeamDay's CLI spells it
 * `--assigned-to` on create, update and list alike; scripts written for it work here unchanged).
 */
function assignee(v: { 'assign-to'?: string; 'assigned-to'?: string }): string | undefined {
  const [a, b] = [v['assign-to'], v['assigned-to']]
  if (a !== undefined && b !== undefined && a !== b) throw new UsageError('--assign-to and --assigned-to are the same option: give one')
  const to = a ?? b
  // Blank (`--assigned-to "$WHO"` with WHO unset): the API refuses it (422) rather than unassign.
  if (to !== undefined && to.trim() === '') throw new UsageError(`--${a !== undefined ? 'assign-to' : 'assigned-to'} is empty (an unset variable?): give who does it, or use --unassign (tasks update) to leave the task unassigned`)
  return to
}

/** `tasks update --unassign`: `assignedTo: null`, the API's way to leave a task unassigned. */
function unassigned(v: Fields): boolean {
  if (!v.unassign) return false
  if (v['assign-to'] !== undefined || v['assigned-to'] !== undefined || v['assignee-type'] !== undefined) throw new UsageError('--unassign leaves the task without an assignee: give it without --assign-to, --assigned-to and --assignee-type')
  return true
}

function taskBody(v: Fields) {
  let metadata: unknown
  if (v.metadata !== undefined) {
    try {
      metadata = JSON.parse(v.metadata)
    } catch {
      throw new UsageError('--metadata must be a JSON object, e.g. \'{"source":"ci"}\'')
    }
  }
  return compact({
    title: v.title,
    description: v.description,
    priority: v.priority,
    assignedTo: unassigned(v) ? null : assignee(v),
    assigneeType: v['assignee-type'],
    spaceId: v.space,
    dueDate: v.due,
    metadata,
    status: v.status,
  })
}

export async function list({ values, io }: Run<ClientValues & { status?: string; priority?: string; 'assign-to'?: string; 'assigned-to'?: string; space?: string; limit?: string; offset?: string; cursor?: string }>): Promise<void> {
  const client = await makeClient(io, values)
  const query = { status: filterFlag(values.status, '--status'), priority: filterFlag(values.priority, '--priority'), assignedTo: assignee(values), spaceId: filterFlag(values.space, '--space'), ...pageFlags(values) }
  // A bare array; the count is in X-Total-Count (capped: X-Total-Count-Estimate says "at least").
  const r = await client.request<any[]>('GET', '/api/v1/tasks', { query, expect: 'list' })
  output(io, values.json, r.body, () => rows(r.body, COLUMNS, 'no tasks'))
  const total = r.headers.get('x-total-count')
  nextPageHint(io, values.json, { noun: noun('task'), shown: r.body.length, offset: query.offset, cursor: query.cursor, next: r.headers.get('x-next-cursor'), total, estimate: r.headers.get('x-total-count-estimate') === 'true' })
}

/** The body, its --description read from stdin or a file when asked (after the other options are checked). */
async function taskBodyWithTexts(io: Run<unknown>['io'], values: Fields) {
  const body = taskBody(values)
  return { ...body, ...(await readTexts(io, values, ['description'])) }
}

export async function create({ values, io }: Run<ClientValues & Fields>): Promise<void> {
  const body = await taskBodyWithTexts(io, values)
  const client = await makeClient(io, values)
  const r = await client.request('POST', '/api/v1/tasks', { body, expect: { id: 'string' } })
  created(io, values.json, r.body, r.body.id, `created task ${r.body.id} (${inline(r.body.title)})`)
}

const ONE = { path: '/api/v1/tasks', noun: 'task', detail: DETAIL, expect: { id: 'string' }, pick: (b: any) => b, deleted: 'deleted' } as const
export const get = (run: Run<ClientValues>) => getOrDelete(run, 'get', ONE)
export const remove = (run: Run<ClientValues>) => getOrDelete(run, 'delete', ONE)

export async function update({ values, positionals, io }: Run<ClientValues & Fields>): Promise<void> {
  const body = await taskBodyWithTexts(io, values)
  if (Object.keys(body).length === 0) throw new UsageError('nothing to update: pass at least one option')
  const client = await makeClient(io, values)
  const r = await client.request('PATCH', `/api/v1/tasks/${enc(positionals[0]!)}`, { body, expect: { id: 'string' } })
  output(io, values.json, r.body, () => details(r.body, DETAIL))
}

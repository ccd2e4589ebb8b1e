import { CLIENT_EXIT } from '../../client/errors'
import { UsageError, type Io } from '../common'
import { CLIENT_OPTIONS_USAGE, clientGuard, compact, details, intFlag, isHelp, makeClient, output, parseClient, rows, getOrDelete } from './common'
import { enc } from './executions'

export const TASKS_USAGE = `usage:
  teamday tasks list [--status pending|in_progress|completed|cancelled] [--priority low|medium|high|urgent] [--assigned-to ID] [--space ID] [--limit N] [--offset N]
  teamday tasks get ID
  teamday tasks create --title T [--description D] [--priority P] [--assign-to ID] [--assignee-type user|agent]
                       [--space ID] [--due ISO-DATE] [--metadata JSON]
  teamday tasks update ID [the create options] [--status S]
  teamday tasks delete ID
${CLIENT_OPTIONS_USAGE}`

const FIELDS = {
  title: { type: 'string' },
  description: { type: 'string' },
  priority: { type: 'string' },
  'assign-to': { type: 'string' },
  'assignee-type': { type: 'string' },
  space: { type: 'string' },
  due: { type: 'string' },
  metadata: { type: 'string' },
} as const

const COLUMNS = ['id', 'title', 'status', 'priority', 'assignedTo', 'spaceId', 'dueDate', 'updatedAt']
const DETAIL = ['id', 'title', 'description', 'status', 'priority', 'assignedTo', 'assigneeType', 'spaceId', 'dueDate', 'completedAt', 'metadata', 'createdBy', 'createdAt', 'updatedAt']

function taskBody(v: Record<string, string | boolean | undefined>) {
  let metadata: unknown
  if (typeof v.metadata === 'string') {
    try {
      metadata = JSON.parse(v.metadata)
    } catch {
      throw new UsageError('--metadata must be a JSON object, e.g. \'{"source":"ci"}\'')
    }
  }
  return compact({
    title: v.title as string | undefined,
    description: v.description as string | undefined,
    priority: v.priority as string | undefined,
    assignedTo: v['assign-to'] as string | undefined,
    assigneeType: v['assignee-type'] as string | undefined,
    spaceId: v.space as string | undefined,
    dueDate: v.due as string | undefined,
    metadata,
    status: v.status as string | undefined,
  })
}

export function tasksCommand(args: string[], io: Io): Promise<number> {
  return clientGuard(io, TASKS_USAGE, async () => {
    const [sub, ...rest] = args
    if (isHelp(sub)) {
      io.out(TASKS_USAGE)
      return sub ? CLIENT_EXIT.ok : CLIENT_EXIT.usage
    }
    if (sub === 'list') {
      const { values } = parseClient(rest, { status: { type: 'string' }, priority: { type: 'string' }, 'assigned-to': { type: 'string' }, space: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' } }, { min: 0, max: 0, names: '' })
      if (values.help) return help(io)
      const client = makeClient(io, values)
      const query = { status: values.status, priority: values.priority, assignedTo: values['assigned-to'], spaceId: values.space, limit: intFlag(values.limit, '--limit', 1, 200), offset: intFlag(values.offset, '--offset', 0, 1e9) }
      const r = await client.request('GET', '/api/v1/tasks', { query })
      output(io, values.json, r.body, () => rows(r.body.tasks, COLUMNS, 'no tasks'))
      return CLIENT_EXIT.ok
    }
    if (sub === 'create') {
      const { values } = parseClient(rest, FIELDS, { min: 0, max: 0, names: '' })
      if (values.help) return help(io)
      if (!values.title) throw new UsageError('missing required option --title')
      const client = makeClient(io, values)
      const r = await client.request('POST', '/api/v1/tasks', { body: taskBody(values) })
      output(io, values.json, r.body, () => `created task ${r.body.id} (${r.body.title})`)
      return CLIENT_EXIT.ok
    }
    if (sub === 'get' || sub === 'delete') {
      return getOrDelete(io, sub, rest, { path: '/api/v1/tasks', noun: 'task', detail: DETAIL, pick: (b) => b, deleted: 'deleted', help })
    }
    if (sub === 'update') {
      const { values, positionals } = parseClient(rest, { ...FIELDS, status: { type: 'string' } }, { min: 1, max: 1, names: 'task ID' })
      if (values.help) return help(io)
      const body = taskBody(values)
      if (Object.keys(body).length === 0) throw new UsageError('nothing to update: pass at least one option')
      const client = makeClient(io, values)
      const r = await client.request('PATCH', `/api/v1/tasks/${enc(positionals[0]!)}`, { body })
      output(io, values.json, r.body, () => details(r.body, DETAIL))
      return CLIENT_EXIT.ok
    }
    throw new UsageError(`unknown tasks command "${sub}"`)
  })
}

function help(io: Io) {
  io.out(TASKS_USAGE)
  return CLIENT_EXIT.ok
}

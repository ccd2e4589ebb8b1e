import { CLIENT_EXIT, ClientError } from '../../client/errors'
import { parseJson } from '../../client/http'
import { readSse } from '../../client/sse'
import { UsageError, type Io } from '../common'
import { boolFlag, CLIENT_OPTIONS_USAGE, clientGuard, compact, details, intFlag, isHelp, listFlag, makeClient, output, parseClient, rows, writeRaw, type ClientIo, getOrDelete } from './common'
import { enc, waitForExecution } from './executions'

export const AGENTS_USAGE = `usage:
  teamday agents list [--visibility private|organization|public] [--category C] [--q TEXT] [--archived] [--limit N] [--offset N]
  teamday agents get ID
  teamday agents create --name N [--system-prompt P] [--role R] [--visibility V] [--model M] [--description D]
                        [--category C] [--tags a,b] [--subagents ID,ID] [--max-turns N]
  teamday agents update ID [the create options] [--archived true|false]
  teamday agents delete ID           archives the agent
  teamday agents execute ID --message M [--space ID] [--session ID] [--stream | --async [--wait]]
      prints the agent's answer; --stream prints it as it is written; --async prints the execution
      id at once; --wait (implies --async) polls until it ends. Exit 1 when the execution failed.
${CLIENT_OPTIONS_USAGE}`

const FIELDS = {
  name: { type: 'string' },
  'system-prompt': { type: 'string' },
  role: { type: 'string' },
  visibility: { type: 'string' },
  model: { type: 'string' },
  description: { type: 'string' },
  category: { type: 'string' },
  tags: { type: 'string' },
  subagents: { type: 'string' },
  'max-turns': { type: 'string' },
} as const

const COLUMNS = ['id', 'name', 'role', 'visibility', 'model', 'archived', 'updatedAt']
const DETAIL = ['id', 'name', 'slug', 'role', 'description', 'category', 'visibility', 'model', 'tags', 'subagentIds', 'maxTurns', 'systemPrompt', 'archived', 'createdAt', 'updatedAt']

function agentBody(v: Record<string, string | boolean | undefined>) {
  return compact({
    name: v.name as string | undefined,
    systemPrompt: v['system-prompt'] as string | undefined,
    role: v.role as string | undefined,
    visibility: v.visibility as string | undefined,
    model: v.model as string | undefined,
    description: v.description as string | undefined,
    category: v.category as string | undefined,
    tags: listFlag(v.tags as string | undefined),
    subagentIds: listFlag(v.subagents as string | undefined),
    maxTurns: intFlag(v['max-turns'] as string | undefined, '--max-turns', 1, 500),
  })
}

export function agentsCommand(args: string[], io: ClientIo): Promise<number> {
  return clientGuard(io, AGENTS_USAGE, async () => {
    const [sub, ...rest] = args
    if (isHelp(sub)) {
      io.out(AGENTS_USAGE)
      return sub ? CLIENT_EXIT.ok : CLIENT_EXIT.usage
    }
    if (sub === 'list') {
      const { values } = parseClient(rest, { visibility: { type: 'string' }, category: { type: 'string' }, q: { type: 'string' }, archived: { type: 'boolean' }, limit: { type: 'string' }, offset: { type: 'string' } }, { min: 0, max: 0, names: '' })
      if (values.help) return help(io)
      const client = makeClient(io, values)
      const query = { visibility: values.visibility, category: values.category, q: values.q, archived: values.archived ? 'true' : undefined, limit: intFlag(values.limit, '--limit', 1, 200), offset: intFlag(values.offset, '--offset', 0, 1e9) }
      const r = await client.request('GET', '/api/v1/agents', { query })
      output(io, values.json, r.body, () => rows(r.body.agents, COLUMNS, 'no agents'))
      return CLIENT_EXIT.ok
    }
    if (sub === 'create') {
      const { values } = parseClient(rest, FIELDS, { min: 0, max: 0, names: '' })
      if (values.help) return help(io)
      if (!values.name) throw new UsageError('missing required option --name')
      const client = makeClient(io, values)
      const r = await client.request('POST', '/api/v1/agents', { body: agentBody(values) })
      output(io, values.json, r.body, () => `created agent ${r.body.id} (${r.body.name})`)
      return CLIENT_EXIT.ok
    }
    if (sub === 'get' || sub === 'delete') {
      return getOrDelete(io, sub, rest, { path: '/api/v1/agents', noun: 'agent', detail: DETAIL, pick: (b) => b.agent, deleted: 'archived', help })
    }
    if (sub === 'update') {
      const { values, positionals } = parseClient(rest, { ...FIELDS, archived: { type: 'string' } }, { min: 1, max: 1, names: 'agent ID' })
      if (values.help) return help(io)
      const body = { ...agentBody(values), ...compact({ archived: boolFlag(values.archived, '--archived') }) }
      if (Object.keys(body).length === 0) throw new UsageError('nothing to update: pass at least one option')
      const client = makeClient(io, values)
      const r = await client.request('PATCH', `/api/v1/agents/${enc(positionals[0]!)}`, { body })
      output(io, values.json, r.body, () => details(r.body.agent, DETAIL))
      return CLIENT_EXIT.ok
    }
    if (sub === 'execute') return execute(rest, io)
    throw new UsageError(`unknown agents command "${sub}"`)
  })
}

function help(io: Io) {
  io.out(AGENTS_USAGE)
  return CLIENT_EXIT.ok
}

async function execute(rest: string[], io: ClientIo): Promise<number> {
  const { values, positionals } = parseClient(
    rest,
    { message: { type: 'string', short: 'm' }, space: { type: 'string' }, session: { type: 'string' }, stream: { type: 'boolean' }, async: { type: 'boolean' }, wait: { type: 'boolean' } },
    { min: 1, max: 1, names: 'agent ID' },
  )
  if (values.help) return help(io)
  if (!values.message) throw new UsageError('missing required option --message')
  if (values.stream && (values.async || values.wait)) throw new UsageError('--stream cannot be combined with --async or --wait')
  const client = makeClient(io, values)
  const path = `/api/v1/agents/${enc(positionals[0]!)}/execute`
  const body = compact({ message: values.message, spaceId: values.space, sessionId: values.session })

  if (values.stream) {
    const res = await client.open('POST', path, { body: { ...body, stream: true }, headers: { accept: 'text/event-stream' }, timeoutMs: null })
    let failure: string | null = null
    let finished = false
    let last = '\n'
    for await (const ev of readSse(res.body!)) {
      const data = parseJson(ev.data) as any
      if (values.json) io.out(JSON.stringify({ event: ev.event, data }))
      if (ev.event === 'message' && data?.type === 'content_block_delta' && data.delta?.type === 'text_delta') {
        if (!values.json && data.delta.text) {
          writeRaw(io, data.delta.text)
          last = data.delta.text
        }
      } else if (ev.event === 'result') finished = true
      else if (ev.event === 'error') failure = `${data?.message ?? 'the execution failed'}${data?.executionId ? ` (execution ${data.executionId})` : ''}`
    }
    if (!values.json && !last.endsWith('\n')) writeRaw(io, '\n')
    if (failure) throw new ClientError(CLIENT_EXIT.failed, failure)
    if (!finished) throw new ClientError(CLIENT_EXIT.server, `the stream ended before the execution finished (execution ${res.headers.get('x-execution-id') ?? '?'}); see teamday executions get ID`)
    return CLIENT_EXIT.ok
  }

  if (values.async || values.wait) {
    const r = await client.request('POST', path, { body: { ...body, async: true } })
    if (!values.wait) {
      output(io, values.json, r.body, () => r.body.executionId)
      return CLIENT_EXIT.ok
    }
    io.err(`execution ${r.body.executionId} ${r.body.status}; waiting for it to end`)
    return waitForExecution(io, client, r.body.executionId, values.json)
  }

  const r = await client.request('POST', path, { body, timeoutMs: null })
  output(io, values.json, r.body, () => r.body.result)
  return CLIENT_EXIT.ok
}

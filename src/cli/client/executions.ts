import { CLIENT_EXIT, ClientError } from '../../client/errors'
import type { ApiClient } from '../../client/http'
import { UsageError, type Io } from '../common'
import { CLIENT_OPTIONS_USAGE, clientGuard, details, intFlag, isHelp, makeClient, output, parseClient, rows } from './common'

export const EXECUTIONS_USAGE = `usage:
  teamday executions list [--agent ID] [--status pending|running|completed|failed|cancelled] [--space ID] [--since ISO] [--limit N] [--offset N]
  teamday executions get ID        status, result, error, timing and usage
  teamday executions tree ID       the execution and the executions it delegated to
  teamday executions cancel ID     stops a pending or running execution
  teamday executions logs ID
${CLIENT_OPTIONS_USAGE}`

const TERMINAL = new Set(['completed', 'failed', 'cancelled'])
const COLUMNS = ['id', 'agentName', 'status', 'createdAt', 'executionTime', 'message']
export const enc = encodeURIComponent

/** Polls GET /executions/{id} until it ends; exit 1 when it failed or was cancelled. */
export async function waitForExecution(io: Io, client: ApiClient, id: string, json: boolean | undefined, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))): Promise<number> {
  let delay = 250
  for (;;) {
    const r = await client.request('GET', `/api/v1/executions/${enc(id)}`)
    const ex = r.body.execution
    if (TERMINAL.has(ex.status)) {
      if (json) io.out(JSON.stringify(r.body, null, 2))
      else if (ex.status === 'completed') io.out(ex.result ?? '')
      if (ex.status === 'completed') return CLIENT_EXIT.ok
      throw new ClientError(CLIENT_EXIT.failed, `execution ${ex.id} ${ex.status}${ex.error ? `: ${ex.error}` : ''}`)
    }
    await sleep(delay)
    delay = Math.min(5_000, Math.round(delay * 1.5))
  }
}

export function executionsCommand(args: string[], io: Io): Promise<number> {
  return clientGuard(io, EXECUTIONS_USAGE, async () => {
    const [sub, ...rest] = args
    if (isHelp(sub)) {
      io.out(EXECUTIONS_USAGE)
      return sub ? CLIENT_EXIT.ok : CLIENT_EXIT.usage
    }
    if (sub === 'list') {
      const { values } = parseClient(rest, { agent: { type: 'string' }, status: { type: 'string' }, space: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' } }, { min: 0, max: 0, names: '' })
      if (values.help) return help(io)
      const client = makeClient(io, values)
      const query = { agentId: values.agent, status: values.status, spaceId: values.space, since: values.since, limit: intFlag(values.limit, '--limit', 1, 200), offset: intFlag(values.offset, '--offset', 0, 1e9) }
      const r = await client.request<any[]>('GET', '/api/v1/executions', { query })
      output(io, values.json, r.body, () => rows(r.body, COLUMNS, 'no executions'))
      return CLIENT_EXIT.ok
    }
    if (!['get', 'tree', 'cancel', 'logs'].includes(sub!)) throw new UsageError(`unknown executions command "${sub}"`)
    const { values, positionals } = parseClient(rest, {}, { min: 1, max: 1, names: 'execution ID' })
    if (values.help) return help(io)
    const client = makeClient(io, values)
    const id = positionals[0]!
    if (sub === 'get') {
      const r = await client.request('GET', `/api/v1/executions/${enc(id)}`)
      const ex = r.body.execution
      output(io, values.json, r.body, () => details(ex, ['id', 'agentId', 'agentName', 'status', 'spaceId', 'sessionId', 'message', 'result', 'error', 'model', 'provider', 'parentExecutionId', 'createdAt', 'startedAt', 'completedAt', 'executionTime', 'tokensInput', 'tokensOutput']))
    } else if (sub === 'tree') {
      const r = await client.request('GET', `/api/v1/executions/${enc(id)}/tree`)
      output(io, values.json, r.body, () => renderTree(r.body.tree))
    } else if (sub === 'cancel') {
      const r = await client.request('POST', `/api/v1/executions/${enc(id)}/cancel`)
      output(io, values.json, r.body, () => `execution ${r.body.execution.id} is ${r.body.execution.status}`)
    } else {
      const r = await client.request('GET', `/api/v1/executions/${enc(id)}/logs`)
      output(io, values.json, r.body, () => (r.body.logs.length === 0 ? 'no log entries' : r.body.logs.map((l: any) => `${l.timestamp}  ${l.level.padEnd(5)}  ${l.event}${l.data === null || l.data === undefined ? '' : '  ' + JSON.stringify(l.data)}`).join('\n')))
    }
    return CLIENT_EXIT.ok
  })
}

function help(io: Io) {
  io.out(EXECUTIONS_USAGE)
  return CLIENT_EXIT.ok
}

function renderTree(node: any, depth = 0): string {
  const line = `${'  '.repeat(depth)}${depth ? '└ ' : ''}${node.id}  ${node.agentName ?? node.agentId}  ${node.status}`
  const children: any[] = node.children ?? []
  return [line, ...children.map((c) => renderTree(c, depth + 1))].join('\n')
}

import { ClientError, isErrorEnvelope } from '../../client/errors'
import type { ApiClient } from '../../client/http'
import type { Io } from '../common'
import type { ClientValues, Run } from '../spec'
import { executeResult } from '../../execute-result'
import { details, filterFlag, makeClient, nextPageHint, noun, output, pageFlags, rows } from './common'

/** `teamday executions …` over HTTP (options and usage: src/cli/registry.ts). */

const TERMINAL = new Set(['completed', 'failed', 'cancelled'])
const COLUMNS = ['id', 'agentName', 'status', 'createdAt', 'duration', 'message']

/** executionTime is in milliseconds; the table says so in its unit. */
function duration(ms: unknown): string | null {
  if (typeof ms !== 'number') return null
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`
}
export const enc = encodeURIComponent

/** How long a wait may last, and how to say it: `--wait`'s and a lost stream's follow-up. */
export interface WaitLimit {
  /**
   * When the wait ends, on the monotonic clock (`now`, performance.now() by default): a step of the
   * wall clock (NTP, a laptop's resume, an operator) while it waits neither ends it at once nor
   * holds it for as long as the clock went back (a deadline of Date.now() did both).
   */
  deadline: number
  /** The limit in words for the message: "15 minutes (--timeout 900)". */
  words: string
  sleep?: (ms: number) => Promise<void>
  now?: () => number
}

/** A poll's own time limit past the deadline: the last look at the deadline gets an answer. */
const LAST_POLL_MS = 2_000

/**
 * Polls GET /executions/{id} until it ends; exit 1 when it failed or was cancelled, exit 5
 * (`timeout`) when it has not ended by the limit's deadline (it waited for ever: a run stuck on
 * a server, or one that lets runs last hours, held a cron job without end). `json`: 'stream'
 * prints the end as `execute --stream --json` does, one `result` event line.
 */
export async function waitForExecution(io: Io, client: ApiClient, id: string, json: boolean | 'stream' | 'answer' | undefined, limit: WaitLimit): Promise<void> {
  const sleep = limit.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)))
  const now = limit.now ?? (() => performance.now())
  let status = 'pending'
  let last: unknown
  const overTime = () => {
    const message = `execution ${id} has not ended within ${limit.words} (it is ${status}); it goes on: teamday executions get ${id}, or stop it: teamday executions cancel ${id}`
    return new ClientError('server', message, 'Wait longer with a larger --timeout (seconds).', { error: true, code: 'timeout', message, ...(last ? { execution: last } : {}) }, 'timeout')
  }
  let delay = 250
  for (;;) {
    let r
    try {
      r = await client.request('GET', `/api/v1/executions/${enc(id)}`, { signal: AbortSignal.timeout(Math.max(0, limit.deadline - now()) + LAST_POLL_MS), expect: { 'execution.id': 'string', 'execution.status': 'string' } })
    } catch (e) {
      if (now() >= limit.deadline) throw overTime()
      // The server out of reach for longer than a request's retries (a restart, a deploy behind
      // a proxy's 502s): the run's state is in the database, so the wait goes on until its
      // deadline (it failed with exit 5 while the run went on). Not another server, not a
      // missing execution, not a refused token: those fail at once.
      if (!(e instanceof ClientError) || e.kind !== 'server' || e.code === 'not_teamday' || e.code === 'retry_later' || (isErrorEnvelope(e.body) && e.body.code === 'route_not_found')) throw e
      io.err(`could not read execution ${id} (${e.message}); still waiting for its end until ${new Date(Date.now() + Math.max(0, limit.deadline - now())).toISOString()}`)
      await sleep(Math.min(delay, Math.max(0, limit.deadline - now())))
      delay = Math.min(5_000, Math.round(delay * 1.5))
      continue
    }
    const ex = r.body.execution
    if (TERMINAL.has(ex.status)) {
      if (ex.status === 'completed') {
        if (json === 'stream') {
          // The stream's own `result` event, made by the server's rule (src/execute-result.ts).
          io.out(JSON.stringify({ event: 'result', data: { ...executeResult(ex), execution: ex } }))
        } else if (json === 'answer') {
          // A synchronous execute's own body (src/execute-result.ts), as its lost answer would have been.
          io.out(JSON.stringify(executeResult(ex), null, 2))
        } else io.out(json ? JSON.stringify(r.body, null, 2) : (ex.result ?? ''))
        return
      }
      // With --json the error object (printed by the guard) carries the execution.
      const message = `execution ${ex.id} ${ex.status}${ex.error ? `: ${ex.error}` : ''}`
      throw new ClientError('failed', message, undefined, { error: true, code: `execution_${ex.status}`, message, execution: ex }, `execution_${ex.status}`)
    }
    status = ex.status
    last = ex
    const left = limit.deadline - now()
    if (left <= 0) throw overTime()
    await sleep(Math.min(delay, left))
    delay = Math.min(5_000, Math.round(delay * 1.5))
  }
}

export async function list({ values, io }: Run<ClientValues & { agent?: string; status?: string; space?: string; since?: string; limit?: string; offset?: string; cursor?: string }>): Promise<void> {
  const client = await makeClient(io, values)
  const query = { agentId: filterFlag(values.agent, '--agent'), status: filterFlag(values.status, '--status'), spaceId: filterFlag(values.space, '--space'), since: filterFlag(values.since, '--since'), ...pageFlags(values) }
  const r = await client.request<any[]>('GET', '/api/v1/executions', { query, expect: 'list' })
  output(io, values.json, r.body, () => rows(r.body.map((e: any) => ({ ...e, duration: duration(e.executionTime) })), COLUMNS, 'no executions'))
  nextPageHint(io, values.json, { noun: noun('execution'), shown: r.body.length, offset: query.offset, cursor: query.cursor, next: r.headers.get('x-next-cursor') })
}

export async function get({ values, positionals, io }: Run<ClientValues>): Promise<void> {
  const client = await makeClient(io, values)
  const r = await client.request('GET', `/api/v1/executions/${enc(positionals[0]!)}`, { expect: { execution: 'object' } })
  const ex = r.body.execution
  // errorCode, delegationDepth and historyTrimmed only when set (a failure's code, a delegated
  // run, a session's history cut short): the table had none of them, only --json.
  const when = (set: boolean, key: string) => (set ? [key] : [])
  const keys = [
    ...['id', 'agentId', 'agentName', 'status', 'spaceId', 'sessionId'],
    ...when(!!ex.historyTrimmed, 'historyTrimmed'),
    ...['message', 'result', 'error'],
    ...when(ex.errorCode != null, 'errorCode'),
    ...['model', 'provider', 'parentExecutionId'],
    ...when(typeof ex.delegationDepth === 'number' && ex.delegationDepth > 0, 'delegationDepth'),
    ...['createdAt', 'startedAt', 'completedAt', 'duration', 'tokensInput', 'tokensOutput'],
  ]
  output(io, values.json, r.body, () => details({ ...ex, duration: duration(ex.executionTime), historyTrimmed: trimmedWords(ex.historyTrimmed) }, keys))
}

/** A session's history cut short for this run (the execution's historyTrimmed), in words. */
function trimmedWords(h: unknown): string | null {
  if (!h || typeof h !== 'object') return null
  const { turnsSent, turnsOmitted, charsSent, maxChars } = h as Record<string, unknown>
  return `${turnsOmitted} older turn(s) left out; the newest ${turnsSent} sent (${charsSent} of at most ${maxChars} characters)`
}

export async function tree({ values, positionals, io }: Run<ClientValues>): Promise<void> {
  const client = await makeClient(io, values)
  const r = await client.request('GET', `/api/v1/executions/${enc(positionals[0]!)}/tree`, { expect: { 'tree.id': 'string' } })
  output(io, values.json, r.body, () => renderTree(r.body.tree))
}

export async function cancel({ values, positionals, io }: Run<ClientValues>): Promise<void> {
  const client = await makeClient(io, values)
  const r = await client.request('POST', `/api/v1/executions/${enc(positionals[0]!)}/cancel`, { expect: { 'execution.id': 'string', 'execution.status': 'string' } })
  output(io, values.json, r.body, () => `execution ${r.body.execution.id} is ${r.body.execution.status}`)
}

export async function logs({ values, positionals, io }: Run<ClientValues>): Promise<void> {
  const client = await makeClient(io, values)
  const r = await client.request('GET', `/api/v1/executions/${enc(positionals[0]!)}/logs`, { expect: { logs: 'list' } })
  output(io, values.json, r.body, () => (r.body.logs.length === 0 ? 'no log entries' : r.body.logs.map((l: any) => `${l.timestamp}  ${l.level.padEnd(5)}  ${l.event}${l.data === null || l.data === undefined ? '' : '  ' + JSON.stringify(l.data)}`).join('\n')))
}

function renderTree(node: any, depth = 0): string {
  const line = `${'  '.repeat(depth)}${depth ? '└ ' : ''}${node.id}  ${node.agentName ?? node.agentId}  ${node.status}`
  const children: any[] = node.children ?? []
  return [line, ...children.map((c) => renderTree(c, depth + 1))].join('\n')
}

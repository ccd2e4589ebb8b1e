import { ClientError, isErrorEnvelope, NEW_TOKEN_HINT, notTeamday, unexpectedAnswer } from '../../client/errors'
import { networkReason, parseJson, undecodable, undecodableAnswer } from '../../client/http'
import { readSseOrFail, SseEventTooLarge } from '../../client/sse'
import { inline, UsageError } from '../common'
import type { ClientValues, Run } from '../spec'
import { boolFlag, compact, created, details, filterFlag, getOrDelete, intFlag, listFlag, makeClient, nextPageHint, noun, output, pageFlags, rows, writeRaw } from './common'
import { enc, waitForExecution } from './executions'
import { readTexts } from './text-input'

/** `teamday agents …` over HTTP (options and usage: src/cli/registry.ts). */

/**
 * How long `agents execute` waits (README, "Client commands"; a test shortens them).
 * - streamIdleMs: a stream in which nothing arrives this long has stalled: the server sends a
 *   heartbeat comment every 15 s (src/modules/executions/sse.ts, HEARTBEAT_MS).
 * - totalMs: the default of --timeout, the whole wait for the run's end in every mode: the
 *   synchronous answer, the stream's result, --wait's polling. Runs end after
 *   TEAMDAY_EXECUTION_TIMEOUT_MS (default 5 minutes), plus what they waited in the queue; a
 *   server that allows longer runs is used with a larger --timeout.
 */
export const EXECUTE_TIMING = { streamIdleMs: 60_000, totalMs: 15 * 60_000 }

/** The most --timeout accepts, in seconds: a day. */
const MAX_TIMEOUT_S = 86_400

/** A plain --timeout from this many seconds up is refused as ambiguous: TeamDay's CLI counts milliseconds. */
const AMBIGUOUS_FROM_S = 10_000

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 }

/**
 * --timeout: seconds (`900`), or with a unit (`1500ms`, `90s`, `15m`, `2h`), from 1 s to a day;
 * returns whole seconds (a part of one rounded up). TeamDay's own CLI takes milliseconds for the
 * same option, so `--timeout 60000` (a minute there) waited 16.7 hours here: a plain number of
 * 10,000 or more is refused with both readings, to be written with its unit.
 */
export function timeoutFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const form = `--timeout is seconds (e.g. 900), or a number with a unit: 1500ms, 90s, 15m, 2h; from 1 s to ${MAX_TIMEOUT_S / 3600} h`
  const m = /^(\d+)(ms|s|m|h)?$/.exec(value.trim())
  if (!m) throw new UsageError(`${form} (got "${value.slice(0, 40)}")`)
  const n = Number(m[1])
  if (m[2] === undefined && n >= AMBIGUOUS_FROM_S) {
    throw new UsageError(`--timeout ${n} is ambiguous: here a plain number is seconds (${inWords(n * 1000)}), TeamDay's CLI reads it as milliseconds (${inWords(n)}); write ${n}ms or ${n}s`)
  }
  const s = Math.ceil(n * UNITS[m[2] ?? 's']!)
  if (s < 1 || s > MAX_TIMEOUT_S) throw new UsageError(`${form} (got ${value.trim()})`)
  return s
}

/** "15 minutes", "90 s", "16.7 hours": a limit in words. */
function inWords(ms: number): string {
  const s = Math.round(ms / 1000)
  if (s >= 7200) return `${Number((s / 3600).toFixed(1))} hours`
  return s >= 120 && s % 60 === 0 ? `${s / 60} minutes` : `${ms < 1000 ? ms / 1000 : s} s`
}

type Fields = { name?: string; slug?: string; 'system-prompt'?: string; 'system-prompt-file'?: string; role?: string; visibility?: string; model?: string; description?: string; category?: string; tags?: string; subagents?: string; 'max-turns'?: string }

const COLUMNS = ['id', 'name', 'role', 'visibility', 'model', 'archived', 'updatedAt']
const DETAIL = ['id', 'name', 'slug', 'role', 'description', 'category', 'visibility', 'model', 'tags', 'subagentIds', 'maxTurns', 'systemPrompt', 'archived', 'createdAt', 'updatedAt']

function agentBody(v: Fields) {
  return compact({
    name: v.name,
    slug: v.slug,
    systemPrompt: v['system-prompt'],
    role: v.role,
    visibility: v.visibility,
    model: v.model,
    description: v.description,
    category: v.category,
    tags: listFlag(v.tags),
    subagentIds: listFlag(v.subagents),
    maxTurns: intFlag(v['max-turns'], '--max-turns', 1, 500),
  })
}

export async function list({ values, io }: Run<ClientValues & { visibility?: string; category?: string; q?: string; archived?: boolean; limit?: string; offset?: string; cursor?: string }>): Promise<void> {
  const client = await makeClient(io, values)
  const query = { visibility: filterFlag(values.visibility, '--visibility'), category: filterFlag(values.category, '--category'), q: filterFlag(values.q, '--q'), archived: values.archived ? 'true' : undefined, ...pageFlags(values) }
  const r = await client.request('GET', '/api/v1/agents', { query, expect: { agents: 'list' } })
  output(io, values.json, r.body, () => rows(r.body.agents, COLUMNS, 'no agents'))
  nextPageHint(io, values.json, { noun: noun('agent'), shown: r.body.agents.length, offset: query.offset, cursor: query.cursor, next: r.body.nextCursor, total: r.body.total, estimate: r.body.totalIsEstimate })
}

/** The body, its --system-prompt read from stdin or a file when asked (after the other options are checked). */
async function agentBodyWithTexts(io: Run<unknown>['io'], values: Fields) {
  const body = agentBody(values)
  const texts = await readTexts(io, values, ['system-prompt'])
  return texts['system-prompt'] === undefined ? body : { ...body, systemPrompt: texts['system-prompt'] }
}

export async function create({ values, io }: Run<ClientValues & Fields>): Promise<void> {
  const body = await agentBodyWithTexts(io, values)
  const client = await makeClient(io, values)
  const r = await client.request('POST', '/api/v1/agents', { body, expect: { id: 'string' } })
  created(io, values.json, r.body, r.body.id, `created agent ${r.body.id} (${inline(r.body.name)})`)
}

const ONE = { path: '/api/v1/agents', noun: 'agent', detail: DETAIL, expect: { agent: 'object' }, pick: (b: any) => b.agent, deleted: 'archived' } as const
export const get = (run: Run<ClientValues>) => getOrDelete(run, 'get', ONE)
export const remove = (run: Run<ClientValues>) => getOrDelete(run, 'delete', ONE)

export async function update({ values, positionals, io }: Run<ClientValues & Fields & { archived?: string }>): Promise<void> {
  const body = { ...(await agentBodyWithTexts(io, values)), ...compact({ archived: boolFlag(values.archived, '--archived') }) }
  if (Object.keys(body).length === 0) throw new UsageError('nothing to update: pass at least one option')
  const client = await makeClient(io, values)
  const r = await client.request('PATCH', `/api/v1/agents/${enc(positionals[0]!)}`, { body, expect: { agent: 'object' } })
  output(io, values.json, r.body, () => details(r.body.agent, DETAIL))
}

export async function execute({ values, positionals, io }: Run<ClientValues & { message?: string; 'message-file'?: string; space?: string; session?: string; 'parent-execution'?: string; stream?: boolean; async?: boolean; wait?: boolean; timeout?: string }>): Promise<void> {
  if (values.stream && (values.async || values.wait)) throw new UsageError('--stream cannot be combined with --async or --wait')
  const seconds = timeoutFlag(values.timeout)
  if (seconds !== undefined && values.async && !values.wait) throw new UsageError('--timeout limits how long this command waits for the run; --async alone does not wait (add --wait)')
  // The API takes an empty parentExecutionId for none: a top-level run, outside the tree meant
  // (`--parent-execution "$PARENT"` with PARENT unset).
  if (values.space !== undefined && values.space.trim() === '') throw new UsageError('--space is empty (an unset variable?): give the space\'s id or slug, or leave the option out to run without a space')
  if (values['parent-execution'] === '') throw new UsageError('--parent-execution is empty (an unset variable?): give the parent execution\'s id, or leave the option out for a top-level run')
  // Every mode waits at most this long for the run's end (it waited for ever with --wait).
  const limitMs = seconds === undefined ? EXECUTE_TIMING.totalMs : seconds * 1000
  const limit = { deadline: performance.now() + limitMs, words: seconds === undefined ? inWords(limitMs) : `${inWords(limitMs)} (--timeout ${values.timeout!.trim()})` }
  // The message as given, or read from stdin (-m -) or a file (--message-file); one is required (the registry).
  const { message } = await readTexts(io, values, ['message'])
  const client = await makeClient(io, values)
  const path = `/api/v1/agents/${enc(positionals[0]!)}/execute`
  const body = compact({ message, spaceId: values.space, sessionId: values.session, parentExecutionId: values['parent-execution'] })

  if (values.stream) {
    // A time limit for silence (a hung server, or a proxy holding the connection open) and one
    // for the whole stream (heartbeats forever kept it open).
    const stop = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    const stalled = () => Object.assign(new Error(`nothing arrived for ${Math.round(EXECUTE_TIMING.streamIdleMs / 1000)} s (the server sends a heartbeat every 15 s)`), { name: 'StreamStalled' })
    const overTime = () => Object.assign(new Error(`the execution did not end within ${limit.words}`), { name: 'StreamOverTime' })
    const touch = () => {
      clearTimeout(timer)
      timer = setTimeout(() => stop.abort(stalled()), EXECUTE_TIMING.streamIdleMs)
    }
    const whole = setTimeout(() => stop.abort(overTime()), limitMs)
    const done = () => {
      clearTimeout(timer)
      clearTimeout(whole)
    }
    touch()
    let res: Response
    try {
      res = await client.open('POST', path, { body: { ...body, stream: true }, headers: { accept: 'text/event-stream' }, timeoutMs: null, signal: stop.signal })
    } catch (e) {
      done()
      // The first attempt started the execution and its answer was lost on the way (a reset, a
      // proxy's 502): the retry, with the same Idempotency-Key, is told which execution that was
      // (a stream is not run again or replayed). It ran: follow it to its end and print its
      // result as a completed stream would, instead of failing (exit 1) a run that happened.
      const started = startedBefore(e)
      if (started === undefined) throw e
      io.err(`${followedBecause(e, "the stream's answer was lost on the way")}; its execution ${started} runs: following it to its end (teamday executions get ${started})`)
      return waitForExecution(io, client, started, values.json ? 'stream' : false, limit)
    }
    // teamday answers a stream as text/event-stream, naming its execution (X-Execution-Id, the
    // meta event): a web page (a front end that answers every path with itself) ended as a stream
    // "before the execution finished (execution ?)", code stream_ended, not as another server.
    const type = res.headers.get('content-type') ?? ''
    if (!type.toLowerCase().startsWith('text/event-stream')) {
      done()
      await res.body?.cancel().catch(() => {})
      throw notTeamday(client.opts.baseUrl, res.status, `with ${type ? `a ${type.split(';')[0]} body` : 'a body without a content type'} where a stream (text/event-stream) belongs`)
    }
    let failure: string | null = null
    // The stream ended because its token was revoked or its user removed (the run goes on): an
    // authentication failure (exit 3) with the new-token hint; because the execution is no longer
    // theirs to see (its space made private to them): not found (exit 4). As the same request
    // without --stream answers (401, 404).
    let endedFor: string | undefined
    let finished = false
    let last = '\n'
    let executionId = res.headers.get('x-execution-id') ?? '?'
    const broken = (failure: unknown) => {
      const e = undecodableAnswer(failure) ? undecodable(client.opts.baseUrl, res.headers.get('content-encoding') ?? '?', failure) : failure
      return e instanceof ClientError
        ? new ClientError(e.kind, `${e.message} (the stream of execution ${executionId}; the run may go on: teamday executions get ${executionId})`, e.hint, e.body, e.code)
        : e instanceof SseEventTooLarge
        ? new ClientError('server', `${client.opts.baseUrl} sent a stream event of more than ${e.limit.toLocaleString('en-US')} characters (execution ${executionId}), more than a teamday server sends in one: the stream was not read on; the run may go on: teamday executions get ${executionId}`, 'Check --url / TEAMDAY_URL: it must be teamday itself, or a proxy that passes its stream on as it came (teamday health).', undefined, 'stream_event_too_large')
        : stop.signal.aborted
        ? new ClientError('server', `the stream ${stop.signal.reason?.name === 'StreamOverTime' ? 'was stopped' : 'stalled'} (execution ${executionId}): ${networkReason(e, null)}; the run may go on: teamday executions get ${executionId}`, undefined, undefined, 'timeout')
        : new ClientError('server', `the stream broke off (execution ${executionId}): ${networkReason(e, null)}; the run may go on: teamday executions get ${executionId}`, undefined, undefined, 'connection_failed')
    }
    try {
      for await (const ev of readSseOrFail(res.body!, broken, touch)) {
        const data = parseJson(ev.data) as any
        if (values.json) io.out(JSON.stringify({ event: ev.event, data }))
        if (ev.event === 'meta' && typeof data?.executionId === 'string') executionId = data.executionId
        else if (ev.event === 'message' && data?.type === 'content_block_delta' && data.delta?.type === 'text_delta') {
          if (!values.json && data.delta.text) {
            writeRaw(io, data.delta.text)
            last = data.delta.text
          }
        } else if (ev.event === 'result') finished = true
        else if (ev.event === 'error') {
          failure = `${data?.message ?? 'the execution failed'}${data?.executionId ? ` (execution ${data.executionId})` : ''}`
          endedFor = typeof data?.code === 'string' ? data.code : undefined
        }
      }
    } finally {
      done()
      if (!values.json && !last.endsWith('\n')) writeRaw(io, '\n')
    }
    if (failure && (endedFor === 'token_revoked' || endedFor === 'membership_revoked')) throw new ClientError('auth', failure, NEW_TOKEN_HINT, undefined, endedFor)
    if (failure && endedFor === 'not_found') throw new ClientError('notFound', failure, undefined, undefined, 'not_found')
    if (failure) throw new ClientError('failed', failure, undefined, undefined, 'execution_failed')
    if (!finished && executionId === '?') throw unexpectedAnswer(client.opts.baseUrl, res.status, 'a stream that names no execution')
    if (!finished) throw new ClientError('server', `the stream ended before the execution finished (execution ${executionId}); see teamday executions get ${executionId}`, undefined, undefined, 'stream_ended')
    return
  }

  if (values.async || values.wait) {
    let r
    try {
      r = await client.request('POST', path, { body: { ...body, async: true }, expect: { executionId: 'string', status: 'string' } })
    } catch (e) {
      const started = startedBefore(e)
      if (started === undefined) throw e
      io.err(`${followedBecause(e, 'the answer was lost on the way')}; its execution ${started} was recorded${values.wait ? ': following it to its end' : ''} (teamday executions get ${started})`)
      if (values.wait) return waitForExecution(io, client, started, values.json, limit)
      // What the 202 would have said, with the run's status as it is now.
      const now = await client.request('GET', `/api/v1/executions/${enc(started)}`, { expect: { 'execution.id': 'string', 'execution.status': 'string' } })
      output(io, values.json, { success: true, executionId: started, status: now.body.execution.status }, () => started)
      return
    }
    if (!values.wait) {
      output(io, values.json, r.body, () => r.body.executionId)
      return
    }
    io.err(`execution ${r.body.executionId} ${r.body.status}; waiting at most ${limit.words} for it to end`)
    return waitForExecution(io, client, r.body.executionId, values.json, limit)
  }

  let r
  try {
    r = await client.request('POST', path, {
      body,
      // One limit for the whole request, its retries included (a 503's retry started the wait anew).
      timeoutMs: null,
      signal: AbortSignal.timeout(limitMs),
      // Not retried: the run went on (or still goes on) on the server.
      timeoutMessage: `no answer from ${client.opts.baseUrl} within ${limit.words}: the execution may still run (teamday executions list --agent ${positionals[0]}); for longer runs raise --timeout (seconds)`,
      expect: { result: 'string' },
    })
  } catch (e) {
    const started = startedBefore(e)
    if (started === undefined) throw e
    // Its result printed as the answer would have been (--json: the same body, executeResult).
    io.err(`${followedBecause(e, 'the answer was lost on the way')}; its execution ${started} was recorded: following it to its end (teamday executions get ${started})`)
    return waitForExecution(io, client, started, values.json ? 'answer' : false, limit)
  }
  output(io, values.json, r.body, () => r.body.result)
}

/**
 * Why a retried execute follows its execution instead of getting its answer: lost on the way
 * (`lost`), or not replayed because the caller's role is lower now than when it was answered
 * (`details.roleThen`, `details.roleNow`).
 */
function followedBecause(e: unknown, lost: string): string {
  const d = e instanceof ClientError && isErrorEnvelope(e.body) ? e.body.details : undefined
  return typeof d?.roleThen === 'string' && typeof d?.roleNow === 'string' ? `the answer is not given again to your role now (${d.roleThen} then, ${d.roleNow} now)` : lost
}

/**
 * The execution a retried execute was told of instead of being run again (its Idempotency-Key
 * was the first attempt's, whose answer was lost on the way): a stream's
 * (`idempotency_stream_started`), or one whose run was recorded but whose answer was lost or never
 * came (`idempotency_interrupted` with `details.executionId`, e.g. `committed: true` after the
 * connection to the database broke at the commit). Undefined for any other error: those fail.
 */
export function startedBefore(e: unknown): string | undefined {
  if (!(e instanceof ClientError) || !isErrorEnvelope(e.body)) return undefined
  if (e.body.code !== 'idempotency_stream_started' && e.body.code !== 'idempotency_interrupted') return undefined
  const id = e.body.details?.executionId
  return typeof id === 'string' && id !== '' ? id : undefined
}

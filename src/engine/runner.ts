import type { Agent, Execution, Space } from '../db/schema'
import { AppError } from '../errors'
import { delegableAgent } from '../modules/agents/access'
import { createJob, type Job, type JobInput } from './prepare'
import type { ModelProviders } from './providers'
import { runJob, type EngineDeps, type EngineEvent } from './run'
import { renewLeases } from './leases'
import { ACTIVE, addLog, descendantsOf, finishExecution, getExecutionRow } from './store'

export type { EngineDeps } from './run'

type Listener = (e: EngineEvent) => void

interface Queued {
  job: Job
  settle: (row: Execution) => void
}

/**
 * A run to start: the agent (and space) already found visible to the user who starts it. The
 * fields a job records (src/engine/prepare.ts), with the parent execution itself in place of
 * its ids; `userId` is the user of the request, or of the parent run for a delegation, and
 * `delegationDepth` the depth asked for (TeamDay's delegationDepth), at least the parent's + 1.
 */
export type StartInput = Omit<JobInput, 'parentExecutionId' | 'rootExecutionId'> & {
  /** The execution this one is recorded under: a delegation's parent, or the API's parentExecutionId. */
  parent?: Execution | null
}

export interface StartOptions {
  /** Receives the run's events from the start (subscribed before it can emit any). */
  onEvent?: Listener
  /** A delegation: runs at once inside its parent's slot (not queued), aborted with the parent. */
  within?: AbortSignal
}

export interface Started {
  /** The execution as recorded (pending). */
  execution: Execution
  /** Settles with the final row; never rejects. */
  done: Promise<Execution>
}

const STOPPING = 'The server is shutting down and accepts no new executions; retry in a moment.'

/**
 * Runs executions: at most `maxConcurrentExecutions` top-level runs at once (the rest wait as
 * `pending`, first in first out), each under the execution timeout. Children of a delegation
 * run inside their parent's slot, so a full house cannot deadlock on its own sub-agents.
 */
export class Engine {
  readonly providers: ModelProviders
  private readonly running = new Map<string, AbortController>()
  private readonly listeners = new Map<string, Set<Listener>>()
  private readonly done = new Map<string, Promise<Execution>>()
  private readonly queue: Queued[] = []
  private active = 0
  private stopping = false
  private watcher: ReturnType<typeof setInterval> | null = null
  /** How often running executions are checked for a cancel recorded by another instance. */
  static readonly CANCEL_POLL_MS = 250
  private renewedAt = performance.now()

  constructor(private readonly deps: EngineDeps) {
    this.providers = deps.providers
  }

  get isStopping() {
    return this.stopping
  }

  /** Top-level executions waiting for a slot. */
  get queued(): number {
    return this.queue.length
  }

  /** Executions running here now (delegated children included). */
  get runningCount(): number {
    return this.running.size
  }

  /**
   * The one way a run starts, from the API or from a delegation. In order: the delegation depth
   * (422 past TEAMDAY_MAX_DELEGATION_DEPTH), shutdown (503: no new top-level runs), the model
   * (501 before anything is stored when no provider is configured; a model none of them serves is
   * recorded as a failed execution, done at once); then the execution is recorded as pending and
   * queued, or, for a delegation, run at once in its parent's slot.
   */
  async start(input: StartInput, opts: StartOptions = {}): Promise<Started> {
    const { config } = this.deps
    const parent = input.parent ?? null
    const depth = Math.max(input.delegationDepth ?? 0, parent ? parent.delegationDepth + 1 : 0)
    if (depth > config.maxDelegationDepth) {
      throw new AppError('validation_failed', `Validation failed: delegationDepth ${depth} exceeds the maximum delegation depth (${config.maxDelegationDepth}, TEAMDAY_MAX_DELEGATION_DEPTH)`, {
        details: [{ field: 'delegationDepth', message: `delegationDepth must be at most ${config.maxDelegationDepth}` }],
      })
    }
    if (this.stopping && !opts.within) throw new AppError('service_unavailable', STOPPING)
    const job = await createJob(this.deps, this.providers, {
      agent: input.agent,
      space: input.space,
      spaceId: input.spaceId,
      message: input.message,
      userId: input.userId,
      sessionId: input.sessionId,
      chatId: input.chatId,
      parentExecutionId: parent?.id ?? null,
      rootExecutionId: parent ? (parent.rootExecutionId ?? parent.id) : null,
      delegationDepth: depth,
    })
    const id = job.execution.id
    if (opts.onEvent) this.subscribe(id, opts.onEvent)
    if (job.selected === null) {
      // No configured provider serves the model: recorded as failed, nothing to run.
      await addLog(this.deps.db, id, this.deps.clock.now(), 'error', 'failed', { error: job.execution.error, code: 'model_not_served' })
      this.emit(id, { type: 'done', execution: job.execution })
      this.listeners.delete(id)
      return { execution: job.execution, done: Promise.resolve(job.execution) }
    }
    if (opts.within) return { execution: job.execution, done: this.execute(job, opts.within) }
    if (this.stopping) {
      // Stopped while the row was written: it will never run.
      return { execution: job.execution, done: this.failUnstarted(job) }
    }
    const done = new Promise<Execution>((settle) => {
      this.queue.push({ job, settle })
    })
    this.deps.log.debug('execution_queued', { executionId: id, agentId: input.agent.id, queued: this.queue.length, running: this.active })
    this.done.set(id, done)
    done.then(() => this.done.delete(id))
    this.pump()
    return { execution: job.execution, done }
  }

  /** The final row of a job that is queued or running here, if any. */
  wait(id: string): Promise<Execution> | undefined {
    return this.done.get(id)
  }

  /** Subscribes to a running execution's events; returns the unsubscribe function. */
  subscribe(id: string, fn: Listener): () => void {
    let set = this.listeners.get(id)
    if (!set) this.listeners.set(id, (set = new Set()))
    set.add(fn)
    return () => {
      set!.delete(fn)
      if (set!.size === 0) this.listeners.delete(id)
    }
  }

  private emit(id: string, e: EngineEvent) {
    for (const fn of this.listeners.get(id) ?? []) {
      try {
        fn(e)
      } catch {
        // a listener (a closed SSE stream) must not break the run
      }
    }
  }

  private pump() {
    while (this.active < this.deps.config.maxConcurrentExecutions && this.queue.length > 0) {
      const next = this.queue.shift()!
      this.active++
      this.deps.log.debug('execution_claimed', { executionId: next.job.execution.id, running: this.active, queued: this.queue.length })
      this.execute(next.job)
        .then(next.settle)
        .finally(() => {
          this.active--
          this.pump()
        })
    }
  }

  private async failUnstarted(job: Job): Promise<Execution> {
    const id = job.execution.id
    const now = this.deps.clock.now()
    await finishExecution(this.deps.db, id, { status: 'failed', error: 'Execution interrupted by server shutdown', errorCode: 'service_unavailable', completedAt: new Date(now), updatedAt: new Date(now) })
    const row = (await getExecutionRow(this.deps.db, id))!
    this.emit(id, { type: 'done', execution: row })
    this.listeners.delete(id)
    return row
  }

  private async execute(job: Job, parent?: AbortSignal): Promise<Execution> {
    const { db, clock } = this.deps
    const id = job.execution.id
    const ctrl = new AbortController()
    const onParent = () => ctrl.abort(parent!.reason)
    if (parent?.aborted) ctrl.abort(parent.reason)
    parent?.addEventListener('abort', onParent, { once: true })
    this.running.set(id, ctrl)
    this.watchForCancels()
    let row: Execution
    try {
      row = await runJob(this.deps, job, ctrl, (e) => this.emit(id, e), (p, agentId, message, signal) => this.delegate(p, agentId, message, signal ?? ctrl.signal))
    } catch (e) {
      // runJob does not throw; this is the last guard against a stuck `running` row.
      const now = clock.now()
      await finishExecution(db, id, { status: 'failed', error: `Internal error: ${(e as Error)?.message ?? e}`, errorCode: 'internal_error', completedAt: new Date(now), updatedAt: new Date(now) })
      row = (await getExecutionRow(db, id))!
    } finally {
      parent?.removeEventListener('abort', onParent)
      this.running.delete(id)
    }
    this.emit(id, { type: 'done', execution: row })
    this.listeners.delete(id)
    return row
  }

  /** The `delegate` tool: a child execution at depth + 1, its result (or error) as the tool result. */
  private async delegate(parent: Job, agentId: string, message: string, signal: AbortSignal): Promise<string> {
    const { db, clock, config } = this.deps
    const p = parent.execution
    // Checked now, for the user who started the run: the sub-agent may have become private or
    // been archived since the parent listed it.
    const agent = await delegableAgent(db, p, agentId)
    if (!agent) {
      await addLog(db, p.id, clock.now(), 'warn', 'delegation_refused', { agentId, reason: 'not_visible' })
      return `Error: sub-agent ${agentId} not found, archived, or not visible to the user who started this run.`
    }
    let started: Started
    try {
      started = await this.start(
        // The child lives in its parent's space and so inherits its visibility (without its instructions).
        { agent, space: null, spaceId: p.spaceId, message, userId: p.userId, sessionId: `${p.sessionId}:${p.id}:${agentId}`, parent: p },
        { within: signal },
      )
    } catch (e) {
      if (e instanceof AppError && e.code === 'validation_failed') {
        const depth = p.delegationDepth + 1
        await addLog(db, p.id, clock.now(), 'warn', 'delegation_refused', { agentId, depth, max: config.maxDelegationDepth })
        return `Error: delegation refused: depth ${depth} exceeds TEAMDAY_MAX_DELEGATION_DEPTH (${config.maxDelegationDepth}). Answer without delegating.`
      }
      return `Error: ${(e as Error).message}`
    }
    await addLog(db, p.id, clock.now(), 'info', 'delegated', { childExecutionId: started.execution.id, agentId, depth: started.execution.delegationDepth })
    const row = await started.done
    if (row.status === 'completed') return row.result ?? ''
    return `Error: sub-agent execution ${row.id} ${row.status}: ${row.error ?? ''}`.trim()
  }

  /**
   * A cancel made through another instance on the same database only records the status (that
   * instance has nothing to abort): while executions run here, their rows are checked every
   * CANCEL_POLL_MS and a run whose row says `cancelled` is aborted, so its provider requests
   * stop within a second wherever the cancel was made. Unchanged rows are read from memory
   * (src/db/sqlite.ts), so the check costs next to nothing.
   */
  private watchForCancels() {
    if (this.watcher !== null) return
    this.watcher = setInterval(async () => {
      if (this.running.size === 0) {
        clearInterval(this.watcher!)
        this.watcher = null
        return
      }
      try {
        for (const [id, ctrl] of this.running) {
          if (!ctrl.signal.aborted && (await getExecutionRow(this.deps.db, id))?.status === 'cancelled') ctrl.abort('cancel')
        }
        if (performance.now() - this.renewedAt >= this.deps.config.executionLeaseMs / 3) await this.renewLeases()
      } catch (e) {
        // e.g. the database is closing during shutdown: the next tick (or shutdown) settles it.
        this.deps.log.warn('cancel_check_failed', { error: e instanceof Error ? e.message : String(e) })
      }
    }, Engine.CANCEL_POLL_MS)
    // Never what keeps a process alive.
    ;(this.watcher as { unref?: () => void }).unref?.()
  }

  /** Renews the leases of every execution queued or running here (src/engine/leases.ts). */
  async renewLeases(): Promise<void> {
    this.renewedAt = performance.now()
    const ids = [...this.running.keys(), ...this.queue.map((q) => q.job.execution.id)]
    await renewLeases(this.deps.db, ids, this.deps.instanceId, this.deps.clock.now(), this.deps.config.executionLeaseMs)
  }

  /**
   * Cancels an execution and every active descendant: marks them cancelled at once, aborts
   * their provider requests, drops them from the queue. Returns the row.
   */
  async cancel(id: string): Promise<Execution | undefined> {
    const { db, clock } = this.deps
    const now = clock.now()
    const ids = [id, ...(await descendantsOf(db, id)).filter((d) => ACTIVE.includes(d.status)).map((d) => d.id)]
    for (const x of ids) {
      const row = await getExecutionRow(db, x)
      if (!row || !ACTIVE.includes(row.status)) continue
      const startedAt = row.startedAt?.getTime()
      await finishExecution(db, x, {
        status: 'cancelled',
        error: 'Cancelled by request',
        completedAt: new Date(now),
        updatedAt: new Date(now),
        executionTime: startedAt !== undefined ? Math.max(0, now - startedAt) : null,
      })
      await addLog(db, x, now, 'warn', 'cancelled', x === id ? {} : { by: id })
      // A run here logs its own end (with its figures) once aborted; others are logged now.
      if (!this.running.has(x)) {
        this.deps.log.info('execution_cancelled', { executionId: x, agentId: row.agentId, organizationId: row.organizationId, was: row.status, ...(x === id ? {} : { by: id }) })
        this.deps.metrics?.execution('cancelled')
      }
      this.running.get(x)?.abort('cancel')
      const qi = this.queue.findIndex((q) => q.job.execution.id === x)
      if (qi >= 0) {
        const [q] = this.queue.splice(qi, 1)
        const final = (await getExecutionRow(db, x))!
        this.emit(x, { type: 'done', execution: final })
        q!.settle(final)
      }
    }
    return getExecutionRow(db, id)
  }

  /**
   * Graceful shutdown: accepts no new runs, fails queued ones at once, lets running ones finish
   * for up to `graceMs`, then aborts them (failed, "interrupted by server shutdown").
   */
  async shutdown(graceMs = 10_000): Promise<void> {
    this.stopping = true
    const { db, clock } = this.deps
    for (const q of this.queue.splice(0)) {
      const now = clock.now()
      await finishExecution(db, q.job.execution.id, { status: 'failed', error: 'Execution interrupted by server shutdown', errorCode: 'service_unavailable', completedAt: new Date(now), updatedAt: new Date(now) })
      q.settle((await getExecutionRow(db, q.job.execution.id))!)
    }
    const all = () => Promise.allSettled([...this.done.values()])
    const timer = new Promise((r) => setTimeout(r, graceMs))
    await Promise.race([all(), timer])
    for (const c of this.running.values()) c.abort('shutdown')
    await Promise.race([all(), new Promise((r) => setTimeout(r, 2000))])
  }
}

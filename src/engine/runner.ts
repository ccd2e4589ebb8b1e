import type { Execution } from '../db/schema'
import type { Deps } from '../deps'
import { AppError } from '../errors'
import { delegableAgent } from '../modules/agents/access'
import { createJob, type Job } from './prepare'
import { configProviders, type ModelProviders } from './providers'
import { runJob, type EngineEvent } from './run'
import { ACTIVE, addLog, descendantsOf, finishExecution, getExecutionRow } from './store'

type Listener = (e: EngineEvent) => void

interface Queued {
  job: Job
  settle: (row: Execution) => void
}

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

  constructor(private readonly deps: Deps) {
    this.providers = deps.providers ?? configProviders(deps.config)
  }

  get isStopping() {
    return this.stopping
  }

  /** Queues a prepared top-level job; the promise settles with the final row (never rejects). */
  submit(job: Job): Promise<Execution> {
    if (this.stopping) throw new AppError('service_unavailable', 'The server is shutting down and accepts no new executions; retry in a moment.')
    const p = new Promise<Execution>((settle) => {
      this.queue.push({ job, settle })
    })
    this.done.set(job.execution.id, p)
    p.then(() => this.done.delete(job.execution.id))
    this.pump()
    return p
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
      this.execute(next.job)
        .then(next.settle)
        .finally(() => {
          this.active--
          this.pump()
        })
    }
  }

  private async execute(job: Job, parent?: AbortSignal): Promise<Execution> {
    const id = job.execution.id
    const ctrl = new AbortController()
    const onParent = () => ctrl.abort(parent!.reason)
    if (parent?.aborted) ctrl.abort(parent.reason)
    parent?.addEventListener('abort', onParent, { once: true })
    this.running.set(id, ctrl)
    this.watchForCancels()
    let row: Execution
    try {
      row = await runJob(this.deps, job, ctrl, (e) => this.emit(id, e), (p, agentId, message, signal) => this.runChild(p, agentId, message, signal ?? ctrl.signal))
    } catch (e) {
      // runJob does not throw; this is the last guard against a stuck `running` row.
      const now = this.deps.clock.now()
      finishExecution(this.deps.db, id, { status: 'failed', error: `Internal error: ${(e as Error)?.message ?? e}`, errorCode: 'internal_error', completedAt: new Date(now), updatedAt: new Date(now) })
      row = getExecutionRow(this.deps.db, id)!
    } finally {
      parent?.removeEventListener('abort', onParent)
      this.running.delete(id)
    }
    this.emit(id, { type: 'done', execution: row })
    this.listeners.delete(id)
    return row
  }

  /** The `delegate` tool: a child execution at depth + 1, its result (or error) as the tool result. */
  private async runChild(parent: Job, agentId: string, message: string, signal: AbortSignal): Promise<string> {
    const { deps } = this
    const p = parent.execution
    const depth = p.delegationDepth + 1
    if (depth > deps.config.maxDelegationDepth) {
      addLog(deps.db, p.id, deps.clock.now(), 'warn', 'delegation_refused', { agentId, depth, max: deps.config.maxDelegationDepth })
      return `Error: delegation refused: depth ${depth} exceeds TEAMDAY_MAX_DELEGATION_DEPTH (${deps.config.maxDelegationDepth}). Answer without delegating.`
    }
    // Checked now, for the user who started the run: the sub-agent may have become private or
    // been archived since the parent listed it.
    const agent = delegableAgent(deps.db, p, agentId)
    if (!agent) {
      addLog(deps.db, p.id, deps.clock.now(), 'warn', 'delegation_refused', { agentId, reason: 'not_visible' })
      return `Error: sub-agent ${agentId} not found, archived, or not visible to the user who started this run.`
    }
    let job: Job
    try {
      job = createJob(deps, this.providers, {
        agent,
        space: null,
        // The child lives in its parent's space and so inherits its visibility (without its instructions).
        spaceId: p.spaceId,
        message,
        userId: p.userId,
        sessionId: `${p.sessionId}:${p.id}:${agentId}`,
        parentExecutionId: p.id,
        rootExecutionId: p.rootExecutionId ?? p.id,
        delegationDepth: depth,
      })
    } catch (e) {
      return `Error: ${(e as Error).message}`
    }
    addLog(deps.db, p.id, deps.clock.now(), 'info', 'delegated', { childExecutionId: job.execution.id, agentId, depth })
    const row = await this.execute(job, signal)
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
    this.watcher = setInterval(() => {
      if (this.running.size === 0) {
        clearInterval(this.watcher!)
        this.watcher = null
        return
      }
      try {
        for (const [id, ctrl] of this.running) {
          if (!ctrl.signal.aborted && getExecutionRow(this.deps.db, id)?.status === 'cancelled') ctrl.abort('cancel')
        }
      } catch (e) {
        // e.g. the database is closing during shutdown: the next tick (or shutdown) settles it.
        this.deps.logger.warn('cancel_check_failed', { error: e instanceof Error ? e.message : String(e) })
      }
    }, Engine.CANCEL_POLL_MS)
    // Never what keeps a process alive.
    ;(this.watcher as { unref?: () => void }).unref?.()
  }

  /**
   * Cancels an execution and every active descendant: marks them cancelled at once, aborts
   * their provider requests, drops them from the queue. Returns the row.
   */
  cancel(id: string): Execution | undefined {
    const { db, clock } = this.deps
    const now = clock.now()
    const ids = [id, ...descendantsOf(db, id).filter((d) => ACTIVE.includes(d.status)).map((d) => d.id)]
    for (const x of ids) {
      const row = getExecutionRow(db, x)
      if (!row || !ACTIVE.includes(row.status)) continue
      const startedAt = row.startedAt?.getTime()
      finishExecution(db, x, {
        status: 'cancelled',
        error: 'Cancelled by request',
        completedAt: new Date(now),
        updatedAt: new Date(now),
        executionTime: startedAt !== undefined ? Math.max(0, now - startedAt) : null,
      })
      addLog(db, x, now, 'warn', 'cancelled', x === id ? {} : { by: id })
      this.running.get(x)?.abort('cancel')
      const qi = this.queue.findIndex((q) => q.job.execution.id === x)
      if (qi >= 0) {
        const [q] = this.queue.splice(qi, 1)
        const final = getExecutionRow(db, x)!
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
      finishExecution(db, q.job.execution.id, { status: 'failed', error: 'Execution interrupted by server shutdown', errorCode: 'service_unavailable', completedAt: new Date(now), updatedAt: new Date(now) })
      q.settle(getExecutionRow(db, q.job.execution.id)!)
    }
    const all = () => Promise.allSettled([...this.done.values()])
    const timer = new Promise((r) => setTimeout(r, graceMs))
    await Promise.race([all(), timer])
    for (const c of this.running.values()) c.abort('shutdown')
    await Promise.race([all(), new Promise((r) => setTimeout(r, 2000))])
  }
}

const engines = new WeakMap<Deps, Engine>()

/** The engine of an app (one per Deps object). */
export function getEngine(deps: Deps): Engine {
  let e = engines.get(deps)
  if (!e) engines.set(deps, (e = new Engine(deps)))
  return e
}

import type { Agent, Execution, Space } from '../db/schema'
import { connectionOf, type Db } from '../db/connection'
import { databaseUnavailable, retryWhileUnavailable } from '../db/unavailable'
import { AppError, errorMessage } from '../errors'
import { newId } from '../ids'
import { refusalMessage, runnableNow, visibilityUnder } from '../modules/executions/access'
import { assertTreeRoom, createJob, depthLimit, joinWriters, newDelegationTree, type Job, type JobInput } from './prepare'
import type { ModelProviders } from './providers'
import { runJob, type EngineDeps, type EngineEvent } from './run'
import type { ApiAccess } from './api-tool'
import { RunRequests, type RunRequest } from './run-requests'
import { storedAgentId } from './assistant'
import { failLapsed, renewLeases, rowAndLease } from './leases'
import { claimNext, claimedOrSettledOf } from './queue'
import { ACTIVE, addLog, descendantsOf, finishExecution, getExecutionRow, storable } from './store'
import { afterOtherRequests } from '../next-turn'

export type { EngineDeps } from './run'

type Listener = (e: EngineEvent) => void

/** A refusal of assertTreeRoom (src/engine/prepare.ts): the tree has all the children it may. */
const isTreeLimit = (e: unknown): e is AppError => e instanceof AppError && e.code === 'delegation_limit' && (e.details as { limit?: unknown } | undefined)?.limit === 'TEAMDAY_MAX_DELEGATIONS_PER_RUN'
/** A refusal of depthLimit (src/engine/prepare.ts): the child would be past the deepest level. */
const isDepthLimit = (e: unknown): e is AppError => e instanceof AppError && e.code === 'delegation_limit' && (e.details as { limit?: unknown } | undefined)?.limit === 'TEAMDAY_MAX_DELEGATION_DEPTH'

interface Queued {
  job: Job
  settle: (row: Execution) => void
  /** A request waits for its end (StartOptions.awaited). */
  awaited: boolean
}

/**
 * A run to start: the agent (and space) already found visible to the user who starts it. The
 * fields a job records (src/engine/prepare.ts), with the parent execution itself in place of
 * its ids; `userId` is the user of the request, or of the parent run for a delegation, and
 * `delegationDepth` the depth asked for (TeamDay's delegationDepth), at least the parent's + 1.
 */
export type StartInput = Omit<JobInput, 'parentExecutionId' | 'parentVisibility' | 'rootExecutionId' | 'delegated' | 'bound'> & {
  /** The execution this one is recorded under: a delegation's parent, or the API's parentExecutionId. */
  parent?: Execution | null
}

export interface StartOptions {
  /** Receives the run's events from the start (subscribed before it can emit any). */
  onEvent?: Listener
  /** A delegation: runs at once inside its parent's slot (not queued), aborted with the parent. */
  within?: AbortSignal
  /**
   * A run's own execute (its `teamday_api` tool's request: src/engine/run-requests.ts): a child
   * of that run in its delegation tree, as a `delegate` call's (Engine.startFrom); `input.parent`
   * is that run, whatever was asked.
   */
  from?: RunRequest
  /**
   * A request waits for this run's end (a synchronous execute, a stream): while it waits for a
   * slot, that wait ends once the database has taken none of this instance's writes for
   * TEAMDAY_DB_STATEMENT_TIMEOUT_MS and a second (Engine.giveUpWaiting), where it waited for as
   * long as the outage lasted. An `async` run, which nobody waits for, keeps its place.
   */
  awaited?: boolean
}

export interface Started {
  /** The execution as recorded (pending). */
  execution: Execution
  /** Settles with the final row; never rejects. */
  done: Promise<Execution>
}

/** How long a cancel waits for a run here to record its end before answering with the row as it is. */
const CANCEL_SETTLE_MS = 2_000
const STOPPING = 'The server is shutting down and accepts no new executions; retry in a moment.'
const SHUTDOWN_FAILURE = 'Execution interrupted by server shutdown'
/** The error of a queued run whose request stopped waiting for a database out of reach (giveUpWaiting). */
const UNREACHABLE_WHILE_QUEUED = (seconds: number) =>
  `not started: the database could not be reached for ${seconds} s (TEAMDAY_DB_STATEMENT_TIMEOUT_MS and a second) while it waited for a slot; its request was answered 503 and it will not run. Start it again once the database answers`
/** The error of an execution whose start was recorded but could not be confirmed to its request (failIfRecorded). */
const START_UNCONFIRMED = 'not started: the database connection was lost as this execution was recorded, and its request was answered 503'

/** An answer this long or longer is recorded and answered with in separate event-loop turns (Engine.execute). */
export const LARGE_ANSWER_CHARS = 64 * 1024

/**
 * Runs executions: at most `maxConcurrentExecutions` top-level runs at once in the whole database
 * (every instance on it counts), the rest wait as `pending` rows and are claimed in fair order
 * between organizations (src/engine/queue.ts), each under the execution timeout. A run executes
 * on the instance that created it (its waiters and streams listen there). Children of a
 * delegation run inside their parent's slot, so a full house cannot deadlock on its own sub-agents.
 */
export class Engine {
  readonly providers: ModelProviders
  private readonly running = new Map<string, AbortController>()
  private readonly listeners = new Map<string, Set<Listener>>()
  private readonly done = new Map<string, Promise<Execution>>()
  /** Top-level executions created here that wait for a slot, by id (their rows are `pending`). */
  private readonly queue = new Map<string, Queued>()
  /** Per parent execution, the end of its last child's turn (delegate: one child at a time). */
  private readonly childTurns = new Map<string, Promise<void>>()
  /** The requests runs here make through `teamday_api`, by their Request object (src/engine/run-requests.ts). */
  private readonly runRequests = new RunRequests()
  private stopping = false
  private watcher: ReturnType<typeof setInterval> | null = null
  private ticking = false
  /** The claim loop running now, and whether it should look again when it ends. */
  private pumping: Promise<void> | null = null
  private pumpAgain = false
  /**
   * How often, while executions run or wait here, their rows are checked for a cancel recorded
   * by another instance, and a queued one looks for a free slot (one freed on another instance).
   */
  static readonly CANCEL_POLL_MS = 250
  private renewedAt = performance.now()
  /** How long the last lease renewal took (a failed one on SQLite: the busy timeout, the event loop held). */
  private renewalTook = 0
  /**
   * The database as the queue sees it: when it last took one of this instance's writes (a run
   * recorded, its leases renewed), and since when its work has been failing because the
   * database cannot take it (databaseUnavailable), null while it goes through. Reads alone do
   * not clear it: a SQLite file another process holds the write lock of is read as usual, and
   * no run can be claimed from it.
   */
  private wroteAt = performance.now()
  private failingSince: number | null = null

  constructor(private readonly deps: EngineDeps) {
    this.providers = deps.providers
  }

  /**
   * The app's own request handler and the opener of a space's TEAMDAY_TOKEN, for the
   * `teamday_api` tool (src/engine/api-tool.ts): its calls go through every rule an outside
   * client's do. Set by createApp; without it (the admin CLI's runtime) no run gets the tool.
   */
  useApi(access: ApiAccess): void {
    this.deps.api = { ...access, runs: this.runRequests }
  }

  /**
   * The run here that made `request` through its `teamday_api` tool, if it is such a request:
   * known by the object itself, which only this engine marks (never by anything the request
   * carries, which a client could send too).
   */
  runOf(request: Request): RunRequest | undefined {
    return this.runRequests.of(request)
  }

  /** This process's instance id (the owner of the executions it queues and runs). */
  get instanceId(): string {
    return this.deps.instanceId
  }

  get isStopping() {
    return this.stopping
  }

  /** Top-level executions waiting here for a slot. */
  get queued(): number {
    return this.queue.size
  }

  /** Executions running here now (delegated children included). */
  get runningCount(): number {
    return this.running.size
  }

  /** The ids of the executions running or queued here now: what the lease sweep spares of this instance's own (src/engine/leases.ts). */
  held(): string[] {
    return [...this.running.keys(), ...this.queue.keys()]
  }

  /**
   * The one way a run starts, from the API or from a delegation. In order: the delegation depth
   * (422 past TEAMDAY_MAX_DELEGATION_DEPTH: `validation_failed` for a `delegationDepth` field past
   * it, `delegation_limit` for a child of a parent already at it), shutdown (503: no new top-level runs), the model
   * (501 before anything is stored when no provider is configured; a model none of them serves is
   * recorded as a failed execution, done at once); then the execution is recorded as pending and
   * queued, or, for a delegation, run at once in its parent's slot.
   */
  async start(input: StartInput, opts: StartOptions = {}): Promise<Started> {
    if (opts.from) return this.startFrom(input, opts.from, opts.onEvent)
    const { config } = this.deps
    const parent = input.parent ?? null
    if ((input.delegationDepth ?? 0) > config.maxDelegationDepth) {
      // The body's own field past the bound: that field is wrong, whatever the parent.
      throw new AppError('validation_failed', `Validation failed: delegationDepth ${input.delegationDepth} exceeds the maximum delegation depth (${config.maxDelegationDepth}, TEAMDAY_MAX_DELEGATION_DEPTH)`, {
        details: [{ field: 'delegationDepth', message: `delegationDepth must be at most ${config.maxDelegationDepth}` }],
      })
    }
    // A well-formed request under a parent already at the deepest level (an API client's
    // parentExecutionId, a run's teamday_api execute): the tree's bound, the rule a `delegate`
    // call is refused by (delegateNow).
    const tooDeep = parent && depthLimit(parent, config.maxDelegationDepth)
    if (tooDeep) throw tooDeep
    const depth = Math.max(input.delegationDepth ?? 0, parent ? parent.delegationDepth + 1 : 0)
    if (this.stopping && !opts.within) throw new AppError('service_unavailable', STOPPING)
    const rootId = parent ? (parent.rootExecutionId ?? parent.id) : null
    const id = newId('exec')
    const job = await createJob(this.deps, this.providers, {
      agent: input.agent,
      space: input.space,
      spaceId: input.spaceId,
      message: input.message,
      userId: input.userId,
      // A delegation (no token of its own) runs for the token that started its parent.
      tokenId: input.tokenId !== undefined ? input.tokenId : (parent?.tokenId ?? null),
      // A delegation runs under its parent's limit (a `delegate` call has no credential of its own).
      scopeLimit: input.scopeLimit !== undefined ? input.scopeLimit : (parent?.scopeLimit ?? null),
      sessionId: input.sessionId,
      chatId: input.chatId,
      parentExecutionId: parent?.id ?? null,
      // Under a private run, private (childVisibility): as its parent records it now (a running
      // parent's Job.execution holds what its start recorded: src/engine/run.ts); and under a
      // run in a private space the child is not recorded in (visibilityUnder).
      // Read in the transaction that records it, after its checks (JobInput.parentVisibilityNow).
      parentVisibility: parent?.agentVisibility ?? null,
      ...(parent && { parentVisibilityNow: (tx: Db) => visibilityUnder(tx, parent, input.space?.id ?? input.spaceId ?? null) }),
      rootExecutionId: rootId,
      delegationDepth: depth,
      delegated: opts.within !== undefined,
      admit: input.admit,
      recorded: input.recorded,
      // Every child, whoever asks for it (a `delegate` call, a run's teamday_api execute, an API
      // client's parentExecutionId): the tree's TEAMDAY_MAX_DELEGATIONS_PER_RUN (422 past it).
      bound: rootId === null ? undefined : (tx) => assertTreeRoom(tx, rootId, config.maxDelegationsPerRun),
      tree: input.tree,
      steeredBy: input.steeredBy,
    }, id).catch((e: unknown) => {
      if (databaseUnavailable(e) !== null) this.failIfRecorded(id)
      throw e
    })
    this.wrote()
    if (opts.onEvent) this.subscribe(id, opts.onEvent)
    if (job.selected === null) {
      // No configured provider serves the model: recorded as failed, nothing to run. Logged and
      // counted as every failed run is: this is the misconfiguration an operator looks for.
      await addLog(this.deps.db, id, this.deps.clock.now(), 'error', 'failed', { error: job.execution.error, code: 'model_not_served' })
      this.failedUnrun(job.execution, 'model_not_served', job.execution.error ?? '')
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
      this.queue.set(id, { job, settle, awaited: opts.awaited === true })
    })
    this.deps.log.debug('execution_queued', { executionId: id, agentId: job.execution.agentId, queued: this.queue.size, running: this.running.size })
    this.done.set(id, done)
    done.then(() => this.done.delete(id))
    this.watch()
    void this.pump()
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

  private emit(id: string, event: EngineEvent) {
    const listeners = this.listeners.get(id)
    if (!listeners) return
    // What a stream relays is what the run stores: a model's NUL is U+FFFD in both. A `done`
    // event's execution is a row as stored (read, or as finishExecution wrote it): already so,
    // and walking its answer again (MiBs) held the event loop for nothing.
    const e = event.type === 'done' ? event : storable(event)
    for (const fn of listeners) {
      try {
        fn(e)
      } catch {
        // a listener (a closed SSE stream) must not break the run
      }
    }
  }

  /**
   * Starts queued executions while the database has a free slot and the fair head is one of
   * ours (src/engine/queue.ts). Called after an enqueue here, after a run here ends, after a
   * cancel, and every CANCEL_POLL_MS while something waits here (a slot freed elsewhere). One
   * loop at a time; a call during it makes it look once more.
   */
  private pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true
      return this.pumping
    }
    const { db, config, instanceId, clock, log } = this.deps
    const loop = async () => {
      // Past the first await: `this.pumping` is set before the loop can end (and clear it).
      await null
      try {
        do {
          this.pumpAgain = false
          while (this.queue.size > 0 && !this.stopping) {
            const row = await claimNext(db, instanceId, config.maxConcurrentExecutions, clock.now(), (id) => this.queue.has(id))
            if (!row) break
            // Settled meanwhile (a cancel here), or started by tick(): nothing to run.
            if (!this.queue.has(row.id)) continue
            log.debug('execution_claimed', { executionId: row.id, running: this.running.size + 1, queued: this.queue.size - 1 })
            this.startClaimed(row)
          }
        } while (this.pumpAgain && !this.stopping)
      } catch (e) {
        // e.g. the database is closing during shutdown; the watcher's next tick tries again.
        this.failing(e)
        log.warn('queue_claim_failed', { error: errorMessage(e) })
      } finally {
        this.pumping = null
      }
    }
    this.pumping = loop()
    return this.pumping
  }

  /** Runs a queued execution here once its row is claimed (`running`). */
  private startClaimed(row: Execution): void {
    const next = this.queue.get(row.id)
    if (!next) return
    this.queue.delete(row.id)
    next.job.execution = row
    this.execute(next.job)
      .then(next.settle)
      .finally(() => void this.pump())
  }

  /** Ends a queued execution's wait with its final row (cancelled, failed); false when it no longer waited here. */
  private settleQueued(id: string, row: Execution): boolean {
    const q = this.queue.get(id)
    if (!q) return false
    this.queue.delete(id)
    this.emit(id, { type: 'done', execution: row })
    this.listeners.delete(id)
    q.settle(row)
    return true
  }

  /**
   * The log line and the count of a cancel of a run that never started here (queued, or ended
   * before its start), once, by this instance, which held it (see cancel()).
   */
  private cancelledUnrun(row: Pick<Execution, 'id' | 'agentId' | 'organizationId'>, by?: string): void {
    this.deps.log.info('execution_cancelled', { executionId: row.id, agentId: row.agentId, organizationId: row.organizationId, was: 'pending', ...(by !== undefined && { by }) })
    this.deps.metrics?.execution('cancelled')
  }

  /**
   * The log line and the count of a run queued here that another instance ended: cancelled (a
   * cancel or a leak report sent there), or failed by its lease sweep (this instance could not
   * renew the lease for longer than a lease). Neither counts it there: this instance holds it.
   */
  private endedElsewhere(row: Execution): void {
    if (row.status === 'cancelled') this.cancelledUnrun(row)
    else if (row.status === 'failed') this.failedUnrun(row, row.errorCode ?? 'service_unavailable', row.error ?? '')
  }

  /** The log line and the count of a run that failed without running (runJob's for those that ran). */
  private failedUnrun(execution: Pick<Execution, 'id' | 'agentId' | 'organizationId'>, errorCode: string, error: string): void {
    this.deps.log.error('execution_failed', { executionId: execution.id, agentId: execution.agentId, organizationId: execution.organizationId, errorCode, error })
    this.deps.metrics?.execution('failed')
  }

  /**
   * A failed run's end, written again while the database cannot take it (for `windowMs`, half a
   * lease by default; past that its lease lapses and the sweep fails it). A conditional write:
   * nothing when the row ended meanwhile.
   */
  private recordLater(ids: string | readonly string[], failed: Partial<Execution>, windowMs = this.deps.config.executionLeaseMs / 2): void {
    const { db, log } = this.deps
    const all = typeof ids === 'string' ? [ids] : ids
    const written = new Set<string>()
    // One attempt for all of them: on SQLite each failed one held the event loop for the busy timeout.
    const attempt = async () => {
      for (const id of all) if (!written.has(id) && (await finishExecution(db, id, failed))) written.add(id)
    }
    retryWhileUnavailable(attempt, windowMs).then(
      () => {
        for (const id of written) log.info('execution_failure_recorded', { executionId: id, note: 'written once the database answered again' })
      },
      (e: unknown) => {
        for (const id of all) if (!written.has(id)) log.warn('execution_record_failed', { executionId: id, error: errorMessage(e), note: 'failed by the lease sweep once its lease lapses' })
      },
    )
  }

  /**
   * A start whose write failed as the database went away may have been recorded all the same (a
   * COMMIT applied whose answer was lost with its connection): the request was told 503 and
   * nothing runs it, but the row waited as `pending`, owned by this instance, which never queued
   * it. The oldest, it was the head of the queue, which every instance then left to this one:
   * no execution started anywhere until its lease lapsed and a sweep failed it (30-45 s after a
   * blip of a second). Failed as soon as the database answers again; a conditional write, which
   * changes nothing when no such row was recorded.
   */
  private failIfRecorded(id: string): void {
    const { db, clock, config, log } = this.deps
    const now = new Date(clock.now())
    const failed = { status: 'failed' as const, error: START_UNCONFIRMED, errorCode: 'service_unavailable', completedAt: now, updatedAt: now }
    retryWhileUnavailable(() => finishExecution(db, id, failed), config.executionLeaseMs / 2).then(
      (row) => {
        if (row) log.warn('execution_start_unconfirmed', { executionId: id, agentId: row.agentId, organizationId: row.organizationId, note: START_UNCONFIRMED })
      },
      // Still out of reach: its lease lapses, and the sweep fails it.
      () => {},
    )
  }

  private async failUnstarted(job: Job): Promise<Execution> {
    const id = job.execution.id
    const now = this.deps.clock.now()
    const failed = await finishExecution(this.deps.db, id, { status: 'failed', error: SHUTDOWN_FAILURE, errorCode: 'service_unavailable', completedAt: new Date(now), updatedAt: new Date(now) })
    if (failed) this.failedUnrun(job.execution, 'service_unavailable', SHUTDOWN_FAILURE)
    const row = (await getExecutionRow(this.deps.db, id))!
    // Cancelled as it was recorded: its cancel is this instance's to count (it holds the run).
    if (!failed && row.status === 'cancelled') this.cancelledUnrun(row)
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
    this.watch()
    let row: Execution
    try {
      row = await runJob(this.deps, job, ctrl, (e) => this.emit(id, e), (p, agentId, message, signal) => this.delegate(p, agentId, message, signal ?? ctrl.signal))
    } catch (e) {
      // runJob throws only when the database fails it (out of reach, or closed under a run at
      // shutdown); this is the last guard against a stuck `running` row, and `done` still never
      // rejects. The cause goes to the server log, not into the row or an answer: a driver's
      // message names the database's address.
      const now = clock.now()
      const unreachable = databaseUnavailable(e) !== null
      this.deps.log.error('execution_record_failed', { executionId: id, error: errorMessage(e) })
      const failed = {
        status: 'failed' as const,
        error: unreachable ? 'The database could not be reached while the run went on; what it produced could not be recorded.' : 'Internal error while the run was recorded (the server log has the cause).',
        errorCode: unreachable ? 'service_unavailable' : 'internal_error',
        completedAt: new Date(now),
        updatedAt: new Date(now),
      }
      try {
        await finishExecution(db, id, failed)
        row = (await getExecutionRow(db, id))!
      } catch (again) {
        this.deps.log.warn('execution_record_failed', { executionId: id, error: errorMessage(again) })
        row = { ...job.execution, ...failed }
        // Left `running`, the row held a slot of TEAMDAY_MAX_CONCURRENT_EXECUTIONS, for every
        // instance, until its lease lapsed and a sweep failed it: 30-45 s after a blip of the
        // database of a second (a terminated backend, a failover), four such rows stopped every
        // run. Recorded as soon as the database answers again; the answer does not wait for it.
        if (databaseUnavailable(again) !== null) this.recordLater(id, failed)
      }
    } finally {
      parent?.removeEventListener('abort', onParent)
      this.running.delete(id)
    }
    // A large answer: the rest of the server gets a turn between recording the run and answering
    // with it. Each handles the whole answer (MiBs: the row written; its JSON, its stream event),
    // and in one piece they held every other request for the sum of both.
    if ((row.result?.length ?? 0) >= LARGE_ANSWER_CHARS) await afterOtherRequests()
    this.emit(id, { type: 'done', execution: row })
    this.listeners.delete(id)
    return row
  }

  /**
   * The `delegate` tool: a child execution at depth + 1, its result (or error) as the tool result.
   * Children of one parent run one at a time, in the order the model asked for them: one model
   * turn may ask for many at once (parallel tool calls), and each child asking for more again
   * multiplied them (60 at once from one request with TEAMDAY_MAX_CONCURRENT_EXECUTIONS=1, 421
   * two levels down), where a delegation is meant to run inside its parent's slot. So a tree
   * has at most one running execution per level (TEAMDAY_MAX_DELEGATION_DEPTH + 1 in all).
   */
  private async delegate(parent: Job, agentId: string, message: string, signal: AbortSignal): Promise<string> {
    const release = await this.childTurn(parent.execution.id)
    try {
      if (signal.aborted) return 'Error: the run was stopped before this sub-agent could start.'
      return await this.delegateNow(parent, agentId, message, signal)
    } finally {
      release()
    }
  }

  /**
   * Waits for the turn of a new child of `parentId`: children of one parent, whether a `delegate`
   * call or a `teamday_api` execute asked for them, run one after another in the order asked.
   * Resolves with the function that ends the turn (once the child has ended).
   */
  private async childTurn(parentId: string): Promise<() => void> {
    const before = this.childTurns.get(parentId)
    let done!: () => void
    const mine = new Promise<void>((resolve) => (done = resolve))
    const turn = before ? before.then(() => mine) : mine
    this.childTurns.set(parentId, turn)
    if (before) await before
    return () => {
      done()
      if (this.childTurns.get(parentId) === turn) this.childTurns.delete(parentId)
    }
  }

  /**
   * An execute a run made through its `teamday_api` tool (the execute routes, after every check
   * they make of the token, its user and the agent): a child of that run, bounded as a `delegate`
   * call's is. It waits for the run's other children, counts against the tree's
   * TEAMDAY_MAX_DELEGATIONS_PER_RUN, is one level deeper (TEAMDAY_MAX_DELEGATION_DEPTH), runs in
   * the run's slot (never queued: a run waiting for a slot it holds itself would wait for ever)
   * and is stopped with it. A refusal past either bound is thrown as the route answers it (422
   * `delegation_limit`, naming the bound), and logged on the run as a `delegate` refusal is
   * (`delegation_refused`, `via: teamday_api`). Only a child recorded counts (one whose model no
   * provider serves too: it is recorded, failed); a refusal of any kind starts nothing and does not.
   */
  private async startFrom(input: StartInput, from: RunRequest, onEvent?: Listener): Promise<Started> {
    const { db, clock, config } = this.deps
    const p = from.job.execution
    const agentId = storedAgentId(input.agent)
    const release = await this.childTurn(p.id)
    let child: Started
    try {
      if (from.signal.aborted) throw new AppError('invalid_state', `Execution ${p.id}, which asked for this run, was stopped before it could start.`)
      const tree = (from.job.tree ??= newDelegationTree())
      try {
        // The tree's bounds are start's, as for any child: its depth (depthLimit, one level below
        // the run) and its TEAMDAY_MAX_DELEGATIONS_PER_RUN (assertTreeRoom).
        // Its message is the run's model's: whoever steers the run steers it (JobInput.steeredBy).
        child = await this.start({ ...input, parent: p, tree, steeredBy: from.job.writtenBy }, { within: from.signal, onEvent })
      } catch (e) {
        if (isTreeLimit(e)) await addLog(db, p.id, clock.now(), 'warn', 'delegation_refused', { agentId, reason: 'tree_limit', max: config.maxDelegationsPerRun, via: 'teamday_api' })
        // Past the depth (a `delegationDepth` in the body deeper still is that field's own 422).
        if (isDepthLimit(e) || (e instanceof AppError && e.code === 'validation_failed')) {
          await addLog(db, p.id, clock.now(), 'warn', 'delegation_refused', { agentId, depth: Math.max(input.delegationDepth ?? 0, p.delegationDepth + 1), max: config.maxDelegationDepth, via: 'teamday_api' })
        }
        throw e
      }
    } catch (e) {
      release()
      throw e
    }
    // Its answer goes back to the run as an API answer: its writers steer the run from then on.
    const done = child.done.then(async (row) => (await joinWriters(db, from.job, row.writtenBy ?? []), row)).finally(release)
    await addLog(db, p.id, clock.now(), 'info', 'delegated', { childExecutionId: child.execution.id, agentId, depth: child.execution.delegationDepth, via: 'teamday_api' })
    return { execution: child.execution, done }
  }

  private async delegateNow(parent: Job, agentId: string, message: string, signal: AbortSignal): Promise<string> {
    const { db, clock, config } = this.deps
    const p = parent.execution
    const tree = (parent.tree ??= newDelegationTree())
    // Numbers the child's session (below); given back unless a child is recorded. The tree's
    // budget of children is start's (assertTreeRoom), checked as the child is recorded.
    tree.delegations++
    let child: Started | undefined
    try {
      // Start's rule (depthLimit), decided here before the sub-agent is looked up; told as a
      // `delegate` call's other refusals are ("delegation refused: …").
      const tooDeep = depthLimit(p, config.maxDelegationDepth)
      if (tooDeep) {
        await addLog(db, p.id, clock.now(), 'warn', 'delegation_refused', { agentId, depth: tooDeep.details.depth, max: tooDeep.details.max })
        return `Error: delegation refused: ${tooDeep.message} Answer without delegating.`
      }
      // Checked now, for the user who started the run, in the run's space: the sub-agent may have
      // become private or been archived since the parent listed it, the user made a viewer or removed.
      const now = await runnableNow(db, p, agentId)
      if ('refused' in now) {
        await addLog(db, p.id, clock.now(), 'warn', 'delegation_refused', { agentId, reason: now.refused === 'agent' ? 'not_visible' : now.refused })
        if (now.refused === 'agent') return `Error: sub-agent ${agentId} not found, archived, or not visible to the user who started this run.`
        return `Error: delegation refused: ${refusalMessage(now.refused)}.`
      }
      const agent = now.agent
      // A conversation of its own: only its message, none of its siblings' turns. Children of one
      // parent with the same sub-agent shared `<session>:<parent>:<agent>`, so each one's model
      // request carried every earlier sibling's turns (a size growing with their square). The
      // tree's count numbers it: unique among the tree's recorded children.
      const sessionId = `${p.sessionId}:${p.id}:${agentId}:${tree.delegations}`
      try {
        child = await this.start(
          // The child lives in its parent's space and so inherits its visibility (without its instructions).
          // Its message is the parent's model's: whoever steers the parent steers it (JobInput.steeredBy).
          { agent, space: null, spaceId: p.spaceId, message, userId: p.userId, sessionId, parent: p, tree, steeredBy: parent.writtenBy },
          { within: signal },
        )
      } catch (e) {
        if (isTreeLimit(e)) {
          await addLog(db, p.id, clock.now(), 'warn', 'delegation_refused', { agentId, reason: 'tree_limit', max: config.maxDelegationsPerRun })
          const started = (e.details as { started: number }).started
          return `Error: delegation refused: this run's delegation tree has started ${started} sub-agent executions, the limit for one run (TEAMDAY_MAX_DELEGATIONS_PER_RUN). Answer without delegating.`
        }
        return `Error: ${(e as Error).message}`
      }
    } finally {
      if (child === undefined) tree.delegations--
    }
    await addLog(db, p.id, clock.now(), 'info', 'delegated', { childExecutionId: child.execution.id, agentId, depth: child.execution.delegationDepth })
    const row = await child.done
    // Its answer goes to the parent's model: whoever steered the child (its own instructions'
    // writers and its children's) steers the parent from now on.
    await joinWriters(db, parent, row.writtenBy ?? [])
    if (row.status === 'completed') return row.result ?? ''
    // Without the child's id: the parent's tool calls and answer are read by whoever may open the
    // parent, and the child may be one they may not open (its log and tree then hide it).
    return `Error: the sub-agent's execution ${row.status}: ${row.error ?? ''}`.trim()
  }

  /**
   * While executions run or wait here, every CANCEL_POLL_MS:
   * - a cancel made through another instance only records the status (that instance has nothing
   *   to abort): a run here whose row says `cancelled` is aborted, so its provider requests stop
   *   within a second wherever the cancel was made; a queued one whose row was cancelled (or
   *   failed) elsewhere stops waiting;
   * - the leases of both are renewed every lease/3 (src/engine/leases.ts);
   * - queued ones look for a slot: one freed on another instance, or a fair head that is ours now.
   * Unchanged rows are read from memory on SQLite (src/db/sqlite.ts), so a tick costs next to
   * nothing; with nothing queued it is the cancel check alone.
   */
  private watch() {
    if (this.watcher !== null) return
    this.watcher = setInterval(() => void this.tick(), Engine.CANCEL_POLL_MS)
    // Never what keeps a process alive.
    ;(this.watcher as { unref?: () => void }).unref?.()
  }

  private async tick() {
    if (this.running.size === 0 && this.queue.size === 0) {
      clearInterval(this.watcher!)
      this.watcher = null
      return
    }
    // Before the guard: a tick stuck on a database that does not answer must not hold it up.
    this.giveUpWaiting()
    if (this.ticking) return
    this.ticking = true
    try {
      for (const [id, ctrl] of this.running) {
        if (ctrl.signal.aborted) continue
        // Cancelled, or ended elsewhere (another instance failed it when this one could not renew
        // its lease, through a database outage): it stops here too, and its model calls with it,
        // instead of running on outside the concurrency limit into a row that no longer takes it.
        const status = (await getExecutionRow(this.deps.db, id))?.status
        if (status === 'cancelled') ctrl.abort('cancel')
        else if (status !== undefined && status !== 'running' && status !== 'pending') ctrl.abort('ended')
      }
      if (this.queue.size > 0) {
        // Ended elsewhere while waiting here: a cancel recorded by another instance or a leak
        // report, or another instance's lease sweep (this one could not renew its lease), leaves
        // its count to this instance, which holds the run (see cancel(), failLapsed).
        for (const row of await claimedOrSettledOf(this.deps.db, [...this.queue.keys()])) {
          // Claimed by this instance, the claim's answer lost with its connection (queue_claim_failed):
          // no later claim takes a row that is no longer pending, and it waited here, holding its
          // slot, until a stop (its request with it).
          // (Not while a claim is under way: the row it just claimed is started by it.)
          if (row.status === 'running') {
            if (this.pumping !== null) continue
            this.deps.log.warn('execution_claim_recovered', { executionId: row.id, note: 'claimed by a claim whose answer was lost with its database connection; started now' })
            this.startClaimed(row)
          } else if (this.settleQueued(row.id, row)) this.endedElsewhere(row)
        }
      }
      // While the database fails the queue's work, sooner: the first renewal that goes through
      // says it takes writes again (and renews leases that may be close to lapsing). At the
      // earliest three times as long after the last attempt as it took: a failed write on SQLite
      // held the event loop for the busy timeout (5 s), and one every tick held it for good.
      const every = this.deps.config.executionLeaseMs / 3
      if (performance.now() - this.renewedAt >= (this.failingSince === null ? every : Math.min(every, 3 * this.renewalTook))) await this.renewLeases()
      if (this.queue.size > 0) await this.pump()
    } catch (e) {
      // e.g. the database is closing during shutdown: the next tick (or shutdown) settles it.
      this.failing(e)
      this.deps.log.warn('cancel_check_failed', { error: errorMessage(e) })
    } finally {
      this.ticking = false
    }
  }

  /** Renews the leases of every execution queued or running here (src/engine/leases.ts). */
  async renewLeases(): Promise<void> {
    const start = (this.renewedAt = performance.now())
    const ids = [...this.running.keys(), ...this.queue.keys()]
    try {
      await renewLeases(this.deps.db, ids, this.deps.instanceId, () => this.deps.clock.now(), this.deps.config.executionLeaseMs)
    } finally {
      this.renewalTook = performance.now() - start
    }
    if (ids.length > 0) this.wrote()
  }

  /** The database took a write of this instance's: the queue's work goes through. */
  private wrote(): void {
    this.wroteAt = performance.now()
    this.failingSince = null
  }

  /** The queue's work failed: noted when it is the database that cannot take it (a lost connection, a locked or full file). */
  private failing(e: unknown): void {
    if (this.failingSince === null && databaseUnavailable(e) !== null) this.failingSince = performance.now()
  }

  /**
   * The runs queued here that a request waits for (a synchronous execute, a stream), once the
   * database has failed the queue's work and taken none of its writes for
   * TEAMDAY_DB_STATEMENT_TIMEOUT_MS and a second, the longest any other request waits for it: they
   * stop waiting, failed `service_unavailable`, so their requests are answered 503 (naming the
   * execution) rather than held for as long as the outage lasts. Such a run never runs: it
   * leaves the queue now, and its end is written as soon as the database answers (within a
   * lease; past that, its lease has lapsed and the sweep fails it). Its request was told it will
   * not run; run later, it would have run twice for a client that retried. An `async` run,
   * which nobody waits for, keeps its place and runs once the database is back.
   */
  private giveUpWaiting(): void {
    if (this.failingSince === null) return
    const { config, clock } = this.deps
    const boundMs = config.dbStatementTimeoutMs + 1000
    if (performance.now() - this.wroteAt < boundMs) return
    const at = new Date(clock.now())
    const error = UNREACHABLE_WHILE_QUEUED(Math.ceil(boundMs / 1000))
    const failed = { status: 'failed' as const, error, errorCode: 'service_unavailable', completedAt: at, updatedAt: at }
    const given: string[] = []
    for (const [id, q] of [...this.queue]) {
      if (!q.awaited) continue
      this.settleQueued(id, { ...q.job.execution, ...failed })
      this.failedUnrun(q.job.execution, 'service_unavailable', error)
      given.push(id)
    }
    if (given.length > 0) this.recordLater(given, failed, config.executionLeaseMs)
  }

  /**
   * Cancels an execution and every active descendant: marks them cancelled at once, in one
   * transaction, aborts their provider requests, drops them from the queue. Returns the row.
   * `recorded` writes what goes with the cancel in that transaction (the request's one
   * `execution.cancelled` audit event, which names the descendants it cancelled:
   * src/modules/executions/service.ts); not called when the cancel changed nothing. All or
   * nothing: when the execution itself is no longer cancelled by it (it ended meanwhile, or no
   * instance held it and it was failed as the lease sweep fails it), neither are its descendants
   * (as a cancel of an ended run touches none of the runs attached to it): the answer says it had
   * ended, and a cancel that stopped runs is always told by its event.
   */
  async cancel(id: string, recorded?: (tx: Db, cancelled: Execution, before: Execution, descendants: string[]) => Promise<void>): Promise<Execution | undefined> {
    const { db, clock } = this.deps
    const now = clock.now()
    const ids = [id, ...(await descendantsOf(db, id)).filter((d) => ACTIVE.includes(d.status)).map((d) => d.id)]
    const found: Execution[] = []
    // Whether each one's lease had lapsed when read, by the lease clock (src/engine/leases.ts).
    const lapsed = new Map<string, boolean>()
    for (const x of ids) {
      const got = await rowAndLease(db, x, now)
      if (!got || !ACTIVE.includes(got.row.status)) continue
      const row = got.row
      lapsed.set(x, got.lapsed)
      // No instance holds it any more: its owner stopped renewing its lease (it died, or has been
      // cut off from the database for longer than a lease), and it is not running or queued here.
      // Nothing runs it to cancel: it is failed as the lease sweep fails it (the same rule and
      // row, failLapsed), now rather than at the next sweep, and the cancel answers with that end
      // (409, saying why: src/modules/executions/service.ts). Cancelled instead, this instance
      // counted the cancel while an owner that was only cut off counted it again once it read the
      // row. Failed, an owner still alive stops it without a word (AbortReason `ended`).
      if (!this.running.has(x) && !this.queue.has(x) && got.lapsed) {
        if ((await failLapsed(db, now, this.deps.instanceId, undefined, this.held(), [x])) > 0) {
          this.deps.log.warn('executions_interrupted', { count: 1, reason: 'lease lapsed', executionId: x, instanceId: row.instanceId, found: 'cancel' })
          continue
        }
      }
      found.push(row)
    }
    const cancel = (tx: Db, row: Execution) => {
      const startedAt = row.startedAt?.getTime()
      return finishExecution(tx, row.id, {
        status: 'cancelled',
        error: 'Cancelled by request',
        completedAt: new Date(now),
        updatedAt: new Date(now),
        // By the wall clock, the only one instances share; a run that runs (here or on another
        // instance) writes its own, on its monotonic clock, as it ends (runJob's cancelled()).
        executionTime: startedAt !== undefined ? Math.max(0, now - startedAt) : null,
      })
    }
    const changed: { row: Execution; cancelled: Execution }[] =
      found[0]?.id !== id
        ? []
        : await connectionOf(db).transaction(async (tx) => {
            const own = await cancel(tx, found[0]!)
            // Ended meanwhile (its run recorded its answer first, here or on another instance): that end stands, and the cancel changes nothing.
            if (!own) return []
            const out = [{ row: found[0]!, cancelled: own }]
            for (const row of found.slice(1)) {
              const done = await cancel(tx, row)
              if (done) out.push({ row, cancelled: done })
            }
            if (recorded) await recorded(tx, own, found[0]!, out.slice(1).map((c) => c.cancelled.id))
            return out
          })
    // Who logs and counts each cancel: the instance that holds the run, once. Decided in the turn
    // the rows changed, with no await between: a run queued here (claimed meanwhile or not) is
    // let go now and never runs, and is counted here; one running here logs its own end (with
    // its figures) once aborted, also when the cancel came before its start (runJob); one that
    // another instance holds (its live lease), queued or running, is logged and counted there
    // (it sees the cancel within a second). Only a run no live instance holds any more is counted
    // here. Counted by both, the sum over instances said more runs ended than started; counted
    // by neither, a cancel between a queued run's claim and its start was lost.
    const ends = changed.map(({ row, cancelled }) => {
      const x = cancelled.id
      const queuedHere = this.settleQueued(x, cancelled)
      this.running.get(x)?.abort('cancel')
      const owner = cancelled.instanceId
      const heldHere = !queuedHere && owner === this.deps.instanceId
      const heldElsewhere = owner !== null && owner !== this.deps.instanceId && lapsed.get(x) === false
      if (queuedHere) this.cancelledUnrun(cancelled, x === id ? undefined : id)
      else if (!heldHere && !heldElsewhere) {
        this.deps.log.info('execution_cancelled', { executionId: x, agentId: row.agentId, organizationId: row.organizationId, was: row.status, ...(x === id ? {} : { by: id }) })
        this.deps.metrics?.execution('cancelled')
      }
      return x
    })
    for (const x of ends) await addLog(db, x, now, 'warn', 'cancelled', x === id ? {} : { by: id })
    // A slot may be free now (a running one was cancelled: its end pumps too).
    if (this.queue.size > 0) void this.pump()
    // A run here records what it had produced once aborted (its messages, partial answer, usage):
    // answer with that, not the row of a moment before. Its model call is already aborted, so
    // this takes milliseconds; CANCEL_SETTLE_MS bounds it all the same.
    const ending = this.done.get(id)
    if (ending) {
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([ending, new Promise((settle) => (timer = setTimeout(settle, CANCEL_SETTLE_MS)))])
      clearTimeout(timer)
    }
    return getExecutionRow(db, id)
  }

  /**
   * Graceful shutdown: accepts no new runs, fails the runs queued here at once (other instances'
   * keep waiting, and take the slots this one frees), lets running ones finish
   * for up to `graceMs`, then aborts them (failed, "interrupted by server shutdown").
   */
  async shutdown(graceMs = 10_000): Promise<void> {
    this.stopping = true
    const { db, clock } = this.deps
    // A claim under way ends first (it starts nothing once stopping is set).
    await this.pumping
    for (const [id, q] of [...this.queue.entries()]) {
      // Taken off the queue before the first await: a tick meanwhile (its check of the queued
      // rows) would otherwise find the row this loop just failed, take it for ended elsewhere,
      // and log and count its failure a second time (seen under load on PostgreSQL). A cancel
      // meanwhile leaves its count to this loop, which finds the row cancelled.
      if (!this.queue.delete(id)) continue
      const now = clock.now()
      const end = { status: 'failed' as const, error: SHUTDOWN_FAILURE, errorCode: 'service_unavailable', completedAt: new Date(now), updatedAt: new Date(now) }
      let row: Execution
      try {
        const failed = await finishExecution(db, id, end)
        if (failed) this.failedUnrun(q.job.execution, 'service_unavailable', SHUTDOWN_FAILURE)
        row = (await getExecutionRow(db, id))!
        // Ended elsewhere (or cancelled) before this loop's write: its end is counted here (as tick() does).
        if (!failed) this.endedElsewhere(row)
      } catch (e) {
        // The database down during the stop: off the queue already, its waiter and its stream
        // were never settled (a request held until the process ended) and the loop stopped
        // there. They get the end this loop meant to write; the row, left pending, is failed by
        // the lease sweep of another instance (or of this one started again).
        this.deps.log.warn('execution_record_failed', { executionId: id, error: errorMessage(e) })
        row = { ...q.job.execution, ...end }
      }
      this.emit(id, { type: 'done', execution: row })
      this.listeners.delete(id)
      q.settle(row)
    }
    const all = () => Promise.allSettled([...this.done.values()])
    const timer = new Promise((r) => setTimeout(r, graceMs))
    await Promise.race([all(), timer])
    for (const c of this.running.values()) c.abort('shutdown')
    await Promise.race([all(), new Promise((r) => setTimeout(r, 2000))])
  }
}

import { AsyncLocalStorage } from 'node:async_hooks'
import { Socket } from 'node:net'
import postgres from 'postgres'
import { pgTlsSettings } from './pg-tls'
import { fillPlaceholders, type SQL } from 'drizzle-orm'
import { PgDatabase, PgDeleteBase, PgInsertBase, PgSelectBase, PgUpdateBase } from 'drizzle-orm/pg-core'
import { drizzle, PostgresJsPreparedQuery } from 'drizzle-orm/postgres-js'
import { attachConnection, type Db, type DbConnection } from './connection'
import { compiledRowMapper } from './row-mapper'
import { changesCommitted, modifies } from './request-writes'
import { DATABASE_NOT_UP, markCommitInDoubt, notUpYet, pauseUnlessStopped, unavailableReason, untilStopped } from './unavailable'

export interface PgOptions {
  /** Connections in the pool (TEAMDAY_DB_POOL). */
  pool: number
  /** statement_timeout of every connection, in ms (TEAMDAY_DB_STATEMENT_TIMEOUT_MS). */
  statementTimeoutMs: number
  /** A schema to work in (search_path), for tests that each get a fresh one. */
  schema?: string
  /** Seconds an idle connection stays open (postgres-js idle_timeout); default: kept. */
  idleTimeoutS?: number
}

/**
 * PostgreSQL through drizzle's postgres-js driver (DESIGN.md: not bun-sql, not Bun.SQL). A pool
 * of connections; transactions are drizzle's (BEGIN … COMMIT on one pooled connection); every
 * statement runs with the configured statement_timeout.
 *
 * Services are written once, in drizzle's SQLite-style query API (`.get()`, `.all()`, `.run()`,
 * `.prepare()` without a name): `installSqliteStyleTerminals` gives PostgreSQL's query builders
 * the same terminal methods (a query's rows, its first row, or the statement's result), so a
 * service never knows which database it talks to (src/db/schema/index.ts picks the tables).
 */
export class PgConnection implements DbConnection {
  readonly dialect = 'pg' as const
  readonly db: Db
  private readonly txs = new WeakSet<object>()
  /** The transaction whose code is running (to refuse a statement that escapes it). */
  private readonly scope = new AsyncLocalStorage<{ open: boolean }>()

  /** The end of the last transaction of this process, queued or running (see transaction). */
  private txTail: Promise<void> = Promise.resolve()

  /**
   * How long this process waits for any one statement's answer: the statement timeout and a
   * second. PostgreSQL ends a slow statement itself (57014, a 503); this is for an answer that
   * never comes because nothing arrives (a frozen host, a partition that drops packets without a
   * reset), which hung requests, readiness and a stop for as long as TCP took to give up.
   */
  private readonly deadlineMs: number

  /**
   * Statements and transactions waiting for the database to take them (waitingUntilReachable):
   * those never handed to a connection are failed early once it cannot be reached (failUnreached).
   */
  private readonly waiting = new Set<Waiting>()

  constructor(
    readonly client: postgres.Sql,
    /** The schema given in the options (tests), where the migrations' bookkeeping goes too. */
    readonly schema?: string,
    /** How long a transaction may wait for this process's earlier ones (the statement timeout). */
    private readonly txWaitMs = 30_000,
  ) {
    this.deadlineMs = txWaitMs + 1000
    installSqliteStyleTerminals()
    const pgdb = drizzle({ client: this.guard(client, () => this.escaping(), undefined, true, changesCommitted) })
    this.db = pgdb as unknown as Db
    attachConnection(this.db, this)
  }

  /**
   * Told how long each statement took, in seconds (the metrics' database query time): from the
   * moment it is awaited until its result arrives, so a wait for a free pooled connection counts.
   */
  onQuery: ((seconds: number) => void) | null = null

  isTransaction(db: Db): boolean {
    return this.txs.has(db)
  }

  /** Readiness: the pool answers, the schema is there, and the database takes writes. */
  async ping(): Promise<void> {
    // A read of teamday's own table (the schema is there, on this search_path), and a database
    // that takes writes: every request writes (rate-limit counters, last use), so a standby or a
    // primary demoted to read-only (default_transaction_read_only) served nothing but 500s while
    // `SELECT 1` said ready.
    // Within READY_MS, not the statement timeout: it shares the request pool, so a connection that
    // does not come back (a busy pool, a reconnection that hangs until connect_timeout) held the
    // probe for as long (5 s and more measured after pg_terminate_backend), past a load
    // balancer's patience (Kubernetes: 1 s), instead of saying not ready.
    const [row] = await this.deadlined(this.client`SELECT current_setting('transaction_read_only') AS read_only, (SELECT 1 FROM settings LIMIT 1) AS seen`, undefined, Math.min(READY_MS, this.deadlineMs))
    if (row?.read_only === 'on') throw new Error('the database is read-only (a standby, or default_transaction_read_only is on): teamday writes on every request')
  }

  /**
   * Runs `fn` in a transaction on one pooled connection; rolls back when it throws.
   *
   * Transactions are serialized across every instance by one advisory transaction lock, taken
   * first: services read, then write, inside `withTx` (a token cap, a rotation, a membership) and
   * count on no other transaction writing in between, which SQLite guarantees with its single
   * writer (BEGIN IMMEDIATE); the execution queue's claim (count the running executions, then
   * take a slot: src/engine/queue.ts) relies on it too. So PostgreSQL keeps that guarantee, for all instances at once;
   * statements outside transactions (every read, most single-statement writes) run in parallel.
   * As on SQLite, a statement through the outer handle inside the transaction's code fails at
   * once, and the transaction's handle refuses work after it ended.
   *
   * Within one process transactions also wait their turn here, one at a time, before taking a
   * pooled connection: they would run one at a time anyway (the lock), and waiting on it each
   * held a connection, so a few writers behind a long transaction (another instance's, a
   * `teamday rekey`) took the whole pool, and reads and readiness stalled for as long. A turn not
   * come within the statement timeout fails as the lock wait would have (a 503).
   */
  async transaction<T>(fn: (tx: Db) => Promise<T>, opts: { alone?: boolean } = {}): Promise<T> {
    // A write with no read it relies on (DbConnection.transaction): neither the lock nor the turn.
    if (opts.alone) return this.transactionNow(fn, false)
    const before = this.txTail
    let done!: () => void
    const mine = new Promise<void>((resolve) => (done = resolve))
    this.txTail = before.then(() => mine)
    try {
      let timer: ReturnType<typeof setTimeout> | undefined
      const turn = await Promise.race([before.then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.txWaitMs)))])
      clearTimeout(timer)
      if (!turn) throw Object.assign(new Error(`canceling statement due to statement timeout: waited ${this.txWaitMs} ms for this instance's earlier transactions`), { code: '57014' })
      return await this.transactionNow(fn, true)
    } finally {
      done()
    }
  }

  private transactionNow<T>(fn: (tx: Db) => Promise<T>, locked: boolean): Promise<T> {
    const state = { open: true }
    // A statement of the transaction past its deadline (or a BEGIN that never returns) ends the
    // transaction's promise at once: the driver's ROLLBACK would wait on the same silent
    // connection, and the request with it. The transaction ends on the server by
    // idle_in_transaction_session_timeout, or with the connection.
    let abort!: (e: unknown) => void
    // Why the caller was answered before the transaction ended (the deadline passed, the driver
    // gave it up): from then on nothing of it may be written, the caller having been told nothing was.
    let gaveUp: { why: unknown } | undefined
    // Set once `fn` has returned: what remains is the driver's COMMIT, whose failure by a lost
    // connection leaves unknown whether it landed (markCommitInDoubt).
    let committing = false
    // Whether a statement of it changed a row: its commit is then a change the request made (src/db/request-writes.ts).
    let changed = false
    const aborted = new Promise<never>((_, reject) => (abort = reject))
    const beginTimer = setTimeout(() => abort(noAnswer(this.deadlineMs)), this.deadlineMs)
    // Until its BEGIN has answered, nothing of it can run: failed early when the database cannot
    // be reached (its body never runs after that: gaveUp).
    const begun = this.waitUntilReachable(() => false, (e) => abort(e))
    const run = (this.db as unknown as PgDatabase<any, any>).transaction(async (tx) => {
      clearTimeout(beginTimer)
      begun()
      // Its BEGIN answered after the deadline (a connection freed late, a network that healed):
      // the caller has its 503 already, and the body ran and committed all the same.
      if (gaveUp) throw gaveUp.why
      const session = (tx as any).session
      session.client = this.guard(session.client, () => (state.open ? undefined : 'A transaction handle was used outside its transaction.'), abort, false, () => (changed = true))
      // Per schema: one deployment's instances share it; separate schemas (tests) do not.
      if (locked) await session.client.unsafe(`SELECT pg_advisory_xact_lock(${TX_LOCK}, hashtext(current_schema()))`)
      const handle = tx as unknown as Db
      attachConnection(handle, this)
      this.txs.add(handle)
      try {
        const result = await this.scope.run(state, () => fn(handle))
        committing = true
        return result
      } finally {
        state.open = false
      }
    })
    run.catch(() => {}).finally(() => {
      clearTimeout(beginTimer)
      begun()
    })
    return Promise.race([run, aborted]).then(
      (result) => {
        if (changed) changesCommitted()
        return result
      },
      (e: unknown) => {
        gaveUp = { why: e }
        throw committing ? markCommitInDoubt(e) : e
      },
    )
  }

  private escaping(): string | undefined {
    return this.scope.getStore()?.open
      ? 'A statement escapes its transaction: inside withTx, query through the ctx it hands you (DESIGN.md, "A write never escapes its transaction").'
      : undefined
  }

  /**
   * The client with `unsafe` (drizzle's one way in) refusing statements when `refuse` says why,
   * each statement timed and bounded by the deadline (`onLate` hears a statement that passed it).
   * `autoCommits`: the client outside transactions, where a write commits by itself, so its
   * connection lost as it went leaves unknown whether it landed (inDoubtOnLoss). `onChanged`
   * hears each write that changed a row (its result's count).
   */
  private guard<C extends postgres.Sql | postgres.TransactionSql>(client: C, refuse: () => string | undefined, onLate?: (e: unknown) => void, autoCommits = false, onChanged?: () => void): C {
    const timed = (q: PromiseLike<unknown>, sql: unknown, again: () => PromiseLike<unknown>) => {
      let bounded = this.deadlined(this.timed(q), onLate)
      // Outside a transaction a statement that failed for a name the pooler's session lacked never ran: sent again, unnamed.
      if (autoCommits) bounded = this.againIfUnnamed(bounded, () => this.deadlined(this.timed(again()), onLate), typeof sql === 'string' && !modifies(sql) && !WRITE.test(sql))
      if (typeof sql !== 'string' || !modifies(sql)) return bounded
      return countChanges(autoCommits && WRITE.test(sql) ? inDoubtOnLoss(bounded) : bounded, onChanged)
    }
    return new Proxy(client, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver)
        if (prop !== 'unsafe') return typeof v === 'function' ? v.bind(target) : v
        return (...args: unknown[]) => {
          const why = refuse()
          if (why) throw new Error(why)
          return timed((v as Function).apply(target, args), args[0], () => (v as Function).apply(target, args))
        }
      },
    }) as C
  }

  /**
   * Told once when a statement failed as only a pooler in transaction mode makes it fail (a named
   * statement missing on the server session it landed on: noticePooledStatement), the pool having
   * switched to unnamed statements.
   */
  onTransactionPoolingFound: ((e: unknown) => void) | null = null

  /**
   * The safety net behind checkSession: a pooler in transaction mode that the start did not see
   * (PgBouncer's server_round_robin, several PgBouncer processes on one port, another pooler)
   * hands a named statement's Bind to a server session that never parsed it: 26000 "prepared
   * statement … does not exist". The first such failure switches every connection of the pool to
   * unnamed statements at once (postgres-js reads its options at each statement).
   */
  noticePooledStatement(e: unknown, reset = false): boolean {
    if (!pooledStatementError(e)) return false
    // A connection ended for it (pacedSocket): a read it failed is sent again for a while.
    if (reset) this.pooledResetAt = performance.now()
    const options = this.client.options as { prepare: boolean }
    if (!options.prepare) return true
    options.prepare = false
    this.transactionPooled = true
    this.onTransactionPoolingFound?.(e)
    return true
  }

  /**
   * `query`, sent once more by `again` when it failed as noticePooledStatement says (then nothing
   * of it ran: the server found no statement to bind). Patched in place like timed(); what
   * drizzle chose of the first (`.values()`) is carried to the second.
   */
  private pooledResetAt = -Infinity

  private againIfUnnamed<Q extends PromiseLike<unknown>>(query: Q, again: () => PromiseLike<unknown>, read: boolean): Q {
    const then = query.then
    const self = this
    ;(query as { then: unknown }).then = function (this: Q, ok?: (v: unknown) => unknown, fail?: (e: unknown) => unknown) {
      return then.call(this, ok, (e: unknown) => {
        // Its connection ended as pooledErrorIn saw such a failure on it: a read is sent again too.
        const code = (e as { code?: unknown } | null)?.code
        const reset = read && typeof code === 'string' && (CONNECTION_ENDED.has(code) || SOCKET_ENDED.has(code)) && code !== 'ETIMEDOUT' && performance.now() - self.pooledResetAt < 5000
        if (!pooledStatementError(e) && !reset) {
          if (fail) return fail(e)
          throw e
        }
        self.noticePooledStatement(e)
        const second = again() as PromiseLike<unknown> & { isRaw?: unknown }
        const raw = (this as { isRaw?: unknown }).isRaw
        if (raw !== undefined) second.isRaw = raw
        return second.then(ok, fail)
      })
    }
    return query
  }

  /**
   * A postgres-js query reports its time to `onQuery` once it settles. The query is lazy (it runs
   * when first awaited, after drizzle has chosen `.values()` or not), so the clock starts in that
   * first `then`, which this wraps without running anything earlier.
   */
  private timed<Q extends PromiseLike<unknown>>(query: Q): Q {
    const observer = this.onQuery
    if (observer === null) return query
    const then = query.then
    ;(query as { then: unknown }).then = function (this: Q, ok?: (v: unknown) => unknown, fail?: (e: unknown) => unknown) {
      const t0 = performance.now()
      const done = () => observer((performance.now() - t0) / 1000)
      return then.call(
        this,
        (v) => {
          done()
          return ok ? ok(v) : v
        },
        (e) => {
          done()
          if (fail) return fail(e)
          throw e
        },
      )
    }
    return query
  }

  /**
   * `query`, failing with a network error (ETIMEDOUT: a 503, "the database is not answering")
   * when no answer has come within the deadline of its first `then`; the query itself is asked
   * to cancel. Patched in place like timed(): drizzle calls `.values()` on the query object.
   */
  /**
   * The first statement of a start or an admin command, before any other: a server that answers
   * at all within two connection timeouts and a second (11 s by default), or an error saying that
   * nothing at that address answered as PostgreSQL. A port where something else listens (an HTTP
   * server, a proxy that refuses) answers and closes: the driver then reconnects at once, for
   * ever, without failing the query; `teamday serve` and every admin command on such a URL hung
   * with a core 25 % busy (found pointing --db at a wrong port, 2026-12-06).
   */
  async firstContact(where: string, withinMs?: number): Promise<void> {
    // `withinMs`: what is left of a start's wait for the database (waitForDatabase), at least a second.
    const full = 2 * connectTimeoutS(this.txWaitMs) * 1000 + 1000
    const ms = withinMs === undefined ? full : Math.min(full, Math.max(1000, Math.ceil(withinMs / 1000) * 1000))
    try {
      // The simple protocol: no named statement yet, whatever sits between (checkSession).
      await this.deadlined(this.client.unsafe('SELECT 1'), undefined, ms)
    } catch (e) {
      const noContact = (e as { unreached?: unknown }).unreached === true || ((e as { code?: unknown }).code === 'ETIMEDOUT' && (e as Error).message.startsWith('the database did not answer'))
      const refused = /^unsupported startup parameter: (\S+)/.exec((e as Error)?.message ?? '')
      if (refused) throw new Error(`${where} refused the connection parameter ${refused[1]} that teamday sends with every connection, as PgBouncer does: add ignore_startup_parameters = ${ignoredParameters(refused[1]!)} to its [pgbouncer] section; teamday then checks that the settings still hold and says what to set for its role where they do not (README: "Running several instances", PgBouncer)`)
      if (!noContact) throw e
      throw Object.assign(new Error(`nothing answered as PostgreSQL at ${where} within ${ms / 1000} s (a wrong host or port, another service listening there, a proxy or firewall refusing, or a server that is not answering)`), { code: 'ETIMEDOUT' })
    }
    if (this.session && !this.sessionChecked) {
      await this.checkSession(this.session, ms)
      this.sessionChecked = true
    }
  }

  /** What checkSession expects of every connection, and how it opens the two it probes with (openPostgres); none: not checked (tests' hand-made connections). */
  session?: SessionCheck
  private sessionChecked = false

  /**
   * Whether a pooler in transaction mode (PgBouncer's `pool_mode = transaction`, Supavisor's and
   * RDS Proxy's kind) sits between this process and PostgreSQL: its connections then share
   * server sessions, each transaction (or statement outside one) on whichever is free. Set by
   * the first contact (checkSession); statements are then sent unnamed.
   */
  transactionPooled = false

  /**
   * Checked at the first contact, on two connections of their own: that PostgreSQL's sessions
   * hold the settings teamday gives every connection, and whether a pooler shares them.
   *
   * A pooler drops what it does not pass on: PgBouncer refuses `statement_timeout` and
   * `idle_in_transaction_session_timeout` as connection parameters (and `search_path`,
   * `options`), or drops them when told to ignore them, and nothing said so: statements ran
   * without a timeout, and tables went to `public` instead of the URL's schema. The settings
   * must then be the role's (ALTER ROLE … SET), which is what the refusal says, with the values.
   *
   * In transaction mode, a named prepared statement (postgres-js prepares every statement, and
   * keeps it per connection) exists only on the server session that parsed it: the next use
   * landed on another and failed ("prepared statement … does not exist", a 500), and the
   * driver's pipeline went out of step (found behind PgBouncer 1.18, 2026-12-07). Two
   * connections that ever meet one server session, or one that meets two, are pooled so (never
   * in session mode, nor without a pooler): statements are then sent unnamed (parsed each time),
   * for every connection of the pool. Session state is assumed nowhere else: transactions and
   * migrations take transaction-level advisory locks, and `set_config(…, true)` lasts one statement's transaction.
   */
  private async checkSession(check: SessionCheck, ms: number): Promise<void> {
    // The pool's own connection (the first contact's, idle now: each question goes to it) and one
    // client of one connection more (postgres-js's reserve() hung on a fresh pool): one connection
    // more than the pool's first at start (three before, which a pooler sized to the pool refused).
    const b = check.open()
    const end = () => b.end({ timeout: 1 }).catch(() => {})
    let timer: ReturnType<typeof setTimeout> | undefined
    let answered = false
    // Within the first contact's time, as its SELECT 1: a server that stops answering fails the start instead of hanging it.
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(answered ? noAnswer(ms) : probeRefused(ms)), ms)))
    const pids: [Set<number>, Set<number>] = [new Set(), new Set()]
    const ask = async (j: 0 | 1) => {
      let rows: unknown
      try {
        // Unnamed, whatever sits between.
        rows = await (j === 0 ? b.unsafe(SESSION_SQL, [], { prepare: false }) : this.client.unsafe(SESSION_SQL, [], { prepare: false }))
      } catch (e) {
        if (j === 0 && !answered && (e as { code?: unknown }).code === '53300') throw probeRefused(ms, e)
        throw e
      }
      if (j === 0) answered = true
      const [row] = rows as SessionRow[]
      pids[j].add(Number(row!.pid))
      const wrong = wrongSettings(row!, check)
      if (wrong) throw new Error(wrong)
    }
    const probe = async () => {
      // Both connect at once; then one after the other, each handing its server session back in between when pooled by transaction.
      await Promise.all([ask(0), ask(1)])
      for (let i = 0; i < 2; i++) {
        await ask(0)
        await ask(1)
      }
      return pids[0].size > 1 || pids[1].size > 1 || [...pids[0]].some((p) => pids[1].has(p))
    }
    try {
      this.transactionPooled = await Promise.race([probe(), late])
    } finally {
      clearTimeout(timer)
      await end()
    }
    // Every connection of the pool, from its next statement on (postgres-js reads its options at each).
    if (this.transactionPooled) (this.client.options as { prepare: boolean }).prepare = false
  }

  /**
   * firstContact, tried again for up to `waitMs` while the database is not up yet (notUpYet: it
   * refuses connections, its name does not resolve yet, it is starting up or full): `teamday
   * serve` started by compose or systemd before PostgreSQL exited 1 at once. Attempts back off
   * from 250 ms to 2 s; `say` hears why after each failed attempt, with how long it has waited
   * (the caller, createRuntime, says it every DATABASE_WAITING_SAID_EVERY_MS or so, across attempts).
   * Any other error (a password refused, a database that does not exist, TLS refused), and the
   * last one once `waitMs` has passed since `since` (performance.now()), is thrown; 0 waits for nothing.
   */
  async waitForDatabase(where: string, waitMs: number, since: number, say: (why: unknown, waitedMs: number) => void, stop?: AbortSignal, now: () => number = () => performance.now()): Promise<void> {
    const start = since
    let pause = 250
    for (;;) {
      try {
        // An attempt may take seconds (a host that does not answer): a stop does not wait for it.
        await untilStopped(this.firstContact(where, waitMs > 0 ? waitMs - (now() - start) : undefined), stop, where)
        return
      } catch (e) {
        const waited = now() - start
        if (waitMs <= 0 || !notUpYet(e)) throw e // WAIT_STOPPED included
        if (waited >= waitMs) {
          throw Object.assign(new Error(`the database at ${where} did not come up within ${Math.round(waitMs / 1000)} s (TEAMDAY_DB_START_WAIT_MS): ${unavailableReason(e)}`), { code: DATABASE_NOT_UP })
        }
        say(e, waited)
        await pauseUnlessStopped(Math.min(pause, waitMs - waited), stop, where)
        pause = Math.min(pause * 2, 2000)
      }
    }
  }

  /** A statement written with the raw client (the token look-up's, the counters'), bounded by the same deadline as drizzle's. */
  bounded<Q extends PromiseLike<unknown>>(query: Q): Q {
    return this.deadlined(query)
  }

  /** A statement a probe asks (readiness, the schema's check), bounded as ping() is: READY_MS, so a busy pool says not ready instead of holding the probe. */
  probe<Q extends PromiseLike<unknown>>(query: Q): Q {
    return this.deadlined(query, undefined, Math.min(READY_MS, this.deadlineMs))
  }

  private deadlined<Q extends PromiseLike<unknown>>(query: Q, onLate?: (e: unknown) => void, ms = this.deadlineMs): Q {
    const then = query.then
    const self = this
    // Queued: leaves the queue; running: a cancel request, on a connection of its own, which
    // fails too while the database is out of reach (nothing to report then).
    const cancel = () => (query as { cancel?: () => Promise<unknown> | undefined }).cancel?.()?.catch(() => {})
    // postgres-js sets a query's `state` (null until then) to its connection's backend key when
    // it hands it to a connection, which PostgreSQL sends as it accepts one: until then nothing of it was sent.
    const sent = () => (query as { state?: unknown }).state !== null || (query as { active?: unknown }).active === true
    ;(query as { then: unknown }).then = function (this: Q, ok?: (v: unknown) => unknown, fail?: (e: unknown) => unknown) {
      const answer = new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          done()
          const e = noAnswer(ms)
          cancel()
          onLate?.(e)
          reject(e)
        }, ms)
        const done = self.waitUntilReachable(sent, (e) => {
          clearTimeout(timer)
          cancel()
          reject(e)
        })
        then.call(
          this,
          (v) => {
            clearTimeout(timer)
            done()
            resolve(v)
          },
          (e) => {
            clearTimeout(timer)
            done()
            self.noticePooledStatement(e)
            reject(e)
          },
        )
      })
      return answer.then(ok, fail)
    }
    return query
  }

  /**
   * Notes a statement or transaction waiting for the database until the function returned is
   * called (its answer came). While it waits, failUnreached may fail it with `fail` if `sent()`
   * says nothing of it has gone to a connection yet.
   */
  private waitUntilReachable(sent: () => boolean, fail: (e: unknown) => void): () => void {
    const w: Waiting = { since: performance.now(), sent, fail }
    this.waiting.add(w)
    return () => this.waiting.delete(w)
  }

  /**
   * Every connection attempt has failed for `failingMs` (ConnectPacer, told at each failed
   * attempt): once that is UNREACHABLE_MS or more, the statements and transactions that have
   * waited that long and were never handed to a connection fail now (ECONNREFUSED: a 503, nothing
   * sent so nothing changed), instead of at their deadline (the statement timeout and a second,
   * 31 s by default). A refused or unresolvable address already failed them at once (postgres-js
   * fails the query that opened the connection); an address that accepts and then closes (another
   * service listening there, a proxy with no backend) is retried by the driver for as long as the
   * query waits. A statement already sent is left to its deadline: it may be running.
   */
  failUnreached(failingMs: number): void {
    if (failingMs < UNREACHABLE_MS || this.waiting.size === 0) return
    const now = performance.now()
    for (const w of this.waiting) {
      if (now - w.since < UNREACHABLE_MS || w.sent()) continue
      this.waiting.delete(w)
      w.fail(unreached(failingMs))
    }
  }

  async close(): Promise<void> {
    await this.client.end({ timeout: 5 })
  }
}

/** What checkSession expects of PostgreSQL's sessions, and how it opens a client of one connection like the pool's. */
export interface SessionCheck {
  statementTimeoutMs: number
  /**
   * The timeouts, in ms, the connections ask for when not statementTimeoutMs: the URL's own
   * `statement_timeout` or `idle_in_transaction_session_timeout`, which postgres-js sends after
   * teamday's and which win; null: a value not read here (not checked).
   */
  timeouts?: { statement: number | null; idle: number | null }
  /** The search_path asked for (the URL's `search_path` or `options=-c search_path=…`, or a test's schema), as written. */
  searchPath?: string
  open: () => postgres.Sql
}

/** The line PgBouncer needs to take teamday's connection parameters (openPostgres's `connection`), and `refused` when a URL added it (search_path, options). */
function ignoredParameters(refused: string): string {
  const ours = ['statement_timeout', 'idle_in_transaction_session_timeout']
  return [...ours, ...(ours.includes(refused) ? [] : [refused])].join(', ')
}

/**
 * Why the start's one connection beyond the pool's first (checkSession) failed: refused as too
 * many (`cause`: 53300), or no answer within `ms` while the first one is served (a pooler whose
 * pool is full waits for a free server connection; PgBouncer in session mode holds one per client).
 */
function probeRefused(ms: number, cause?: unknown): Error {
  const what = cause ? `was refused: ${(cause as Error).message}` : `got no answer within ${ms / 1000} s while the first is served`
  return new Error(
    `the second connection teamday opens at start, to check the database's sessions, ${what}. Too many connections, or a pooler's pool is full: ` +
      `each start needs its pool's first connection and one more at once; size PgBouncer's default_pool_size (in session mode, a server connection per client) and max_client_conn, or PostgreSQL's max_connections, ` +
      `for every instance's TEAMDAY_DB_POOL plus one per instance starting and the admin commands (README: "Running several instances", PgBouncer)`,
  )
}

/** checkSession's question, in the simple protocol (nothing named). */
const SESSION_SQL = `SELECT pg_backend_pid() AS pid, (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS statement_timeout,
  (SELECT setting FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout') AS idle_timeout, current_setting('search_path') AS search_path,
  quote_ident(current_user) AS role, quote_ident(current_database()) AS database`

interface SessionRow {
  pid: number | string
  statement_timeout: string
  idle_timeout: string
  search_path: string
  role: string
  database: string
}

/**
 * A search_path as PostgreSQL reads it: names without the spaces around them, an unquoted name
 * lower-cased, a quoted one kept as written ("" inside it a quote), as SplitIdentifierString does.
 */
export function pathNames(path: string): string {
  const names: string[] = []
  let i = 0
  for (;;) {
    while (i < path.length && /\s/.test(path[i]!)) i++
    let name = ''
    if (path[i] === '"') {
      for (i++; i < path.length; i++) {
        if (path[i] === '"') {
          if (path[i + 1] === '"') {
            name += '"'
            i++
          } else break
        } else name += path[i]
      }
      i++
      while (i < path.length && path[i] !== ',') i++
    } else {
      const start = i
      while (i < path.length && path[i] !== ',') i++
      name = path.slice(start, i).trim().toLowerCase()
    }
    names.push(name)
    if (i >= path.length) break
    i++
  }
  return names.join(',')
}

/** Why a session `row` lacks what `check` expects (a line saying what to set, and where), or undefined. */
function wrongSettings(row: SessionRow, check: SessionCheck): string | undefined {
  const ms = String(check.statementTimeoutMs)
  const { statement, idle } = check.timeouts ?? { statement: check.statementTimeoutMs, idle: check.statementTimeoutMs }
  const wrong: string[] = []
  const set: string[] = []
  if (statement !== null && row.statement_timeout !== String(statement)) {
    wrong.push(`statement_timeout ${row.statement_timeout} ms, not ${String(statement) === ms ? "TEAMDAY_DB_STATEMENT_TIMEOUT_MS's" : "the URL's"} ${statement}`)
    set.push(`statement_timeout = ${statement}`)
  }
  if (idle !== null && row.idle_timeout !== String(idle)) {
    wrong.push(`idle_in_transaction_session_timeout ${row.idle_timeout} ms, not ${idle}`)
    set.push(`idle_in_transaction_session_timeout = ${idle}`)
  }
  if (check.searchPath !== undefined && pathNames(row.search_path) !== pathNames(check.searchPath)) {
    wrong.push(`search_path ${row.search_path}, not the URL's ${check.searchPath}`)
    set.push(`search_path = ${check.searchPath}`)
  }
  if (wrong.length === 0) return undefined
  const alter = set.map((x) => `ALTER ROLE ${row.role} IN DATABASE ${row.database} SET ${x};`).join(' ')
  return (
    `the database's sessions lack settings teamday gives every connection (${wrong.join('; ')}): a connection pooler between them (PgBouncer) did not pass them on. ` +
    `Set them for the role, as its owner or a superuser: ${alter} then have the pooler open its server connections anew (PgBouncer: RECONNECT in its admin console, or a restart), as open ones keep the old values (README: "Running several instances", PgBouncer); nothing was changed`
  )
}

/**
 * A statement's failure as a pooler in transaction mode makes it: its named statement missing on
 * the server session it landed on (26000 invalid_sql_statement_name), or there already under
 * another client's use (42P05 duplicate_prepared_statement).
 */
function pooledStatementError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return code === '26000' || code === '42P05'
}

/** A statement or transaction still waiting for a connection after every attempt for this long failed: failed then (failUnreached). */
export const UNREACHABLE_MS = 3000

interface Waiting {
  since: number
  sent: () => boolean
  fail: (e: unknown) => void
}

/** What failUnreached fails a waiting statement with: no connection, so nothing was sent (src/db/unavailable.ts: 503). */
function unreached(failingMs: number): Error {
  return Object.assign(new Error(`could not connect to the database: every connection attempt for the last ${Math.round(failingMs / 1000)} s failed (nothing answered there as PostgreSQL)`), { code: 'ECONNREFUSED', unreached: true })
}

/** A statement whose answer did not come: a network failure (src/db/unavailable.ts: 503). */
function noAnswer(ms: number): Error {
  return Object.assign(new Error(`the database did not answer within ${ms} ms`), { code: 'ETIMEDOUT' })
}

/** How long readiness waits for the database's answer (see PgConnection.ping). */
const READY_MS = 2000

/** The advisory lock every transaction takes first (see PgConnection.transaction). */
export const TX_LOCK = 731_041

/** Socket errors of a connection that the network or the database host ended. */
const SOCKET_ENDED = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH'])
/** postgres-js's own codes for a connection that ended or could not be made. */
const CONNECTION_ENDED = new Set(['CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT'])

let guarded = false

/**
 * Bun's node:net can emit a socket's `error` after its `close` (a database host that answers a
 * reconnection with a reset: after a freeze, a reboot, a partition healing), and postgres-js
 * removes every listener of a socket when it closes: that error then had no listener and ended
 * the server ("error: read ECONNRESET … at close (node:net)", found from outside, 2026-12-05).
 * postgres-js has already failed the connection's queries and reconnects by itself, so such an
 * error is only logged here. Any other uncaught error ends the process as it did (message,
 * stack, exit status 1).
 */
export function guardLateSocketErrors(warn: (msg: string, fields: Record<string, unknown>) => void): void {
  if (guarded) return
  guarded = true
  const guard = (e: unknown) => {
    const err = e as { code?: unknown; syscall?: unknown; message?: unknown }
    if (typeof err?.code === 'string' && ((SOCKET_ENDED.has(err.code) && typeof err.syscall === 'string') || CONNECTION_ENDED.has(err.code))) {
      warn('database_socket_error', { code: err.code, syscall: err.syscall, note: 'a database connection ended by the network or the database host; its queries failed and it reconnects' })
      return
    }
    console.error(e)
    process.exit(1)
  }
  process.on('uncaughtException', guard)
  process.on('unhandledRejection', guard)
}

/** How long one connection attempt may take, in seconds: the statement timeout, 1 to 5 s. */
function connectTimeoutS(statementTimeoutMs: number): number {
  return Math.max(1, Math.min(5, Math.ceil(statementTimeoutMs / 1000)))
}

/**
 * Spaces out a pool's connection attempts while its database's address lets none through:
 * nothing listening there, or something else answering (an HTTP server, a proxy that accepts and
 * closes at once). postgres-js connects again at once when a connection made for a waiting query
 * closes without an error, and goes on while that query waits: a server whose database address
 * answered HTTP spun a quarter of a core on it until the database was back (measured on the
 * binary, 2026-12-06). An attempt now starts no sooner than `wait()` after the last one that
 * failed: at once while the database takes connections, then 100 ms, doubling up to 1 s (the wait
 * postgres-js's own backoff already spent counts). Once any connection of the pool is accepted
 * (the server's first ParameterStatus, after authentication) attempts start at once again.
 */
export class ConnectPacer {
  /** Attempts that failed since a connection was last accepted. */
  private failures = 0
  private lastFailure = 0
  /** How many connections were accepted: an attempt is counted failed if none was while it lasted. */
  private acceptedCount = 0

  constructor(
    readonly firstMs = 100,
    readonly maxMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Milliseconds to wait before the next attempt starts. */
  wait(): number {
    if (this.failures === 0) return 0
    const step = Math.min(this.maxMs, this.firstMs * 2 ** (this.failures - 1))
    return Math.max(0, this.lastFailure + step - this.now())
  }

  /** An attempt starts: what to hand `ended` when its socket closes. */
  started(): number {
    return this.acceptedCount
  }

  /** The attempt `started` returned `token` for has ended: failed unless a connection was accepted meanwhile. */
  ended(token: number): void {
    if (token !== this.acceptedCount) return
    if (this.failures === 0) this.firstFailure = this.now()
    this.failures = Math.min(this.failures + 1, 30)
    this.lastFailure = this.now()
    this.onFailed?.(this.lastFailure - this.firstFailure)
  }

  /** When the first of the attempts failing since a connection was last accepted ended. */
  private firstFailure = 0

  /** Told, at each failed attempt, how long attempts have been failing (from the first failure on). */
  onFailed: ((failingMs: number) => void) | null = null

  /** A connection was accepted (authenticated): attempts start at once again. */
  accepted(): void {
    this.acceptedCount++
    this.failures = 0
  }

  /** Attempts failed since a connection was last accepted (for tests). */
  get failing(): number {
    return this.failures
  }
}

/**
 * postgres-js's `socket` option: a TCP (or Unix) socket to the pool's next host, opened after the
 * pacer's wait, still connecting when handed over (postgres-js writes its first message at once;
 * the socket sends it once connected, and TLS is negotiated over it as over its own). Its end is
 * reported to the pacer (seen through `emit`: postgres-js removes every listener of a socket it
 * upgrades to TLS); a cancel request's is not, as such a connection is never accepted. The
 * driver says which is a cancel request's (`cancel`, patches/): its first bytes told it until TLS,
 * where they are an SSLRequest and then ciphered, and every cancel was counted a failed attempt.
 */
function pacedSocket(pacer: ConnectPacer, onPooledError?: (e: Error) => void): (o: { host: string[]; port: number[]; path?: string | false; cancel?: boolean }) => Promise<Socket> {
  let next = 0
  return async (o) => {
    const cancel = o.cancel === true
    const wait = pacer.wait()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    const token = pacer.started()
    const s = new Socket() as Socket & { host?: string; port?: number }
    let reported = false
    const emit = s.emit
    s.emit = function (this: Socket, event: string | symbol, ...args: unknown[]) {
      if (event === 'close' && !reported) {
        reported = true
        if (!cancel) pacer.ended(token)
      }
      const seen = event === 'data' && onPooledError ? pooledErrorIn(args[0]) : undefined
      const r = emit.call(this, event, ...args)
      if (seen) {
        // postgres-js retries such a statement itself, on a pipeline that then went out of step
        // (its later statements hung until their deadline): the connection is ended, its
        // statements fail at once (sent again when they are reads), and the pool connects anew.
        onPooledError!(seen)
        setImmediate(() => s.destroy())
      }
      return r
    } as Socket['emit']
    if (o.path) {
      s.connect(o.path)
    } else {
      const i = next++ % o.host.length
      // As postgres-js's own sockets: TLS names the server from these, errors name the address.
      s.host = o.host[i]!
      s.port = o.port[i] ?? o.port[0]!
      s.connect(s.port, s.host)
    }
    return s
  }
}

const POOLED_CODES = ['26000', '42P05'].map((c) => Buffer.from(`\0C${c}\0`))

/**
 * An ErrorResponse in the bytes a connection received whose SQLSTATE pooledStatementError names,
 * as an error with its code and message; else undefined. Seen on the socket, before postgres-js
 * retries the statement (unseen on TLS connections: their bytes are ciphered here).
 */
function pooledErrorIn(chunk: unknown): (Error & { code: string }) | undefined {
  if (!(chunk instanceof Uint8Array)) return undefined
  const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
  for (const pattern of POOLED_CODES) {
    const at = b.indexOf(pattern)
    if (at < 0) continue
    const m = b.indexOf('\0M', at + pattern.length - 1)
    const end = m < 0 ? -1 : b.indexOf(0, m + 2)
    const message = m < 0 || end < 0 ? 'prepared statement missing on the server session' : b.subarray(m + 2, end).toString('utf8')
    return Object.assign(new Error(message), { code: pattern.subarray(2, 7).toString() })
  }
  return undefined
}

/** Opens a pool on a postgres:// URL (nothing connects until the first query). */
export function openPostgres(url: string, opts: PgOptions): PgConnection {
  const pacer = new ConnectPacer()
  let conn: PgConnection | undefined
  // sslmode and the TLS files as libpq reads them (src/db/pg-tls.ts), out of the URL.
  const tls = pgTlsSettings(url)
  const connection = {
    statement_timeout: opts.statementTimeoutMs,
    // A transaction left open (a stuck request) must not hold the transaction lock for ever.
    idle_in_transaction_session_timeout: opts.statementTimeoutMs,
    application_name: 'teamday',
    ...(opts.schema ? { search_path: opts.schema } : {}),
  }
  const client = postgres(tls.url, {
    ...(tls.ssl !== undefined ? { ssl: tls.ssl } : {}),
    // A documented option of postgres-js that its types leave out.
    ...({ socket: pacedSocket(pacer, (e) => conn?.noticePooledStatement(e, true)) } as {}),
    onparameter: () => pacer.accepted(),
    max: opts.pool,
    onnotice: () => {},
    // Named statements unless the URL says prepare=false (postgres-js reads it there only when
    // the option is not given): the operator's switch for a pooler the start cannot see.
    prepare: urlPrepare(tls.url),
    // No array types to learn: no column or parameter is a PostgreSQL array (JSON is jsonb, IN
    // lists are parameters one by one). postgres-js otherwise asks pg_type on every new
    // connection before its first query (1-10 ms each: every pool connection, every admin command).
    fetch_types: false,
    // While the database is out of reach, a query waits for a connection: at most this long per
    // attempt (30 s by default), then fails (a 503), instead of hanging requests past the load
    // balancer's patience; and reconnection attempts come back at least every second (the
    // default backed off to 20 s), so service resumes about as soon as the database does. This
    // backoff only spaces out connections that closed with an error; ConnectPacer spaces out
    // every attempt while none gets through.
    connect_timeout: connectTimeoutS(opts.statementTimeoutMs),
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    ...(opts.idleTimeoutS !== undefined ? { idle_timeout: opts.idleTimeoutS } : {}),
    connection,
  })
  conn = new PgConnection(client, opts.schema, opts.statementTimeoutMs)
  conn.session = {
    statementTimeoutMs: opts.statementTimeoutMs,
    timeouts: { statement: urlTimeoutMs(tls.url, 'statement_timeout', opts.statementTimeoutMs), idle: urlTimeoutMs(tls.url, 'idle_in_transaction_session_timeout', opts.statementTimeoutMs) },
    // As postgres-js sends them: the URL's search_path after the schema option, libpq's options before both (PostgreSQL applies them first).
    searchPath: urlParam(tls.url, 'search_path') ?? opts.schema ?? askedSearchPath(tls.url),
    open: () =>
      postgres(tls.url, {
        ...(tls.ssl !== undefined ? { ssl: tls.ssl } : {}),
        max: 1,
        onnotice: () => {},
        prepare: false,
        fetch_types: false,
        connect_timeout: connectTimeoutS(opts.statementTimeoutMs),
        connection,
      }),
  }
  pacer.onFailed = (failingMs) => conn.failUnreached(failingMs)
  return conn
}

/** Whether a URL lets statements be named: not with `prepare=false` (or `disable`, as postgres-js reads it). */
export function urlPrepare(url: string): boolean {
  let v: string | null
  try {
    v = new URL(url).searchParams.get('prepare')
  } catch {
    return true
  }
  return !(v !== null && /^(?:false|disable|off|0|no)$/i.test(v.trim()))
}

function urlParam(url: string, name: string): string | undefined {
  try {
    return new URL(url).searchParams.get(name) ?? undefined
  } catch {
    return undefined
  }
}

/**
 * The timeout `name` the connections get, in ms: the URL's (it wins over teamday's `fallback`),
 * read as PostgreSQL reads a time setting (ms by default; us, ms, s, min, h, d); null when it
 * cannot be read here (then not checked).
 */
export function urlTimeoutMs(url: string, name: string, fallback: number): number | null {
  const v = urlParam(url, name)
  if (v === undefined) return fallback
  // Trimmed first: one run of white space in the expression (two adjacent ones backtrack polynomially).
  const m = /^(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?$/.exec(v.trim())
  if (!m) return null
  const n = Number(m[1]) * { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 'ms') as 'ms']
  return Number.isSafeInteger(n) ? n : null
}

/**
 * libpq's `options` split into words as libpq and PostgreSQL do: on spaces, a backslash making
 * the next character (a space, a backslash) part of the word; undefined when it ends in a lone backslash.
 */
export function optionWords(options: string): string[] | undefined {
  const words: string[] = []
  let word: string | null = null
  for (let i = 0; i < options.length; i++) {
    const c = options[i]!
    if (c === '\\') {
      if (i + 1 >= options.length) return undefined
      word = (word ?? '') + options[++i]
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word)
      word = null
    } else {
      word = (word ?? '') + c
    }
  }
  if (word !== null) words.push(word)
  return words
}

/**
 * The search_path a URL asks for: its `search_path` parameter, or `-c search_path=…` (also
 * `-csearch_path=…`, `--search_path=…`) in its `options`, libpq's escapes read; the last one
 * given wins, as in PostgreSQL. Undefined when it asks none, or when its options cannot be read.
 */
export function askedSearchPath(url: string): string | undefined {
  const direct = urlParam(url, 'search_path')
  if (direct !== undefined) return direct
  const words = optionWords(urlParam(url, 'options') ?? '')
  if (!words) return undefined
  let found: string | undefined
  for (let i = 0; i < words.length; i++) {
    let setting: string | undefined
    if (words[i] === '-c') setting = words[++i]
    else if (words[i]!.startsWith('-c')) setting = words[i]!.slice(2)
    else if (words[i]!.startsWith('--')) setting = words[i]!.slice(2)
    const eq = setting?.indexOf('=') ?? -1
    if (setting !== undefined && eq > 0 && setting.slice(0, eq).replace(/-/g, '_').toLowerCase() === 'search_path') found = setting.slice(eq + 1)
  }
  return found
}

let installed = false

/**
 * Gives PostgreSQL's select/insert/update/delete builders and prepared queries the terminal
 * methods services use on SQLite: `all()` (the rows), `get()` (the first row or undefined),
 * `run()` (runs it); `prepare()` without a name prepares on the server (postgres-js caches the
 * statement per connection); `db.all(sql)` gives value arrays like SQLite's. Installed once per
 * process, on drizzle's classes (they have no methods of these names of their own, except
 * postgres-js' prepared `all`, which returns unmapped rows and which drizzle does not call).
 */
export function installSqliteStyleTerminals(): void {
  if (installed) return
  installed = true
  for (const Builder of [PgSelectBase, PgInsertBase, PgUpdateBase, PgDeleteBase] as any[]) {
    const proto = Builder.prototype
    const prepare = proto._prepare
    proto._prepare = function (name?: string) {
      return prepare.call(this, name ?? 'teamday')
    }
    proto.all = function () {
      return this.execute()
    }
    proto.get = function () {
      return this.execute().then((rows: unknown[]) => rows[0])
    }
    proto.run = function () {
      return this.execute()
    }
  }
  const prepared = (PostgresJsPreparedQuery as any).prototype
  prepared.all = function (values?: Record<string, unknown>) {
    return executeMapped(this, values)
  }
  prepared.get = function (values?: Record<string, unknown>) {
    return executeMapped(this, values).then((rows: unknown[]) => rows[0])
  }
  prepared.run = function (values?: Record<string, unknown>) {
    return this.execute(values)
  }
  const db = (PgDatabase as any).prototype
  db.all = function (query: SQL) {
    const q = this.dialect.sqlToQuery(query)
    return this.session.query(q.sql, q.params)
  }
  db.get = function (query: SQL) {
    return this.all(query).then((rows: unknown[][]) => rows[0])
  }
  db.run = function (query: SQL) {
    return this.execute(query)
  }
}

const ROW_MAPPER = Symbol('teamday.rowMapper')

/** What executeMapped reads of drizzle's prepared query (the fields drizzle's own execute reads). */
interface PgPrepared {
  [ROW_MAPPER]?: ((row: unknown[]) => Record<string, unknown>) | null
  client: postgres.Sql
  queryString: string
  params: unknown[]
  prepare: boolean
  execute(values?: Record<string, unknown>): Promise<unknown[]>
}

/**
 * A prepared query's rows, as drizzle's `execute` gives them (the statement prepared on the
 * server, its rows as value arrays, each mapped to the selected fields), mapped by a mapper made
 * once for the query (src/db/row-mapper.ts) instead of drizzle's per-row mapResultRow; a query
 * that mapper does not cover goes through drizzle's `execute`.
 */
function executeMapped(q: PgPrepared, values: Record<string, unknown> | undefined): Promise<unknown[]> {
  let map = q[ROW_MAPPER]
  if (map === undefined) q[ROW_MAPPER] = map = compiledRowMapper(q as Parameters<typeof compiledRowMapper>[0]) ?? null
  if (map === null) return q.execute(values)
  const rowOf = map
  return q.client
    .unsafe(q.queryString, fillPlaceholders(q.params, values ?? {}) as postgres.ParameterOrJSON<never>[], { prepare: q.prepare })
    .values()
    .then((rows) => rows.map((r) => rowOf(r as unknown[])))
}

/** A statement that writes (drizzle's INSERT, UPDATE and DELETE), which outside a transaction commits by itself. */
const WRITE = /^\s*(?:insert|update|delete)\b/i

/** `query` (a write), `onChanged` told when it succeeded having changed a row (postgres-js's `count`). Patched in place like timed(). */
function countChanges<Q extends PromiseLike<unknown>>(query: Q, onChanged: (() => void) | undefined): Q {
  if (onChanged === undefined) return query
  const then = query.then
  ;(query as { then: unknown }).then = function (this: Q, ok?: (v: unknown) => unknown, fail?: (e: unknown) => unknown) {
    return then.call(
      this,
      (v: unknown) => {
        if (((v as { count?: unknown } | null)?.count as number) > 0) onChanged()
        return ok ? ok(v) : v
      },
      fail,
    )
  }
  return query
}

/**
 * `query` (a write that commits by itself), its failure by a lost connection marked as a commit
 * in doubt (markCommitInDoubt): the statement may have reached the server and committed, and
 * the request's 503 must not say that nothing was changed. Patched in place like timed().
 */
function inDoubtOnLoss<Q extends PromiseLike<unknown>>(query: Q): Q {
  const then = query.then
  ;(query as { then: unknown }).then = function (this: Q, ok?: (v: unknown) => unknown, fail?: (e: unknown) => unknown) {
    return then.call(this, ok, (e: unknown) => {
      markCommitInDoubt(e)
      if (fail) return fail(e)
      throw e
    })
  }
  return query
}

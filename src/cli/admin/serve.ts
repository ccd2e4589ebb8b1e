import { AppError, errorMessage } from '../../errors'
import { trimEndChar } from '../../text'
import { resolve } from 'node:path'
import { isProduction } from 'elysia/error'
import { createApp } from '../../app'
import { startLeaseSweep } from '../../engine/leases'
import { Housekeeping } from '../../housekeeping'
import { gracefulStop } from './graceful-stop'
import { requestsLogged } from '../../http/observe'
import { recordPendingKeys } from '../../http/idempotency'
import { IDLE_TIMEOUT_S, MAX_TIMEOUT_S, type ListenOptions } from '../../http/listen'
import { watchDescriptors } from '../../http/descriptor-watch'
import { basePathOf } from '../../http/base-path'
import { COMMIT } from '../../build-info'
import type { Config } from '../../config'
import { metricsOnlyApp } from '../../modules/system'
import { ConfigError, isPostgresUrl, parsePort } from '../../config'
import { systemContext } from '../../context'
import { describeKey } from '../../crypto/keys'
import { readFileSync } from 'node:fs'
import { bootstrapIfEmpty, userCounts, type Bootstrap } from '../../modules/users/bootstrap'
import { liveSetupLink } from '../../modules/users/links'
import { createRuntime, SCHEMA_CHECK_MS, type Runtime, type RuntimeOptions } from '../../runtime'
import { bareHost, getOnce, getOnceTls, refuseAnotherDatabase, wildcardFamily, type Get, type PortCheck } from './port-holder'
import { liveProbeStore } from '../../db/settings'
import { configFrom, dbNote, dbOption } from './runtime'
import { normalJitAfterStart, STARTUP_JIT_MS } from '../../jit-policy'
import type { Run } from '../spec'
import type { PgConnection } from '../../db/pg'
import type { SqliteConnection } from '../../db/connection'
import type { TlsPair } from '../../http/tls-files'
import { sqliteStartError } from '../../db/client'
import { errorCodes, WAIT_STOPPED } from '../../db/unavailable'
import { COLLATION_NOT_C, collationNotC, type DatabaseLocale } from '../../db/pg-collation'
import type { Io } from '../common'

/** Running executions get this long to finish at a stop, then fail "interrupted by server shutdown". */
const SHUTDOWN_GRACE_MS = 10_000
/** Then in-flight requests get this long to end before their connections are cut. */
const SHUTDOWN_DRAIN_MS = 5_000
/** How long a stop's answers close their connections before the listener closes (graceful-stop.ts). */
const SHUTDOWN_CLOSING_MS = 250
/** How often `serve` asks SQLite whether its database file is still at its path. */
const DATABASE_FILE_CHECK_MS = 2_000
/**
 * --reuse-port: questions to the port once this process listens on it too, each on a new
 * connection (src/cli/admin/port-holder.ts). Two processes on different databases that started
 * at the same moment both found the port free; the kernel hands each connection to one of the
 * listeners, so with two of them 8 questions all miss the other one once in 256 (and each of the
 * two asks).
 */
const SHARED_PORT_ROUNDS = 8

/**
 * The runtime of a start, or null when `stop` (SIGINT, SIGTERM, and SIGHUP without TLS: serve's
 * handlers from its first line) was aborted as it opened: while it waited for its PostgreSQL
 * (TEAMDAY_DB_START_WAIT_MS) the wait ends at once and nothing is started. Without a handler
 * then, a container's teamday (PID 1, where a signal without one is ignored) sat out `docker
 * stop`'s grace period for the rest of the wait and was killed. A signal that comes once the
 * wait is over (the migrations, the key's check) stops the start as soon as the runtime is open.
 */
async function startRuntime(config: Config, runtime: RuntimeOptions, stop: AbortSignal): Promise<Runtime | null> {
  const waits = isPostgresUrl(config.dbPath) && config.dbStartWaitMs > 0
  try {
    const rt = await createRuntime(config, waits ? { waitForDatabaseMs: config.dbStartWaitMs, stop, ...runtime } : runtime)
    if (!stop.aborted) return rt
    await rt.close()
    return null
  } catch (e) {
    if (errorCodes(e).includes(WAIT_STOPPED)) return null
    throw e
  }
}

/**
 * `teamday serve`: starts the server; resolves after SIGINT/SIGTERM (SIGHUP too without TLS: with
 * TLS it reloads the certificate) and a graceful stop.
 * `probe`: how `--reuse-port` asks whoever is on the port (src/cli/admin/port-holder.ts getOnce).
 */
export async function serve(
  { values, io }: Run<{ host?: string; port?: string; db?: string; 'reuse-port'?: boolean; 'metrics-host'?: string; 'metrics-port'?: string; 'tls-cert'?: string; 'tls-key'?: string }>,
  signals: NodeJS.Process = process,
  runtime: RuntimeOptions = {},
  probe: Get = getOnce,
): Promise<void> {
  const config = configFrom(io, values.db, {
    ...(values.host ? { host: values.host } : {}),
    ...(values.port !== undefined ? { port: parsePort(values.port, '--port') } : {}),
    ...(values['metrics-host'] ? { metricsHost: values['metrics-host'] } : {}),
    ...(values['metrics-port'] !== undefined ? { metricsPort: parsePort(values['metrics-port'], '--metrics-port') } : {}),
    ...(values['tls-cert'] ? { tlsCert: values['tls-cert'] } : {}),
    ...(values['tls-key'] ? { tlsKey: values['tls-key'] } : {}),
  })
  const reusePort = values['reuse-port'] === true
  // The certificate and key, read and checked before the database is opened (a file that will
  // not do changes nothing there); the module only when they are set (a start without TLS loads none of it).
  const tls = config.tlsCert && config.tlsKey ? (require('../../http/tls-files') as typeof import('../../http/tls-files')).readTlsPair(config.tlsCert, config.tlsKey) : null
  const scheme = tls ? 'https' : 'http'
  // With TLS, SIGHUP is a reload (systemd's ExecReload, certbot's deploy hook), never a stop, from
  // here on: one that comes while the start goes on (the wait for PostgreSQL, the migrations, the
  // listen) is kept and the files are read again once the reloader runs (files still holding the
  // certificate read above change nothing). Without a handler until then, its default action
  // killed the process (exit 129), which systemd's Restart=on-failure does not restart after a
  // reload; and the wait for PostgreSQL took it for a stop. Never removed, as SIGINT's and
  // SIGTERM's are not: one during the stop, or as a failed start exits, is no kill either.
  let stopping = false
  let hupPending = false
  let reloadNow: (() => void) | null = null
  if (tls) {
    signals.on('SIGHUP', () => {
      if (stopping) return
      if (reloadNow) reloadNow()
      else hupPending = true
    })
  }
  // A stop signal at any moment of the start is heard: it ends the start at its next step, or,
  // once the server listens, stops it gracefully as soon as the stop's handlers are in place.
  // Handlers were only in place while the start waited for PostgreSQL and once it served: one
  // that came in between (the migrations, the first admin, the listen) took its default action
  // and the process died mid-start (exit 143 or 130, a set-up link made and never shown).
  const starting = new AbortController()
  const early = (tls ? (['SIGINT', 'SIGTERM'] as const) : (['SIGINT', 'SIGTERM', 'SIGHUP'] as const)).map((sig) => [sig, () => starting.abort(sig)] as const)
  for (const [sig, on] of early) signals.on(sig, on)
  const unhookEarly = () => {
    for (const [sig, on] of early) signals.off(sig, on)
  }
  const stoppedEarly = () => {
    unhookEarly()
    io.out('teamday stopped')
  }
  // A PostgreSQL not up yet (compose or systemd starting teamday first) is waited for; admin commands fail at once.
  const rt = await startRuntime(config, runtime, starting.signal).catch((e: unknown) => {
    unhookEarly()
    throw e
  })
  if (rt === null) return stoppedEarly()
  // Executions a crash left pending or running can never finish: recorded as failed once their
  // lease lapses, now and every half lease from now on (src/engine/leases.ts). On both databases:
  // other processes may be running and queueing theirs (PostgreSQL instances; --reuse-port on one
  // SQLite file), and failing every unfinished execution here aborted their model calls.
  // The same timer tells the hourly housekeeping (src/housekeeping.ts): ended sessions and CLI
  // sign-ins, and the audit events and executions past their configured retention. Its first
  // pass comes once the start is over (STARTUP_JIT_MS after the sweep): run with the start, its
  // eight DELETEs (each built by drizzle's cold code) ran between the listening line and the first
  // request's answer, ~6 ms of the main thread's CPU to that answer (docs/performance.md).
  const housekeeping = new Housekeeping({ db: rt.db, clock: rt.clock, log: rt.log, config })
  // Its first sweep is the start's first write: a file that takes none (read-only) is named, with why.
  const sweep = await startLeaseSweep({ db: rt.db, clock: rt.clock, log: rt.log, instanceId: rt.engine.instanceId, held: () => rt.engine.held(), leaseMs: config.executionLeaseMs, also: [housekeeping], alsoFirstAfterMs: STARTUP_JIT_MS }).catch(
    async (e: unknown) => {
      await rt.close()
      throw sqliteStartError(config.dbPath, e)
    },
  )
  if (rt.connection.dialect === 'pg') {
    // A reset database connection must not end the server (src/db/pg.ts).
    ;(require('../../db/pg') as typeof import('../../db/pg')).guardLateSocketErrors((msg, fields) => rt.log.warn(msg, fields))
    // Warnings go to the log, as a line of its format: a plain-text line broke a JSON log's parsers.
    const setUp = await databaseSetUp(rt.connection as PgConnection)
    if (setUp.autovacuumOff) rt.log.warn('autovacuum_off', { note: AUTOVACUUM_OFF })
    if (setUp.collation !== null) rt.log.warn('collation_not_c', { collation: setUp.collation, note: COLLATION_NOT_C })
  }
  // SQLite: the database file deleted or replaced under the running server is noticed within
  // seconds; writes are refused from then on (503) and readiness fails, instead of writes being
  // acknowledged into a file that the next start will not find (SqliteConnection.checkFile).
  const fileWatch =
    rt.connection.dialect === 'sqlite'
      ? setInterval(() => {
          const conn = rt.connection as SqliteConnection
          if (fileWatch !== null && conn.checkFile()) {
            clearInterval(fileWatch)
            rt.log.error('database_file_moved', { database: config.dbPath, note: 'the file was deleted, moved or replaced while the server ran: writes are refused (503) and /api/health/ready fails; put the file back and restart' })
          }
        }, DATABASE_FILE_CHECK_MS)
      : null
  ;(fileWatch as { unref?: () => void } | null)?.unref?.()
  // A newer teamday migrating the database while this one serves (a rolling upgrade's first new
  // instance on PostgreSQL, `teamday migrate` of a new binary beside a SQLite server) is noticed
  // within seconds: from then on this instance refuses its requests (503) and readiness fails
  // (Runtime.checkSchema), where it went on serving a schema it does not know.
  // Turned away, it writes nothing more in the background either: its lease sweep (which fails
  // other instances' lapsed runs, the newer version's among them) and housekeeping stop; runs it
  // has in progress finish.
  const schemaWatch = setInterval(() => {
    rt.checkSchema().then((superseded) => {
      if (!superseded) return
      clearInterval(schemaWatch)
      void sweep.stop()
    }, () => {})
  }, SCHEMA_CHECK_MS)
  ;(schemaWatch as { unref?: () => void }).unref?.()
  // Every file descriptor taken (connections up to `ulimit -n`): said in the log, once.
  const app = createApp(rt)
  const stopDescriptorWatch = watchDescriptors(rt.log, undefined, undefined, undefined, () => app.server?.closeIdleConnections() ?? 0)
  // Before the database closes, what runs in the background stops: the start's first housekeeping
  // pass was still running when a failed listen closed it ("housekeeping_failed … closed database").
  const stopBackground = async () => {
    await sweep.stop()
    if (fileWatch) clearInterval(fileWatch)
    clearInterval(schemaWatch)
    stopDescriptorWatch()
  }
  // Stopped before it listens: what runs in the background, then the database.
  if (starting.signal.aborted) {
    await stopBackground()
    await rt.close()
    return stoppedEarly()
  }
  let metricsServer: ReturnType<typeof listenMetrics> | null = null
  try {
    // A port is shared only with processes on the same database: whoever holds it is asked
    // before this one listens (nothing of theirs is disturbed when it is refused), and once more
    // after, for one that started at the same moment (--port 0 picks a port nobody holds).
    const sameDatabase = async (rounds: number): Promise<PortCheck | null> => {
      if (!reusePort || config.port === 0) return null
      if (!rt.databaseIdentity) throw new Error('--reuse-port: this database has no identity to compare with the process on the port (a start that may not write); start without --reuse-port')
      // Each question's probe is a row of this database, written before and removed after it.
      const probes = liveProbeStore(rt.db)
      // A port served with TLS is asked over TLS (a holder speaking plain HTTP then answers nothing a proof can be read from: refused).
      return refuseAnotherDatabase(config.host, config.port, { identity: rt.databaseIdentity, probes }, rounds, undefined, tls && probe === getOnce ? getOnceTls : probe)
    }
    await sameDatabase(1)
    listen(app, config, reusePort, tls)
    // Listening now, it reaches at least itself; unless the address cannot be reached from this
    // machine (a firewall that refuses them, an unusual --host): then nothing was checked, before or after, and
    // a process on another database on the port would go unnoticed. Said, with why.
    const after = await sameDatabase(SHARED_PORT_ROUNDS)
    if (after && !after.reached) {
      rt.log.warn('reuse_port_unchecked', {
        host: config.host,
        port: config.port,
        reason: after.why,
        note: `--reuse-port: the check that every process on port ${config.port} serves this database was skipped: this server could not reach its own listener (${after.why}). Make sure no teamday on another database listens on this port, or use a --host this machine can connect to.`,
      })
    }
    metricsServer = config.metricsPort === null ? null : listenMetrics(rt, config)
  } catch (e) {
    unhookEarly()
    if (app.server) await app.stop()
    await stopBackground()
    await rt.close()
    throw e
  }
  const port = app.server!.port
  // With TLS, SIGHUP and new content in the files serve a renewed certificate without a restart
  // (src/http/tls-reload.ts); the module only then.
  const reloader = tls
    ? new (require('../../http/tls-reload') as typeof import('../../http/tls-reload')).TlsReloader({
        pair: tls,
        app: app as { server: Bun.Server<unknown> | null },
        log: rt.log,
        clock: rt.clock,
        served: (pair) => void (rt.metrics.tlsNotAfter = Math.floor(pair.validTo.getTime() / 1000)),
        fileCheckMs: config.tlsCheckMs,
      })
    : null
  if (2 * Math.ceil(config.dbStatementTimeoutMs / 1000 + 1) + 5 > MAX_TIMEOUT_S) {
    rt.log.warn('statement_timeout_too_long', {
      timeoutMs: config.dbStatementTimeoutMs,
      note: `TEAMDAY_DB_STATEMENT_TIMEOUT_MS=${config.dbStatementTimeoutMs} is longer than a request may wait here: a connection silent for ${MAX_TIMEOUT_S} s (Bun's longest timeout) is closed, so a request still waiting on the database then gets an empty reply, not its 503. Keep it at 120000 or less for serve (a longer one suits admin commands).`,
    })
  }
  // After listening: a first start that cannot listen must not use up the one set-up link.
  let counts = await userCounts(systemContext(rt))
  // A stop asked for by now: no first admin is made (the next start makes it), no hint said.
  const stopAsked = starting.signal.aborted
  const first = counts.users === 0 && !stopAsked ? await namingSettings(() => bootstrapIfEmpty(systemContext(rt), { email: config.adminEmail, password: readAdminPassword(config.adminPasswordFile) })) : null
  // No user when counted, and no first admin made here: another instance on this database
  // (several started together on an empty one) made it meanwhile. Counted again: the counts
  // above, read before it existed, printed "make one admin first" beside that admin's set-up link.
  const lostFirstStart = counts.users === 0 && first === null && !stopAsked
  if (lostFirstStart) counts = await userCounts(systemContext(rt))
  // Only a start where nobody can sign in yet, and that made no admin, pays this second statement
  // (a trial restarted within the hour, a second replica started once the first had made the admin).
  const setupLink = first === null && !lostFirstStart && !stopAsked && counts.withPassword === 0 ? await liveSetupLink(systemContext(rt)) : null
  // Elysia's own reading of NODE_ENV (see defaultToProductionMode): development mode is slow on bad input.
  if (isProduction) rt.log.info('http_mode', { mode: 'production' })
  else rt.log.warn('http_mode', { mode: 'development', note: 'NODE_ENV is not production: validation errors cost far more on large or nested bodies; leave NODE_ENV unset (or production) on a server' })
  // A wildcard however spelt (`::0`, `[::]`, `0:0:0:0:0:0:0:0`, as probeAddresses reads it) is
  // reached as localhost; an IPv6 literal once bracketed (`[::1]` given bracketed was bracketed again).
  const shown = wildcardFamily(config.host) ? 'localhost' : formatHost(config.host)
  // Where a browser reaches the console: TEAMDAY_PUBLIC_URL when set (behind a proxy or in a
  // container, the address it listens on is not one), as CLI sign-in links use it; else that address.
  const base = config.publicUrl ?? `${scheme}://${shown}:${port}`
  // Before the first line a supervisor or test waits for: a SIGTERM sent on seeing it must find
  // the handlers in place (otherwise it kills the process outright).
  let cancelNormalJit = () => {}
  const stopped = new Promise<void>((resolve) => {
    const stop = async (sig: string) => {
      if (stopping) return
      stopping = true
      cancelNormalJit()
      rt.log.info('shutting_down', { signal: sig })
      reloader?.stop()
      try {
        // Stops accepting first, closes the database last (src/cli/admin/graceful-stop.ts).
        // Listeners a reload replaced and that still finish their requests are stopped with the others.
        await gracefulStop({
          servers: [app, ...(metricsServer ? [metricsServer] : []), ...(reloader?.stoppables() ?? [])],
          engine: rt.engine,
          close: async () => {
            await stopBackground()
            // Idempotency keys still waiting for their record (a connection lost at that moment).
            await recordPendingKeys()
            await rt.close()
          },
          log: rt.log,
          graceMs: SHUTDOWN_GRACE_MS,
          drainMs: SHUTDOWN_DRAIN_MS,
          closing: { drain: rt.drain, closingMs: SHUTDOWN_CLOSING_MS },
        })
      } catch (e) {
        rt.log.warn('shutdown_failed', { error: errorMessage(e) })
      } finally {
        // The last requests' access-log lines are written a moment after their answers went out.
        await requestsLogged(1000)
        rt.log.info('stopped', {})
        await rt.log.written(2000)
        rt.log.flush()
        resolve()
      }
    }
    // `on`, not `once`: Ctrl-C under `npm start` delivers SIGINT twice (the terminal's to the
    // process group, and npm's forwarded copy); a second one must not kill the graceful stop.
    const onInt = () => void stop('SIGINT')
    const onTerm = () => void stop('SIGTERM')
    signals.on('SIGINT', onInt)
    signals.on('SIGTERM', onTerm)
    // The terminal went away (a closed SSH session, a closed window): stopped as gracefully as by
    // SIGTERM, where the default action ended the process mid-request, runs left "running".
    // With TLS, SIGHUP is a daemon's reload instead (its handler above, from the start on): the
    // certificate and key are read again and served to new connections, the server runs on.
    if (!reloader) signals.on('SIGHUP', () => void stop('SIGHUP'))
    unhookEarly()
    // One that came as the start went on: now (a first admin made meanwhile still has its set-up link said below).
    if (starting.signal.aborted) void stop(String(starting.signal.reason))
  })
  // Stdout carries the start-up text only; a write there that fails (its reader gone:
  // `teamday serve | head -1`, a log pipe whose reader died; a full disk) must not end the
  // server: it threw out of serve, and the process exited 0 mid-serving, without a stop.
  const say = startupText(io, rt.log)
  say(`teamday ${config.version} listening on ${scheme}://${formatHost(config.host)}:${port}  (database ${describeDatabase(config.dbPath)}, ${describeKey(rt.keySource, config.keyFile)})`)
  say(`Console: ${base}/login   API docs: ${base}/swagger`)
  const metricsUrl = metricsServer ? `http://${formatHost(config.metricsHost)}:${metricsServer.server!.port}/metrics` : `${base}/metrics (token with metrics:read)`
  rt.log.info('server_started', {
    ...startupSummary(rt, config, { listen: `${scheme}://${formatHost(config.host)}:${port}`, swagger: `${base}/swagger`, metrics: metricsUrl }),
    ...(tls ? { tls: { cert: resolve(tls.certFile), key: resolve(tls.keyFile), subject: tls.subject, notAfter: tls.validTo.toISOString() } } : {}),
  })
  // An expired certificate, or one that ends within 14 days, said now and daily; the files' check begins.
  reloader?.start()
  if (reloader) {
    reloadNow = () => void reloader.reload('SIGHUP')
    if (hupPending) reloadNow()
  }
  if (first) say(firstStartText(first, base, dbOption(config.dbPath) + dbNote(config.dbPath)))
  // A hint, after the server is listening; whom it names came with the counts (one statement:
  // no read of the database after the listening line, which an outage at that moment failed).
  else if (counts.withPassword === 0 && !stopAsked) {
    const db = dbOption(config.dbPath)
    say((lostFirstStart ? firstStartElsewhereHint(counts.firstAdmin, db) : setupLink ? liveSetupLinkHint(setupLink, counts.firstAdmin, db) : noPasswordHint(counts.firstAdmin, db)) + dbNote(config.dbPath))
  }
  // A write into a pipe fails after the call returned: what is on its way is awaited, not
  // blocking (a full pipe may take it much later), and a failure said as well.
  say.settled()
  cancelNormalJit = normalJitAfterStart()
  await stopped
  say('teamday stopped')
}

/**
 * serve's writer of the start-up text on stdout: a failure to write it (OutputError) is said
 * once in the log (`stdout_unwritable`, warn), which goes to stderr, and what follows is not
 * written; the server goes on serving, and a clean stop still ends with exit 0. The text itself is never logged (the set-up link is a
 * credential); the note says how to get what it held.
 */
export function startupText(io: Io & { flush?(): Promise<void>; outputOptional?(): void }, log: { warn(msg: string, fields: Record<string, unknown>): void }): ((text: string) => void) & { settled(): void } {
  let lost = false
  // Whatever io.out throws is a failed write (an OutputError: not told by instanceof, the
  // compiled binary's admin commands have their own copy of that class).
  const failed = (e: unknown) => {
    if (lost) return
    lost = true
    // Said here: the stop that follows, however late, ends with exit 0, not 1 and an `error:` line.
    io.outputOptional?.()
    const code = (e as { code?: unknown } | null)?.code
    log.warn('stdout_unwritable', {
      code: typeof code === 'string' ? code : 'output_failed',
      note: 'standard output took no more of the start-up text (its reader is gone, or the disk is full); the server goes on serving, and writes nothing more there. A set-up link it held is not shown again: teamday users set-password --email E sets a password on this host',
    })
  }
  const say = (text: string) => {
    if (lost) return
    try {
      io.out(text)
    } catch (e) {
      failed(e)
    }
  }
  return Object.assign(say, {
    settled: () => {
      if (!lost) io.flush?.().catch(failed)
    },
  })
}

/** A later start where nobody can sign in to the console: how to give someone a password. */
export function noPasswordHint(admin: { email: string; org: string } | null, db = ''): string {
  const start = 'Nobody has a console password yet: set one with'
  return admin
    ? `${start}  teamday users set-password --email ${admin.email}${db}  (on this host; admin of ${admin.org}, the others: teamday users list --org ${admin.org}${db}).`
    : `${start}  teamday users set-password --email E${db}  (on this host) for a member (teamday users list --org SLUG${db}), or make one admin first: teamday users set-role --email E --org SLUG --role admin${db}.`
}

/**
 * A later start while the first start's set-up link still works: where that link is. Said as
 * "Nobody has a console password yet: set one with …", a second replica of the Compose file
 * (started after the first had made the admin) sent its reader to a terminal inside a container,
 * the link being one `docker compose logs` away; the README said it pointed at the link.
 */
export function liveSetupLinkHint(link: { email: string; expiresAt: Date }, admin: { email: string; org: string } | null, db = ''): string {
  const of = admin && admin.email === link.email ? `, admin of ${admin.org}` : ''
  return `The first start on this database printed a one-time set-up link for ${link.email}${of}, valid until ${link.expiresAt.toISOString()}: it is in that start's output. Missed it? teamday users set-password --email ${link.email}${db}  (on this host).`
}

/** A start that lost the first start to another instance on its database: where the set-up link is. */
export function firstStartElsewhereHint(admin: { email: string; org: string } | null, db = ''): string {
  const who = admin ? ` (${admin.email}, of ${admin.org})` : ''
  return `Another teamday on this database made the first admin as this one started${who}: the one-time set-up link is in its output. Missed it? teamday users set-password --email ${admin?.email ?? 'E'}${db}  (on this host).`
}

/** A host as a URL names it: an IPv6 literal in brackets, once (`::1` and `[::1]` alike give `[::1]`). */
const formatHost = (host: string) => {
  const bare = bareHost(host)
  return bare.includes(':') ? `[${bare}]` : bare
}

/** `host/db` of a database URL (never its user or password), or the file's absolute path. */
export function describeDatabase(location: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return location === ':memory:' ? location : resolve(location)
  try {
    const u = new URL(location)
    return `${u.protocol}//${u.host}${u.pathname}`
  } catch {
    return '(a database URL that does not parse)'
  }
}

/** A URL without user, password, query or fragment (a provider base URL may carry a key). */
function bareUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}${trimEndChar(u.pathname, '/')}`
  } catch {
    return '(unparseable URL)'
  }
}

/**
 * The start-up line's fields: what runs, on which database (never a password), what the start
 * did to it, which model provider is configured (never a key) and where to reach it.
 */
export function startupSummary(rt: Pick<Runtime, 'migrationsApplied' | 'migrationNames' | 'keySource'> & { engine: { instanceId: string } }, config: Config, where: { listen: string; swagger: string; metrics: string }) {
  const providers: string[] = []
  if (config.openaiBaseUrl) providers.push(`openai-compatible ${bareUrl(config.openaiBaseUrl)}`)
  if (config.anthropicApiKey) providers.push(`anthropic${config.anthropicBaseUrl ? ` ${bareUrl(config.anthropicBaseUrl)}` : ''}`)
  return {
    version: config.version,
    commit: COMMIT,
    // The id `teamday_instance_info` and the executions' leases name this process by.
    instanceId: rt.engine.instanceId,
    database: describeDatabase(config.dbPath),
    // PostgreSQL: its pool, which by default follows this machine's cores (defaultDbPool).
    ...(isPostgresUrl(config.dbPath) ? { dbPool: config.dbPool } : {}),
    migrationsApplied: rt.migrationsApplied,
    ...(rt.migrationNames.length > 0 ? { migrations: rt.migrationNames } : {}),
    encryptionKey: rt.keySource,
    modelProvider: providers.length > 0 ? providers.join(', ') : 'none (executions answer 501 until OPENAI_BASE_URL or ANTHROPIC_API_KEY is set)',
    ...(config.defaultModel ? { defaultModel: config.defaultModel } : {}),
    ...(config.provider ? { forcedProvider: config.provider } : {}),
    listen: where.listen,
    swagger: where.swagger,
    metrics: where.metrics,
    logLevel: config.logLevel,
    accessLog: config.accessLog,
  }
}

/** The separate metrics listener (no authentication): fails naming its port (serve then closes the main one). */
/**
 * How long a request may be silent while it is handled (src/http/listen.ts, handlingTime): a
 * database that does not answer is a 503 after the statement timeout and a second, and a request
 * may meet that twice (its token's look-up shared with another request's, then its own
 * statement); then some. At least the idle timeout, at most what Bun takes (255 s).
 */
export function handlingTimeoutOf(config: { dbStatementTimeoutMs: number }): number {
  return Math.min(MAX_TIMEOUT_S, Math.max(IDLE_TIMEOUT_S, 2 * Math.ceil(config.dbStatementTimeoutMs / 1000 + 1) + 5))
}

function listenMetrics(rt: Runtime, config: Config) {
  const app = metricsOnlyApp(rt)
  try {
    app.listen({ hostname: config.metricsHost, port: config.metricsPort!, development: false, reusePort: false })
    return app
  } catch (e) {
    if ((e as { code?: string }).code !== 'EADDRINUSE') throw listenRefused(e, config.metricsHost, config.metricsPort!, 'TEAMDAY_METRICS_HOST / --metrics-host', 'TEAMDAY_METRICS_PORT / --metrics-port')
    throw new Error(`metrics port ${config.metricsPort} is already in use on ${config.metricsHost}: choose another --metrics-port (TEAMDAY_METRICS_PORT)`)
  }
}

/**
 * A listen the system refused for another reason than a port in use, naming the address and the
 * settings it came from: a bad HOST (`256.0.0.1`, `bad_host`) was a bare "EINVAL: invalid
 * argument, listen", which named neither.
 */
function listenRefused(e: unknown, host: string, port: number, hostSetting: string, portSetting: string): unknown {
  const code = (e as { code?: string }).code
  // Bun's refusal of a host it cannot put in a URL (`::1%nope`): "baseURI must have a hostname".
  const unusable = code === 'ERR_INVALID_ARG_TYPE' && /hostname/i.test((e as Error)?.message ?? '')
  const why =
    unusable || code === 'EINVAL' || code === 'ENOTFOUND' || code === 'EAI_NONAME'
      ? `"${host}" is not an address to listen on: give an IP address such as 0.0.0.0 (every interface), 127.0.0.1 (this machine only) or ::, or a host name that resolves to one (${hostSetting})`
      : code === 'EADDRNOTAVAIL'
        ? `${host} is not an address of this machine: give one it has, or 0.0.0.0 for every interface (${hostSetting})`
        : code === 'EACCES'
          ? `port ${port} needs privileges this process does not have (ports below 1024 usually do): choose a port from 1024 up (${portSetting})`
          : null
  if (why === null) return e
  return new Error(`cannot listen on ${formatHost(host)}:${port}: ${why}`)
}

/**
 * Listens, or fails naming the port. Elysia asks Bun for SO_REUSEPORT by default, with which a
 * second server on a port in use starts anyway and the kernel splits the connections between
 * the two (each with its own database): here sharing a port is an explicit choice.
 */
function listen(app: ReturnType<typeof createApp>, config: { host: string; port: number; maxBodyBytes: number; dbStatementTimeoutMs: number }, reusePort: boolean, tls: TlsPair | null): void {
  try {
    // With TLS the listener asks for SO_REUSEPORT (below), with which a second teamday with TLS
    // would start on this port beside it: unless the sharing is asked for (--reuse-port, which
    // checks the database), the port must be free now. (A start at the very same moment as
    // another could still slip through; --reuse-port's check is the one that holds then.)
    if (tls && !reusePort && config.port !== 0) Bun.serve({ hostname: config.host, port: config.port, reusePort: false, development: false, fetch: () => new Response(null, { status: 503 }) }).stop(true)
    // maxRequestBodySize is only the socket's hard guard: the app answers 413 with the JSON
    // envelope for anything over maxBodyBytes (1 MiB) before reading it.
    app.listen({
      hostname: config.host,
      port: config.port,
      maxRequestBodySize: config.maxBodyBytes * 16,
      development: false,
      // With TLS always: a reload's listener for a renewed certificate joins this one on the port
      // before this one stops (src/http/tls-reload.ts). Another process may join only by asking
      // for SO_REUSEPORT too, as the same user (Linux): a teamday so started checks the database.
      reusePort: reusePort || tls !== null,
      handlingTimeout: handlingTimeoutOf(config),
      // Only HTTPS on this port: a plain-HTTP request to it is not answered (the handshake fails), never served in clear text.
      ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
    } as ListenOptions as Parameters<typeof app.listen>[0])
  } catch (e) {
    // What OpenSSL found only as Bun loaded the files (readTlsPair checked the usual faults first).
    const refused = tls ? (require('../../http/tls-files') as typeof import('../../http/tls-files')).tlsListenError(e, tls) : null
    if (refused) throw refused
    if ((e as { code?: string }).code !== 'EADDRINUSE') throw listenRefused(e, config.host, config.port, 'HOST / --host', 'PORT / --port')
    throw new Error(
      `port ${config.port} is already in use on ${config.host} (another teamday, or another program): stop it, or choose another --port (PORT). ` +
        '--reuse-port shares a port between teamday processes on the same database only.',
    )
  }
}

/**
 * Without autovacuum nothing removes the dead row versions every UPDATE and DELETE leaves behind,
 * and some tables are rewritten all the time: each rate-limited request updates its counters,
 * each Idempotency-Key is written twice and purged a day later, each running execution's lease
 * is renewed every few seconds, and the housekeeping deletes in bulk. Nor are the planner's
 * statistics refreshed, on which the lists' plans depend.
 */
export const AUTOVACUUM_OFF =
  "PostgreSQL's autovacuum is off on this database: nothing removes the dead rows that updates and deletes leave behind, so the tables written all the time bloat and slow down (rate_limit_counters: an update per request; idempotency_keys: written twice per key, purged after 24 h; executions: each running one's lease renewed every few seconds; and what the hourly housekeeping deletes), and nothing keeps the planner's statistics current, so as an organization grows its lists may come to read and sort every row. Turn autovacuum on, or run VACUUM (ANALYZE) regularly, e.g. hourly from cron (teamday migrate-data runs ANALYZE once)."

/**
 * What the start warns about in how the database is set up: PostgreSQL's autovacuum off (a
 * setting of the server or of the database), and the database's collation when it is not C's
 * (ICU, or a libc locale such as en_US.UTF-8), else null. One statement.
 */
async function databaseSetUp(conn: PgConnection): Promise<{ autovacuumOff: boolean; collation: string | null }> {
  // The database's row as JSON (DatabaseLocale): a column a version lacks must not fail the start.
  const [row] = await conn.client`SELECT current_setting('autovacuum') AS autovacuum, to_jsonb(d) AS db FROM pg_database d WHERE d.datname = current_database()`
  return { autovacuumOff: row?.autovacuum === 'off', collation: collationNotC((row?.db ?? {}) as DatabaseLocale) }
}

/** TEAMDAY_ADMIN_PASSWORD_FILE's content without its final newline (a Docker secret file). */
function readAdminPassword(file: string | undefined): string | undefined {
  if (!file) return undefined
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '')
  } catch (e) {
    throw new ConfigError(`TEAMDAY_ADMIN_PASSWORD_FILE: cannot read ${file} (${(e as { code?: string }).code ?? errorMessage(e)})`)
  }
}

/**
 * The first start's admin, its refusals naming the setting they came from: "a password must be
 * 12-256 characters" or "is not a valid e-mail address" alone did not say which variable to fix.
 */
async function namingSettings<T>(make: () => Promise<T>): Promise<T> {
  try {
    return await make()
  } catch (e) {
    // The field the refusal names (its details), not a guess from its text: an address holding
    // the word "password" is still the e-mail's fault.
    const field = e instanceof AppError && e.code === 'validation_failed' ? (e.details as { field?: string }[] | undefined)?.[0]?.field : undefined
    const setting = field === 'password' ? 'TEAMDAY_ADMIN_PASSWORD_FILE' : field === 'email' ? 'TEAMDAY_ADMIN_EMAIL' : undefined
    if (setting === undefined) throw e
    throw new ConfigError(`${setting}: ${(e as AppError).message.replace(/^Validation failed: /, '')}`)
  }
}

/**
 * What the first start prints: never a credential that lasts. The set-up link works once, for
 * an hour; the server keeps only its hash.
 */
/**
 * Where tokens are made, in the words of TeamDay's docs (Settings → Profile → Personal Access
 * Tokens), its path with the base path of `base` (`/teamday/settings/tokens` under a sub-path,
 * src/http/base-path.ts), and without a browser.
 */
const createToken = (base: string) => [` Then create a token on Settings → Profile → Personal Access Tokens (${basePathOf(base)}/settings/tokens),`, ' or headless: teamday tokens create --email E --name NAME']

export function firstStartText(first: Bootstrap, base: string, db = ''): string {
  const rule = '================================================================================'
  const lines =
    first.kind === 'password_file'
      ? [` First start: created organization "${first.org}" and admin ${first.email} with the password from TEAMDAY_ADMIN_PASSWORD_FILE.`, ` Sign in at ${base}/login`, ...createToken(base)]
      : [
          ` First start: created organization "${first.org}" and admin user ${first.email}.`,
          ' Choose the admin password here (one use, expires in 1 hour):',
          '',
          `   ${base}${first.path}`,
          '',
          ` Expires: ${first.expiresAt.toISOString()}. Missed it? teamday users set-password --email ${first.email}${db}`,
          ...createToken(base),
        ]
  return ['', rule, ...lines, rule, ''].join('\n')
}

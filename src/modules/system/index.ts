import { Elysia, t } from 'elysia'
import { AppError, errorBody, errorMessage } from '../../errors'
import { loggedPath } from '../../http/observe'
import { newId } from '../../ids'
import { databaseUnavailable } from '../../db/unavailable'
import type { AuthPlugin } from '../../auth/plugin'
import { textResponse } from '../../http/compression'
import { PrometheusExporter } from '../../metrics/prometheus'
import type { Runtime } from '../../runtime'
import { PROOF_TOKEN } from '../../db/identity'
import { readLiveProbe } from '../../db/settings'
import { organizations } from '../../db/schema'
import type { Db } from '../../db/connection'
import { authErrors, errorResponse, named, sharedModels } from '../shared-models'
import { RESPONSE_DESCRIPTIONS } from '../../http/openapi-publish'
import { REPEAT_LOG_INTERVAL_MS } from '../../http/errors'
import type { Clock } from '../../clock'
import type { Logger } from '../../logger'

const notReady = errorResponse(
  503,
  'service_unavailable',
  'Not ready: the database did not answer (it is answered again once the database is back), or this instance is stopping (a graceful stop has begun: it finishes what it holds and takes nothing new). Take it out of rotation either way.',
  'Not ready: this instance is stopping. Take it out of rotation.',
)

const readyModels = named({
  Ready: t.Object({ status: t.Literal('ready', { description: 'Always ready (otherwise the answer is 503)' }) }, { description: 'Ready: the database answers; this instance can serve requests.', examples: [{ status: 'ready' }] }),
  NotReady: notReady,
})

const METRICS_EXAMPLE = `# HELP teamday_http_requests_total HTTP requests answered, by method, route template and status.
# TYPE teamday_http_requests_total counter
teamday_http_requests_total{method="GET",route="/api/v1/agents",status="200"} 1520

# HELP teamday_executions_queued Executions waiting for a slot (pending).
# TYPE teamday_executions_queued gauge
teamday_executions_queued 0
`

/** The named OpenAPI models of the readiness route (also registered once by createApp: src/app.ts). */
export const readinessApiModels = { ...readyModels, UriTooLong: sharedModels.UriTooLong }

/** Why a readiness probe answered 503: the check that failed, what the log line says of it, and how loud. */
interface NotReady {
  check: 'database' | 'stopping' | 'schema'
  /** Probes with the same check and cause are one state: a new one is logged at once. */
  cause: string
  error: string
  level: 'error' | 'info'
}

/**
 * What the readiness probe says in the log when it answers 503. A load balancer probing every
 * second wrote one `not_ready` error line a probe for as long as an outage lasted (3,600 an hour),
 * burying the rest of the log. Now, as `database_unavailable` (src/http/errors.ts, RepeatedLines):
 * `not_ready` when the probe starts failing; again when the state changes (the database busy,
 * full, read-only, not answering: databaseUnavailable's fixed text; the instance stopping; its
 * database migrated past this build or put back to an older schema), or a minute
 * (REPEAT_LOG_INTERVAL_MS) after the last line, with `failingSince` and `repeated` (the failed
 * probes not logged since it); and `ready_again` (info) at the first probe that finds it ready,
 * with how long it was not (`notReadyForMs`) and how many probes failed (`failedProbes`).
 * Intervals by the monotonic clock. A graceful stop's 503s are `info` (the stop was asked for);
 * the others `error`. The stopping and superseded 503s went unlogged: the probe's answer changed
 * with nothing in the log to say so.
 */
export class ReadinessLog {
  private failing: { since: number; sinceMono: number; loggedAt: number; unlogged: number; probes: number; state: string; check: NotReady['check'] } | null = null

  constructor(
    private readonly log: Pick<Logger, 'error' | 'info'>,
    private readonly clock: Clock,
  ) {}

  /** The database check failed with `e`. */
  failed(e: unknown): void {
    this.notReady({ check: 'database', cause: databaseUnavailable(e) ?? 'not answering', error: errorMessage(e), level: 'error' })
  }

  /** A graceful stop has begun (Drain.closing). */
  stopping(): void {
    this.notReady({ check: 'stopping', cause: 'stopping', error: 'this instance is stopping (a graceful stop has begun): it finishes what it holds and takes nothing new', level: 'info' })
  }

  /** The database's schema is not this build's (Drain.superseded, its message). */
  superseded(message: string): void {
    this.notReady({ check: 'schema', cause: message, error: message, level: 'error' })
  }

  private notReady(n: NotReady): void {
    const mono = this.clock.monotonic()
    const state = `${n.check}:${n.cause}`
    const f = this.failing
    if (f === null) {
      this.failing = { since: this.clock.now(), sinceMono: mono, loggedAt: mono, unlogged: 0, probes: 1, state, check: n.check }
      this.log[n.level]('not_ready', { check: n.check, error: n.error })
      return
    }
    f.probes++
    if (state === f.state && mono - f.loggedAt < REPEAT_LOG_INTERVAL_MS) {
      f.unlogged++
      return
    }
    this.log[n.level]('not_ready', { check: n.check, error: n.error, failingSince: new Date(f.since).toISOString(), repeated: f.unlogged })
    f.loggedAt = mono
    f.unlogged = 0
    f.state = state
    f.check = n.check
  }

  answered(): void {
    const f = this.failing
    if (f === null) return
    this.failing = null
    this.log.info('ready_again', { check: f.check, notReadyForMs: Math.round(this.clock.monotonic() - f.sinceMono), failedProbes: f.probes })
  }
}

/**
 * Readiness: the runtime's one database check (`rt.checkDatabase`), 200 or a 503 envelope. The
 * driver's message goes to the log (ReadinessLog), never to the caller, who gets a fixed text of
 * what is known.
 */
export function readinessRoute(rt: Pick<Runtime, 'checkDatabase' | 'log' | 'clock'> & { drain?: Runtime['drain']; checkSchema?: Runtime['checkSchema'] }) {
  const said = new ReadinessLog(rt.log, rt.clock)
  const notReadyFor = (superseded: string) => {
    said.superseded(superseded)
    return new AppError('service_unavailable', `Not ready: ${superseded}`)
  }
  return new Elysia({ name: 'teamday-ready' }).model(readinessApiModels).get(
    '/api/health/ready',
    async () => {
      if (rt.drain?.closing) {
        said.stopping()
        throw new AppError('service_unavailable', 'Not ready: this instance is stopping. Take it out of rotation.')
      }
      // Turned away by a database migrated past this build (or put back under it): the request
      // guards let this route answer it (src/http/guards.ts), so that it is logged here.
      if (rt.drain?.superseded !== undefined) throw notReadyFor(rt.drain.superseded)
      try {
        await rt.checkDatabase()
      } catch (e) {
        said.failed(e)
        // What is known of why (busy, full, read-only, its file gone: fixed texts, never the
        // driver's message), else that it does not answer.
        const why = databaseUnavailable(e)
        throw new AppError('service_unavailable', why ? `Not ready: ${why}` : 'Not ready: the database is not answering. Retry in a moment.')
      }
      // A newer teamday's migrations are noticed at the probe, not only at serve's next look.
      if (rt.drain && (await rt.checkSchema?.())) throw notReadyFor(rt.drain.superseded ?? 'the database is not at this build\'s schema')
      said.answered()
      return { status: 'ready' as const }
    },
    {
      response: { 200: 'Ready', 414: 'UriTooLong', 503: 'NotReady' },
      detail: {
        summary: 'Readiness check',
        [RESPONSE_DESCRIPTIONS]: { 200: 'Ready: the database answers; this instance can serve requests.' },
        description:
          'For load balancers and Kubernetes readiness probes: 200 when this instance can serve requests (its database answers a trivial query), 503 otherwise. No authentication. `/api/health` stays the cheap liveness check.',
        tags: ['System'],
        security: [],
      },
    },
  )
}

const proofToken = (description: string) => t.String({ pattern: PROOF_TOKEN, description, examples: ['q3Jx0c6mW1gS9kV2bT7nY4hL8pR5dZ0aE3uI6oF1jKs'] })

const sameDatabaseModels = named({
  SameDatabaseProof: t.Object(
    {
      salt: proofToken('Chosen afresh by this server for every answer'),
      proof: proofToken("HMAC-SHA256 of the challenge and the salt, keyed with the database's identity and the nonce read under the probe's name (random bytes when there is none) (base64url)"),
    },
    { description: 'Proof of which database this server is on, checkable only by a process on the same database.', examples: [{ salt: 'Vb0mT3qL8xR2cN6wK1yH5sJ9dF4gA7zE0pU3iO6lQ2e', proof: 'x9Kd2LmQ7vT0bR4nW8cJ1yF5hS3gA6zE9pU2iO5lN0e' }] },
  ),
  SameDatabaseInvalid: errorResponse(422, 'validation_failed', 'Validation failed: the challenge or the probe is not 43 base64url characters, or is missing.', "Validation failed: challenge expected string to match '^[A-Za-z0-9_-]{43}$'", [
    { field: 'challenge', message: "challenge expected string to match '^[A-Za-z0-9_-]{43}$'" },
  ]),
  SameDatabaseUnknown: errorResponse(503, 'service_unavailable', 'This process has no database identity to prove (started by a command that may not write).', 'This server cannot prove which database it is on.'),
})

/** The named OpenAPI models of the same-database route (also registered once by createApp: src/app.ts). */
export const sameDatabaseApiModels = { ...sameDatabaseModels, UriTooLong: sharedModels.UriTooLong }

/**
 * GET /api/health/database-proof: what `teamday serve --reuse-port` asks the process already on
 * its port (src/cli/admin/port-holder.ts), to share the port only with one on the same database.
 * The answer is a keyed hash (src/db/identity.ts) over the nonce the caller wrote into its own
 * database, read here: it tells nobody else anything.
 */
export function sameDatabaseRoute(rt: Pick<Runtime, 'databaseIdentity' | 'db'>) {
  return new Elysia({ name: 'teamday-same-database' }).model(sameDatabaseApiModels).get(
    '/api/health/database-proof',
    async ({ query }) => {
      if (!rt.databaseIdentity) throw new AppError('service_unavailable', 'This server cannot prove which database it is on.')
      // The probe's name was checked (43 base64url characters) before this one primary-key read;
      // found or not, the answer is made alike (src/db/identity.ts).
      const nonce = await readLiveProbe(rt.db, query.probe)
      return rt.databaseIdentity.prove(query.challenge, nonce)
    },
    {
      query: t.Object({
        challenge: proofToken('32 random bytes, base64url, chosen by the caller'),
        probe: proofToken("The name under which the caller has just written a random nonce into its own database (a `settings` row `reuse_port_probe:<probe>`, removed after the answer). Only a server that reads that row in its database can make a proof the caller accepts."),
      }),
      response: { 200: 'SameDatabaseProof', 414: 'UriTooLong', 422: 'SameDatabaseInvalid', 503: 'SameDatabaseUnknown' },
      detail: {
        summary: 'Same-database proof',
        description:
          "For `teamday serve --reuse-port`: a server that starts on a port another already listens on writes a random nonce into its own database under the name `probe`, asks this, and starts only when the answer shows the server read that very row, i.e. both are on the same live database (the kernel spreads connections between them); a copy of the database (a file copied, a dump restored) did not see the row. The proof is keyed with the database's random identity and the nonce; a name that does not exist gets an answer of the same shape keyed with random bytes, so to anyone who does not know the nonce the answer reveals nothing about the database, and no two answers are alike. No authentication; not rate-limited, like the other health checks (one primary-key read, after both parameters are checked).",
        tags: ['System'],
        security: [],
      },
    },
  )
}

/** Whether the server hosts more than one organization: read afresh at each scrape (two rows at most). */
async function severalOrganizations(db: Db): Promise<boolean> {
  return (await db.select({ id: organizations.id }).from(organizations).limit(2).all()).length > 1
}

export const SHARED_SERVER_METRICS =
  'Forbidden: this server hosts several organizations, and its metrics are the whole server\'s (every organization\'s requests, runs and model tokens), so no organization admin may read them. The server operator scrapes the metrics listener (teamday serve --metrics-port).'

/**
 * GET /metrics, Prometheus text (src/metrics): with a token holding `metrics:read` (organization
 * admins) while the server hosts one organization only (the figures are the whole server's: with
 * two, an admin of one read the other's activity), or without authentication on the separate
 * metrics listener (`metricsOnly`), the operator's.
 */
export function metricsRoute(rt: Pick<Runtime, 'metrics' | 'config' | 'db'>, auth: AuthPlugin) {
  const exporter = new PrometheusExporter(rt.metrics)
  return new Elysia({ name: 'teamday-metrics', tags: ['System'] })
    .use(auth)
    .model(sharedModels)
    .get(
      '/metrics',
      async ({ request }) => {
        if (await severalOrganizations(rt.db)) throw new AppError('forbidden', SHARED_SERVER_METRICS)
        return textResponse(request, await exporter.render(), { 'content-type': PrometheusExporter.CONTENT_TYPE, 'cache-control': 'no-store' }, rt.config.compression)
      },
      {
        auth: 'metrics:read',
        response: { 200: t.String({ description: 'Prometheus text exposition format 0.0.4', examples: [METRICS_EXAMPLE] }), ...authErrors },
        detail: {
          summary: 'Prometheus metrics',
          [RESPONSE_DESCRIPTIONS]: { 200: 'This instance\'s metrics, in the Prometheus text exposition format 0.0.4.' },
          description:
            'Prometheus text format: requests by route template and status, latency histogram, authentication failures by code, rate-limit rejections, executions by status, queue depth and running count, model tokens used, database statement time, and the process metrics (CPU, memory, event loop). Needs a token with the `metrics:read` scope, which only organization admins hold, and a server that hosts one organization only: the figures are the whole server\'s, so on a server with several organizations every token gets 403 `forbidden` and the operator scrapes the separate metrics listener (`--metrics-port`), which needs none.',
        },
      },
    )
}

/**
 * The separate metrics listener's app: GET /metrics only, no authentication (a private network).
 * Anything else is answered with the API's JSON error envelope (404 `route_not_found`, 405
 * `method_not_allowed` with Allow), as the API's own port answers it: it was Elysia's bare
 * text `NOT_FOUND`, for a POST /metrics too.
 */
export function metricsOnlyApp(rt: Pick<Runtime, 'metrics' | 'config' | 'log'>) {
  const exporter = new PrometheusExporter(rt.metrics)
  return new Elysia()
    .onError(({ code, error, request }) => {
      const requestId = newId('req')
      const path = loggedPath(request.url)
      let status = 500
      let errCode = 'internal_error'
      let message = 'Internal server error: the metrics could not be rendered.'
      let headers: Record<string, string> = {}
      // 405 for another method on /metrics only: a GET the router missed (`/x/../metrics` under
      // some Hosts, which the logged path names /metrics) was told "GET is not allowed".
      if (code === 'NOT_FOUND' && path === '/metrics' && request.method !== 'GET' && request.method !== 'HEAD') {
        status = 405
        errCode = 'method_not_allowed'
        message = `Method ${request.method} is not allowed on /metrics; use GET, HEAD.`
        headers = { allow: 'GET, HEAD' }
      } else if (code === 'NOT_FOUND') {
        status = 404
        errCode = 'route_not_found'
        message = `No route ${request.method} ${path}: this listener (--metrics-port) serves GET /metrics only.`
      } else {
        rt.log.error('unhandled_error', { requestId, listener: 'metrics', error: errorMessage(error) })
      }
      return new Response(JSON.stringify(errorBody(status, errCode, message, requestId)), { status, headers: { ...headers, 'content-type': 'application/json', 'x-request-id': requestId } })
    })
    .get('/metrics', async ({ request }) => textResponse(request, await exporter.render(), { 'content-type': PrometheusExporter.CONTENT_TYPE }, rt.config.compression))
}

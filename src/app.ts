import { receiving } from './http/listen'
import { countBody, IncomingBodies } from './http/incoming-bodies'
import { Elysia, t, type AnyElysia } from 'elysia'
import './http/elysia-models' // before any model is registered
import './http/formats' // numeric strings are decimal
import type { TokenLookup } from './auth/authenticate'
import { authPlugin, requestAuthorizer } from './auth/plugin'
import { PgCountedLookup } from './auth/pg-lookup'
import { PgRateLimitStore } from './ratelimit/pg-store'
import { readBody } from './http/body'
import { clientAddressResolver, httpsResolver, type PeerAddress } from './http/client-address'
import { createConsole } from './console'
import { requestContexts, type RouteKit } from './http/context'
import { DOCS_PATH, docsPlugin } from './http/docs'
import { errorsPlugin } from './http/errors'
import { trackRequestWrites } from './db/request-writes'
import { requestGuards } from './http/guards'
import { compressingAdapter } from './http/compression'
import { basePath } from './http/base-path'
import { listenOnce } from './http/listen'
import { cors } from './http/cors'
import { idempotency } from './http/idempotency'
import { observe } from './http/observe'
import { rateLimits } from './http/ratelimit'
import { queryEntries, refusedQueryParameter, RouteTable } from './http/routes'
import { routeByDecodedPath } from './http/url-path'
import { agentsModule, agentsApiModels } from './modules/agents'
import { publicAgentsModule, publicAgentsApiModels } from './modules/agents/public'
import { auditModule, auditApiModels } from './modules/audit'
import { cliAuthModule } from './modules/cli-auth'
import { credentialsModule, credentialsApiModels } from './modules/credentials'
import { executionsModule, executionsApiModels } from './modules/executions'
import { agentApiAccess } from './modules/executions/api-access'
import { chatsModule, chatsApiModels } from './modules/chats'
import { membersModule, membersApiModels } from './modules/members'
import { organizationsModule, organizationsApiModels } from './modules/organizations'
import { spacesModule, spacesApiModels } from './modules/spaces'
import { tasksModule, tasksApiModels } from './modules/tasks'
import { metricsRoute, readinessApiModels, readinessRoute, sameDatabaseApiModels, sameDatabaseRoute } from './modules/system'
import { tokensModule, tokensApiModels } from './modules/tokens'
import { sharedModels } from './modules/shared-models'
import { tokenAliasesModule } from './modules/token-aliases'
import type { Runtime } from './runtime'
import { RESPONSE_DESCRIPTIONS } from './http/openapi-publish'

export { MAX_URL_BYTES } from './http/guards'
export { validationDetails } from './http/errors'

/**
 * Elysia sets `additionalProperties: false` on a route's top-level body and response object
 * schemas in place, lazily, when the route first serves a request. The schemas are shared
 * module objects, so the OpenAPI document would depend on which routes had been called
 * before it was generated (a running server's /swagger/json, the drift test after other test
 * files). Setting the same value up front keeps the document and the behaviour identical.
 */
function settleSchemas(routes: { hooks?: any }[]) {
  const settle = (s: any) => {
    if (s && typeof s === 'object' && s.type === 'object' && !('additionalProperties' in s)) s.additionalProperties = false
  }
  for (const { hooks } of routes) {
    settle(hooks?.body)
    const response = hooks?.response
    if (response && typeof response === 'object' && response.type === undefined) Object.values(response).forEach(settle)
    else settle(response)
  }
}

/**
 * A route's error statuses (400 and up) in its `response` are documentation: every error
 * response is thrown and answered by the errors plugin (src/http/errors.ts), which Elysia never
 * checks against the route's schemas, and no handler returns a 4xx or 5xx value. Yet Elysia
 * compiles a validator (a TypeBox checker and an exact-mirror cleaner) for every status it is
 * given, on the route's first request: six or seven per route, most of that request's CPU.
 * They leave the object Elysia compiles from (it holds that object since the route was added);
 * the route's hooks, which the OpenAPI generator reads, get a copy with every status: the
 * document is byte-identical (the committed openapi/openapi.json test).
 */
function documentOnlyErrors(routes: { hooks?: any }[]): void {
  for (const route of routes) {
    const response = route.hooks?.response
    // A record of statuses (a single schema has a `type`, a `Kind` or is a model name).
    if (!response || typeof response !== 'object' || 'type' in response || '$ref' in response || '~standard' in response) continue
    const documented = { ...response }
    let moved = false
    for (const status of Object.keys(response)) {
      if (Number(status) < 400) continue
      delete response[status]
      moved = true
    }
    if (moved) route.hooks.response = documented
  }
}

export interface AppOptions {
  /**
   * The socket peer's address of a request: by default the app's own server's (Bun's
   * requestIP) once it listens; in-process callers of app.handle() say where a request came from.
   */
  peerAddress?: PeerAddress
}

/**
 * The HTTP side of a runtime. Read top to bottom, it is what a request goes through: errors
 * (the envelope, whatever fails below) → guards (request id, URL and body size) → the body
 * reader, which authenticates first → docs and health → per-IP rate limit (public routes) →
 * Idempotency-Key → the /api/v1 resources, each with its auth macro. Only `teamday serve`
 * listens; tests build their own runtime and app.
 */
export function createApp(rt: Runtime, opts: AppOptions = {}) {
  // The peer address comes from the app's own server once it listens, not from the request
  // context: a hook that reads `server` from the context makes Elysia define a getter on every
  // request's context.
  // This app, once made: its server (when listening) knows a request's peer, and the docs
  // describe its routes (on the document's first request).
  let made: AnyElysia | undefined
  const peer: PeerAddress = opts.peerAddress ?? ((r) => made?.server?.requestIP(r)?.address ?? null)
  const clientAddress = clientAddressResolver(rt.config, peer)
  const incomingBodies = new IncomingBodies()
  // The web console (src/console/): its own sessions, never accepted by /api/v1.
  // Whether a request came over HTTPS (a trusted proxy's X-Forwarded-Proto counts): the console's links and cookies, the CLI sign-in's authUrl.
  const isHttps = httpsResolver(rt.config, peer)
  const webConsole = createConsole(rt, clientAddress, isHttps)
  // Per route (`METHOD path`): the permission it needs and how it takes a body; filled below.
  const routes = new RouteTable()
  // A request's context carries its Idempotency-Key's record, which its transactions mark (src/context.ts withTx).
  const contexts = requestContexts(rt, clientAddress, (request) => idempotent.keyOf(request))
  const limits = rateLimits(rt.limiter, rt.config, clientAddress)
  // Public routes per client address (authenticated ones per token and user, by the authorizer).
  const ipLimit = limits.perIp((method, route) => routes.authenticates(method, route))
  // Who is calling and may they (401/403), counted against rate limits (429) once known.
  // On PostgreSQL (with its shared counters) the token look-up and the counting are one statement.
  const store = rt.limiter.store
  const counting = store instanceof PgRateLimitStore && rt.connection.dialect === 'pg' ? new PgCountedLookup(rt.connection, store, rt.config) : null
  const lookup: TokenLookup | undefined = counting ? (_ctx, kind, hash, now) => counting.lookup(kind, hash, now) : undefined
  // An agent run's own request (its teamday_api tool's) may do no more than the credential that started the run.
  // A run without a recorded limit (none is recorded so since src/engine/starter-scopes.ts) may use no scope: never "no limit".
  const runLimit = (request: Request) => {
    const x = rt.engine.runOf(request)?.job.execution
    return x ? { executionId: x.id, scopes: x.scopeLimit ?? [] } : undefined
  }
  const authorizer = requestAuthorizer({ contextOf: contexts.authenticating, onAuthenticated: limits.onAuthenticated, onRefused: limits.onRefused, lookup, runLimit })
  // Idempotency-Key on authenticated POST/PATCH: keys are per token, so it asks the authorizer.
  const idempotent = idempotency(rt, (request, set, route) => {
    const need = routes.get(request.method, route)?.auth
    return need ? authorizer.principal(request, set, need) : null
  })
  // A large list page ends once its token is revoked, its user removed, or their role changed:
  // its rows were chosen by each resource's rule for the role the request came with (a list's
  // SQL reads each space as it is now at every batch; the role it was built for, not).
  const watchToken: RouteKit['watchToken'] = (p) => (onStop) =>
    rt.revocations.watch(p, () => onStop('token_revoked'), { allowed: (role) => role === p.role, onLost: onStop })
  const api: RouteKit = { auth: authPlugin(authorizer), ctx: contexts.caller, withholdFromReplay: idempotent.withhold, watchToken, listening: () => app.server ?? null }
  const guards = requestGuards(rt.config, rt.drain)
  let registered: readonly { method: string; path: string }[] = []

  const observer = observe({ log: rt.log, metrics: rt.metrics, clientAddress, principalOf: authorizer.authenticated })

  // TEAMDAY_PUBLIC_URL's path (https://example.com/teamday): taken off requests that carry it,
  // put on every address the server gives out (src/http/base-path.ts).
  const base = basePath(rt.config.publicUrl)
  const app = new Elysia({ normalize: true, adapter: listenOnce(compressingAdapter(rt.config.compression, base)) })
    // Before the router reads the path (nothing else runs that early): `%73elf` is `self`, for
    // every route, the access log and the console alike (src/http/url-path.ts); under a sub-path,
    // routed without it (a proxy that keeps the prefix).
    .wrap((handle, request) => {
      routeByDecodedPath(request)
      base.strip(request)
      // Each request with its own record of what its work committed: a 503 for the database
      // then says whether part of it was (src/db/request-writes.ts, src/http/errors.ts).
      return (...args: unknown[]) => trackRequestWrites(() => (handle as (...a: unknown[]) => unknown)(...args))
    })
    // First: the access log and request metrics measure everything below.
    .use(observer.plugin)
    .use(errorsPlugin(rt.log, rt.clock, () => registered, clientAddress, (code) => rt.metrics.authFailure(code), webConsole.errorPages, (request, route) => refusedQueryParameter(routes.get(request.method, route), queryEntries(request.url)), base.href(DOCS_PATH), base.href))
    .onRequest(guards.head)
    // A console form from another site: its 403 page before anything reads the body (src/console/index.ts).
    .onRequest(webConsole.crossOriginGuard)
    // Browsers on other origins (TEAMDAY_CORS_ORIGINS): a preflight is answered here, before any route.
    .use(cors(rt.config, observer.answeredEarly))
    .onRequest(guards.limits)
    .onRequest(observer.noteRequestId)
    // The one body parser (src/http/body.ts): a route that needs a token authorizes first, so
    // an unauthenticated request never has its body read, parsed or validated.
    .onParse(async ({ request, route, set }) => {
      const rule = routes.get(request.method, route)
      // Whose the body is, for the memory bodies still arriving may hold (src/http/incoming-bodies.ts).
      let sender: string
      if (rule?.auth) sender = `user ${(await authorizer.principal(request, set, rule.auth)).userId}`
      else {
        sender = `address ${clientAddress(request) ?? 'unknown'}`
        // Public routes: their per-address budget, before the body is read (a promise only on PostgreSQL).
        const counting = ipLimit.count(request, route, set)
        if (counting) await counting
      }
      // A console form: its person's console budget, before the body is read (src/console/ratelimit.ts);
      // nothing to wait for on the API's routes.
      const consoleCounting = webConsole.limit.count(request, route, set)
      if (consoleCounting) await consoleCounting
      // While the body comes in, the connection may be silent only the idle timeout, not the
      // longer one of a request being handled (src/http/listen.ts, receiving). The app's own
      // server (the one Elysia's context would give), not the context's `server`: naming that
      // here made Elysia define a getter on every request's context, GETs included
      // (test/elysia-inference.test.ts).
      const received = receiving(made?.server, request)
      const counted = countBody(incomingBodies, request, sender)
      try {
        // A body without a Content-Length (chunked) is counted only now, after authentication:
        // counted before it, an unauthenticated client made the server take in and hold up to
        // 1 MiB per connection, for as long as it kept sending, before its 401.
        await guards.undeclaredBody({ request })
        return await readBody(request, rule?.body ?? 'required', rule)
      } finally {
        counted()
        received()
      }
    })
    // Never run (readBody always returns a body): named so that OpenAPI, which skips function
    // parsers, lists the two body types readBody accepts.
    .on('parse', [{ fn: 'json' }, { fn: 'urlencoded' }] as any)
    .use(docsPlugin(rt.config, () => made!, base))
    // Every named model, once, in the order the modules register them (the document's order):
    // each module's own .model() then adds nothing, and costs nothing (src/http/elysia-models.ts).
    .model({ UriTooLong: sharedModels.UriTooLong })
    .model({
      ...readinessApiModels,
      ...sameDatabaseApiModels,
      ...tokensApiModels,
      ...agentsApiModels,
      ...executionsApiModels,
      ...chatsApiModels,
      ...spacesApiModels,
      ...organizationsApiModels,
      ...membersApiModels,
      ...tasksApiModels,
      ...auditApiModels,
      ...credentialsApiModels,
      ...publicAgentsApiModels,
    })
    // After authentication (the auth macro's transform) and validation: a query parameter a
    // list does not declare, or one given twice, is refused, not ignored (src/http/routes.ts).
    // Registered before the health routes, so that it holds for them too (the reuse-port proof
    // took a repeated challenge as its last value).
    // A query that fails validation is checked so too, first (errorsPlugin's queryRefusal).
    .onBeforeHandle({ as: 'global' }, ({ request, route }) => {
      if (request.url.indexOf('?') < 0) return
      // From the URL: the validated query has had undeclared names cleaned away, and repeats folded, already.
      const refused = refusedQueryParameter(routes.get(request.method, route), queryEntries(request.url))
      if (refused) throw refused
    })
    .get('/api/health', () => ({ status: 'ok' as const, version: rt.config.version }), {
      response: { 200: t.Object({ status: t.Literal('ok', { description: 'Always ok: the process answers' }), version: t.String({ description: 'The server version (as `teamday --version` prints it)' }) }, { examples: [{ status: 'ok', version: rt.config.version }] }), 414: 'UriTooLong' },
      detail: { summary: 'Health check', description: 'Liveness and version. No authentication; touches nothing (see /api/health/ready for the database).', tags: ['System'], security: [], [RESPONSE_DESCRIPTIONS]: { 200: 'Alive: `status` is `ok`, with this build\'s `version`.' } },
    })
    .use(readinessRoute(rt))
    .use(sameDatabaseRoute(rt))
    // Public routes per address, before validation (authenticated ones: the authorizer, above).
    .use(ipLimit.plugin)
    .use(idempotent.plugin)
    // The /api/v1 resources: each module's prefix starts with API_V1 (src/http/context.ts).
    .use(tokensModule(api))
    .use(agentsModule(api))
    .use(executionsModule(rt.engine, rt.revocations, api, rt.config.compression))
    .use(chatsModule(api))
    .use(spacesModule(api))
    .use(organizationsModule(api))
    .use(membersModule(api))
    .use(tasksModule(api))
    .use(auditModule(api))
    .use(credentialsModule(rt.config, rt.limiter, contexts))
    .use(publicAgentsModule(rt.config, contexts))
    .use(metricsRoute(rt, api.auth))
    .use(webConsole.plugin)
    // Browser sign-in for CLIs, and TeamDay CLI's token routes (aliases of /api/v1/tokens).
    .use(cliAuthModule(rt.config, rt.limiter, contexts, isHttps))
    .use(tokenAliasesModule(api))
  made = app as unknown as AnyElysia
  registered = app.routes
  settleSchemas(app.routes)
  documentOnlyErrors(app.routes)
  idempotent.onlyWhereKeyed(app.routes)
  routes.index(app.routes)
  // An agent's `teamday_api` tool calls this app in-process, through every rule above (src/engine/api-tool.ts).
  rt.engine.useApi(agentApiAccess(rt, (request) => app.handle(request)))
  return app
}

export type App = ReturnType<typeof createApp>

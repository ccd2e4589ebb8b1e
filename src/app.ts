import { OptionalKind } from '@sinclair/typebox'
import { Elysia, t } from 'elysia'
import { authPlugin, authRequirementOf, requestAuthorizer, type AuthRequirement } from './auth/plugin'
import { redactTokens } from './auth/tokens'
import type { Deps } from './deps'
import { docsPlugin } from './docs'
import { clientAddressResolver } from './http/client-address'
import { AppError, errorBody } from './errors'
import { readBody, type BodyRule } from './http/body'
import { newId } from './ids'
import { rateLimitPlugin, rateLimiterFor } from './ratelimit/limiter'
import { agentsModule } from './modules/agents'
import { publicAgentsModule } from './modules/agents/public'
import { auditModule } from './modules/audit'
import { credentialsModule } from './modules/credentials'
import { executionsModule } from './modules/executions'
import { organizationsModule } from './modules/organizations'
import { spacesModule } from './modules/spaces'
import { tasksModule } from './modules/tasks'
import { tokensModule } from './modules/tokens'

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/
/** Longest URL (path and query) answered: longer ones get 414 (see "Request limits" in the README). */
export const MAX_URL_BYTES = 8 * 1024
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH'])

/**
 * Counts a body that declares no Content-Length (chunked, or a Request built in-process) on a
 * copy, stopping at the limit, so it is rejected before anything parses it. Bun.serve's
 * maxRequestBodySize guards the socket as well; this keeps app.handle() to the same rule.
 */
async function bodyExceeds(request: Request, limit: number): Promise<boolean> {
  const reader = request.clone().body?.getReader()
  if (!reader) return false
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return false
    total += value.byteLength
    if (total > limit) {
      // Not awaited: a tee branch's cancel settles only when the other branch is cancelled too.
      reader.cancel().catch(() => {})
      return true
    }
  }
}

interface FieldError {
  field: string
  message: string
}

/**
 * Per-field messages from an Elysia/TypeBox validation error, never echoing the value sent.
 * Reading `error.all` walks the value again (recursively, inside Elysia): whatever goes wrong
 * there, the client still gets the 422 with a generic detail, never a 500.
 */
export function validationDetails(error: any): FieldError[] {
  try {
    return fieldErrors(error)
  } catch {
    return [{ field: String(error?.type ?? 'body'), message: 'is invalid' }]
  }
}

function fieldErrors(error: any): FieldError[] {
  const all: any[] = Array.isArray(error?.all) ? error.all : []
  const out: FieldError[] = []
  const seen = new Set<string>()
  for (const e of all) {
    const custom = e.schema?.error
    // Coerced values (e.g. "366" for an integer) are reported without a path; our custom
    // messages start with the field name by convention (see the models), so use that.
    const field =
      String(e.path ?? '').replace(/^\//, '').replace(/\//g, '.') ||
      (typeof custom === 'string' ? custom.split(' ')[0]! : String(error?.type ?? 'body'))
    if (seen.has(field)) continue
    seen.add(field)
    out.push({ field, message: typeof custom === 'string' ? custom : `${field} ${String(e.message ?? e.summary ?? 'is invalid').replace(/^Expected/, 'expected')}` })
  }
  if (out.length === 0) out.push({ field: String(error?.type ?? 'body'), message: 'is invalid' })
  return out
}

/** Maps an Elysia route path to a matcher, for telling 405 from 404. */
function routeMatcher(path: string): RegExp {
  const body = path
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/')
  return new RegExp(`^${body}/?$`)
}

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

/** How a route takes a body, from its schema: `t.Optional(...)` may be absent. */
function bodyRule(schema: unknown): BodyRule {
  if (!schema || typeof schema !== 'object') return 'none'
  return OptionalKind in schema ? 'optional' : 'required'
}

/**
 * createApp(deps): errors → docs → auth → /api/v1 modules. Only main.ts opens the file
 * database and listens; tests build their own app on an in-memory database.
 */
export function createApp(deps: Deps) {
  // The peer address comes from the app's own server once it listens, not from the request
  // context: a hook that reads `server` from the context makes Elysia define a getter on every
  // request's context. In-process callers inject deps.peerAddress instead.
  let listening: { server: { requestIP(r: Request): { address: string } | null } | null } | undefined
  const clientAddress = clientAddressResolver(deps.config, deps.peerAddress ?? ((r) => listening?.server?.requestIP(r)?.address ?? null))
  const authorizer = requestAuthorizer(deps, clientAddress)
  const auth = authPlugin(deps, clientAddress, authorizer)
  // Per route (`METHOD path`): the permission it needs and how it takes a body; filled below.
  const routeRules = new Map<string, { auth?: AuthRequirement; body: BodyRule }>()
  let matchers: { method: string; re: RegExp }[] | undefined

  const app = new Elysia({ normalize: true })
    .onRequest(({ request, set }) => {
      const incoming = request.headers.get('x-request-id')
      set.headers['x-request-id'] = incoming && REQUEST_ID.test(incoming) ? incoming : newId('req')
      set.headers['x-content-type-options'] = 'nosniff'
      // Bun itself answers an empty 431 past its header limit (raised to 128 KiB, see package.json).
      if (request.url.length > MAX_URL_BYTES) throw new AppError('uri_too_long', `URL too long: the limit is ${MAX_URL_BYTES} bytes (8 KiB) for the path and query.`)
      // API answers hold tokens and private data: never stored by a cache on the way.
      if (request.url.includes('/api/')) set.headers['cache-control'] = 'no-store'
      const length = request.headers.get('content-length')
      if (length !== null && Number(length) > deps.config.maxBodyBytes) {
        throw new AppError('payload_too_large', `Request body too large: the limit is ${deps.config.maxBodyBytes} bytes (1 MiB).`)
      }
    })
    .onRequest(async ({ request }) => {
      if (!BODY_METHODS.has(request.method) || request.headers.has('content-length') || request.body === null) return
      if (await bodyExceeds(request, deps.config.maxBodyBytes)) {
        throw new AppError('payload_too_large', `Request body too large: the limit is ${deps.config.maxBodyBytes} bytes (1 MiB).`)
      }
    })
    // The one body parser (see readBody): a route that needs a token authorizes first, so an
    // unauthenticated request never has its body read, parsed or validated.
    .onParse(({ request, route, set }) => {
      const rule = routeRules.get(`${request.method} ${route}`)
      if (rule?.auth) authorizer.beforeBody(request, set, rule.auth)
      return readBody(request, rule?.body ?? 'required')
    })
    // Never run (readBody always returns a body): named so that OpenAPI, which skips function
    // parsers, lists the two body types readBody accepts.
    .on('parse', [{ fn: 'json' }, { fn: 'urlencoded' }] as any)
    .onError(({ code, error: thrown, set, request, path }) => {
      const requestId = String(set.headers['x-request-id'] ?? newId('req'))
      try {
        // What the parse hook throws (authentication, readBody's rules) arrives wrapped in a ParseError.
        const error = code === 'PARSE' && (thrown as any)?.cause instanceof AppError ? (thrown as any).cause : thrown
        let status = 500
        let errCode = 'internal_error'
        let message = 'Internal server error. The request was not completed; quote the requestId when reporting this.'
        let details: unknown
        let headers: Record<string, string> | undefined
        if (error instanceof AppError) {
          status = error.status
          errCode = error.code
          message = error.message
          details = error.details
          headers = error.headers
        } else if (code === 'PARSE') {
          status = 400
          errCode = 'invalid_json'
          message = 'Invalid JSON in request body: send a valid JSON object with Content-Type: application/json.'
        } else if (code === 'VALIDATION' && (error as any).type !== 'response') {
          status = 422
          errCode = 'validation_failed'
          const fields = validationDetails(error)
          details = fields
          message = `Validation failed: ${fields.map((f) => f.message).join('; ')}`
          const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
          if ((error as any).type === 'body' && type !== 'application/json') {
            // e.g. `curl -d '{...}'` without -H, which sends application/x-www-form-urlencoded
            message += ` (the body was sent ${type ? `as ${type}` : 'without a Content-Type'}; send a JSON object with Content-Type: application/json)`
          }
        } else if (code === 'NOT_FOUND') {
          matchers ??= app.routes.map((r) => ({ method: r.method, re: routeMatcher(r.path) }))
          const allowed = [...new Set(matchers.filter((m) => m.re.test(path)).map((m) => m.method))]
          if (allowed.length > 0 && !allowed.includes(request.method)) {
            status = 405
            errCode = 'method_not_allowed'
            message = `Method ${request.method} is not allowed on ${path}; use ${allowed.join(', ')}.`
            headers = { allow: allowed.join(', ') }
          } else {
            status = 404
            errCode = 'route_not_found'
            message = `No route ${request.method} ${path}. See /swagger for the API reference.`
          }
        } else if (code === 'INVALID_COOKIE_SIGNATURE') {
          status = 400
          errCode = 'bad_request'
          message = 'Invalid cookie signature.'
        }
        if (status === 500) {
          deps.logger.error('unhandled_error', {
            requestId,
            method: request.method,
            path,
            error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
          })
        } else if (status === 401) {
          // Never the token: only what kind of failure, from where.
          deps.logger.warn('auth_failed', { requestId, code: errCode, method: request.method, path, ip: clientAddress(request) })
        }
        set.status = status
        set.headers['content-type'] = 'application/json'
        set.headers['cache-control'] = 'no-store'
        if (headers) Object.assign(set.headers, headers)
        // Client input may come back in any field of the body (a message naming an id, details
        // listing rejected values or keys): every string of it is redacted of tokens.
        return redactTokens(errorBody(status, errCode, message, requestId, details))
      } catch {
        // Never Bun's plain-text "Something went wrong": the envelope, whatever failed above.
        set.status = 500
        set.headers['content-type'] = 'application/json'
        return errorBody(500, 'internal_error', 'Internal server error. The request was not completed; quote the requestId when reporting this.', requestId)
      }
    })
    .use(docsPlugin(deps.config))
    .get('/api/health', () => ({ status: 'ok' as const, version: deps.config.version }), {
      response: { 200: t.Object({ status: t.Literal('ok'), version: t.String() }, { examples: [{ status: 'ok', version: deps.config.version }] }) },
      detail: { summary: 'Health check', description: 'Liveness and version. No authentication.', tags: ['System'] },
    })
    // Rate limits: per IP on the routes below that do not authenticate (the auth plugin limits per token).
    .use(rateLimitPlugin(deps, clientAddress))
    .group('/api/v1', (v1) =>
      v1
        .use(tokensModule(deps, auth))
        .use(agentsModule(deps, auth))
        .use(executionsModule(deps, auth))
        .use(spacesModule(deps, auth))
        .use(organizationsModule(deps, auth))
        .use(tasksModule(deps, auth))
        .use(auditModule(deps, auth))
        .use(credentialsModule(deps, auth, clientAddress)),
    )
    .use(publicAgentsModule(deps))
  listening = app as unknown as NonNullable<typeof listening>
  settleSchemas(app.routes)
  for (const r of app.routes) routeRules.set(`${r.method} ${r.path}`, { auth: authRequirementOf(r.hooks), body: bodyRule(r.hooks?.body) })
  rateLimiterFor(deps).indexRoutes(app.routes)
  return app
}

export type App = ReturnType<typeof createApp>

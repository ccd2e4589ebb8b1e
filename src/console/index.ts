import { Elysia } from 'elysia'
import type { Services } from '../context'
import type { Engine } from '../engine/runner'
import { consoleKit, crossOriginRefusal, crossOriginRefused, type ConsoleKit } from './http'
import { refusedPage, switchedOrganizationPage } from './routes/auth'
import { authRoutes } from './routes/auth'
import { orgRoutes } from './routes/org'
import { profileRoutes } from './routes/profile'
import { tokenRoutes } from './routes/settings'
import { cliRoutes } from './routes/cli'
import { spaceRoutes } from './routes/spaces'
import { agentRoutes } from './routes/agents'
import { consoleErrorPages } from './error-pages'
import { routeMatcher } from '../http/errors'
import { pathStart } from '../http/url-path'
import type { RateLimiter } from '../ratelimit/limiter'
import { consoleRateLimit, type ConsoleRateLimit } from './ratelimit'

export { consoleKit, safeNext, type ConsoleKit } from './http'
export type { SignedIn } from './session'

/**
 * The web console (issue 16): server-rendered pages on the same services as /api/v1. Every
 * non-GET request passes the cross-origin check first; sessions never reach /api/v1 (the API's
 * auth plugin reads only the Authorization header).
 */
export function consolePlugin(kit: ConsoleKit, limit?: ConsoleRateLimit) {
  return new Elysia({ name: 'console' })
    // Each signed-in request counts against its person's console budget (src/console/ratelimit.ts):
    // here for a request without a body; one with a body was counted by the app's body parser,
    // before its body was read. Local: the console's routes only.
    .onTransform(async ({ request, route, set }) => {
      await limit?.count(request, route, set)
    })
    // Local: the console's own routes only. Scoped, it also ran on the routes the app adds after
    // the console (TeamDay's /api/tokens aliases, /api/auth/cli/*), JSON APIs that authenticate
    // with a bearer token, so browsers on TEAMDAY_CORS_ORIGINS got this HTML 403 there.
    .onBeforeHandle(async ({ request, body, set }) => {
      // Already refused before the body was read (crossOriginGuard, below); kept for a path that
      // reaches a console route without matching it as registered.
      if (kit.crossOriginRefused(request)) return refusedPage(request)
      if (request.method === 'POST') return switchedOrganizationPage(kit, request, body, set)
    })
    .use(authRoutes(kit))
    .use(tokenRoutes(kit))
    .use(profileRoutes(kit))
    .use(orgRoutes(kit))
    .use(agentRoutes(kit))
    .use(spaceRoutes(kit))
    .use(cliRoutes(kit))
}

/**
 * `services`: the runtime (its engine runs the turns started from an agent's chat page).
 * `errorPages`: for the errors plugin (src/http/errors.ts): an error on one of the console's page
 * paths, as the console registered them, is answered as a console page (src/console/error-pages.tsx).
 */
export function createConsole(services: Services & { engine: Engine; limiter: RateLimiter }, clientAddress: (r: Request) => string | null, isHttps: (r: Request) => boolean) {
  const kit = consoleKit({ services, engine: services.engine, clientAddress, isHttps })
  const limit = consoleRateLimit(kit, services.limiter, services.config.consoleRateLimit, () => plugin.routes)
  const plugin = consolePlugin(kit, limit)
  return { kit, plugin, limit, errorPages: consoleErrorPages(() => plugin.routes), crossOriginGuard: crossOriginGuard(() => plugin.routes, kit.crossOriginRefused) }
}

/**
 * An onRequest hook (app.ts: before the body is read): a cross-origin form sent to one of the
 * console's routes (`owned`, read once they are all there) is refused with the console's 403 page
 * whatever its body. The check ran in the console's beforeHandle, after the app's parser had read
 * the body and Elysia had validated it: a cross-site POST with `Content-Type: text/plain` (a form
 * with enctype="text/plain", which needs no CORS preflight), multipart or a JSON body the form
 * fields did not fit got a 422 or 400 page, the refusal never reached; the parser's rules ran
 * for another site's request. Thrown, not returned: an answer returned by an onRequest hook skips
 * the access log (its line is written after the response). Other paths (the API, with its CORS
 * origins) pass untouched, and so does a method the path does not take (a DELETE or PUT on a
 * form's path): no route reads its body, and routing answers it 405 with its Allow, as for the
 * API's paths, where it was refused 403 as if the form had been sent.
 */
export function crossOriginGuard(owned: () => readonly { method: string; path: string }[], refused: (request: Request) => boolean = crossOriginRefused) {
  let forms: Map<string, RegExp[]> | undefined
  const isForm = (request: Request) => {
    if (!forms) {
      forms = new Map()
      for (const r of owned()) {
        if (r.method === 'GET' || r.method === 'HEAD' || r.method === 'OPTIONS') continue
        const list = forms.get(r.method) ?? []
        list.push(routeMatcher(r.path))
        forms.set(r.method, list)
      }
    }
    const methodForms = forms.get(request.method)
    if (!methodForms) return false
    const url = request.url
    const start = Math.max(0, pathStart(url))
    const query = url.indexOf('?', start)
    const path = url.slice(start, query < 0 ? url.length : query)
    return methodForms.some((re) => re.test(path))
  }
  return ({ request }: { request: Request }): void => {
    if (refused(request) && isForm(request)) throw crossOriginRefusal()
  }
}

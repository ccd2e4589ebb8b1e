import { Elysia } from 'elysia'
import type { Services } from '../context'
import type { Engine } from '../engine/runner'
import { consoleKit, crossOriginRefused, type ConsoleKit } from './http'
import { refusedPage, switchedOrganizationPage } from './routes/auth'
import { authRoutes } from './routes/auth'
import { orgRoutes } from './routes/org'
import { profileRoutes } from './routes/profile'
import { tokenRoutes } from './routes/settings'
import { cliRoutes } from './routes/cli'
import { spaceRoutes } from './routes/spaces'
import { agentRoutes } from './routes/agents'
import { consoleErrorPages } from './error-pages'

export { consoleKit, safeNext, type ConsoleKit } from './http'
export type { SignedIn } from './session'

/**
 * The web console (issue 16): server-rendered pages on the same services as /api/v1. Every
 * non-GET request passes the cross-origin check first; sessions never reach /api/v1 (the API's
 * auth plugin reads only the Authorization header).
 */
export function consolePlugin(kit: ConsoleKit) {
  return new Elysia({ name: 'console' })
    // Local: the console's own routes only. Scoped, it also ran on the routes the app adds after
    // the console (TeamDay's /api/tokens aliases, /api/auth/cli/*), JSON APIs that authenticate
    // with a bearer token, so browsers on TEAMDAY_CORS_ORIGINS got this HTML 403 there.
    .onBeforeHandle(async ({ request, body, set }) => {
      if (crossOriginRefused(request)) return refusedPage(request)
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
export function createConsole(services: Services & { engine: Engine }, clientAddress: (r: Request) => string | null, isHttps: (r: Request) => boolean) {
  const kit = consoleKit({ services, engine: services.engine, clientAddress, isHttps })
  const plugin = consolePlugin(kit)
  return { kit, plugin, errorPages: consoleErrorPages(() => plugin.routes) }
}

/**
 * What every route of the app requires, written out by hand. Tests assert these permissions
 * through behaviour (a token scoped to exactly this permission passes, one without it is refused),
 * so changing a route's permission in the code (say write → read) fails a test even after the
 * OpenAPI snapshot is regenerated. It is deliberately not read back from the app; the only
 * thing taken from the app is its route list, to prove this table names every route.
 */
import type { Permission } from '../../src/auth/roles'

/**
 * `public`: no token needed; `authenticated`: any valid token, whatever its scopes; `console`: a
 * web console page (src/console/): a signed-in session or none, never a bearer token.
 */
export type Requirement = Permission | 'authenticated' | 'public' | 'console'

export const ROUTE_REQUIREMENTS: Record<string, Requirement> = {
  // Docs and health
  'GET /': 'public',
  'GET /swagger': 'public',
  'GET /swagger/json': 'public',
  'GET /swagger/assets/swagger-ui-bundle.js': 'public',
  'GET /swagger/assets/swagger-ui.css': 'public',
  'GET /swagger/assets/swagger-init.js': 'public',
  'GET /swagger/': 'public',
  'GET /api/health': 'public',
  'GET /api/health/ready': 'public',
  'GET /api/health/database-proof': 'public',
  'GET /metrics': 'metrics:read',
  // Tokens
  'GET /api/v1/tokens': 'tokens:read',
  'POST /api/v1/tokens': 'tokens:write',
  'GET /api/v1/tokens/self': 'authenticated',
  'DELETE /api/v1/tokens/self': 'authenticated',
  'POST /api/v1/tokens/self/rotate': 'tokens:write',
  'POST /api/v1/tokens/:id/rotate': 'tokens:write',
  'GET /api/v1/tokens/:id': 'tokens:read',
  'DELETE /api/v1/tokens/:id': 'tokens:write',
  // Agents and executions
  'GET /api/v1/agents': 'agents:read',
  'POST /api/v1/agents': 'agents:write',
  'GET /api/v1/agents/:id': 'agents:read',
  'PATCH /api/v1/agents/:id': 'agents:write',
  'DELETE /api/v1/agents/:id': 'agents:write',
  'POST /api/v1/agents/:id/execute': 'agents:execute',
  'GET /api/v1/executions': 'executions:read',
  'GET /api/v1/executions/:id': 'executions:read',
  'GET /api/v1/executions/:id/tree': 'executions:read',
  'GET /api/v1/executions/:id/logs': 'executions:read',
  'POST /api/v1/executions/:id/cancel': 'executions:write',
  'POST /api/v1/execute': 'agents:execute',
  // Chats (read from executions)
  'GET /api/v1/chats': 'executions:read',
  'GET /api/v1/chats/:id': 'executions:read',
  'GET /api/v1/chats/:id/messages': 'executions:read',
  // Spaces and secrets
  'GET /api/v1/spaces': 'spaces:read',
  'POST /api/v1/spaces': 'spaces:write',
  'GET /api/v1/spaces/:id': 'spaces:read',
  'PATCH /api/v1/spaces/:id': 'spaces:write',
  'DELETE /api/v1/spaces/:id': 'spaces:write',
  'GET /api/v1/spaces/:id/secrets': 'spaces:read',
  'POST /api/v1/spaces/:id/secrets': 'secrets:write',
  'DELETE /api/v1/spaces/:id/secrets': 'secrets:write',
  'GET /api/v1/organizations/:orgId/env': 'spaces:read',
  'POST /api/v1/organizations/:orgId/env': 'secrets:write',
  'DELETE /api/v1/organizations/:orgId/env': 'secrets:write',
  // Members (organization admins)
  'GET /api/v1/organizations/:orgId/members': 'members:read',
  'POST /api/v1/organizations/:orgId/members': 'members:write',
  'GET /api/v1/organizations/:orgId/members/:userId': 'members:read',
  'PATCH /api/v1/organizations/:orgId/members/:userId': 'members:write',
  'DELETE /api/v1/organizations/:orgId/members/:userId': 'members:write',
  // Tasks
  'GET /api/v1/tasks': 'tasks:read',
  'POST /api/v1/tasks': 'tasks:write',
  'GET /api/v1/tasks/:id': 'tasks:read',
  'PATCH /api/v1/tasks/:id': 'tasks:write',
  'DELETE /api/v1/tasks/:id': 'tasks:write',
  // Audit, leaked credentials, public directory
  'GET /api/v1/audit-events': 'audit:read',
  'POST /api/v1/credentials/revoke': 'public',
  'GET /api/public/agents': 'public',
  // The web console: sessions only (test/console-*.test.ts)
  'GET /console/assets/console.css': 'console',
  'GET /console/assets/console.js': 'console',
  'GET /console/assets/chat.js': 'console',
  'GET /favicon.ico': 'console',
  'GET /login': 'console',
  'POST /login': 'console',
  'POST /logout': 'console',
  'POST /logout/everywhere': 'console',
  'GET /setup/:secret': 'console',
  'POST /setup/:secret': 'console',
  'GET /set-password/:secret': 'console',
  'POST /set-password/:secret': 'console',
  'GET /settings': 'console',
  'GET /settings/api': 'console',
  'GET /settings/tokens': 'console',
  'POST /settings/tokens': 'console',
  'POST /settings/tokens/:id/revoke': 'console',
  'POST /settings/tokens/:id/rotate': 'console',
  'GET /settings/profile': 'console',
  'POST /settings/profile': 'console',
  'POST /settings/password': 'console',
  'POST /settings/sessions/:id/end': 'console',
  'GET /org/members': 'console',
  'POST /org/members': 'console',
  'POST /org/members/:userId/role': 'console',
  'POST /org/members/:userId/remove': 'console',
  'POST /org/members/:userId/link': 'console',
  'GET /org/audit': 'console',
  'POST /org/switch': 'console',
  'GET /spaces': 'console',
  'GET /spaces/:id': 'console',
  'POST /spaces/:id/secrets': 'console',
  'POST /spaces/:id/secrets/remove': 'console',
  'GET /agents': 'console',
  'GET /agents/:id/chat': 'console',
  'POST /agents/:id/chat': 'console',
  // Browser sign-in for CLIs (no bearer token: the login code or refresh token is the credential)
  'POST /api/auth/cli/initiate': 'public',
  'GET /api/auth/cli/poll': 'public',
  'POST /api/auth/cli/refresh': 'public',
  'POST /api/auth/cli/revoke': 'public',
  // TeamDay CLI's token routes: aliases of /api/v1/tokens
  'POST /api/tokens/create': 'tokens:write',
  'GET /api/tokens/list': 'tokens:read',
  'POST /api/tokens/:id/revoke': 'tokens:write',
  // Console pages of CLI sign-in: a console session, never a bearer token (without one: 303 to /login)
  'GET /cli/authorize/:code': 'console',
  'POST /cli/authorize/:code': 'console',
  'GET /settings/cli-sessions': 'console',
  'POST /settings/cli-sessions/:id/revoke': 'console',
}

/** A concrete path of a console route pattern (`:id` → a made-up id). */
export const consolePath = (pattern: string) => pattern.replace(/:[A-Za-z]+/g, 'x_unknown')

/** `METHOD /path` of every route the app serves, as Elysia lists them. */
export function appRouteKeys(app: { routes: { method: string; path: string }[] }): string[] {
  return app.routes.map((r) => `${r.method} ${r.path}`)
}

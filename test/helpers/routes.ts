/**
 * What every route of the app requires, written out by hand. Tests assert these permissions
 * through behaviour (a token scoped to exactly this permission passes, one without it is refused),
 * so changing a route's permission in the code (say write → read) fails a test even after the
 * OpenAPI snapshot is regenerated. It is deliberately not read back from the app; the only
 * thing taken from the app is its route list, to prove this table names every route.
 */
import type { Permission } from '../../src/auth/roles'

/** `public`: no token needed; `authenticated`: any valid token, whatever its scopes. */
export type Requirement = Permission | 'authenticated' | 'public'

export const ROUTE_REQUIREMENTS: Record<string, Requirement> = {
  // Docs and health
  'GET /': 'public',
  'GET /swagger': 'public',
  'GET /swagger/json': 'public',
  'GET /swagger/assets/swagger-ui-bundle.js': 'public',
  'GET /swagger/assets/swagger-ui.css': 'public',
  'GET /api/health': 'public',
  'GET /api/health/ready': 'public',
  'GET /metrics': 'metrics:read',
  // Tokens
  'GET /api/v1/tokens': 'tokens:read',
  'POST /api/v1/tokens': 'tokens:write',
  'GET /api/v1/tokens/self': 'authenticated',
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
}

/** `METHOD /path` of every route the app serves, as Elysia lists them. */
export function appRouteKeys(app: { routes: { method: string; path: string }[] }): string[] {
  return app.routes.map((r) => `${r.method} ${r.path}`)
}

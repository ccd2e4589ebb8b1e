import { Elysia } from 'elysia'
import type { Deps } from '../../deps'

// Placeholder: GET /api/public/agents (no auth) arrives with the resource issue.
export function publicAgentsModule(deps: Deps) {
  void deps
  return new Elysia({ prefix: '/api/public', tags: ['Public'] })
}

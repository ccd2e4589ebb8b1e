import { Elysia } from 'elysia'
import type { authPlugin } from '../../auth/plugin'
import type { Deps } from '../../deps'

// Placeholder: routes arrive with their issue.
export function agentsModule(deps: Deps, auth: ReturnType<typeof authPlugin>) {
  void deps
  return new Elysia({ prefix: '/agents', tags: ['Agents'] }).use(auth)
}

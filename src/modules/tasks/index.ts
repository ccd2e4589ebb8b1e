import { Elysia } from 'elysia'
import type { authPlugin } from '../../auth/plugin'
import type { Deps } from '../../deps'

// Placeholder: routes arrive with their issue.
export function tasksModule(deps: Deps, auth: ReturnType<typeof authPlugin>) {
  void deps
  return new Elysia({ prefix: '/tasks', tags: ['Tasks'] }).use(auth)
}

import { Elysia } from 'elysia'
import type { authPlugin } from '../../auth/plugin'
import type { Deps } from '../../deps'

// Placeholder: routes arrive with their issue.
export function credentialsModule(deps: Deps, auth: ReturnType<typeof authPlugin>) {
  void deps
  return new Elysia({ prefix: '/credentials', tags: ['Credentials'] }).use(auth)
}

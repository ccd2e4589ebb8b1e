import './production-mode' // first: before anything imports Elysia
/**
 * The admin commands' entry: the server, the database, drizzle, Elysia and the model SDKs are
 * reachable only from here. The compiled binary carries it as a second bundle that the command
 * line (src/main.ts) loads only when an admin command runs (src/cli/admin-bundle.ts), so that
 * `--version`, `help` and the client commands start as fast as a compiled hello world.
 * One loader per file: `users create` does not load `serve`.
 */
export const admin = {
  serve: () => import('./cli/admin/serve'),
  users: () => import('./cli/admin/users'),
  tokens: () => import('./cli/admin/tokens'),
  audit: () => import('./cli/admin/audit'),
  migrate: () => import('./cli/admin/migrate'),
  migrateData: () => import('./cli/admin/migrate-data'),
  backup: () => import('./cli/admin/backup'),
  openapi: () => import('./cli/admin/openapi'),
  rekey: () => import('./cli/admin/rekey'),
}

export type AdminModules = typeof admin

import './production-mode' // first: before anything imports Elysia
/**
 * The admin commands' entry: the server, the database, drizzle, Elysia and the model SDKs are
 * reachable only from here. The compiled binary carries it as a second bundle that the command
 * line (src/main.ts) loads only when an admin command runs (src/cli/admin-bundle.ts), so that
 * `--version`, `help` and the client commands start as fast as a compiled hello world.
 * One loader per file: `users create` does not load `serve`.
 */
import { databaseUnavailable, unavailableReason } from './db/unavailable'

/**
 * An admin command's error as an operator should read it: a database that cannot take the
 * command's statements (a read-only file or folder, a full disk, a lock, an unreachable server)
 * said as such, with SQLite's or PostgreSQL's own words, instead of drizzle's
 * "Failed query: <the SQL> params: <its values>". Anything else as it is.
 */
export function explain(e: unknown): unknown {
  if (databaseUnavailable(e) === null) return e
  return new Error(unavailableReason(e))
}

export const admin = {
  explain,
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

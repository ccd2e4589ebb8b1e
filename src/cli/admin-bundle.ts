import type { AdminModules } from '../admin-entry'

/**
 * Set by scripts/build.ts (`--define`): the admin bundle's file name in the compiled binary, which
 * keeps it beside the command line's own bundle. Unset when run from source.
 */
declare const TEAMDAY_ADMIN_ENTRY: string | undefined

/**
 * Loads the admin commands (src/admin-entry.ts). The specifier is computed, not a literal, so the
 * bundler does not pull the server into the command line's bundle: `bun build --compile` cannot
 * split code, but it embeds a second entry point that `import()` finds at run time.
 */
export async function loadAdmin(): Promise<AdminModules> {
  // Joined at run time: a literal (even one the define folds into) would be bundled in.
  const spec = typeof TEAMDAY_ADMIN_ENTRY === 'string' ? ['.', TEAMDAY_ADMIN_ENTRY].join('/') : ['..', 'admin-entry.ts'].join('/')
  const mod = (await import(spec)) as { admin: AdminModules }
  return mod.admin
}

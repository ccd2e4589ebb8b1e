/**
 * The parts of a PostgreSQL URL that hold a secret, alone in a file without imports: the server
 * masks them in messages (describeDatabase, src/config.ts) and leaves such a URL out of the
 * commands it suggests (holdsDatabaseSecret, src/cli/admin/runtime.ts); the command line warns of
 * one given as an argument (databasePasswordWarning, src/cli/run.ts), in the client's bundle,
 * which does not load src/config.ts (test/client-startup.test.ts). One list for all three.
 */

/** libpq's URL parameters that hold a secret (a password, a client key's passphrase). */
export const DATABASE_SECRET_PARAMS = ['password', 'sslpassword'] as const

/** Whether a parsed database URL carries a secret: a password in its user part, or one of DATABASE_SECRET_PARAMS. */
export function urlHoldsSecret(u: URL): boolean {
  if (u.password !== '') return true
  // A loop, not some(): JavaScriptCore compiles some() on its first call, a cost the command line avoids (test/client-startup.test.ts).
  for (let i = 0; i < DATABASE_SECRET_PARAMS.length; i++) if (u.searchParams.has(DATABASE_SECRET_PARAMS[i]!)) return true
  return false
}

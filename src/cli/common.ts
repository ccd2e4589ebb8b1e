import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { loadConfig, type Config } from '../config'
import type { Ctx } from '../context'
import type { Runtime } from '../runtime'

export interface Io {
  out(text: string): void
  err(text: string): void
  env: Record<string, string | undefined>
}

/** The Io of the commands: `write` prints without adding a newline (streamed text). */
export interface ClientIo extends Io {
  write?(text: string): void
}

export const processIo: ClientIo = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
  write: (s) => process.stdout.write(s),
  env: process.env,
}

/** Bad arguments: the message and the command's usage on stderr, exit 2. */
export class UsageError extends Error {}

export function configFrom(io: Io, db: string | undefined, overrides: Partial<Config> = {}): Config {
  return loadConfig(io.env, { ...(db ? { dbPath: db } : {}), ...overrides })
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? '-' : String(r[c]))))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)))
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n')
}

/**
 * Tokens as the tables show them: during a rotation's grace period the old token is still
 * `active` for the API, with a revocation time ahead; the table says `revoking` (revokedAt: when).
 */
export function tokenRows<T extends { status?: unknown; revokedAt?: unknown }>(tokens: T[]): T[] {
  return tokens.map((t) => (t.status === 'active' && t.revokedAt ? { ...t, status: 'revoking' } : t))
}

/**
 * Opens the database (migrating it), runs the body, closes the database. The runtime (drizzle,
 * the schema, the crypto) is loaded here, not at start-up: client commands never pay for it.
 * Only `create: true` commands (serve, migrate, users create) may create a database; the others
 * fail with the path they looked for. Says on stderr which database it opened.
 */
export async function withRuntime<T>(io: Io, db: string | undefined, body: (rt: Runtime, ctx: Ctx) => T | Promise<T>, opts: { create?: boolean } = {}): Promise<T> {
  const [{ createRuntime }, { operatorContext }, { describeKey }] = await Promise.all([import('../runtime'), import('../context'), import('../crypto/keys')])
  const config = configFrom(io, db)
  const path = resolve(config.dbPath)
  // One stat before any connection exists (no descriptor is opened): only to say "new".
  const existed = existsSync(path)
  const rt = await createRuntime(config, { create: opts.create === true })
  io.err(`using ${existed ? '' : 'new '}database ${path} (${describeKey(rt.keySource, config.keyFile)})`)
  try {
    // The admin CLI acts as the operator (audit events: source cli).
    return await body(rt, operatorContext(rt))
  } finally {
    rt.close()
  }
}

import { loadConfig, type Config } from '../config'
import type { openRuntime } from '../runtime'

export interface Io {
  out(text: string): void
  err(text: string): void
  env: Record<string, string | undefined>
}

/** The Io of the commands: `write` prints without adding a newline (streamed text). */
export interface ClientIo extends Io {
  write?(text: string): void
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
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
 * Opens the database (migrating it), runs the body, closes the database. The runtime (drizzle,
 * the schema, the crypto) is loaded here, not at start-up: client commands never pay for it.
 */
export async function withRuntime<T>(io: Io, db: string | undefined, body: (rt: ReturnType<typeof openRuntime>) => T | Promise<T>): Promise<T> {
  const { openRuntime } = await import('../runtime')
  const rt = openRuntime(configFrom(io, db))
  try {
    return await body(rt)
  } finally {
    rt.close()
  }
}

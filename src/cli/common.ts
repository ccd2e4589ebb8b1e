import { parseArgs, type ParseArgsConfig } from 'node:util'
import { ConfigError, loadConfig, type Config } from '../config'
import { AppError } from '../errors'
import type { Ctx } from '../context'
import type { Runtime } from '../runtime'

export interface Io {
  out(text: string): void
  err(text: string): void
  env: Record<string, string | undefined>
}

export const processIo: Io = {
  out: (s) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'),
  err: (s) => process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
  env: process.env,
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

export class UsageError extends Error {}

/** parseArgs with our usage errors; every command accepts --db. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, positionals = 0) {
  try {
    const r = parseArgs({ args, options: { ...options, db: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: positionals > 0, strict: true })
    if (r.positionals.length > positionals) throw new UsageError(`unexpected argument "${r.positionals[positionals]}"`)
    return r
  } catch (e) {
    if (e instanceof UsageError) throw e
    throw new UsageError((e as Error).message.replace(/^.*?: /, '').split('\n')[0]!)
  }
}

export function require_(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing required option ${flag}`)
  return value
}

export function configFrom(io: Io, db: string | undefined, overrides: Partial<Config> = {}): Config {
  return loadConfig(io.env, { ...(db ? { dbPath: db } : {}), ...overrides })
}

/** Runs a command body and maps failures to exit codes and one-line messages on stderr. */
export async function guard(io: Io, usage: string, body: () => Promise<number> | number): Promise<number> {
  try {
    return await body()
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}\n\n${usage}`)
      return EXIT.usage
    }
    if (e instanceof ConfigError) {
      io.err(`error: ${e.message}`)
      return EXIT.usage
    }
    if (e instanceof AppError) {
      io.err(`error: ${e.message}`)
      return EXIT.failed
    }
    io.err(`error: ${e instanceof Error ? e.message : String(e)}`)
    return EXIT.failed
  }
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
export async function withRuntime(io: Io, db: string | undefined, body: (rt: Runtime, ctx: Ctx) => number | Promise<number>): Promise<number> {
  const [{ createRuntime }, { operatorContext }] = await Promise.all([import('../runtime'), import('../context')])
  const rt = await createRuntime(configFrom(io, db))
  try {
    // The admin CLI acts as the operator (audit events: source cli).
    return await body(rt, operatorContext(rt))
  } finally {
    rt.close()
  }
}

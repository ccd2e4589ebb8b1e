export interface Io {
  out(text: string): void
  err(text: string): void
  env: Record<string, string | undefined>
}

/** The Io of the commands: `write` prints without adding a newline (streamed text). */
export interface ClientIo extends Io {
  write?(text: string): void
}

/**
 * Lines go through console.log/console.error: Bun writes them natively. The first touch of
 * `process.stdout` builds a Node stream, which costs a compiled `teamday --version` several times
 * what the rest of the command does; only streamed text (`write`) takes that path. Both write
 * to the same descriptor synchronously, so lines and streamed text keep their order.
 */
export const processIo: ClientIo = {
  out: (s) => console.log(s.endsWith('\n') ? s.slice(0, -1) : s),
  err: (s) => console.error(s.endsWith('\n') ? s.slice(0, -1) : s),
  write: (s) => process.stdout.write(s),
  env: process.env,
}

const USAGE = Symbol.for('teamday.UsageError')

/**
 * Bad arguments: the message and the command's usage on stderr, exit 2. `instanceof` holds for
 * an error of the admin bundle's copy of this class too (the compiled binary loads the admin
 * commands as a second bundle: src/cli/admin-bundle.ts).
 */
export class UsageError extends Error {
  readonly [USAGE] = true
  static override [Symbol.hasInstance](x: unknown): boolean {
    // A subclass (UnknownError…) keeps the ordinary prototype check.
    if (this !== UsageError) return Function.prototype[Symbol.hasInstance].call(this, x)
    return typeof x === 'object' && x !== null && (x as { [USAGE]?: boolean })[USAGE] === true
  }
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

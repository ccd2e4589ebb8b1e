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
  write: (s) => {
    try {
      stdout().write(s)
    } catch (e) {
      readerGone(e)
      throw e
    }
  },
  env: process.env,
}

/**
 * Output piped into a reader that stopped reading (`… --stream | head -c 100`): the command ends
 * quietly, exit 0, as a list cut short by `| head` does (console.log drops what cannot be
 * written); streamed text threw EPIPE with a stack trace. The run goes on on the server.
 */
function readerGone(e: unknown): void {
  if ((e as { code?: unknown } | null)?.code === 'EPIPE') process.exit(0)
}

let stdoutReady = false
/** process.stdout, on first use (see processIo), with a write that fails later (its error event) ending as one that throws. */
function stdout(): NodeJS.WriteStream {
  if (!stdoutReady) {
    stdoutReady = true
    process.stdout.on('error', (e) => {
      readerGone(e)
      throw e
    })
  }
  return process.stdout
}

/**
 * Characters a terminal acts on instead of showing: C0 controls but tab and newline (ESC starts
 * the escape sequences that recolour, retitle or rewrite a terminal, CR overwrites a line), DEL,
 * C1 controls (U+009B is an 8-bit CSI for some terminals) and the bidirectional embeddings,
 * overrides and isolates, which reorder what follows them on the line ("Trojan Source").
 */
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g')

/**
 * `text` as a terminal may print it: each character of UNSAFE written as its `\uXXXX` escape
 * (a CR before a newline dropped). Names, titles, answers and error messages come from other
 * users and from models, and a command prints them to someone's terminal: an agent named
 * `\u001b]0;…` must not retitle an admin's window. The escape is also valid inside a JSON string,
 * so `--json` output stays JSON with the same value.
 */
export function terminalSafe(text: string): string {
  if (!UNSAFE.test(text)) return text
  return text.replace(/\r\n/g, '\n').replace(UNSAFE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** `io` with everything it prints made terminalSafe: what run() (src/cli/run.ts) gives every command. */
export function terminalSafeIo<T extends ClientIo>(io: T): T {
  const safe = { ...io, out: (s: string) => io.out(terminalSafe(s)), err: (s: string) => io.err(terminalSafe(s)) }
  if (io.write) {
    const write = io.write
    safe.write = (s: string) => write(terminalSafe(s))
  }
  return safe
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

/**
 * Rows as aligned columns under upper-case headers. Plain loops: a list command runs this once,
 * on code the engine has not compiled yet, where each closure and builtin (map, spread into
 * Math.max, padEnd, Object.fromEntries) costs its first-use price; with them, 20 rows took a
 * compiled `teamday agents list` 0.7–2 ms, several times what the loops take.
 */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const n = columns.length
  const cells: string[][] = []
  const widths: number[] = []
  for (let i = 0; i < n; i++) widths.push(columns[i]!.length)
  for (let j = 0; j < rows.length; j++) {
    const r = rows[j]!
    const line: string[] = []
    for (let i = 0; i < n; i++) {
      const v = r[columns[i]!]
      const s = v === null || v === undefined ? '-' : String(v)
      const w = displayWidth(s)
      if (w > widths[i]!) widths[i] = w
      line.push(s)
    }
    cells.push(line)
  }
  let out = tableLine(upperCase(columns), widths)
  for (let j = 0; j < cells.length; j++) out += '\n' + tableLine(cells[j]!, widths)
  return out
}

function upperCase(columns: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < columns.length; i++) out.push(columns[i]!.toUpperCase())
  return out
}

/** Cells padded to their column's width, two spaces apart, without trailing whitespace. */
function tableLine(vals: string[], widths: number[]): string {
  let line = ''
  const last = vals.length - 1
  for (let i = 0; i <= last; i++) {
    const v = vals[i]!
    line += i === 0 ? v : '  ' + v
    if (i < last) line += spaces(widths[i]! - displayWidth(v))
  }
  return line.trimEnd()
}

/**
 * The columns `s` takes on a terminal: a CJK character or an emoji two, a combining or zero-width
 * one none (Bun.stringWidth); printable ASCII, most cells, is its length.
 */
export function displayWidth(s: string): number {
  return PRINTABLE_ASCII.test(s) ? s.length : Bun.stringWidth(s)
}
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/

let blank = '                                                                '
function spaces(n: number): string {
  while (blank.length < n) blank += blank
  return blank.slice(0, n)
}

/**
 * `key  value` lines, the keys padded to the longest. A value's own lines are indented under its
 * first: a description holding `\nstatus        completed` printed a line that read as the
 * task's status; every key starts a line, no value line does.
 */
export function keyValueLines(keys: string[], values: string[]): string {
  let width = 0
  for (let i = 0; i < keys.length; i++) if (keys[i]!.length > width) width = keys[i]!.length
  let out = ''
  for (let i = 0; i < keys.length; i++) {
    const v = values[i]!
    const value = v.includes('\n') ? v.replace(/\r?\n/g, '\n' + spaces(width + 2)) : v
    out += (i === 0 ? '' : '\n') + keys[i]! + spaces(width - keys[i]!.length) + '  ' + value
  }
  return out
}

/** A name or title inside a one-line message: its line breaks as spaces (it cannot start a line of its own). */
export function inline(text: unknown): string {
  return String(text).replace(/\s*\r?\n\s*/g, ' ')
}

/**
 * Tokens as the tables show them: during a rotation's grace period the old token is still
 * `active` for the API, with a revocation time ahead; the table says `revoking` (revokedAt: when).
 */
export function tokenRows<T extends { status?: unknown; revokedAt?: unknown }>(tokens: T[]): T[] {
  return tokens.map((t) => (t.status === 'active' && t.revokedAt ? { ...t, status: 'revoking' } : t))
}

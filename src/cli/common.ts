export interface Io {
  out(text: string): void
  err(text: string): void
  env: Record<string, string | undefined>
  /** The working directory, where a hint looks for a `.env` file (src/cli/dotenv-hint.ts); process.cwd() when absent. */
  cwd?: string
}

/** The Io of the commands: `write` prints without adding a newline (streamed text). */
export interface ClientIo extends Io {
  write?(text: string): void
  /** Stdin, for `--message -` and the like (src/cli/client/text-input.ts); default Bun.stdin. */
  stdin?(): AsyncIterable<Uint8Array>
  /**
   * The command has said itself that stdout took no more (serve: its `stdout_unwritable` log
   * line; it went on serving): flush() no longer rejects for that loss, so run() does not end a
   * command that succeeded with exit 1 and an `error:` line.
   */
  outputOptional?(): void
  /**
   * Resolves once everything printed on stdout so far has been written, and rejects with the
   * write's error (an OutputError) if some of it could not be: what a command that must know
   * (`tokens create`: a token nobody received) awaits. run() awaits it after every command.
   */
  flush?(): Promise<void>
}

/**
 * Stdout could not take what a command printed (`> /dev/full`: ENOSPC; a reader that closed the
 * pipe: EPIPE; a disk error). `code` is the system's (ENOSPC…).
 */
export class OutputError extends Error {
  readonly code: string
  constructor(cause: unknown) {
    const code = (cause as { code?: unknown } | null)?.code
    super(`could not write to standard output (${cause instanceof Error ? cause.message : String(cause)})`, { cause })
    this.code = typeof code === 'string' ? code : 'output_failed'
  }
}

/**
 * Stdout goes through Bun's native file writer (Bun.stdout.writer()), flushed after every line,
 * so that a write that fails throws (console.log dropped it: `teamday tokens create > /dev/full`
 * exited 0 with a token nobody received). The first touch of `process.stdout` builds a Node
 * stream, which costs a compiled `teamday --version` several times what the rest of the command
 * does: neither path touches it. Stderr has a writer of its own too (toStderr): Bun's
 * console.error painted every line red on a terminal, so `using database …`, `created task …`
 * and the sign-in link of `teamday login` read as errors. A message that cannot be written has
 * nowhere else to go. On a terminal or a file the flush is synchronous, so lines on stdout
 * and stderr keep their order; into a pipe that is full it completes later, and run() awaits it.
 */
export const processIo: ClientIo = {
  out: (s) => toStdout(s.endsWith('\n') ? s : s + '\n'),
  err: (s) => toStderr(s.endsWith('\n') ? s : s + '\n'),
  write: (s) => {
    try {
      toStdout(s)
    } catch (e) {
      readerGone(e)
      throw e
    }
  },
  flush: async () => {
    // Flushes that complete later may be chained while this waits: until none is left.
    while (pending !== settled) {
      const p = pending
      await p
      if (pending === p) pending = settled
    }
    if (lost !== undefined && !lossSaid) throw lost
  },
  outputOptional: () => {
    lossSaid = true
  },
  env: process.env,
}

/**
 * Stderr through its own Bun file writer, flushed after every line as stdout is, uncoloured. Into
 * a full pipe the flush completes later, and flush() awaits it too; a failure there is not the
 * command's (a message that cannot be written has nowhere else to go). Where the writer cannot
 * be made or written, console.error.
 */
function toStderr(text: string): void {
  try {
    errSink ??= Bun.stderr.writer()
    laterQuietly(errSink.write(text))
    laterQuietly(errSink.flush())
  } catch {
    console.error(text.endsWith('\n') ? text.slice(0, -1) : text)
  }
}

let errSink: import('bun').FileSink | undefined

/** A stderr write or flush that completes later: awaited by flush(), its failure ignored. */
function laterQuietly(done: number | Promise<number>): void {
  if (typeof done !== 'number') pending = Promise.all([pending, done.then(undefined, () => undefined)])
}
let sink: import('bun').FileSink | undefined
/** The first write error, once one happened: every later write and flush fails with it. */
let lost: OutputError | undefined
/** The command has said the loss itself (outputOptional): flush() no longer fails with it. */
let lossSaid = false
const settled: Promise<void> = Promise.resolve()
/** The flushes still in progress (into a full pipe), as one promise. */
let pending: Promise<unknown> = settled

function toStdout(text: string): void {
  if (lost !== undefined) throw lost
  try {
    sink ??= Bun.stdout.writer()
    // A long text is written at once, the rest buffered: either may complete later (a full pipe).
    later(sink.write(text))
    later(sink.flush())
  } catch (e) {
    lost ??= new OutputError(e)
    throw lost
  }
}

/** A write or flush that completes later: awaited by flush(), its failure kept. */
function later(done: number | Promise<number>): void {
  if (typeof done === 'number') return
  pending = Promise.all([
    pending,
    done.then(undefined, (e: unknown) => {
      lost ??= new OutputError(e)
    }),
  ])
}

/**
 * Prints a token that exists nowhere else (`tokens create`, `tokens rotate`) and waits until it
 * is written. When stdout cannot take it, the command fails with `undelivered(why)`'s error,
 * which says the token was created and how to revoke it: nobody received it. It is not revoked
 * here: part of it may have been written (a reader that closed the pipe half-way), and the
 * operator decides.
 */
export async function printToken(io: ClientIo, text: string, undelivered: (why: string) => Error): Promise<void> {
  try {
    io.out(text)
    await io.flush?.()
  } catch (e) {
    throw undelivered(e instanceof Error ? e.message : String(e))
  }
}

/**
 * Output piped into a reader that stopped reading (`… --stream | head -c 100`): the command ends
 * quietly, exit 0, as a list cut short by `| head` does (run() ends such a command with 0); streamed text threw EPIPE
 * with a stack trace. The run goes on on the server.
 */
function readerGone(e: unknown): void {
  if ((e as { code?: unknown } | null)?.code === 'EPIPE') process.exit(0)
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
  if (plainText(text) || !UNSAFE.test(text)) return text
  return text.replace(/\r\n/g, '\n').replace(UNSAFE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * Whether a short `text` is printable ASCII, tabs and newlines only (none of UNSAFE's
 * characters), in a loop: a line such as `health`'s is, and a regular expression's first run costs
 * a compiled client command more than the rest of its output (Yarr compiles it to machine code:
 * +17 page faults in a compiled hello; docs/performance.md, Thirty-eighth session). Past 256
 * characters the regular expression: a loop over a list's whole table reached JavaScriptCore's
 * tier-up thresholds (JIT worker threads, dearer than the regular expression).
 */
function plainText(text: string): boolean {
  if (text.length > 256) return false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || c > 0x7e) return false
  }
  return true
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
  // Each run of white space with a line break in it: what /\s*\r?\n\s*/g found, without its
  // backtracking (every start of a long run without a break, each to the run's end).
  return String(text).replace(/\s+/g, (run) => (run.includes('\n') ? ' ' : run))
}

/**
 * Tokens as the tables show them: during a rotation's grace period the old token is still
 * `active` for the API, with a revocation time ahead; the table says `revoking` (revokedAt: when).
 */
export function tokenRows<T extends { status?: unknown; revokedAt?: unknown }>(tokens: T[]): T[] {
  return tokens.map((t) => (t.status === 'active' && t.revokedAt ? { ...t, status: 'revoking' } : t))
}

import { ClientError } from '../../client/errors'
import { UsageError, type ClientIo } from '../common'

/**
 * The long texts a command sends (`agents execute --message`, `--system-prompt`, a task's
 * `--description`, a space's `--instructions`) read from a file or from stdin: an argument of
 * more than ~128 KB is refused by the operating system before teamday starts (E2BIG), and a
 * nightly job that feeds a log to an agent has it in a file or a pipe. For such an option NAME:
 * `--NAME -` reads stdin, `--NAME-file FILE` reads FILE (`-`: stdin). The text is sent as it was
 * read (a trailing newline included). Bounded by the server's own request limit (1 MiB, the whole
 * JSON body): more is refused here, before anything is read past it or sent. Every failure is a
 * usage error (exit 2) with a `code` for --json: input_unreadable, input_empty, input_too_large,
 * input_not_utf8.
 */

/** The server's limit on a request body (src/config.ts, maxBodyBytes): no text can be longer. */
export const MAX_TEXT_BYTES = 1024 * 1024

const LIMIT_WORDS = '1 MiB, the server\'s request limit'

function inputError(code: string, message: string, hint?: string): ClientError {
  return new ClientError('usage', message, hint, undefined, code)
}

/** Where a text comes from, in the words of the command line (`--message -`, `--message-file F`). */
interface Source {
  option: string
  file: string | null
}

/**
 * The values of the text options `names` (`message`, `system-prompt`…): as given, or read from
 * stdin or a file. An option and its -file together is a usage error, and so is stdin asked for
 * twice (it can be read once).
 */
export async function readTexts<N extends string>(io: ClientIo, values: Record<string, unknown>, names: readonly N[]): Promise<Partial<Record<N, string>>> {
  const sources = new Map<N, Source>()
  const out: Partial<Record<N, string>> = {}
  for (const name of names) {
    const given = values[name]
    const file = values[`${name}-file`]
    if (typeof given === 'string' && typeof file === 'string') throw new UsageError(`--${name} and --${name}-file cannot be used together: give one`)
    if (typeof file === 'string') {
      if (file === '') throw new UsageError(`--${name}-file is empty (an unset variable?): give a file, or - for stdin`)
      sources.set(name, { option: `--${name}-file ${file}`, file: file === '-' ? null : file })
    } else if (given === '-') sources.set(name, { option: `--${name} -`, file: null })
    else if (typeof given === 'string') out[name] = given
  }
  const fromStdin = [...sources.values()].filter((s) => s.file === null)
  if (fromStdin.length > 1) throw new UsageError(`stdin can be read once: ${fromStdin.map((s) => s.option).join(' and ')} both ask for it; give a file to all but one`)
  for (const [name, source] of sources) out[name] = await readText(io, source)
  return out
}

async function readText(io: ClientIo, source: Source): Promise<string> {
  const bytes = source.file === null ? await readStdin(io, source) : await readFile(source)
  if (bytes.length === 0) {
    const what = source.file === null ? 'stdin is empty' : `${source.file} is empty`
    throw inputError('input_empty', `${source.option}: ${what}, nothing to send`, source.file === null ? 'Pipe the text in: some-command | teamday … (or < FILE).' : undefined)
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw inputError('input_not_utf8', `${source.option}: not UTF-8 text`, 'Convert it first, e.g. iconv -f LATIN1 -t UTF-8.')
  }
}

function tooLarge(source: Source): ClientError {
  return inputError('input_too_large', `${source.option}: more than ${MAX_TEXT_BYTES} bytes (${LIMIT_WORDS}); nothing was sent`, 'Send less: the tail of a log (tail -c 500000 FILE), or a summary of it.')
}

/** At most MAX_TEXT_BYTES + 1 bytes of stdin: one more than allowed says it is too much. */
async function readStdin(io: ClientIo, source: Source): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let size = 0
  if (!io.stdin && (await import('node:tty')).isatty(0)) {
    // Typed in: without a word it looked like a hang.
    io.err(`${source.option}: reading the text from the terminal; end it with Ctrl-D`)
  }
  try {
    const stream = io.stdin ? io.stdin() : Bun.stdin.stream()
    for await (const chunk of stream) {
      chunks.push(chunk)
      size += chunk.length
      // Leaving the loop stops the reading: a producer of gigabytes is not read to its end.
      if (size > MAX_TEXT_BYTES) throw tooLarge(source)
    }
  } catch (e) {
    // A stdin that is a directory (`< /`) or open for writing only: a usage error, as an
    // unreadable file is (it was exit 1 with the runtime's "EISDIR: illegal operation …").
    if (e instanceof ClientError) throw e
    throw unreadable(source, e, 'stdin')
  }
  return concat(chunks, size)
}

/** A file, a FIFO or a device (`--message-file <(make-log)`): read up to one byte past the limit. */
async function readFile(source: Source): Promise<Uint8Array> {
  const { open } = await import('node:fs/promises')
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(source.file!, 'r')
  } catch (e) {
    throw unreadable(source, e)
  }
  try {
    const buffer = new Uint8Array(MAX_TEXT_BYTES + 1)
    let size = 0
    while (size < buffer.length) {
      const { bytesRead } = await handle.read(buffer, size, buffer.length - size)
      if (bytesRead === 0) break
      size += bytesRead
    }
    if (size > MAX_TEXT_BYTES) throw tooLarge(source)
    return buffer.subarray(0, size)
  } catch (e) {
    if (e instanceof ClientError) throw e
    throw unreadable(source, e)
  } finally {
    await handle.close().catch(() => {})
  }
}

const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
  EBADF: 'it is not open for reading',
  ENOTDIR: 'a part of the path is not a directory',
}

function unreadable(source: Source, e: unknown, what = 'it'): ClientError {
  const code = (e as NodeJS.ErrnoException)?.code
  const why = code && REASONS[code] ? `${REASONS[code]} [${code}]` : (code ?? (e instanceof Error ? e.message : String(e)))
  return inputError('input_unreadable', `${source.option}: cannot read ${what}: ${why}`)
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!
  const all = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    all.set(c, at)
    at += c.length
  }
  return all
}

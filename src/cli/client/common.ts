import { parseArgs, type ParseArgsConfig } from 'node:util'
import { loadClientConfig } from '../../client/config'
import { CLIENT_EXIT, ClientError } from '../../client/errors'
import { ApiClient } from '../../client/http'
import { processIo, table, UsageError, type Io } from '../common'

/** The Io of the client commands: `write` prints without adding a newline (streamed text). */
export interface ClientIo extends Io {
  write?(text: string): void
}

export function writeRaw(io: ClientIo, text: string): void {
  if (io.write) io.write(text)
  else if (io === processIo) process.stdout.write(text)
  else io.out(text)
}

/** Options every client command accepts. */
export const CLIENT_OPTIONS = {
  url: { type: 'string' },
  'token-file': { type: 'string' },
  json: { type: 'boolean' },
  retries: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

export const CLIENT_OPTIONS_USAGE = `  common: [--url URL] [--token-file FILE] [--json] [--retries N (default 3)]
  URL: --url, TEAMDAY_URL, TEAMDAY_API_URL, http://localhost:3000; token: --token-file, TEAMDAY_TOKEN, TEAMDAY_API_TOKEN`

type Options = NonNullable<ParseArgsConfig['options']>

/** node:util parseArgs (Node/Bun core), strict, with the client options; `many` = any number of positionals. */
export function parseClient<T extends Options>(args: string[], options: T, positionals: { min: number; max: number; names: string }) {
  let r
  try {
    r = parseArgs({ args, options: { ...CLIENT_OPTIONS, ...options }, allowPositionals: true, strict: true })
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^.*?: /, '').split('\n')[0]!)
  }
  if (!(r.values as { help?: boolean }).help) {
    if (r.positionals.length < positionals.min) throw new UsageError(`missing ${positionals.names}`)
    if (r.positionals.length > positionals.max) throw new UsageError(`unexpected argument "${r.positionals[positionals.max]}"`)
  }
  return r
}

/** A client for the parsed common options. */
export function makeClient(io: Io, values: { url?: string; 'token-file'?: string; retries?: string }): ApiClient {
  const retries = values.retries === undefined ? 3 : Number(values.retries)
  if (values.retries !== undefined && (!/^\d+$/.test(values.retries) || retries > 10)) throw new UsageError('--retries must be a whole number 0-10')
  const config = loadClientConfig(io.env, { url: values.url, tokenFile: values['token-file'] }, (line) => io.err(line))
  return new ApiClient({ ...config, retries, warn: (line) => io.err(line) })
}

/** Runs a client command: usage errors exit 2 with the usage, ClientErrors with their code. */
export async function clientGuard(io: Io, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body()
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}\n\n${usage}`)
      return CLIENT_EXIT.usage
    }
    if (e instanceof ClientError) {
      io.err(`error: ${e.message}${e.hint ? `\n${e.hint}` : ''}`)
      return e.exit
    }
    io.err(`error: ${e instanceof Error ? e.message : String(e)}`)
    return CLIENT_EXIT.failed
  }
}

export function require_(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing required option ${flag}`)
  return value
}

export function intFlag(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`${flag} must be a whole number ${min}-${max}`)
  return n
}

export function listFlag(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter(Boolean)
}

export function boolFlag(value: string | undefined, flag: string): boolean | undefined {
  if (value === undefined) return undefined
  if (value === 'true') return true
  if (value === 'false') return false
  throw new UsageError(`${flag} must be true or false`)
}

/** Drops undefined fields (unset flags are not sent). */
export function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** `--json`: the exact API body; otherwise the human rendering. */
export function output(io: Io, json: boolean | undefined, body: unknown, human: () => string): void {
  io.out(json ? JSON.stringify(body, null, 2) : human())
}

export function rows(items: Record<string, unknown>[], columns: string[], empty: string): string {
  if (items.length === 0) return empty
  const cut = items.map((r) => Object.fromEntries(columns.map((c) => [c, short(r[c])])))
  return table(cut, columns)
}

/** One object as aligned `key  value` lines (nested values as compact JSON). */
export function details(obj: Record<string, unknown>, keys?: string[]): string {
  const ks = keys ?? Object.keys(obj)
  const width = Math.max(...ks.map((k) => k.length))
  return ks.map((k) => `${k.padEnd(width)}  ${fmt(obj[k])}`).join('\n')
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return '-'
  if (typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

function short(v: unknown): string | null {
  if (v === null || v === undefined) return null
  const s = (Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v)).replace(/\s+/g, ' ')
  return s.length > 60 ? s.slice(0, 59) + '…' : s
}

/** Sub-command help: `teamday agents --help` or `teamday agents list --help`. */
export function isHelp(sub: string | undefined): boolean {
  return sub === undefined || sub === 'help' || sub === '--help' || sub === '-h'
}

const TOKEN_FLAGS = /^--?(token|api-token|access-token|bearer)(=|$)/i
/** A whole argument that looks like a (possibly cut) token, or a full-length token anywhere. */
const TOKEN_LIKE = /^(Bearer\s+)?td_[A-Za-z0-9]{8,}$|td_[A-Za-z0-9]{43}(?![A-Za-z0-9])/

/**
 * Tokens are never accepted as arguments: they would land in shell history and be visible to
 * every local user in `ps`. Returns the error message (which never repeats the argument), or null.
 */
export function tokenArgumentError(argv: string[]): string | null {
  const i = argv.findIndex((a) => TOKEN_FLAGS.test(a) || TOKEN_LIKE.test(a))
  if (i < 0) return null
  const what = TOKEN_FLAGS.test(argv[i]!) ? `option ${argv[i]!.split('=')[0]}` : `argument ${i + 1} looks like a token and`
  return (
    `error: ${what} is refused: a token on the command line is saved in your shell history and visible to every user of this machine (ps, /proc).\n` +
    'Put it in the environment instead (export TEAMDAY_TOKEN=…, or a CI secret exposed as TEAMDAY_TOKEN), or in a file readable only by you: --token-file FILE (chmod 600).\n' +
    'If the token was typed into a shared terminal, rotate it: teamday tokens rotate ID.'
  )
}

/** Admin (database) mode of `tokens` and `audit`: iff --db, --email or --org is passed. */
export function isAdminMode(args: string[]): boolean {
  return args.some((a) => /^--(db|email|org)(=|$)/.test(a))
}

/** `tokens`/`audit` with these arguments talk HTTP (not help, not admin mode). */
export function isClientMode(args: string[]): boolean {
  const [sub] = args
  return sub !== undefined && sub !== 'help' && sub !== '--help' && !isAdminMode(args)
}

/**
 * `<resource> get ID` and `<resource> delete ID`, the same for agents, spaces and tasks.
 * `pick` chooses the object to show from a GET body; `deleted` says what DELETE did.
 */
export async function getOrDelete(
  io: Io,
  sub: 'get' | 'delete',
  rest: string[],
  r: { path: string; noun: string; detail: string[]; pick: (body: any) => Record<string, unknown>; deleted: string; help: (io: Io) => number },
): Promise<number> {
  const { values, positionals } = parseClient(rest, {}, { min: 1, max: 1, names: `${r.noun} ID` })
  if (values.help) return r.help(io)
  const client = makeClient(io, values)
  const id = positionals[0]!
  const url = `${r.path}/${encodeURIComponent(id)}`
  if (sub === 'get') {
    const res = await client.request('GET', url)
    output(io, values.json, res.body, () => details(r.pick(res.body), r.detail))
  } else {
    const res = await client.request('DELETE', url)
    output(io, values.json, res.body, () => `${r.deleted} ${r.noun} ${id}`)
  }
  return CLIENT_EXIT.ok
}

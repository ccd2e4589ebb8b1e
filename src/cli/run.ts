import { parseArgs } from 'node:util'
import { ClientError } from '../client/errors'
import { ConfigError, VERSION } from '../config'
import { processIo, UsageError, type Io } from './common'
import { helpText, usageText } from './help'
import { commandsNamed, EXIT, type ExitKind } from './registry'
import { COMMON_OPTIONS, type Command, type Mode, type Options, type TopCommand } from './spec'

/**
 * `teamday ARGV`: finds the command in the registry, parses its arguments (one parseArgs setup
 * for every command), loads its code and runs it; one guard turns every failure into a message
 * on stderr and an exit code of the registry's table.
 */
export async function run(argv: string[], io: Io = processIo): Promise<number> {
  const refused = tokenArgumentError(argv)
  if (refused) {
    io.err(refused)
    return EXIT.usage
  }
  const [name, ...rest] = argv
  if (name === undefined || isHelp(name)) {
    const topic = rest[0] === undefined ? [] : commandsNamed(rest[0])
    io.out(topic.length ? usageText(topic) : helpText())
    return name === undefined ? EXIT.usage : EXIT.ok
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    io.out(`teamday ${VERSION}`)
    return EXIT.ok
  }
  const named = commandsNamed(name)
  if (named.length === 0) {
    io.err(`error: unknown command "${name}"\n\n${helpText()}`)
    return EXIT.usage
  }
  const mode: Mode = isAdminMode(rest) ? 'admin' : 'client'
  const top = named.find((c) => c.mode === mode) ?? named[0]!
  const usage = usageText([top])
  try {
    // Down the subcommands: `spaces secrets set …`.
    let cmd: Command = top
    const path = [top.name]
    let args = rest
    while (cmd.subcommands) {
      const [sub, ...more] = args
      if (sub === undefined || isHelp(sub)) {
        // `teamday tokens` shows both modes; `teamday spaces secrets --help` the whole of spaces.
        io.out(cmd === top ? usageText(named) : usage)
        return sub === undefined ? EXIT.usage : EXIT.ok
      }
      const next = cmd.subcommands.find((s) => s.name === sub)
      if (!next) throw new UsageError(`unknown ${path.join(' ')} command "${sub}"${otherMode(named, top, path, sub)}`)
      cmd = next
      path.push(sub)
      args = more
    }
    const { values, positionals } = parse(args, { ...COMMON_OPTIONS[top.mode], ...cmd.options })
    if (values.help) {
      io.out(usage)
      return EXIT.ok
    }
    check(cmd, values, positionals)
    const handler = await cmd.load!()
    await handler({ values, positionals, io })
    return EXIT.ok
  } catch (e) {
    const f = failure(e)
    io.err(`error: ${f.message}${f.hint ? `\n${f.hint}` : ''}${f.showUsage ? `\n\n${usage}` : ''}`)
    return EXIT[f.kind]
  }
}

/** What a thrown error means for the user: its exit code, its message, and whether to show the usage. */
export function failure(e: unknown): { kind: ExitKind; message: string; hint?: string; showUsage: boolean } {
  if (e instanceof UsageError) return { kind: 'usage', message: e.message, showUsage: true }
  if (e instanceof ClientError) return { kind: e.kind, message: e.message, hint: e.hint, showUsage: false }
  if (e instanceof ConfigError) return { kind: 'usage', message: e.message, showUsage: false }
  // AppError from a service (admin commands), and anything unexpected: the operation failed.
  return { kind: 'failed', message: e instanceof Error ? e.message : String(e), showUsage: false }
}

/** node:util parseArgs, strict; its errors become usage errors. */
function parse(args: string[], options: Options): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const config = Object.fromEntries(Object.entries(options).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}) }]))
  try {
    return parseArgs({ args, options: config, allowPositionals: true, strict: true })
  } catch (e) {
    // The first sentence: parseArgs' advice on `--` is noise here.
    throw new UsageError((e as Error).message.replace(/^.*?: /, '').split('\n')[0]!.replace(/\. To specify a positional argument .*$/, ''))
  }
}

/** Positional count and required options, before the command's code is loaded. */
function check(cmd: Command, values: Record<string, unknown>, positionals: string[]): void {
  const p = cmd.positionals ?? { min: 0, max: 0, missing: '' }
  if (positionals.length < p.min) throw new UsageError(`missing ${p.missing}`)
  if (positionals.length > p.max) throw new UsageError(`unexpected argument "${positionals[p.max]}"`)
  for (const [name, o] of Object.entries(cmd.options ?? {})) {
    if (o.required && (values[name] === undefined || values[name] === '')) throw new UsageError(`missing required option --${name}`)
  }
}

/** `tokens rotate --db …`: say that rotate exists, in the other mode. */
function otherMode(named: TopCommand[], top: TopCommand, path: string[], sub: string): string {
  const other = named.find((c) => c !== top)
  if (!other || path.length !== 1 || !other.subcommands?.some((s) => s.name === sub)) return ''
  return other.mode === 'client'
    ? ` in admin mode (${sub} is a client command: run it without --db/--email/--org)`
    : ` in client mode (${sub} is an admin command: run it with --db FILE on the server host)`
}

const isHelp = (arg: string) => arg === 'help' || arg === '--help' || arg === '-h'

/** Admin (database) mode of `tokens` and `audit`: iff --db, --email or --org is passed. */
export function isAdminMode(args: string[]): boolean {
  return args.some((a) => /^--(db|email|org)(=|$)/.test(a))
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

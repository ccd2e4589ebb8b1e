import { ClientError, isErrorEnvelope } from '../client/errors'
import { firstWhere } from '../client/lists'
import { COMMIT, VERSION, versionLine } from '../build-info'
import { OptionValueError, parseArgv, UnknownOptionError } from './args'
import { ConfigError } from '../config-error'
import { urlHoldsSecret } from '../database-secrets'
import { loadAdmin } from './admin-bundle'
import { OutputError, processIo, terminalSafeIo, UsageError, type ClientIo, type Io } from './common'
import { COMMAND_NAMES, commandsNamed, EXIT, type ExitKind } from './registry'
import { closest } from './suggest'
import { unlessBlank } from '../text'
import { teamdayCliCommand, teamdayCliOption } from './teamday-cli-names'
import { COMMON_OPTIONS, type Command, type Mode, type Options, type Positionals, type TopCommand } from './spec'

/**
 * `teamday ARGV`: finds the command in the registry, parses its arguments (one parseArgs setup
 * for every command), loads its code and runs it; one guard turns every failure into a message
 * on stderr and an exit code of the registry's table (and, with --json, a JSON error on stdout).
 * Everything a command prints passes terminalSafe (src/cli/common.ts).
 */
export async function run(argv: string[], given: ClientIo = processIo): Promise<number> {
  try {
    const code = await command(argv, given)
    // What is still on its way into a full pipe: a command succeeded only once its output is out.
    if (code === EXIT.ok) await given.flush?.()
    else await given.flush?.().catch(() => {})
    return code
  } catch (e) {
    if (!(e instanceof OutputError)) throw e
    // A reader that closed the pipe (`teamday tasks list | head -1`) took what it wanted: exit 0.
    if (e.code === 'EPIPE') return EXIT.ok
    // `> /dev/full`, a disk error: what the command printed is lost, and the script must know.
    given.err(`error: ${e.message}`)
    return EXIT.failed
  }
}

async function command(argv: string[], given: ClientIo): Promise<number> {
  let io = terminalSafeIo(given)
  const json = wantsJson(argv)
  const refused = tokenArgumentError(argv)
  if (refused) return await fail(io, json, new UsageError(refused.replace(/^error: /, '')))
  const exposed = databasePasswordWarning(argv)
  if (exposed) io.err(exposed)
  // Options before the command (`teamday --json agents list`, `teamday --url URL health`): taken
  // out here and given to the command after its name, as if written there.
  const lead = leadingOptions(argv)
  if (lead.version) {
    // A script that compares versions reads them from JSON, as `health --json` gives the server's.
    io.out(json ? JSON.stringify({ name: 'teamday', version: VERSION, commit: COMMIT }) : versionLine())
    return EXIT.ok
  }
  // `teamday --help agents` is `teamday help agents`.
  const [name, ...rest] = lead.help ? ['help', ...lead.rest.slice(0, 1)] : lead.rest
  if (name === undefined) {
    // Nothing asked (`teamday`, `teamday --url URL`, `teamday --json`): one usage error, the same
    // with options or without: its line, then the overview, on stderr (a script that lost its
    // arguments fails, exit 2); with --json its JSON on stdout too. `--url URL` alone printed the
    // overview without the line that `--json` printed, and `--json` no overview.
    return await fail(io, json, new UsageError('no command given: see "teamday help"'), (await help()).helpText())
  }
  if (isHelp(name)) {
    if (json) return await fail(io, json, new UsageError(HELP_NOT_JSON))
    if (rest[0] === undefined) {
      io.out((await help()).helpText())
      return EXIT.ok
    }
    // `teamday help help`: help about help is the overview.
    if (isHelp(rest[0])) {
      io.out((await help()).helpText())
      return EXIT.ok
    }
    const topic = commandsNamed(rest[0])
    if (topic.length === 0) return await fail(io, json, teamdayCliName(`unknown command "${rest[0]}"`, rest.slice(0, 2), 'teamday help') ?? unknown(`unknown command "${rest[0]}"`, rest[0], TOP_NAMES, 'teamday help'))
    io.out((await help()).usageText(topic))
    return EXIT.ok
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    // A script that compares versions reads them from JSON, as `health --json` gives the server's.
    io.out(json ? JSON.stringify({ name: 'teamday', version: VERSION, commit: COMMIT }) : versionLine())
    return EXIT.ok
  }
  const named = commandsNamed(name)
  if (named.length === 0) return await fail(io, json, misplaced(name, rest, lead.valueTaken) ?? teamdayCliName(`unknown command "${name}"`, [name, ...rest.slice(0, 1)], 'teamday help') ?? unknown(`unknown command "${name}"`, name, TOP_NAMES, 'teamday help'))
  // Chosen by the options before the command too: `teamday --db FILE tokens list --email E`.
  const mode: Mode = isAdminMode(lead.options) || isAdminMode(rest) ? 'admin' : 'client'
  const top = firstWhere(named, (c) => c.mode === mode) ?? named[0]!
  // The usage text is written only when it is shown (help, a usage error): most runs never format it.
  const usage = async () => (await help()).usageText([top])
  let options: Options = {}
  let envFileGiven = false
  try {
    // Down the subcommands: `spaces secrets set …`.
    let cmd: Command = top
    const path = [top.name]
    let args = rest
    // The common options written between a group and its subcommand (`teamday agents --json
    // list`, `teamday tokens --db FILE list`): given to the command as if written after it.
    const between: string[] = []
    while (cmd.subcommands) {
      const end = args[0]?.startsWith('-') && !isHelp(args[0]) ? groupOptionsEnd(args) : 0
      // Only such options (`teamday agents --json`, `teamday tokens --db FILE`): no subcommand, as
      // the group alone is; options then --help: its help.
      const bare = end > 0 && end === args.length
      const [sub, ...more] = bare ? args : args.slice(end)
      if (sub !== undefined && isHelp(sub) && json) throw new UsageError(HELP_NOT_JSON)
      if (sub === undefined || isHelp(sub) || bare) {
        // `teamday tokens` shows both modes; `teamday spaces secrets --help` the whole of spaces.
        const text = cmd === top ? (await help()).usageText(named) : await usage()
        if (sub !== undefined && !bare) {
          io.out(text)
          return EXIT.ok
        }
        // No subcommand (`teamday agents`, `teamday agents --json`): one usage error, as `teamday`
        // alone is: its line then the group's usage on stderr, exit 2; with --json its JSON on stdout.
        return await fail(io, json, new UsageError(`no ${path.join(' ')} command given: see "teamday help ${top.name}"`), text)
      }
      // Any other option where the subcommand goes (`teamday agents --limit 5`).
      if (sub.startsWith('-')) throw optionBeforeCommand(sub, cmd, path, top.name)
      const next = firstWhere(cmd.subcommands, (s) => s.name === sub)
      if (!next) {
        const other = otherMode(named, top, path, sub)
        if (other) throw new UnknownError(`unknown ${path.join(' ')} command "${sub}"${other}. See "teamday help ${top.name}".`)
        throw teamdayCliName(`unknown ${path.join(' ')} command "${sub}"`, [...path, sub], `teamday help ${top.name}`, cmd.subcommands.map((s) => s.name)) ?? unknown(`unknown ${path.join(' ')} command "${sub}"`, sub, cmd.subcommands.map((s) => s.name), `teamday help ${top.name}`)
      }
      between.push(...args.slice(0, end))
      cmd = next
      path.push(sub)
      args = more
    }
    options = { ...COMMON_OPTIONS[top.mode], ...cmd.options }
    const { values, positionals } = parse([...lead.options, ...between, ...args], options, `teamday ${path.join(' ')}`, `teamday help ${top.name}`)
    if (values.help) {
      if (json) throw new UsageError(HELP_NOT_JSON)
      io.out(await usage())
      return EXIT.ok
    }
    check(cmd, values, positionals)
    const envFile = values['env-file']
    if (typeof envFile === 'string') {
      envFileGiven = true
      const { readEnvFile } = await import('./env-file')
      // The environment wins over the file, as with Node's and Bun's --env-file; a variable it
      // sets blank is unset (README, Configuration), so the file's value counts: an undefined CI
      // secret (an empty TEAMDAY_TOKEN) said "no token configured" beside a file that held one.
      const env: ClientIo['env'] = readEnvFile(envFile)
      for (const [name, value] of Object.entries(io.env)) if (unlessBlank(value) !== undefined || !Object.hasOwn(env, name)) env[name] = value
      io = { ...io, env }
    }
    const handler = await cmd.load!()
    await handler({ values, positionals, io })
    return EXIT.ok
  } catch (e) {
    // Stdout is broken: nothing more can be printed on it (run() says so on stderr).
    if (e instanceof OutputError) throw e
    // An admin command's failure, said as an operator should read it (its bundle is loaded already).
    let said = top.mode === 'admin' && failure(e).kind === 'failed' ? (await loadAdmin()).explain(e) : top.mode === 'admin' ? namingOption(e, options) : e
    // No token anywhere, and a .env file here that holds one (TeamDay's docs keep it there for
    // local development): say that teamday does not read it by itself, and how it does.
    if (!envFileGiven && e instanceof ClientError && e.code === 'no_token') said = await (await import('./dotenv-hint')).withDotenvHint(e, io.cwd)
    return await fail(io, json, said, failure(said).showUsage ? await usage() : undefined)
  }
}

/**
 * `help --json`, `agents --help --json`: the usage is text for people, with no JSON form, so
 * --json there is refused as every command without a JSON output refuses it (exit 2, the JSON
 * error on stdout): a script that asked for JSON never gets text to parse.
 */
const HELP_NOT_JSON = 'help has no --json form (it is text for people): leave out --json, or see the README\'s command reference'

/**
 * The redaction of secrets (src/auth/token-text.ts), loaded when a command fails: its module's
 * set-up (tables, regular expressions) is none of a command's that succeeds.
 */
const tokenText = () => import('../auth/token-text')

/** The message on stderr (with the usage when it helps), the JSON error on stdout with --json; the exit code. */
async function fail(io: Io, json: boolean, e: unknown, usage?: string): Promise<number> {
  const { redactSecrets } = await tokenText()
  const f = failure(e)
  // A token in what a server answered (one that echoes the request's Authorization header back,
  // as a debugging proxy does) is not printed: the README's promise holds for this side too. Nor
  // one pasted in the wrong place of a command line, which its error quotes (`--<token>`, an
  // unknown command): its 43 characters without `td_`, or a near miss, included. CI logs keep it.
  io.err(redactSecrets(`error: ${f.message}${f.hint ? `\n${f.hint}` : ''}${f.showUsage && usage ? `\n\n${usage}` : ''}`))
  // One line: after `--stream --json`'s one JSON object a line, the failure is one more line.
  if (json) {
    try {
      io.out(JSON.stringify(redactSecrets(jsonError(e, f))))
    } catch (out) {
      // A reader gone (`| true`) does not turn the failure into a success: its exit code stands
      // (a token created and not delivered was exit 0 with --json).
      if (!(out instanceof OutputError && out.code === 'EPIPE')) throw out
    }
  }
  return EXIT[f.kind]
}

/**
 * What --json prints on stdout when a command fails, so that `jq .code` works: the API's error
 * body as it came, or an object of the same shape for a failure on this side (a connection
 * failure, a usage error, a failed admin operation).
 */
export function jsonError(e: unknown, f: ReturnType<typeof failure>): unknown {
  if (e instanceof ClientError && isErrorEnvelope(e.body)) {
    // The API's body as it came (it has a statusCode); one built on this side (an execution that
    // failed, a secret that is not there) gets its exit code, as the objects below carry theirs.
    return 'statusCode' in e.body || 'exitCode' in e.body ? e.body : { ...e.body, exitCode: EXIT[f.kind] }
  }
  const own = (e as { code?: unknown } | null)?.code
  const code = e instanceof ClientError ? (e.code ?? e.kind) : e instanceof UsageError ? 'usage' : e instanceof ConfigError ? 'config' : typeof own === 'string' ? own : 'failed'
  return { error: true, code, message: f.message, exitCode: EXIT[f.kind] }
}

/** `--json` among the arguments (before a `--`), also when they do not parse. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--')
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json')
}

/** An unknown command or option: one line, a suggestion when one is close, where to look. */
class UnknownError extends UsageError {}

function unknown(what: string, word: string, candidates: readonly string[], see: string): UnknownError {
  const guess = closest(word, candidates)
  return new UnknownError(`${what}${guess ? `; did you mean "${guess}"?` : '.'} See "${see}".`)
}

/**
 * A command of TeamDay's own CLI (`teamday auth login`, `teamday tasks complete ID`): refused as
 * any unknown command is, with what does it here (src/cli/teamday-cli-names.ts). Undefined when
 * `words` is no such command.
 */
function teamdayCliName(what: string, words: readonly string[], see: string, known: readonly string[] = []): UnknownError | undefined {
  const here = teamdayCliCommand(words, known)
  return here ? new UnknownError(`${what}: ${here}. See "${see}".`) : undefined
}

/** The help texts (src/cli/help.ts), loaded when one is shown. */
const help = () => import('./help')

const TOP_NAMES = [...COMMAND_NAMES, 'help']

/** What a thrown error means for the user: its exit code, its message, and whether to show the usage. */
export function failure(e: unknown): { kind: ExitKind; message: string; hint?: string; showUsage: boolean } {
  if (e instanceof UnknownError) return { kind: 'usage', message: e.message, showUsage: false }
  if (e instanceof UsageError) return { kind: 'usage', message: e.message, showUsage: true }
  if (e instanceof ClientError) return { kind: e.kind, message: e.message, hint: e.hint, showUsage: false }
  if (e instanceof ConfigError) return { kind: 'usage', message: e.message, showUsage: false }
  // A value a service refused (an admin command's arguments: `users create --role god`): usage, as
  // the server's 422 is for a client command (src/client/errors.ts).
  if (isRejectedInput(e)) return { kind: 'usage', message: e.message, showUsage: false }
  // Any other AppError from a service (admin commands), and anything unexpected: the operation failed.
  return { kind: 'failed', message: e instanceof Error ? e.message : String(e), showUsage: false }
}

/**
 * An AppError (src/errors.ts) of an invalid value, `validation_failed`, as an admin command's
 * service throws it for one of its arguments. Not the other 422s (`token_limit_reached`: the
 * arguments are fine, the operation failed). By its name and code, not its class: the admin
 * bundle has its own copy.
 */
function isRejectedInput(e: unknown): e is Error & { status: number; details?: unknown } {
  return e instanceof Error && e.name === 'AppError' && (e as { code?: unknown }).code === 'validation_failed'
}

/**
 * A rejected input's message with the option it came from: the service names the field
 * (`expiresInDays must be …`), the user typed `--expires-in-days`.
 */
function namingOption(e: unknown, options: Options): unknown {
  if (!isRejectedInput(e) || !Array.isArray(e.details)) return e
  const names: string[] = []
  for (const d of e.details) {
    const field = (d as { field?: unknown } | null)?.field
    const option = typeof field === 'string' ? field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`) : ''
    if (Object.hasOwn(options, option) && !names.includes(`--${option}`)) names.push(`--${option}`)
  }
  if (names.length === 0) return e
  const named = new Error(`${e.message} (option ${names.join(', ')})`)
  Object.assign(named, { name: e.name, status: e.status, code: (e as { code?: unknown }).code })
  return named
}

/** The strict option parser (src/cli/args.ts); its errors become usage errors (an unknown option: one line and a guess). */
function parse(args: string[], options: Options, command: string, see: string): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    return parseArgv(args, options)
  } catch (e) {
    if (e instanceof UnknownOptionError) {
      const names = Object.entries(options).filter(([, o]) => !o.hidden).map(([k]) => `--${k}`)
      const here = teamdayCliOption(e.option)
      if (here) throw new UnknownError(`unknown option ${e.option} for "${command}": ${here}. See "${see}".`)
      throw unknown(`unknown option ${e.option} for "${command}"`, e.option, names, see)
    }
    if (e instanceof OptionValueError) throw new UsageError(e.message)
    throw e
  }
}

/** Positional count and required options, before the command's code is loaded. */
function check(cmd: Command, values: Record<string, unknown>, positionals: string[]): void {
  const p: Positionals = cmd.positionals ?? { synopsis: '', min: 0, max: 0, missing: '' }
  if (positionals.length < p.min) throw new UsageError(`missing ${p.missing}`)
  if (positionals.length > p.max) throw new UsageError(`unexpected argument "${positionals[p.max]}"${p.extra ? `: ${p.extra}` : ''}`)
  // The first argument names the object, and a client command puts it in the request's path. An
  // empty one (`teamday tasks delete "$ID"` with ID unset) asked for `/api/v1/tasks/` (a 405, or a
  // list read as "not a teamday server"); `.` and `..` are steps of the URL's path, which the URL
  // parser takes (`agents execute .. -m M` ran the default assistant of /api/v1/execute). No id,
  // slug, e-mail or `self` is either.
  const first = positionals[0]
  if (p.min > 0 && (first === '' || first === '.' || first === '..')) {
    // What the first argument is: "space ID" of "space ID and KEY=VALUE", "member" of "member (user id or e-mail)".
    const what = p.missing.split(' (')[0]!.split(' and ')[0]!
    if (first === '') throw new UsageError(`missing ${what}: the argument is empty (an unset variable?)`)
    throw new UsageError(`"${first}" is not a${'aeiou'.includes(what[0]!) ? 'n' : ''} ${what}: it is a step of a URL's path, which would send the request elsewhere`)
  }
  for (const [name, o] of Object.entries(cmd.options ?? {})) {
    const absent = (n: string) => values[n] === undefined || values[n] === ''
    if (o.required && absent(name) && (o.or === undefined || absent(o.or))) throw new UsageError(`missing required option --${name}${o.or ? ` (or --${o.or})` : ''}`)
  }
  // `--db "$DB"` with DB unset: it meant the default database (./data/teamday.db, or TEAMDAY_DB),
  // where a command went on to create one and a key beside it.
  if (values.db === '') throw new UsageError('--db is empty (an unset variable?): give the database file or postgres:// URL, or leave --db out for the default')
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

/**
 * The common options, wherever they may come before a command's own arguments: --json, the
 * client's other common ones (--url, --token-file, --retries, --env-file) and those that choose an
 * admin command's database and user (--db, --email, --org). The one rule of both places they may
 * be written early: before the command's name (`teamday --json agents list`, `teamday --db FILE
 * tokens list --email E`) and between a group and its subcommand (`teamday tokens --db FILE list`).
 * Either way they are given to the command after its name, as if written there, and its own parse
 * checks them (one it does not take, `teamday --url URL users list`, is its unknown option).
 */
const COMMON_FLAGS = ['--json']
const COMMON_VALUED = ['--url', '--token-file', '--retries', '--env-file', '--db', '--email', '--org']
/** Whether `word` is one of the long options `list` names, alone or with its value after `=`. */
function isOneOf(list: readonly string[], word: string): boolean {
  for (let i = 0; i < list.length; i++) if (word === list[i] || word.startsWith(`${list[i]}=`)) return true
  return false
}

/**
 * How many words of `args` from `i` are one common option: 1 for a flag or `--name=value`, 2 for a
 * valued one with its value as the next word (1 when there is none: the command's parse says it is
 * missing), 0 for any other word.
 */
function commonOptionWords(args: readonly string[], i: number): number {
  const word = args[i]!
  if (isOneOf(COMMON_FLAGS, word)) return 1
  if (!isOneOf(COMMON_VALUED, word)) return 0
  return word.includes('=') || i + 1 >= args.length ? 1 : 2
}

/**
 * The common options (commonOptionWords), --help and --version written before the command's name.
 * `options`: the words of the common ones; `rest`: the command and its arguments; `valueTaken`:
 * the last valued option given its value as the next word, and that word (`teamday --db tokens
 * list`: "tokens" is --db's value). Anything else stops the scan (see misplaced).
 */
export function leadingOptions(argv: readonly string[]): { options: string[]; rest: string[]; version: boolean; help: boolean; valueTaken?: { option: string; value: string } } {
  const options: string[] = []
  let version = false
  let wantsHelp = false
  let valueTaken: { option: string; value: string } | undefined
  let i = 0
  while (i < argv.length) {
    const word = argv[i]!
    if (word === '--version' || word === '-v') version = true
    else if (word === '--help' || word === '-h') wantsHelp = true
    else {
      const n = commonOptionWords(argv, i)
      if (n === 0) break
      options.push(...argv.slice(i, i + n))
      valueTaken = n === 2 ? { option: word, value: argv[i + 1]! } : undefined
      i += n
      continue
    }
    i++
  }
  return { options, rest: argv.slice(i), version, help: wantsHelp, ...(valueTaken && { valueTaken }) }
}

/**
 * How many of `args`, the words after a command group (`agents`, `spaces secrets`), are common
 * options (commonOptionWords), from the first. All of them: no subcommand.
 */
export function groupOptionsEnd(args: readonly string[]): number {
  let i = 0
  for (let n; i < args.length && (n = commonOptionWords(args, i)) > 0; ) i += n
  return i
}

/**
 * The commands under `roots` (each with its path of words) that take option `word` (`--name` or
 * `-x`, a value after `=` ignored), each named once as `"teamday …"`; and every option a user could
 * have meant there (the common ones and each command's shown ones), for a guess.
 */
function optionTakers(word: string, roots: [Command, string[]][]): { takers: string[]; candidates: Set<string> } {
  const long = word.startsWith('--')
  const option = (long ? word.slice(2) : word.slice(1)).split('=')[0]!
  const takers: string[] = []
  const candidates = new Set([...COMMON_FLAGS, ...COMMON_VALUED])
  const walk = (c: Command, at: string[]) => {
    if (c.subcommands) return c.subcommands.forEach((s) => walk(s, [...at, s.name]))
    const options = Object.entries(c.options ?? {})
    for (const [n, o] of options) if (!o.hidden) candidates.add(`--${n}`)
    const command = `"teamday ${at.join(' ')}"`
    if (options.some(([n, o]) => (long ? n === option : o.short === option)) && !takers.includes(command)) takers.push(command)
  }
  for (const [c, at] of roots) walk(c, at)
  return { takers, candidates }
}

/**
 * What stopped the scan of the options before the command, when it is not a command: an option
 * of the command named after it (`teamday --db FILE --limit 5 audit list`), to be written after
 * that command (or, taken by none of its commands, its unknown option, with a guess); or a command
 * taken as the value of the option before it (`teamday --db tokens list`: the file is missing).
 * Undefined when nothing says so (an unknown command).
 */
function misplaced(word: string, rest: readonly string[], valueTaken: { option: string; value: string } | undefined): UnknownError | undefined {
  if (valueTaken && commandsNamed(valueTaken.value).length > 0) {
    return new UnknownError(`option ${valueTaken.option} took "${valueTaken.value}" as its value, leaving "${word}" as the command: give ${valueTaken.option} its value (teamday ${valueTaken.option} VALUE ${valueTaken.value} …). See "teamday help ${valueTaken.value}".`)
  }
  if (!word.startsWith('-')) return undefined
  const name = rest.find((w) => commandsNamed(w).length > 0)
  if (name === undefined) return undefined
  const { takers, candidates } = optionTakers(word, commandsNamed(name).map((top) => [top, [top.name]]))
  const see = `teamday help ${name}`
  if (takers.length === 0) return unknown(`unknown option ${word} before "teamday ${name}"`, word, [...candidates], see)
  return new UnknownError(
    `option ${word} before the command: it is an option of ${takers.join(', ')}: write it after the command (only ${[...COMMON_FLAGS, ...COMMON_VALUED].join(', ')}, --help and --version may come before it). See "${see}".`,
  )
}

/**
 * An option other than the common ones where a group's subcommand goes (`teamday agents --limit
 * 5`): which commands of the group take it, to be written after one; or, taken by none, an unknown
 * option of the group (with a guess).
 */
function optionBeforeCommand(word: string, group: Command, path: string[], topic: string): UnknownError {
  const { takers, candidates } = optionTakers(word, [[group, path]])
  const see = `teamday help ${topic}`
  if (takers.length === 0) return unknown(`unknown option ${word} for "teamday ${path.join(' ')}"`, word, [...candidates], see)
  return new UnknownError(`no ${path.join(' ')} command given before ${word} (an option of ${takers.join(', ')}: write it after the command). See "${see}".`)
}

/**
 * Admin (database) mode of `tokens` and `audit`: iff --db, --email or --org is passed. String
 * tests, not a regular expression: every command passes here, and compiling one on its first use
 * costs a compiled client command more than the whole check (docs/performance.md).
 */
export function isAdminMode(args: string[]): boolean {
  for (let i = 0; i < args.length; i++) if (isOneOf(ADMIN_FLAGS, args[i]!)) return true
  return false
}
const ADMIN_FLAGS = ['--db', '--email', '--org']

const TOKEN_FLAGS = /^--?(token|api-token|access-token|bearer)(=|$)/i
/** A whole argument that looks like a (possibly cut) token, or a full-length token anywhere. */
const TOKEN_LIKE = /^(Bearer\s+)?td[or]?_[A-Za-z0-9]{8,}$|td[or]?_[A-Za-z0-9]{43}(?![A-Za-z0-9])/

// What each expression needs to match, tested first: most arguments cannot match, and a regular
// expression is compiled on its first use (as much as the rest of `run` before the request).
const mayBeTokenFlag = (a: string) => a.startsWith('-') && (a.toLowerCase().includes('token') || a.toLowerCase().includes('bearer'))
const mayBeToken = (a: string) => a.includes('td_') || a.includes('tdo_') || a.includes('tdr_')
const isTokenArgument = (a: string) => (mayBeTokenFlag(a) && TOKEN_FLAGS.test(a)) || (mayBeToken(a) && TOKEN_LIKE.test(a))

/**
 * Tokens are never accepted as arguments: they would land in shell history and be visible to
 * every local user in `ps`. Returns the error message (which never repeats the argument), or null.
 */
export function tokenArgumentError(argv: string[]): string | null {
  let i = 0
  while (i < argv.length && !isTokenArgument(argv[i]!)) i++
  if (i === argv.length) return null
  const what = TOKEN_FLAGS.test(argv[i]!) ? `option ${argv[i]!.split('=')[0]}` : `argument ${i + 1} looks like a token and`
  return (
    `error: ${what} is refused: a token on the command line is saved in your shell history and visible to every user of this machine (ps, /proc).\n` +
    'Put it in the environment instead (export TEAMDAY_TOKEN=…, or a CI secret exposed as TEAMDAY_TOKEN), or in a file readable only by you: --token-file FILE (chmod 600).\n' +
    'If the token was typed into a shared terminal, rotate it: teamday tokens rotate ID.'
  )
}

/**
 * A PostgreSQL URL with its password among the arguments (`--to postgres://u:pass@…`, `--db …`):
 * warned about, not refused (psql takes one too, and scripts pass them), as it lands where a token
 * is refused for landing: shell history and `ps` for every user of the machine. Returns the
 * warning (which never repeats the argument), or null. String tests first: most arguments are
 * no URL at all.
 */
export function databasePasswordWarning(argv: string[]): string | null {
  // A loop, not findIndex: JavaScriptCore writes findIndex in JavaScript and compiles it on first
  // call, a cost every client command would pay (test/client-startup.test.ts).
  let i = 0
  while (i < argv.length && !hasDatabasePassword(argv[i]!)) i++
  if (i === argv.length) return null
  return (
    `warning: argument ${i + 1} holds a database password: on the command line it is saved in your shell history and visible to every user of this machine (ps, /proc).\n` +
    'Give it in the environment instead: PGPASSWORD=… with the URL written without it (postgres://USER@HOST/DB), or the whole URL in TEAMDAY_DATABASE_URL in place of --db.'
  )
}

function hasDatabasePassword(arg: string): boolean {
  const at = arg.toLowerCase().indexOf('postgres')
  if (at < 0 || (at > 0 && arg[at - 1] !== '=')) return false
  let u: URL
  try {
    u = new URL(arg.slice(at))
  } catch {
    return false
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return false
  // The server's list (src/database-secrets.ts, a file without imports: not src/config.ts).
  return urlHoldsSecret(u)
}

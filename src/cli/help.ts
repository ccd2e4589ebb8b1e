import { VERSION } from '../build-info'
import { allCommands, EXIT, EXIT_MEANING, type ExitKind } from './registry'
import { COMMON_OPTIONS, type Command, type Mode, type Options, type TopCommand } from './spec'

/** `teamday help` and every usage text, generated from the registry. */

const WIDTH = 120
/** Summaries start in this column when the synopsis is short enough. */
const COLUMN = 46
/** …and in `teamday help`, after the longest `teamday spaces list|get|… ...`. */
const OVERVIEW_COLUMN = 60

/** The options as the usage shows them: `--name N`, `[--limit N]`, `[--archived]`. */
export function optionWords(options: Options = {}): string[] {
  const word = (name: string, o: Options[string]) => (o.type === 'boolean' ? `--${name}` : `--${name} ${o.arg ?? 'VALUE'}`)
  const partners = new Set(Object.values(options).flatMap((o) => (o.or ? [o.or] : [])))
  return Object.entries(options)
    .filter(([name, o]) => !o.hidden && !partners.has(name))
    .map(([name, o]) => {
      const other = o.or === undefined ? undefined : options[o.or]
      const words = other ? `${word(name, o)} | ${word(o.or!, other)}` : word(name, o)
      return o.required ? words : `[${words}]`
    })
}

/** `lead word word …` in lines of at most WIDTH characters, continuations aligned after the lead. */
function wrap(lead: string, words: string[]): string[] {
  const lines: string[] = []
  let line = lead
  for (const w of words) {
    if (line !== lead && line.length + 1 + w.length > WIDTH) {
      lines.push(line)
      line = ' '.repeat(lead.length)
    }
    line += ' ' + w
  }
  return [...lines, line]
}

/** A short text beside the synopsis when it fits on the line, else on its own line below it. */
function withSummary(lines: string[], summary: string, column: number): string[] {
  const [first, ...rest] = lines
  if (rest.length === 0 && first!.length <= column - 2) return [`${first!.padEnd(column)}${summary}`]
  return [...lines, `      ${summary}`]
}

const CLIENT_NOTES = [
  `  common: ${optionWords(COMMON_OPTIONS.client).join(' ')}`,
  '  URL: --url, TEAMDAY_URL, TEAMDAY_API_URL, http://localhost:3000; token: --token-file, TEAMDAY_TOKEN, TEAMDAY_API_TOKEN',
]

/** Every command that runs under `c`, with its words after `teamday`. */
function leaves(c: Command, path: string[] = [c.name]): { path: string[]; cmd: Command }[] {
  return c.subcommands ? c.subcommands.flatMap((s) => leaves(s, [...path, s.name])) : [{ path, cmd: c }]
}

function synopsis(c: Command): string[] {
  return [...(c.positionals ? [c.positionals.synopsis] : []), ...optionWords(c.options)]
}

/** The usage of one top-level command (one mode of it). */
function usageOf(top: TopCommand): string {
  const runs = leaves(top).map(({ path, cmd }) => ({ cmd, lines: wrap(`  teamday ${path.join(' ')}`, synopsis(cmd)) }))
  // One column for the block: after the longest synopsis that may carry its summary on its line.
  const short = runs.filter((r) => r.lines.length === 1 && r.lines[0]!.length <= COLUMN - 2).map((r) => r.lines[0]!.length)
  const column = Math.max(0, ...short) + 2
  const lines = runs.flatMap(({ cmd, lines }) => [...withSummary(lines, cmd.summary, column), ...(cmd.notes ?? []).map((n) => `      ${n}`)])
  return [`usage${top.usageHeader ? `: ${top.usageHeader}` : ''}:`, ...lines, ...(top.mode === 'client' ? CLIENT_NOTES : [])].join('\n')
}

/** The usage of a name: `tokens` and `audit` show their admin and their client mode. */
export function usageText(tops: readonly TopCommand[]): string {
  return tops.map(usageOf).join('\n\n')
}

/** One line per top-level command of a mode, for `teamday help`. */
function overview(mode: Mode): string[] {
  return allCommands().filter((c) => c.mode === mode).map((c) => {
    const brief = c.subcommands ? `${c.subcommands.map((s) => s.name).join('|')} ...` : synopsis(c).join(' ')
    return `${`  teamday ${c.name} ${brief}`.trimEnd().padEnd(OVERVIEW_COLUMN - 2)}  ${c.summary}`
  })
}

const exitCodes = (Object.keys(EXIT) as ExitKind[]).map((k) => `${EXIT[k]} ${EXIT_MEANING[k]}`).join(', ')

const ENVIRONMENT = `Environment (server; each is described in README, Configuration):
  listening: HOST, PORT, TEAMDAY_PUBLIC_URL, TEAMDAY_TRUSTED_PROXY_HOPS, TEAMDAY_TRUSTED_PROXIES, TEAMDAY_CORS_ORIGINS,
    TEAMDAY_COMPRESSION, NODE_ENV, TEAMDAY_TLS_CERT, TEAMDAY_TLS_KEY (HTTPS served by teamday itself),
    TEAMDAY_TLS_CHECK_MS, TEAMDAY_HSTS_MAX_AGE (Strict-Transport-Security over HTTPS)
  database and keys: TEAMDAY_DB, TEAMDAY_DATABASE_URL, TEAMDAY_DB_POOL, TEAMDAY_DB_STATEMENT_TIMEOUT_MS,
    TEAMDAY_DB_START_WAIT_MS, TEAMDAY_CACHE, TEAMDAY_ENCRYPTION_KEY, TEAMDAY_ENCRYPTION_KEYS_PREVIOUS, TEAMDAY_KEY_FILE
  first start: TEAMDAY_ADMIN_EMAIL, TEAMDAY_ADMIN_PASSWORD_FILE
  retention (default: keep for ever): TEAMDAY_AUDIT_RETENTION_DAYS, TEAMDAY_EXECUTION_RETENTION_DAYS
  logs and metrics: TEAMDAY_LOG_LEVEL, TEAMDAY_LOG_FORMAT, TEAMDAY_ACCESS_LOG, TEAMDAY_METRICS_PORT, TEAMDAY_METRICS_HOST
  limits: TEAMDAY_RATE_LIMIT, TEAMDAY_USER_RATE_LIMIT, TEAMDAY_AUTH_FAILURE_LIMIT, TEAMDAY_LEAK_REPORT_RATE_LIMIT,
    TEAMDAY_CLI_LOGIN_RATE_LIMIT, TEAMDAY_CLI_POLL_RATE_LIMIT, TEAMDAY_CONSOLE_RATE_LIMIT, TEAMDAY_MAX_TOKENS_PER_USER
  model providers and executions: OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, TEAMDAY_PROVIDER,
    TEAMDAY_DEFAULT_MODEL, TEAMDAY_MODEL_ALIASES, TEAMDAY_MAX_CONCURRENT_EXECUTIONS, TEAMDAY_MAX_QUEUED_EXECUTIONS_PER_USER,
    TEAMDAY_EXECUTION_TIMEOUT_MS, TEAMDAY_EXECUTION_LEASE_MS, TEAMDAY_MAX_DELEGATION_DEPTH,
    TEAMDAY_MAX_DELEGATIONS_PER_RUN, TEAMDAY_MAX_HISTORY_CHARS
Environment (client): TEAMDAY_URL, TEAMDAY_API_URL, TEAMDAY_TOKEN, TEAMDAY_API_TOKEN (see README, Client commands);
  NODE_EXTRA_CA_CERTS=CA.pem to trust a self-signed or private-CA server certificate.`

/** `teamday help`: every command, grouped by mode. */
export function helpText(): string {
  return [
    `teamday ${VERSION}: self-hosted TeamDay v1 API server and its client, in one executable`,
    '',
    'Server and administration (work on the database file, also while a server runs; no token):',
    ...overview('admin'),
    '  only serve, migrate, users create and restore create a database; each says on stderr which one it opened',
    '',
    'Client (talk HTTP to a server with a token; for scripts, cron jobs, CI and containers):',
    ...overview('client'),
    ...CLIENT_NOTES,
    '  common options may also come before the command or its subcommand: teamday --json agents list, teamday agents --json list;',
    '    so may --db, --email and --org of the admin commands: teamday --db FILE tokens list --email E',
    '  a token is never accepted as an argument (shell history, ps)',
    '  --env-file FILE (every command): VAR=value lines; a .env file is never read by itself; set variables win',
    `  exit codes: ${exitCodes}`,
    '',
    `${'  teamday --version [--json] | help [COMMAND]'.padEnd(OVERVIEW_COLUMN)}e.g. teamday help agents`,
    '',
    ENVIRONMENT,
  ].join('\n')
}

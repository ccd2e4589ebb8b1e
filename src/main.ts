#!/usr/bin/env bun
import './production-mode' // first: before anything imports Elysia
// The entry point. It loads only what the command needs: a client command (cron, CI) never
// evaluates the server, drizzle, Elysia or the model SDKs; `--version` and `help` load nothing.
import { writeFileSync } from 'node:fs'
import { VERSION } from './config'
import { CLIENT_OPTIONS_USAGE, isClientMode, tokenArgumentError } from './cli/client/common'
import { EXIT, guard, parse, processIo, withRuntime, type Io } from './cli/common'

export const HELP = `teamday ${VERSION}: self-hosted TeamDay v1 API server and its client, in one executable

Server and administration (work on the database file, also while a server runs; no token):
  teamday serve [--host 0.0.0.0] [--port 3000] [--db ./data/teamday.db]
  teamday users create|set-role|remove ...
  teamday tokens create|list|revoke --email E|--db FILE ...   admin mode: --email, --org or --db
  teamday audit list --org SLUG|--db FILE ...                 security events of every organization
  teamday migrate [--db FILE]                 apply pending database migrations
  teamday openapi [--out FILE]                print or write the OpenAPI document

Client (talk HTTP to a server with a token; for scripts, cron jobs, CI and containers):
  teamday agents list|get|create|update|delete|execute ...
  teamday executions list|get|tree|cancel|logs ...
  teamday tasks list|get|create|update|delete ...
  teamday spaces list|get|create|update|delete ...   teamday spaces secrets list|set|delete ...
  teamday tokens list|create|revoke|rotate ...         (without --email/--org/--db)
  teamday audit list ...                               (without --org/--db; organization admins)
  teamday whoami                              the token in use, its role and expiry
  teamday health                              is the server up? (no token needed)
${CLIENT_OPTIONS_USAGE}
  a token is never accepted as an argument (shell history, ps)
  exit codes: 0 ok, 1 operation failed, 2 usage, 3 authentication/permission, 4 not found, 5 server/network

  teamday --version | help [COMMAND]          e.g. teamday help agents

Environment (server): HOST, PORT, TEAMDAY_DB, TEAMDAY_ENCRYPTION_KEY, TEAMDAY_ENCRYPTION_KEYS_PREVIOUS,
TEAMDAY_KEY_FILE, TEAMDAY_TRUSTED_PROXY_HOPS, TEAMDAY_TRUSTED_PROXIES, TEAMDAY_LOG_LEVEL, TEAMDAY_RATE_LIMIT,
TEAMDAY_AUTH_FAILURE_LIMIT, TEAMDAY_LEAK_REPORT_RATE_LIMIT; model providers: OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_API_KEY,
ANTHROPIC_BASE_URL, TEAMDAY_DEFAULT_MODEL, TEAMDAY_PROVIDER, TEAMDAY_MAX_CONCURRENT_EXECUTIONS,
TEAMDAY_EXECUTION_TIMEOUT_MS, TEAMDAY_MAX_DELEGATION_DEPTH. Environment (client): TEAMDAY_URL, TEAMDAY_API_URL, TEAMDAY_TOKEN,
TEAMDAY_API_TOKEN (see README).`

type Command = (args: string[], io: Io) => Promise<number>

/** Each command: how to load its code (and its usage text), given its arguments. */
const COMMANDS: Record<string, (args: string[]) => Promise<{ run: Command; usage: string }>> = {
  serve: async () => import('./cli/admin/serve').then((m) => ({ run: (a, io) => m.serveCommand(a, io), usage: m.SERVE_USAGE })),
  users: async () => import('./cli/admin/users').then((m) => ({ run: m.usersCommand, usage: m.USERS_USAGE })),
  // Admin mode works on the database; client mode (HTTP) loads only the client.
  tokens: async (args) =>
    isClientMode(args)
      ? import('./cli/client/tokens').then((m) => ({ run: m.clientTokensCommand, usage: m.CLIENT_TOKENS_USAGE }))
      : import('./cli/admin/tokens').then((m) => ({ run: m.tokensCommand, usage: m.TOKENS_USAGE })),
  audit: async (args) =>
    isClientMode(args)
      ? import('./cli/client/audit').then((m) => ({ run: m.clientAuditCommand, usage: m.CLIENT_AUDIT_USAGE }))
      : import('./cli/admin/audit').then((m) => ({ run: m.auditCommand, usage: m.AUDIT_USAGE })),
  agents: async () => import('./cli/client/agents').then((m) => ({ run: m.agentsCommand, usage: m.AGENTS_USAGE })),
  executions: async () => import('./cli/client/executions').then((m) => ({ run: m.executionsCommand, usage: m.EXECUTIONS_USAGE })),
  tasks: async () => import('./cli/client/tasks').then((m) => ({ run: m.tasksCommand, usage: m.TASKS_USAGE })),
  spaces: async () => import('./cli/client/spaces').then((m) => ({ run: m.spacesCommand, usage: m.SPACES_USAGE })),
  whoami: async () => import('./cli/client/status').then((m) => ({ run: m.whoamiCommand, usage: m.WHOAMI_USAGE })),
  health: async () => import('./cli/client/status').then((m) => ({ run: m.healthCommand, usage: m.HEALTH_USAGE })),
}

/** The OpenAPI document of this build, generated from the routes (no database file needed). */
export async function openapiDocument(): Promise<unknown> {
  const [{ loadConfig }, { createApp }, { SecretBox }, { openDatabase }, { runMigrations }, { systemClock }, { createLogger }] = await Promise.all([
    import('./config'),
    import('./app'),
    import('./crypto/secretbox'),
    import('./db/client'),
    import('./db/migrate'),
    import('./deps'),
    import('./logger'),
  ])
  const config = loadConfig({}, { dbPath: ':memory:' })
  const db = openDatabase(':memory:')
  runMigrations(db)
  const app = createApp({ db, box: new SecretBox(crypto.getRandomValues(new Uint8Array(32))), clock: systemClock, logger: createLogger('silent'), config })
  const res = await app.handle(new Request('http://localhost/swagger/json'))
  db.$client.close()
  return res.json()
}

export async function run(argv: string[], io: Io = processIo): Promise<number> {
  const [cmd, ...rest] = argv
  const tokenArg = tokenArgumentError(argv)
  if (tokenArg) {
    io.err(tokenArg)
    return EXIT.usage
  }
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h': {
      const topic = rest[0] !== undefined && Object.hasOwn(COMMANDS, rest[0]) ? COMMANDS[rest[0]] : undefined
      io.out(topic ? (await topic(['help'])).usage : HELP)
      return cmd === undefined ? EXIT.usage : EXIT.ok
    }
    case '--version':
    case '-v':
    case 'version':
      io.out(`teamday ${VERSION}`)
      return EXIT.ok
    case 'migrate':
      return guard(io, 'usage: teamday migrate [--db FILE]', () => {
        const { values } = parse(rest, {})
        return withRuntime(io, values.db, (rt) => {
          io.out(rt.migrationsApplied > 0 ? `applied ${rt.migrationsApplied} migration(s) to ${rt.config.dbPath}` : `${rt.config.dbPath} is up to date`)
          return EXIT.ok
        })
      })
    case 'openapi':
      return guard(io, 'usage: teamday openapi [--out FILE]', async () => {
        const { values } = parse(rest, { out: { type: 'string' } })
        const json = JSON.stringify(await openapiDocument(), null, 2) + '\n'
        if (values.out) {
          writeFileSync(values.out, json)
          io.out(`wrote ${values.out}`)
        } else io.out(json)
        return EXIT.ok
      })
    default: {
      const load = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined
      if (load) return (await load(rest)).run(rest, io)
      io.err(`error: unknown command "${cmd}"\n\n${HELP}`)
      return EXIT.usage
    }
  }
}

if (import.meta.main) {
  // No top-level await: the --bytecode build compiles to CommonJS.
  void run(process.argv.slice(2)).then((code) => process.exit(code))
}

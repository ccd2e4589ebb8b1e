#!/usr/bin/env bun
import './production-mode' // first: before anything imports Elysia
import { writeFileSync } from 'node:fs'
import { createApp } from './app'
import { loadConfig, VERSION } from './config'
import { SecretBox } from './crypto/secretbox'
import { openDatabase } from './db/client'
import { runMigrations } from './db/migrate'
import { systemClock } from './deps'
import { createLogger } from './logger'
import { auditCommand, AUDIT_USAGE } from './cli/audit'
import { agentsCommand, AGENTS_USAGE } from './cli/client/agents'
import { CLIENT_OPTIONS_USAGE, tokenArgumentError } from './cli/client/common'
import { executionsCommand, EXECUTIONS_USAGE } from './cli/client/executions'
import { spacesCommand, SPACES_USAGE } from './cli/client/spaces'
import { HEALTH_USAGE, healthCommand, whoamiCommand, WHOAMI_USAGE } from './cli/client/status'
import { tasksCommand, TASKS_USAGE } from './cli/client/tasks'
import { EXIT, guard, parse, processIo, withRuntime, type Io } from './cli/common'
import { serveCommand, SERVE_USAGE } from './cli/serve'
import { tokensCommand, TOKENS_USAGE } from './cli/tokens'
import { usersCommand, USERS_USAGE } from './cli/users'

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
TEAMDAY_KEY_FILE, TEAMDAY_TRUST_PROXY, TEAMDAY_LOG_LEVEL, TEAMDAY_RATE_LIMIT, TEAMDAY_AUTH_FAILURE_LIMIT,
TEAMDAY_LEAK_REPORT_RATE_LIMIT; model providers: OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_API_KEY,
ANTHROPIC_BASE_URL, TEAMDAY_DEFAULT_MODEL, TEAMDAY_PROVIDER, TEAMDAY_MAX_CONCURRENT_EXECUTIONS,
TEAMDAY_EXECUTION_TIMEOUT_MS, TEAMDAY_MAX_DELEGATION_DEPTH. Environment (client): TEAMDAY_URL, TEAMDAY_API_URL, TEAMDAY_TOKEN,
TEAMDAY_API_TOKEN (see README).`

const USAGES: Record<string, string> = {
  serve: SERVE_USAGE,
  users: USERS_USAGE,
  tokens: TOKENS_USAGE,
  audit: AUDIT_USAGE,
  agents: AGENTS_USAGE,
  executions: EXECUTIONS_USAGE,
  tasks: TASKS_USAGE,
  spaces: SPACES_USAGE,
  whoami: WHOAMI_USAGE,
  health: HEALTH_USAGE,
}

/** The OpenAPI document of this build, generated from the routes (no database file needed). */
export async function openapiDocument(): Promise<unknown> {
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
    case '-h':
      io.out((rest[0] !== undefined && USAGES[rest[0]]) || HELP)
      return cmd === undefined ? EXIT.usage : EXIT.ok
    case '--version':
    case '-v':
    case 'version':
      io.out(`teamday ${VERSION}`)
      return EXIT.ok
    case 'serve':
      return serveCommand(rest, io)
    case 'users':
      return usersCommand(rest, io)
    case 'tokens':
      return tokensCommand(rest, io)
    case 'audit':
      return auditCommand(rest, io)
    case 'agents':
      return agentsCommand(rest, io)
    case 'executions':
      return executionsCommand(rest, io)
    case 'tasks':
      return tasksCommand(rest, io)
    case 'spaces':
      return spacesCommand(rest, io)
    case 'whoami':
      return whoamiCommand(rest, io)
    case 'health':
      return healthCommand(rest, io)
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
    default:
      io.err(`error: unknown command "${cmd}"\n\n${HELP}`)
      return EXIT.usage
  }
}

if (import.meta.main) {
  // No top-level await: the --bytecode build compiles to CommonJS.
  void run(process.argv.slice(2)).then((code) => process.exit(code))
}

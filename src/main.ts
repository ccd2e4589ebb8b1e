#!/usr/bin/env bun
import { writeFileSync } from 'node:fs'
import { createApp } from './app'
import { loadConfig, VERSION } from './config'
import { SecretBox } from './crypto/secretbox'
import { openDatabase } from './db/client'
import { runMigrations } from './db/migrate'
import { systemClock } from './deps'
import { createLogger } from './logger'
import { auditCommand, AUDIT_USAGE } from './cli/audit'
import { EXIT, guard, parse, processIo, withRuntime, type Io } from './cli/common'
import { serveCommand, SERVE_USAGE } from './cli/serve'
import { tokensCommand, TOKENS_USAGE } from './cli/tokens'
import { usersCommand, USERS_USAGE } from './cli/users'

export const HELP = `teamday ${VERSION}: self-hosted TeamDay v1 API server, in one executable

Server and administration (work on the database file, also while a server runs):
  teamday serve [--host 0.0.0.0] [--port 3000] [--db ./data/teamday.db]
  teamday users create|set-role|remove ...
  teamday tokens create|list|revoke ...
  teamday audit list [--org SLUG] [--type T]   security events (token lifecycle, leaks, denials)
  teamday migrate [--db FILE]                 apply pending database migrations
  teamday openapi [--out FILE]                print or write the OpenAPI document
  teamday --version | help [COMMAND]

${SERVE_USAGE}

${USERS_USAGE}

${TOKENS_USAGE}

${AUDIT_USAGE}

Environment: HOST, PORT, TEAMDAY_DB, TEAMDAY_ENCRYPTION_KEY, TEAMDAY_ENCRYPTION_KEYS_PREVIOUS,
TEAMDAY_KEY_FILE, TEAMDAY_TRUST_PROXY, TEAMDAY_LOG_LEVEL, TEAMDAY_RATE_LIMIT, TEAMDAY_AUTH_FAILURE_LIMIT,
TEAMDAY_LEAK_REPORT_RATE_LIMIT (see README).`

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
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      if (rest[0] === 'serve') io.out(SERVE_USAGE)
      else if (rest[0] === 'users') io.out(USERS_USAGE)
      else if (rest[0] === 'tokens') io.out(TOKENS_USAGE)
      else if (rest[0] === 'audit') io.out(AUDIT_USAGE)
      else io.out(HELP)
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

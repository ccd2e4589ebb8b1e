import { describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config'
import { loopbackHttpPort } from '../src/console/http'
import { errorBody, STATUS_TEXT } from '../src/errors'

// deploy/compose.yaml and deploy/nginx.conf are what the README's "Running several instances"
// shows, deploy/teamday.service what its systemd section shows: a user may copy a file or the
// README, so each file and its README block must be the same text. Every YAML example in the
// README must parse (the compose example once did not: an unquoted `${VAR:?message: …}`), and so
// must its shell and JSON examples.
const root = join(import.meta.dir, '..')
const readme = readFileSync(join(root, 'README.md'), 'utf8')
const compose = readFileSync(join(root, 'deploy', 'compose.yaml'), 'utf8')
const nginx = readFileSync(join(root, 'deploy', 'nginx.conf'), 'utf8')
const unit = readFileSync(join(root, 'deploy', 'teamday.service'), 'utf8')
const config = readFileSync(join(root, 'src', 'config.ts'), 'utf8')
const serve = readFileSync(join(root, 'src', 'cli', 'admin', 'serve.ts'), 'utf8')
const msOf = (name: string) => Number(new RegExp(`${name} = ([\\d_]+)`).exec(serve)![1]!.replace(/_/g, ''))
/** The graceful stop: running executions get SHUTDOWN_GRACE_MS, then requests SHUTDOWN_DRAIN_MS (src/cli/admin/serve.ts). */
const gracefulStopMs = msOf('SHUTDOWN_GRACE_MS') + msOf('SHUTDOWN_DRAIN_MS')

/** The README's fenced blocks of a language, as their text. */
function blocks(lang: string): string[] {
  return [...readme.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm'))].map((m) => m[1]!)
}

describe('deploy/: the README\'s compose file, nginx config and systemd unit, as files', () => {
  test('the README shows the three files as they are', () => {
    expect(blocks('yaml')).toContain(compose)
    expect(blocks('nginx')).toContain(nginx)
    expect(blocks('ini')).toContain(unit)
  })

  test('every YAML example in the README parses', () => {
    const yaml = blocks('yaml')
    expect(yaml.length).toBeGreaterThanOrEqual(4)
    for (const text of yaml) expect(() => Bun.YAML.parse(text)).not.toThrow()
  })

  test('every shell example in the README is valid shell (bash -n), every JSON example valid JSON', () => {
    const shell = [...blocks('sh'), ...blocks('bash')]
    expect(shell.length).toBeGreaterThanOrEqual(10)
    for (const text of shell) {
      const check = Bun.spawnSync(['bash', '-n'], { stdin: new TextEncoder().encode(text) })
      expect({ text, error: check.stderr.toString() }).toEqual({ text, error: '' })
    }
    for (const text of blocks('json')) expect(() => JSON.parse(text)).not.toThrow()
  })

  test('compose: PostgreSQL, two replicas of this repository\'s image on it with one key, nginx in front of both', () => {
    const c = Bun.YAML.parse(compose) as any
    expect(Object.keys(c.services)).toEqual(['db', 'app1', 'app2', 'lb'])
    for (const name of ['app1', 'app2']) {
      const app = c.services[name]
      expect(app.build).toBe('..')
      expect(app.depends_on.db.condition).toBe('service_healthy')
      // Longer than the graceful stop, or compose kills it midway.
      expect(Number(/^(\d+)s$/.exec(app.stop_grace_period)![1]) * 1000).toBeGreaterThan(gracefulStopMs)
      expect(app.environment.TEAMDAY_DATABASE_URL).toBe(`postgres://${c.services.db.environment.POSTGRES_USER}:${c.services.db.environment.POSTGRES_PASSWORD}@db:5432/${c.services.db.environment.POSTGRES_DB}`)
      // Required, and never a literal key in a file: compose refuses to start without it.
      expect(app.environment.TEAMDAY_ENCRYPTION_KEY).toStartWith('${TEAMDAY_ENCRYPTION_KEY:?')
      // Every setting it names is one teamday reads.
      for (const key of Object.keys(app.environment)) expect(config).toContain(`env.${key}`)
    }
    // Healthy only once PostgreSQL takes TCP connections: on an empty volume the postgres image
    // first runs a set-up server on its Unix socket only (listen_addresses=''), where a socket
    // pg_isready already succeeds, and a replica started then is refused on db:5432 and exits.
    const check: string[] = c.services.db.healthcheck.test
    expect(check.slice(0, 2)).toEqual(['CMD', 'pg_isready'])
    expect(check[check.indexOf('-h') + 1]).toBe('127.0.0.1')
    expect(check[check.indexOf('-d') + 1]).toBe(c.services.db.environment.POSTGRES_DB)
    expect(c.services.lb.volumes).toEqual(['./nginx.conf:/etc/nginx/conf.d/default.conf:ro'])
    // nginx serves plain HTTP: published on loopback only, at the port of the public URL, an
    // http://localhost one (where the console signs in over plain HTTP: console-auth's tests).
    const [published] = c.services.lb.ports
    const [bind, port] = published.split(':')
    expect(bind).toBe('127.0.0.1')
    for (const name of ['app1', 'app2']) expect(loopbackHttpPort(c.services[name].environment.TEAMDAY_PUBLIC_URL)).toBe(port)
    expect(nginx).toContain('proxy_set_header Host $http_host;')
    expect(c.services.lb.depends_on).toEqual(['app1', 'app2'])
  })

  test('nginx: both replicas on teamday\'s default port, the client address passed on, streams unbuffered', () => {
    const servers = [...nginx.matchAll(/^\s*server ([\w.-]+:\d+)/gm)].map((m) => m[1])
    expect(servers).toEqual(['app1:3000', 'app2:3000'])
    // teamday's default port, as the config loader gives it without PORT.
    expect(loadConfig({}).port).toBe(3000)
    expect(nginx).toContain('proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;')
    expect(nginx).toContain('proxy_buffering off;')
  })

  test("nginx: its access log writes no request line's query and no one-time link's or sign-in approval's secret", () => {
    // nginx's default format ("combined") writes $request: the poll's ?code=tdc_…, a member's
    // /set-password/<secret> (valid 72 hours), a token in ?token=. The server block logs with its own.
    const access = [...nginx.matchAll(/^\s*access_log\s+(\S+)\s+(\S+);/gm)].map((m) => m[2])
    expect(access).toEqual(['teamday'])
    const format = /^log_format teamday '([^']*)';$/m.exec(nginx)?.[1]
    expect(format).toBeString()
    for (const v of ['$request ', '$request"', '$request_uri', '$args', '$query_string', '$arg_', '$http_referer', '$uri']) expect({ v, in: format!.includes(v) }).toEqual({ v, in: false })
    expect(format).toContain('$request_method $teamday_logged_path $server_protocol')
    // Its error log writes a failed request's whole line at level error (an upstream restarting):
    // kept to crit, in the server block (every error_log of the file at crit).
    const errorLogs = [...nginx.matchAll(/^\s*error_log\s+(\S+)\s+(\S+);/gm)].map((m) => m[2])
    expect(errorLogs).toEqual(['crit'])
    // The map's expression (PCRE, case-insensitive: ~*), applied as nginx applies it to $uri (decoded, slashes merged or not).
    const map = /^map \$uri \$teamday_logged_path \{\n\s*"~\*([^"]+)"\s+"\$\{teamday_link\}\[redacted\]";\n\s*default\s+\$uri;\n\}$/m.exec(nginx)
    expect(map).not.toBeNull()
    const re = new RegExp(map![1]!, 'i')
    const logged = (uri: string) => {
      const m = re.exec(uri)
      return m ? `${m.groups!.teamday_link}[redacted]` : uri
    }
    expect(logged('/set-password/s3cretLinkValue')).toBe('/set-password/[redacted]')
    expect(logged('//SET-PASSWORD//s3cretLinkValue')).toBe('//SET-PASSWORD//[redacted]')
    expect(logged('/setup/s3cretLinkValue')).toBe('/setup/[redacted]')
    expect(logged('/cli/authorize/tdc_s3cretCode')).toBe('/cli/authorize/[redacted]')
    expect(logged('/api/v1/tasks')).toBe('/api/v1/tasks')
  })

  test('systemd: serve as its own user, stopped within the graceful stop, with descriptors for many connections', () => {
    const values = (key: string) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1])
    expect(values('ExecStart')).toEqual(['/usr/local/bin/teamday serve'])
    expect(values('User')).toEqual(['teamday'])
    // Longer than the graceful stop, or systemd kills it midway.
    expect(Number(values('TimeoutStopSec')[0]) * 1000).toBeGreaterThan(gracefulStopMs)
    expect(Number(values('LimitNOFILE')[0])).toBeGreaterThanOrEqual(65536)
  })
})

describe("README, cron: the token file's one-liner", () => {
  test('works for a user with no ~/.config/teamday yet: the file is made, mode 600', () => {
    // It was `install -m 600 /dev/null ~/.config/teamday/token && …`: install makes no directory
    // without -D ("No such file or directory"), and cron's user usually has no ~/.config/teamday.
    const line = [...blocks('bash')].flatMap((b) => b.split('\n')).find((l) => l.includes('~/.config/teamday/token') && l.startsWith('install '))
    expect(line).toBeDefined()
    const home = mkdtempSync(join(tmpdir(), 'teamday-home-'))
    try {
      // An editor that writes what the user would paste; the line's own ${EDITOR:-vi} is what runs.
      const editor = join(home, 'editor.sh')
      Bun.spawnSync(['sh', '-c', `printf '#!/bin/sh\\nprintf td_x > "$1"\\n' > ${editor} && chmod 700 ${editor}`])
      const run = Bun.spawnSync(['bash', '-c', line!], { env: { PATH: process.env.PATH!, HOME: home, EDITOR: editor } })
      expect({ status: run.exitCode, error: run.stderr.toString() }).toEqual({ status: 0, error: '' })
      const file = join(home, '.config', 'teamday', 'token')
      expect(statSync(file).mode & 0o777).toBe(0o600)
      expect(readFileSync(file, 'utf8')).toBe('td_x')
    } finally {
      rmSync(home, { recursive: true, force: true })
    }
  })
})

describe("README, backups: the one-time folder, then the nightly cron line", () => {
  test('the cron line writes its backup into the folder the README makes first (backup makes none)', () => {
    // The cron line alone failed every night on a new host: /var/backups/teamday did not exist.
    const setup = blocks('bash').flatMap((b) => b.split('\n')).find((l) => l.startsWith('install -d ') && l.includes('/var/backups/teamday'))
    const cron = blocks('cron').flatMap((b) => b.split('\n')).find((l) => l.includes(' backup ') && !l.startsWith('#'))
    expect(setup).toBeDefined()
    expect(cron).toBeDefined()
    const root = mkdtempSync(join(tmpdir(), 'teamday-backups-'))
    try {
      // Under a temporary root, with this checkout's teamday; the service user's ownership is left
      // out (no such user here). Cron's own escaping: \% is %.
      const local = (line: string) =>
        line
          .replaceAll(' -o teamday -g teamday', '')
          .replaceAll('/var/', `${root}/var/`)
          .replaceAll('/usr/local/bin/teamday', `${process.execPath} ${join(import.meta.dir, '..', 'src', 'main.ts')}`)
          .replaceAll('\\%', '%')
      const db = `${root}/var/lib/teamday/teamday.db`
      const env = { PATH: process.env.PATH!, HOME: root, TEAMDAY_LOG_LEVEL: 'warn', TZ: 'UTC' }
      expect(Bun.spawnSync([process.execPath, join(import.meta.dir, '..', 'src', 'main.ts'), 'migrate', '--db', db], { env }).exitCode).toBe(0)
      const command = cron!.trim().split(/\s+/).slice(5).join(' ')
      const run = Bun.spawnSync(['sh', '-c', `${local(setup!)} && ${local(command)}`], { env })
      expect({ status: run.exitCode, error: run.exitCode === 0 ? '' : run.stderr.toString() }).toEqual({ status: 0, error: '' })
      const today = new Date().toISOString().slice(0, 10)
      const folder = `${root}/var/backups/teamday`
      expect(statSync(folder).mode & 0o777).toBe(0o700)
      expect(statSync(`${folder}/teamday-${today}.db`).mode & 0o777).toBe(0o600)
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  }, 60_000)
})

describe("the repository's files the README names", () => {
  test('exist (db:generate pointed at src/db/schema.ts, which the split into two dialects removed)', () => {
    const named = [...new Set([...readme.matchAll(/\b((?:src|test|bench|scripts|deploy|docs|openapi|drizzle)\/[A-Za-z0-9_.\/-]*[A-Za-z0-9_])/g)].map((m) => m[1]!))]
    expect(named.length).toBeGreaterThan(50)
    // `src/commands/` is TeamDay-AI/cli's, which the README quotes.
    const missing = named.filter((p) => p !== 'src/commands' && !/\{|\*/.test(p)).filter((p) => {
      try {
        statSync(join(root, p))
        return false
      } catch {
        return true
      }
    })
    expect(missing).toEqual([])
  })
})

describe("the README's error bodies", () => {
  test('show the envelope as the server writes it: every field, in its order, the status text of the status', () => {
    // The example of a token pasted into a field left out `statusMessage` and put `details`
    // before `requestId`; a reader matching the example (or the key order of a log) missed one.
    const examples = blocks('json').map((text) => JSON.parse(text)).filter((b) => b?.error === true)
    expect(examples.length).toBeGreaterThanOrEqual(2)
    for (const body of examples) {
      const real = errorBody(body.statusCode, body.code, body.message, body.requestId, body.details)
      expect({ keys: Object.keys(body), statusMessage: body.statusMessage }).toEqual({ keys: Object.keys(real), statusMessage: STATUS_TEXT[body.statusCode] })
    }
    // The inline one of the client's --json errors, too.
    const inline = /error body as it came \(`(\{"error":true,[^`]*\})`\)/.exec(readme.replace(/\n\s*/g, ''))?.[1]
    expect(inline).toBeString()
    expect([...inline!.matchAll(/"(\w+)":/g)].map((m) => m[1])).toEqual(Object.keys(errorBody(404, 'not_found', 'm', 'req_x')))
  })
})

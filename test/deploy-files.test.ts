import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

// deploy/compose.yaml and deploy/nginx.conf are what "Running several instances" in the README
// shows: a user may copy either, so both must be the same text, and every YAML example in the
// README must parse (the compose example once did not: an unquoted `${VAR:?message: …}`), as must its
// shell and JSON examples.
const root = join(import.meta.dir, '..')
const readme = readFileSync(join(root, 'README.md'), 'utf8')
const compose = readFileSync(join(root, 'deploy', 'compose.yaml'), 'utf8')
const nginx = readFileSync(join(root, 'deploy', 'nginx.conf'), 'utf8')
const config = readFileSync(join(root, 'src', 'config.ts'), 'utf8')

/** The README's fenced blocks of a language, as their text. */
function blocks(lang: string): string[] {
  return [...readme.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm'))].map((m) => m[1]!)
}

describe('deploy/: the README\'s compose file and nginx config, as files', () => {
  test('the README shows both files as they are', () => {
    expect(blocks('yaml')).toContain(compose)
    expect(blocks('nginx')).toContain(nginx)
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
      expect(app.environment.TEAMDAY_DATABASE_URL).toBe(`postgres://${c.services.db.environment.POSTGRES_USER}:${c.services.db.environment.POSTGRES_PASSWORD}@db:5432/${c.services.db.environment.POSTGRES_DB}`)
      // Required, and never a literal key in a file: compose refuses to start without it.
      expect(app.environment.TEAMDAY_ENCRYPTION_KEY).toStartWith('${TEAMDAY_ENCRYPTION_KEY:?')
      // Every setting it names is one teamday reads.
      for (const key of Object.keys(app.environment)) expect(config).toContain(`env.${key}`)
    }
    expect(c.services.lb.volumes).toEqual(['./nginx.conf:/etc/nginx/conf.d/default.conf:ro'])
    expect(c.services.lb.depends_on).toEqual(['app1', 'app2'])
  })

  test('nginx: both replicas on teamday\'s default port, the client address passed on, streams unbuffered', () => {
    const servers = [...nginx.matchAll(/^\s*server ([\w.-]+:\d+)/gm)].map((m) => m[1])
    expect(servers).toEqual(['app1:3000', 'app2:3000'])
    expect(config).toContain("parsePort(env.PORT ?? '3000')")
    expect(nginx).toContain('proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;')
    expect(nginx).toContain('proxy_buffering off;')
  })
})

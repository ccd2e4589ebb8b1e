import { describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

/**
 * No Docker engine runs here: the Dockerfile is checked statically (the runtime behaviour it
 * relies on, an empty environment, a read-only working directory, only /data writable, a
 * non-root user and `teamday health`, is exercised by test/smoke/client.ts on the binary).
 */
const text = readFileSync('Dockerfile', 'utf8')
const lines = text.split('\n').filter((l) => !l.trim().startsWith('#'))
const instructions = lines.join('\n').replace(/\\\n/g, ' ')

describe('Dockerfile', () => {
  test('multi-stage: builds with Node + npm ci (the pinned Bun), runs on a small glibc base', () => {
    const froms = instructions.match(/^FROM .*$/gm) ?? []
    expect(froms).toHaveLength(2)
    expect(froms[0]).toMatch(/^FROM node:\S+ AS build$/)
    expect(froms[1]).toMatch(/^FROM (debian:bookworm-slim|gcr\.io\/distroless\/cc\S*)$/)
    expect(instructions).toContain('npm ci')
    expect(instructions).toContain('npm run build')
    expect(instructions).toMatch(/COPY --from=build \/src\/dist\/teamday \/usr\/local\/bin\/teamday/)
  })

  test('every file the build stage copies exists (and package.json names the build script)', () => {
    for (const m of instructions.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/)) expect(existsSync(src)).toBe(true)
    }
    expect(JSON.parse(readFileSync('package.json', 'utf8')).scripts.build).toBe('bun scripts/build.ts')
    expect(readFileSync('scripts/build.ts', 'utf8')).toContain("'--compile'")
    // No .git in the build context (.dockerignore): the commit comes in as a build argument.
    expect(instructions).toMatch(/^ARG TEAMDAY_COMMIT$/m)
  })

  test('non-root user, /data volume with TEAMDAY_DB in it, port 3000, healthcheck with teamday health', () => {
    expect(instructions).toMatch(/^USER teamday(:teamday)?$/m)
    expect(instructions).not.toMatch(/^USER (root|0)\b/m)
    expect(instructions).toMatch(/TEAMDAY_DB=\/data\/teamday\.db/)
    expect(instructions).toMatch(/^VOLUME \["\/data"\]$/m)
    expect(instructions).toMatch(/^EXPOSE 3000$/m)
    expect(instructions).toMatch(/^HEALTHCHECK .*CMD \["sh", "-c", "set -f; set -- \$PORT; exec teamday health /m)
    expect(instructions).toMatch(/^ENTRYPOINT \["teamday"\]$/m)
    expect(instructions).toMatch(/^CMD \["serve"\]$/m)
  })

  test("the healthcheck asks the port the server listens on: PORT's, 3000 without it", async () => {
    // The command as Docker runs it (exec form: its arguments as written), `teamday` this source tree's.
    const argv = JSON.parse(/^HEALTHCHECK .*CMD (\[.*\])$/m.exec(instructions)![1]!) as string[]
    expect(argv.slice(0, 2)).toEqual(['sh', '-c'])
    const seen: string[] = []
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (req) => (seen.push(new URL(req.url).pathname), Response.json({ status: 'ok', version: 'test' })) })
    const dir = mkdtempSync(join(tmpdir(), 'healthcheck-'))
    try {
      writeFileSync(join(dir, 'teamday'), `#!/bin/sh\nexec "${process.execPath}" "${resolve('src/main.ts')}" "$@"\n`, { mode: 0o755 })
      // Not spawnSync: this process's server must answer meanwhile.
      const run = async (env: Record<string, string>) => {
        const p = Bun.spawn(argv, { env: { PATH: `${dir}:/usr/bin:/bin`, HOME: dir, ...env }, stdout: 'pipe', stderr: 'pipe' })
        const [exitCode, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()])
        return { exitCode, stderr }
      }
      const ok = await run({ PORT: String(server.port) })
      expect([ok.exitCode, ok.stderr]).toEqual([0, ''])
      expect(seen).toEqual(['/api/health'])
      // PORT with white space around it: the server listens on the number (src/config.ts parsePort
      // reads Number(" 8080 ")), so the healthcheck asks it there too, not at `127.0.0.1: 8080 `.
      const padded = await run({ PORT: ` ${server.port}\t` })
      expect([padded.exitCode, padded.stderr]).toEqual([0, ''])
      expect(seen).toEqual(['/api/health', '/api/health'])
      // Without PORT, or PORT blank (unset to the server: src/config.ts): 3000 (the image's
      // default), not this test's server, and a URL the health command takes.
      if (server.port !== 3000) {
        for (const env of [{}, { PORT: ' ' }] as Record<string, string>[]) {
          const other = await run(env)
          expect(other.stderr).not.toContain('must be an http(s) URL')
          expect(seen).toHaveLength(2)
        }
      }
    } finally {
      server.stop(true)
      rmSync(dir, { recursive: true, force: true })
    }
  }, 30_000)

  test('.dockerignore keeps local databases, keys and node_modules out of the build context', () => {
    const ignored = readFileSync('.dockerignore', 'utf8').split('\n').map((l) => l.trim())
    for (const p of ['node_modules', 'dist', 'data', '*.db', '*.key', '.git']) expect(ignored).toContain(p)
  })
})

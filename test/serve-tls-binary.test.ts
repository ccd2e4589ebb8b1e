/**
 * The compiled binary with `serve --tls-cert/--tls-key`, and its client commands against it: a
 * certificate from a private CA is refused by `health` at once (exit 5, not retried, the hint
 * naming NODE_EXTRA_CA_CERTS), trusted with NODE_EXTRA_CA_CERTS by `health`, `agents list` and
 * `login`; NODE_TLS_REJECT_UNAUTHORIZED=0 is warned about; a mismatched key stops the start with
 * exit 2 and no byte of the key; a renewed certificate is served after a restart (Bun cannot
 * swap a running server's certificate: README, "HTTPS without a proxy"). The in-process side:
 * test/serve-tls.test.ts.
 *
 *   npm run build && TEAMDAY_TEST_BINARY=dist/teamday bun test test/serve-tls-binary.test.ts
 *
 * Skipped (and says so) without TEAMDAY_TEST_BINARY.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { adminTokenVia } from './helpers/first-start'
import { binaryInTempDir, LISTENING, randomKey, spawnCollected, type Spawned } from './helpers/spawn'
import { makeTestCerts, pemBodyLines, type TestCerts } from './helpers/tls-certs'

const binary = process.env.TEAMDAY_TEST_BINARY
if (!binary) console.warn('serve-tls-binary: set TEAMDAY_TEST_BINARY=dist/teamday to run the compiled-binary HTTPS test')
const run = binary ? describe : describe.skip

run('compiled binary: HTTPS served by teamday, and its client commands against it', () => {
  const dir = binary ? binaryInTempDir(binary, 'teamday-tls-bin-') : ''
  const procs: Spawned[] = []
  let certs: TestCerts
  let env: Record<string, string>
  let server: Spawned
  let port: number
  let token: string

  const serve = (cert: string, key: string, db = 'tls.db') => {
    const s = spawnCollected(['./teamday', 'serve', '--host', '127.0.0.1', '--port', '0', '--db', db, '--tls-cert', cert, '--tls-key', key], { cwd: dir, env })
    procs.push(s)
    return s
  }

  /** A client command of the binary: exit code, stdout and stderr. */
  const client = (args: string[], extra: Record<string, string> = {}) => {
    const r = Bun.spawnSync(['./teamday', ...args], { cwd: dir, env: { ...env, ...extra }, stdout: 'pipe', stderr: 'pipe' })
    return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() }
  }

  beforeAll(async () => {
    certs = await makeTestCerts(dir)
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TEAMDAY_ENCRYPTION_KEY: randomKey(), TEAMDAY_LOG_LEVEL: 'warn' }
    server = serve(certs.certFile, certs.keyFile)
    port = Number((await server.waitFor(LISTENING))[1])
    token = adminTokenVia(['./teamday'], 'tls.db', { cwd: dir, env })
  }, 30_000)

  afterAll(() => {
    for (const p of procs) p.proc.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  test('it listens on https:// and prints https:// addresses', () => {
    expect(server.output()).toContain(`listening on https://127.0.0.1:${port}  (`)
    expect(server.output()).toMatch(new RegExp(`https://127\\.0\\.0\\.1:${port}/setup/[0-9A-Za-z]{43}`))
  })

  test('a client command refuses the private CA’s certificate at once, naming NODE_EXTRA_CA_CERTS; with it, health, agents list and login work', async () => {
    const url = `https://localhost:${port}`
    const refused = client(['health', '--url', url])
    expect(refused.code).toBe(5)
    expect(refused.err).toContain(`cannot reach the server at ${url}: the TLS certificate is not trusted`)
    expect(refused.err).toContain('NODE_EXTRA_CA_CERTS=/path/to/ca.pem')
    // Not retried: a certificate does not become trusted by asking again (--retries defaults to 3).
    expect(refused.err).not.toContain('retrying')

    const trusted = { NODE_EXTRA_CA_CERTS: certs.caFile }
    const health = client(['health', '--url', url, '--json'], trusted)
    expect([health.code, health.err]).toEqual([0, ''])
    expect(JSON.parse(health.out).status).toBe('ok')
    const agents = client(['agents', 'list', '--json'], { ...trusted, TEAMDAY_URL: url, TEAMDAY_TOKEN: token })
    expect([agents.code, agents.err]).toEqual([0, ''])
    expect(JSON.parse(agents.out)).toHaveProperty('agents')
    // Another CA's certificate in the variable trusts nothing of this server.
    expect(client(['health', '--url', url], { NODE_EXTRA_CA_CERTS: certs.ca2File }).code).toBe(5)

    // login: the sign-in is started over HTTPS (the page to approve is printed), then stopped.
    const login = spawnCollected(['./teamday', 'login', '--no-browser', '--url', url], { cwd: dir, env: { ...env, ...trusted } })
    procs.push(login)
    await login.waitFor(/open this page in a browser and approve:\s+https:\/\/localhost:\d+\/cli\/authorize\/tdc_/)
    login.proc.kill('SIGINT')
    const untrusted = client(['login', '--no-browser', '--url', url])
    expect(untrusted.code).toBe(5)
    expect(untrusted.err).toContain('NODE_EXTRA_CA_CERTS')
  }, 30_000)

  test('NODE_TLS_REJECT_UNAUTHORIZED=0, which Bun obeys silently, is warned about', () => {
    const r = client(['health', '--url', `https://localhost:${port}`], { NODE_TLS_REJECT_UNAUTHORIZED: '0' })
    expect(r.code).toBe(0)
    expect(r.err).toContain(`warning: NODE_TLS_REJECT_UNAUTHORIZED=0 is set: the certificate of https://localhost:${port} is not verified`)
    // Over plain HTTP there is no certificate to speak of.
    expect(client(['health', '--url', `http://127.0.0.1:1`, '--retries', '0'], { NODE_TLS_REJECT_UNAUTHORIZED: '0' }).err).not.toContain('NODE_TLS_REJECT_UNAUTHORIZED')
  })

  test('a key that is not the certificate’s: exit 2, the files named, no byte of either key', async () => {
    const s = spawnCollected(['./teamday', 'serve', '--host', '127.0.0.1', '--port', '0', '--db', 'other.db', '--tls-cert', certs.certFile, '--tls-key', certs.key2File], { cwd: dir, env })
    procs.push(s)
    expect(await s.exited()).toBe(2)
    expect(s.output()).toContain(`error: the TLS key file ${certs.key2File} (--tls-key, TEAMDAY_TLS_KEY) is not the private key of the certificate in ${certs.certFile}`)
    expect(s.output()).not.toContain('listening on')
    for (const line of [...(await pemBodyLines(certs.key2File)), ...(await pemBodyLines(certs.keyFile))]) expect(s.output()).not.toContain(line)
    const one = spawnCollected(['./teamday', 'serve', '--host', '127.0.0.1', '--port', '0', '--db', 'other.db', '--tls-cert', certs.certFile], { cwd: dir, env })
    procs.push(one)
    expect(await one.exited()).toBe(2)
    expect(one.output()).toContain('--tls-cert (TEAMDAY_TLS_CERT) is given without --tls-key (TEAMDAY_TLS_KEY)')
  })

  test('renewal: SIGHUP stops the server gracefully; started again, new connections get the new certificate', async () => {
    const before = await fetch(`https://localhost:${port}/api/health`, { tls: { ca: certs.ca } } as RequestInit)
    expect(before.status).toBe(200)
    server.proc.kill('SIGHUP')
    expect(await server.exited()).toBe(0)
    expect(server.output()).toContain('teamday stopped')
    // Said so, for the operator who meant a reload.
    expect(server.output()).toContain('tls_not_reloaded')
    expect(server.output()).toContain('the TLS certificate and key are read at start only')
    const renewed = serve(certs.cert2File, certs.key2File)
    const again = Number((await renewed.waitFor(LISTENING))[1])
    const now = await fetch(`https://localhost:${again}/api/health`, { tls: { ca: certs.ca2 } } as RequestInit)
    expect(now.status).toBe(200)
    // The old CA no longer vouches for what this port serves.
    await expect(fetch(`https://localhost:${again}/api/health`, { tls: { ca: certs.ca } } as RequestInit)).rejects.toThrow()
  }, 30_000)
})

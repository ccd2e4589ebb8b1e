/**
 * `teamday serve --tls-cert FILE --tls-key FILE` (TEAMDAY_TLS_CERT / TEAMDAY_TLS_KEY): HTTPS
 * served by teamday itself, so that a browser elsewhere on the network can sign in to the
 * console without a reverse proxy. In process (serve's own code path, its signals an
 * EventEmitter), on a new database of the suite's backend, with a throwaway private CA and
 * certificates made by openssl. The compiled binary's side (client commands trusting the CA,
 * a renewed certificate served after SIGHUP): test/serve-tls-binary.test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { EventEmitter } from 'node:events'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { X509Certificate } from 'node:crypto'
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve } from '../src/cli/admin/serve'
import type { ClientIo } from '../src/cli/common'
import { run } from '../src/main'
import { loadConfig } from '../src/config'
import { createLogger, type Logger } from '../src/logger'
import { ApiClient } from '../src/client/http'
import { ClientError } from '../src/client/errors'
import { createTestDatabase, ON_PG, urlFor } from './helpers/pg'
import { makeTestCerts, pemBodyLines, type TestCerts } from './helpers/tls-certs'
import { randomKey } from './helpers/spawn'
import { startProviderDouble } from './helpers/providers'

const dir = mkdtempSync(join(tmpdir(), 'teamday-tls-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const key = randomKey()
const PASSWORD = 'correct horse battery staple'
let certs: TestCerts
beforeAll(async () => {
  certs = await makeTestCerts(dir)
})

const newDatabase = async (name: string) => (ON_PG ? urlFor(await createTestDatabase()) : join(dir, `${name}.db`))

/** A running `serve` in process: what it printed so far, its port, and its stop. */
async function started(
  db: string,
  tls: boolean | { cert: string; key: string },
  log?: Logger,
  host = '127.0.0.1',
  extra: { env?: Record<string, string>; values?: Record<string, string>; signals?: EventEmitter; onCall?: () => void } = {},
): Promise<{ port: number; out: () => string; stop: () => Promise<void>; signal: (sig: string) => void }> {
  const lines: string[] = []
  const io: ClientIo = { out: (s) => void lines.push(s), err: (s) => void lines.push(s), env: { TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent', ...extra.env } }
  const signals = extra.signals ?? new EventEmitter()
  const pair = tls === true ? { cert: certs.certFile, key: certs.keyFile } : tls || null
  const values = { host, port: '0', db, ...(pair ? { 'tls-cert': pair.cert, 'tls-key': pair.key } : {}), ...extra.values }
  const serving = serve({ values, positionals: [], io }, signals as unknown as NodeJS.Process, log ? { log } : {})
  // What happens as serve has begun (its first await), before anything else runs.
  extra.onCall?.()
  const deadline = Date.now() + 20_000
  const out = () => lines.join('\n')
  while (!/\/setup\/\S+/.test(out()) && Date.now() < deadline) {
    if (await Promise.race([serving.then(() => true, () => true), Bun.sleep(10).then(() => false)])) break
  }
  const port = /listening on https?:\/\/[^\s]+:(\d+)/.exec(out())?.[1]
  if (!port) throw new Error(`serve did not start: ${out()}`)
  return {
    port: Number(port),
    out,
    stop: async () => {
      signals.emit('SIGTERM')
      await serving
    },
    signal: (sig) => void signals.emit(sig),
  }
}

/** A browser's form post (same-origin), `headers` added; no redirect followed. */
function form(url: string, fields: Record<string, string>, init: { headers?: Record<string, string>; tls?: { ca: string } } = {}) {
  return fetch(url, {
    method: 'POST',
    body: new URLSearchParams(fields).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', ...init.headers },
    redirect: 'manual',
    ...(init.tls ? { tls: init.tls } : {}),
  } as RequestInit)
}

/**
 * A browser elsewhere, as the console sees it: over plain HTTP from loopback, a request carrying
 * X-Forwarded-For was forwarded by a proxy not declared as trusted, so its browser is anywhere
 * and sign-in is refused (README, Sessions). Over teamday's own TLS it is HTTPS all the same.
 */
const ELSEWHERE = { 'x-forwarded-for': '203.0.113.7' }

describe('serve --tls-cert/--tls-key', () => {
  test('serves HTTPS: the start prints https:// addresses, the console offers sign-in to a browser elsewhere and sets a __Host- Secure cookie, Swagger names https', async () => {
    const s = await started(await newDatabase('tls'), true)
    try {
      const origin = `https://127.0.0.1:${s.port}`
      const tls = { ca: certs.ca }
      expect(s.out()).toContain(`listening on ${origin}  (`)
      expect(s.out()).toContain(`Console: ${origin}/login   API docs: ${origin}/swagger`)
      const setup = new RegExp(`${origin.replace(/\./g, '\\.')}(/setup/[0-9A-Za-z]{43})`).exec(s.out())?.[1]
      expect(setup).toBeDefined()

      // An HTTPS request, the certificate checked against the test's CA, at the name and at the address.
      const health = await fetch(`https://localhost:${s.port}/api/health`, { tls } as RequestInit)
      expect(health.status).toBe(200)
      expect(((await health.json()) as { status: string }).status).toBe('ok')
      expect((await fetch(`${origin}/api/health`, { tls } as RequestInit)).status).toBe(200)
      // Verification is on: without the CA the certificate is refused.
      await expect(fetch(`${origin}/api/health`)).rejects.toThrow()

      // The set-up link's form and the sign-in form, for a request a proxy forwarded from elsewhere.
      const page = await fetch(`${origin}${setup}`, { headers: ELSEWHERE, tls } as RequestInit)
      expect(page.status).toBe(200)
      const pageText = await page.text()
      expect(pageText).toContain('type="password"')
      expect(pageText).not.toContain('Sign-in is only offered over HTTPS')
      expect((await form(`${origin}${setup}`, { name: 'Ada', password: PASSWORD, confirm: PASSWORD }, { headers: ELSEWHERE, tls })).status).toBe(303)
      const signIn = await form(`${origin}/login`, { email: 'admin@localhost', password: PASSWORD }, { headers: ELSEWHERE, tls })
      expect(signIn.status).toBe(303)
      const cookie = signIn.headers.get('set-cookie') ?? ''
      expect(cookie).toMatch(/^__Host-teamday_session=[^;]+; Path=\/; /)
      expect(cookie).toContain('; Secure')
      const profile = await fetch(`${origin}/settings/profile`, { headers: { cookie: cookie.split(';')[0]!, ...ELSEWHERE }, redirect: 'manual', tls } as RequestInit)
      expect(profile.status).toBe(200)

      // Swagger's server URL is the https origin the request reached.
      const doc = (await (await fetch(`${origin}/swagger/json`, { tls } as RequestInit)).json()) as { servers: { url: string }[] }
      expect(doc.servers[0]!.url).toBe(origin)
      // A request naming no host (HTTP/1.0 without Host) came over HTTPS too.
      const noHost = await rawTls(s.port, 'GET /swagger/json HTTP/1.0\r\n\r\n')
      expect(noHost.slice(0, 15)).toMatch(/^HTTP\/1\.[01] 200/)
      expect(/"servers":\[\{"url":"([^"]*)"/.exec(noHost)?.[1]).toBe('https://localhost')
    } finally {
      await s.stop()
    }
  }, 30_000)

  test('a plain-HTTP request to the TLS port gets no answer in clear text', async () => {
    const s = await started(await newDatabase('plain-to-tls'), true)
    try {
      await expect(fetch(`http://127.0.0.1:${s.port}/api/health`)).rejects.toThrow()
      const raw = await rawPlain(s.port, 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
      expect(raw).not.toContain('HTTP/1.1')
      expect(raw).not.toContain('"status"')
    } finally {
      await s.stop()
    }
  }, 30_000)

  test("the start's log line names the certificate (never the key's content); an expired one is warned about, and still served", async () => {
    const logged: string[] = []
    const s = await started(await newDatabase('expired'), { cert: certs.expiredCertFile, key: certs.strayKeyFile }, createLogger('info', (l) => void logged.push(l), Date.now, { format: 'json' }))
    try {
      const lines = logged.map((l) => JSON.parse(l) as Record<string, any>)
      const startLine = lines.find((l) => l.msg === 'server_started')!
      expect(startLine.listen).toBe(`https://127.0.0.1:${s.port}`)
      expect(startLine.tls).toMatchObject({ cert: certs.expiredCertFile, key: certs.strayKeyFile, subject: 'CN=localhost' })
      expect(Date.parse(startLine.tls.notAfter)).toBeLessThan(Date.now())
      const expired = lines.find((l) => l.msg === 'tls_certificate_expired')
      expect(expired).toMatchObject({ level: 'warn', cert: certs.expiredCertFile })
      for (const line of await pemBodyLines(certs.strayKeyFile)) expect(logged.join('\n')).not.toContain(line)
      // The server runs: clients decide (this one is told to trust it, and refuses it as expired).
      await expect(fetch(`https://localhost:${s.port}/api/health`, { tls: { ca: await Bun.file(certs.expiredCertFile).text() } } as RequestInit)).rejects.toMatchObject({ code: 'CERT_HAS_EXPIRED' })
    } finally {
      await s.stop()
    }
    // A valid certificate: no such warning.
    const fine: string[] = []
    const ok = await started(await newDatabase('valid'), true, createLogger('info', (l) => void fine.push(l), Date.now, { format: 'json' }))
    await ok.stop()
    expect(fine.some((l) => l.includes('server_started'))).toBe(true)
    expect(fine.some((l) => l.includes('tls_certificate_expired'))).toBe(false)
  }, 30_000)

  test("client commands: an untrusted certificate fails at once (no retry) naming NODE_EXTRA_CA_CERTS; NODE_TLS_REJECT_UNAUTHORIZED=0 is warned about", async () => {
    const s = await started(await newDatabase('client'), true)
    try {
      const url = `https://localhost:${s.port}`
      const sleeps: number[] = []
      const client = new ApiClient({ baseUrl: url, token: null, tokenSource: null, retries: 3, warn: () => {}, sleep: async (ms) => void sleeps.push(ms) })
      const failed = await client.request('GET', '/api/health', { auth: false, expect: 'object' }).then(
        () => null,
        (e: unknown) => e as ClientError,
      )
      expect(failed).toBeInstanceOf(ClientError)
      expect(failed!.message).toBe(`cannot reach the server at ${url}: the TLS certificate is not trusted (unknown issuer) [UNABLE_TO_VERIFY_LEAF_SIGNATURE]`)
      expect(failed!.hint).toContain('NODE_EXTRA_CA_CERTS=/path/to/ca.pem')
      expect(sleeps).toEqual([])
      // A refused connection is still retried (what is not a certificate's fault).
      const closed = new ApiClient({ baseUrl: 'https://127.0.0.1:9', token: null, tokenSource: null, retries: 2, warn: () => {}, sleep: async (ms) => void sleeps.push(ms) })
      await expect(closed.request('GET', '/api/health', { auth: false, expect: 'object' })).rejects.toBeInstanceOf(ClientError)
      expect(sleeps).toHaveLength(2)

      const health = async (target: string, env: Record<string, string>) => {
        const err: string[] = []
        const code = await run(['health', '--url', target, '--retries', '0'], { out: () => {}, err: (l) => void err.push(l), env })
        return { code, err: err.join('\n') }
      }
      const warned = await health(url, { NODE_TLS_REJECT_UNAUTHORIZED: '0' })
      expect(warned.err).toContain(`warning: NODE_TLS_REJECT_UNAUTHORIZED=0 is set: the certificate of ${url} is not verified`)
      for (const [target, env] of [
        [url, {}],
        [url, { NODE_TLS_REJECT_UNAUTHORIZED: '1' }],
        ['http://127.0.0.1:9', { NODE_TLS_REJECT_UNAUTHORIZED: '0' }],
      ] as const) {
        const r = await health(target, { ...env })
        expect([target, r.code, r.err.includes('NODE_TLS_REJECT_UNAUTHORIZED')]).toEqual([target, 5, false])
      }
    } finally {
      await s.stop()
    }
  }, 30_000)

  // A browser on another machine, as near as one machine gets: a connection to this machine's own
  // network address (not loopback), so that the peer the console sees is that address too.
  const lan = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address
  test.if(lan !== undefined)("from this machine's non-loopback address: sign-in refused over plain HTTP, offered over the TLS port", async () => {
    const plain = await started(await newDatabase('lan-plain'), false, undefined, lan)
    const tls = await started(await newDatabase('lan-tls'), true, undefined, lan)
    try {
      const http = `http://${lan}:${plain.port}`
      expect(await (await fetch(`${http}/login`)).text()).toContain('Sign-in is only offered over HTTPS')
      expect((await form(`${http}/login`, { email: 'admin@localhost', password: 'not the password' })).status).toBe(400)
      // The certificate names localhost: verified as that name (SNI), reached at the address.
      const https = `https://${lan}:${tls.port}`
      const verified = { ca: certs.ca, serverName: 'localhost' }
      const page = await (await fetch(`${https}/login`, { tls: verified } as RequestInit)).text()
      expect(page).not.toContain('Sign-in is only offered over HTTPS')
      expect(page).toContain('type="password"')
      // Checked, not refused: a wrong password is the form again with its error.
      const wrong = await form(`${https}/login`, { email: 'admin@localhost', password: 'not the password' }, { tls: verified as { ca: string } })
      expect(wrong.status).toBe(422)
      expect(await wrong.text()).toContain('Wrong e-mail or password.')
    } finally {
      await plain.stop()
      await tls.stop()
    }
  }, 30_000)

  test('the same forwarded request over plain HTTP (no --tls-cert) is refused sign-in: TLS is what offers it', async () => {
    const s = await started(await newDatabase('plain'), false)
    try {
      expect(s.out()).toContain(`listening on http://127.0.0.1:${s.port}  (`)
      const page = await (await fetch(`http://127.0.0.1:${s.port}/login`, { headers: ELSEWHERE })).text()
      expect(page).toContain('Sign-in is only offered over HTTPS')
      // It says how to get HTTPS without a proxy.
      expect(page).toContain('teamday serve --tls-cert FILE --tls-key FILE')
      const signIn = await form(`http://127.0.0.1:${s.port}/login`, { email: 'admin@localhost', password: PASSWORD }, { headers: ELSEWHERE })
      expect(signIn.headers.get('set-cookie')).toBeNull()
    } finally {
      await s.stop()
    }
  }, 30_000)
})

describe('a renewed certificate served without a restart (SIGHUP, the files changed)', () => {
  /** Live copies of the first pair, which the test then replaces, as certbot's deploy hook would. */
  function liveFiles(name: string): { cert: string; key: string; put: (cert: string, key: string) => void } {
    const live = { cert: join(dir, `${name}.cert.pem`), key: join(dir, `${name}.key.pem`) }
    const put = (cert: string, key: string) => {
      copyFileSync(cert, live.cert)
      copyFileSync(key, live.key)
    }
    put(certs.certFile, certs.keyFile)
    return { ...live, put }
  }
  const fingerprintOf = (file: string) => new X509Certificate(readFileSync(file)).fingerprint256
  const notAfterOf = (file: string) => Math.floor(Date.parse(new X509Certificate(readFileSync(file)).validTo) / 1000)
  /** The JSON log lines so far, and a wait for one (`msg`, the `nth` of them); `onLine` sees each line as it is logged. */
  function jsonLog(onLine?: (line: string) => void) {
    const logged: string[] = []
    const lines = () => logged.map((l) => JSON.parse(l) as Record<string, any>)
    const until = async (msg: string, nth = 1) => {
      const deadline = Date.now() + 15_000
      while (lines().filter((l) => l.msg === msg).length < nth) {
        if (Date.now() > deadline) throw new Error(`no ${msg} (#${nth}) in the log: ${logged.join('\n')}`)
        await Bun.sleep(20)
      }
      return lines().filter((l) => l.msg === msg)[nth - 1]!
    }
    const sink = (l: string) => {
      logged.push(l)
      onLine?.(l)
    }
    return { logged, lines, until, logger: createLogger('info', sink, Date.now, { format: 'json' }) }
  }
  /** A process's signals: one sent with no handler for it would have killed the process (its default action), recorded. */
  class ProcessSignals extends EventEmitter {
    unhandled: string[] = []
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      if (typeof event === 'string' && this.listenerCount(event) === 0) this.unhandled.push(event)
      return super.emit(event, ...args)
    }
  }

  // Under systemd (Restart=on-failure) a teamday killed by a reload stayed down: SIGHUP during the
  // start ended the wait for PostgreSQL as a stop, and after it had no handler until the server
  // ran (exit 129). certbot's deploy hook reloads whenever a renewal lands.
  test('SIGHUP during the start is a reload, never a stop: kept, and the files read again once the server runs (one reload for two signals); files unchanged since change nothing', async () => {
    const live = liveFiles('early')
    const signals = new ProcessSignals()
    let renewed = false
    // After the listen and before the stop's handlers are in place (the server's first log line
    // after its listen): the renewal lands, and its SIGHUP.
    const log = jsonLog((line) => {
      if (renewed || !line.includes('"msg":"http_mode"')) return
      renewed = true
      live.put(certs.cert2File, certs.key2File)
      signals.emit('SIGHUP')
    })
    // The first one as serve begins: on PostgreSQL, while it waits for (or opens) its database.
    const s = await started(await newDatabase('tls-early-hup'), live, log.logger, '127.0.0.1', { env: { TEAMDAY_TLS_CHECK_MS: '0' }, signals, onCall: () => signals.emit('SIGHUP') })
    try {
      expect(renewed).toBe(true)
      expect(await log.until('tls_reloaded')).toMatchObject({ trigger: 'SIGHUP', fingerprint256: fingerprintOf(certs.cert2File) })
      expect(await servedFingerprint(s.port)).toBe(fingerprintOf(certs.cert2File))
      // Another SIGHUP, the files as served: no new listener, said.
      s.signal('SIGHUP')
      expect(await log.until('tls_unchanged')).toMatchObject({ level: 'info', trigger: 'SIGHUP', cert: live.cert, fingerprint256: fingerprintOf(certs.cert2File) })
      expect(log.lines().filter((l) => l.msg === 'tls_reloaded')).toHaveLength(1)
      expect(log.lines().some((l) => l.msg === 'shutting_down')).toBe(false)
      expect(signals.unhandled).toEqual([])
    } finally {
      await s.stop()
    }
  }, 60_000)

  test('SIGHUP: new connections get the new certificate, the server never stops; a request in flight, an execution event stream and a request loop across the reload get their answers; a bad pair keeps the old one; expiry in the log and /metrics', async () => {
    const live = liveFiles('hup')
    const log = jsonLog()
    const double = startProviderDouble()
    const db = await newDatabase('tls-reload')
    const s = await started(db, live, log.logger, '127.0.0.1', {
      env: { TEAMDAY_TLS_CHECK_MS: '0', OPENAI_BASE_URL: double.openaiBaseUrl, OPENAI_API_KEY: 'sk-test', TEAMDAY_DEFAULT_MODEL: 'test-model' },
      values: { 'metrics-port': '0' },
    })
    try {
      const origin = `https://localhost:${s.port}`
      const both = { ca: [certs.ca, certs.ca2] }
      // The test certificates are valid one day: said at start, with the expiry.
      expect(await log.until('tls_certificate_expires_soon')).toMatchObject({ level: 'warn', cert: live.cert, subject: 'CN=localhost', daysLeft: 0 })
      const metricsUrl = (await log.until('server_started')).metrics as string
      const notAfter = async () => Number(/^teamday_tls_certificate_not_after_seconds (\d+)$/m.exec(await (await fetch(metricsUrl)).text())?.[1])
      expect(await notAfter()).toBe(notAfterOf(certs.certFile))
      expect(await servedFingerprint(s.port)).toBe(fingerprintOf(certs.certFile))

      // In flight on the old listener as it is replaced: a request whose head is half sent, and an
      // execution's event stream whose model takes 1.5 s.
      const inFlight = await halfSent(s.port, 'GET /api/health HTTP/1.1\r\nHost: localhost\r\n')
      const minted: string[] = []
      expect(await run(['tokens', 'create', '--email', 'admin@localhost', '--name', 'reload', '--db', db], { out: (l) => void minted.push(l), err: () => {}, env: { TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent' } })).toBe(0)
      const headers = { authorization: `Bearer ${minted.join('').trim()}`, 'content-type': 'application/json' }
      const agent = await fetch(`${origin}/api/v1/agents`, { method: 'POST', headers, body: JSON.stringify({ name: 'Slow agent', systemPrompt: 'x' }), tls: both } as RequestInit)
      expect(agent.status).toBe(201)
      const asked = double.requests.length
      const stream = fetch(`${origin}/api/v1/agents/${((await agent.json()) as { id: string }).id}/execute`, {
        method: 'POST',
        headers: { ...headers, accept: 'text/event-stream' },
        body: JSON.stringify({ message: 'PAUSE 1500' }),
        tls: both,
      } as RequestInit).then(async (r) => ({ status: r.status, text: await r.text() }))
      for (const end = Date.now() + 10_000; double.requests.length <= asked && Date.now() < end; ) await Bun.sleep(10)
      // Clients asking all along, each request on a new connection (where a stopped listener shows at once).
      let asking = true
      const failures: string[] = []
      let answered = 0
      const loop = async () => {
        while (asking) {
          try {
            const r = await fetch(`${origin}/api/health`, { tls: both, keepalive: false } as RequestInit)
            await r.text()
            if (r.status === 200) answered++
            else failures.push(`status ${r.status}`)
          } catch (e) {
            failures.push(String((e as { code?: string }).code ?? e))
          }
        }
      }
      const loops = [loop(), loop(), loop()]
      await Bun.sleep(200)
      live.put(certs.cert2File, certs.key2File)
      s.signal('SIGHUP')
      const reloaded = await log.until('tls_reloaded')
      expect(reloaded).toMatchObject({ level: 'info', trigger: 'SIGHUP', cert: live.cert, key: live.key, subject: 'CN=localhost', fingerprint256: fingerprintOf(certs.cert2File), serial: new X509Certificate(readFileSync(certs.cert2File)).serialNumber })
      expect(Date.parse(reloaded.notAfter)).toBe(notAfterOf(certs.cert2File) * 1000)
      // tls_reloaded is said once the old listener no longer accepts: the loop goes on a while.
      await Bun.sleep(500)
      const before = answered
      await Bun.sleep(300)
      asking = false
      await Promise.all(loops)
      // Nothing refused, no error answered. A reset is the one thing a client may meet: a connection
      // the kernel had queued for the old listener in the moment it closed (Linux resets those unless
      // net.ipv4.tcp_migrate_req=1, a machine-wide setting: README "HTTPS without a proxy"); seen
      // 0 to 7 times in 20 reloads under four clients opening ~1,500 connections a second.
      expect(failures.filter((f) => f !== 'ECONNRESET')).toEqual([])
      expect(failures.length).toBeLessThanOrEqual(3)
      expect(answered).toBeGreaterThan(before)
      // The event stream went on to its end across the reload.
      const streamed = await stream
      expect(streamed.status).toBe(200)
      expect(streamed.text).toContain('Echo: PAUSE 1500')
      // The half-sent request is answered on its (old) connection, which then closes.
      const answer = await inFlight.finish('\r\n')
      expect(answer).toMatch(/^HTTP\/1\.1 200/)
      expect(answer.toLowerCase()).toContain('connection: close')

      expect(await servedFingerprint(s.port)).toBe(fingerprintOf(certs.cert2File))
      expect((await fetch(`${origin}/api/health`, { tls: { ca: certs.ca2 } } as RequestInit)).status).toBe(200)
      await expect(fetch(`${origin}/api/health`, { tls: { ca: certs.ca }, keepalive: false } as RequestInit)).rejects.toThrow()
      expect(await notAfter()).toBe(notAfterOf(certs.cert2File))
      expect(log.lines().some((l) => l.msg === 'shutting_down')).toBe(false)

      // A renewal gone wrong: a key that is not the certificate's, then a file missing. Said as
      // errors; the certificate served until then still is, and the server answers.
      live.put(certs.certFile, certs.strayKeyFile)
      s.signal('SIGHUP')
      expect(await log.until('tls_reload_failed')).toMatchObject({ level: 'error', trigger: 'SIGHUP', cert: live.cert })
      expect(log.lines().find((l) => l.msg === 'tls_reload_failed')!.error).toContain(`the TLS key file ${live.key} (--tls-key, TEAMDAY_TLS_KEY) is not the private key of the certificate in ${live.cert}`)
      rmSync(live.cert)
      s.signal('SIGHUP')
      expect((await log.until('tls_reload_failed', 2)).error).toContain(`cannot read the TLS certificate file ${live.cert} (--tls-cert, TEAMDAY_TLS_CERT): there is no such file`)
      expect(await servedFingerprint(s.port)).toBe(fingerprintOf(certs.cert2File))
      expect((await fetch(`${origin}/api/health`, { tls: { ca: certs.ca2 } } as RequestInit)).status).toBe(200)
      expect(log.lines().filter((l) => l.msg === 'tls_reloaded')).toHaveLength(1)
      for (const line of [...(await pemBodyLines(certs.keyFile)), ...(await pemBodyLines(certs.key2File)), ...(await pemBodyLines(certs.strayKeyFile))]) expect(log.logged.join('\n')).not.toContain(line)
    } finally {
      await s.stop()
      double.stop()
    }
    // Stopped by SIGTERM as before, the listeners a reload replaced included.
    expect(log.lines().at(-1)?.msg).toBe('stopped')
  }, 60_000)

  test('new content in the files is served without a signal (TEAMDAY_TLS_CHECK_MS), once per change; a pair that will not do, or a file missing, is said once per fault and the old one kept', async () => {
    const live = liveFiles('poll')
    const log = jsonLog()
    const s = await started(await newDatabase('tls-poll'), live, log.logger, '127.0.0.1', { env: { TEAMDAY_TLS_CHECK_MS: '100' } })
    const said = (msg: string) => log.lines().filter((l) => l.msg === msg)
    try {
      live.put(certs.cert2File, certs.key2File)
      expect(await log.until('tls_reloaded')).toMatchObject({ trigger: 'file_changed', fingerprint256: fingerprintOf(certs.cert2File) })
      expect(await servedFingerprint(s.port)).toBe(fingerprintOf(certs.cert2File))
      // A change the checks notice while a reload runs (its old listener closing, a quarter of a
      // second): served once, not once per check that saw it meanwhile.
      live.put(certs.certFile, certs.keyFile)
      s.signal('SIGHUP')
      await Bun.sleep(20)
      live.put(certs.cert2File, certs.key2File)
      expect(await log.until('tls_reloaded', 3)).toMatchObject({ trigger: 'file_changed', fingerprint256: fingerprintOf(certs.cert2File) })
      // Crossed: the first certificate with the second's key.
      live.put(certs.certFile, certs.key2File)
      expect(await log.until('tls_reload_failed')).toMatchObject({ level: 'error', trigger: 'file_changed' })
      await Bun.sleep(600)
      expect(said('tls_reloaded').map((l) => l.trigger)).toEqual(['file_changed', 'SIGHUP', 'file_changed'])
      expect(said('tls_reload_failed')).toHaveLength(1)
      expect(await servedFingerprint(s.port)).toBe(fingerprintOf(certs.cert2File))
      // A file gone (said, where the checks passed over it in silence), then the other too: each fault once.
      rmSync(live.key)
      expect((await log.until('tls_reload_failed', 2)).error).toContain(`cannot read the TLS private key file ${live.key} (--tls-key, TEAMDAY_TLS_KEY): there is no such file`)
      rmSync(live.cert)
      expect((await log.until('tls_reload_failed', 3)).error).toContain(`cannot read the TLS certificate file ${live.cert} (--tls-cert, TEAMDAY_TLS_CERT): there is no such file`)
      await Bun.sleep(400)
      expect(said('tls_reload_failed')).toHaveLength(3)
      // Put right with the pair served: nothing to reload, said (the errors above are over).
      live.put(certs.cert2File, certs.key2File)
      expect(await log.until('tls_unchanged')).toMatchObject({ level: 'info', trigger: 'file_changed', fingerprint256: fingerprintOf(certs.cert2File) })
      expect(said('tls_reloaded')).toHaveLength(3)
      expect(await servedFingerprint(s.port)).toBe(fingerprintOf(certs.cert2File))
    } finally {
      await s.stop()
    }
  }, 60_000)

  test('the expiry warning: expired, within 14 days, or nothing', async () => {
    const { expiryWarning } = await import('../src/http/tls-reload')
    const now = Date.parse('2026-06-01T00:00:00Z')
    const pair = (days: number) => ({ certFile: '/etc/teamday/tls/fullchain.pem', subject: 'CN=teamday.example', validTo: new Date(now + days * 86_400_000) })
    expect(expiryWarning(pair(15), now)).toBeNull()
    expect(expiryWarning(pair(13.5), now)).toMatchObject({ msg: 'tls_certificate_expires_soon', fields: { daysLeft: 13, notAfter: '2026-06-14T12:00:00.000Z' } })
    expect(expiryWarning(pair(0.5), now)?.fields.note).toContain('expires in less than a day')
    expect(expiryWarning(pair(-1), now)).toMatchObject({ msg: 'tls_certificate_expired' })
  })
})

describe('bad TLS settings: exit 2 naming the file and why, before the database is opened, never a byte of the key', () => {
  /** `teamday serve …` in process (it fails before listening): exit code, stderr, whether the database file was made. */
  async function refused(args: string[], env: Record<string, string> = {}) {
    const db = join(dir, `refused-${crypto.randomUUID()}.db`)
    const err: string[] = []
    const io: ClientIo = { out: (s) => void err.push(s), err: (s) => void err.push(s), env: { TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent', ...env } }
    const code = await run(['serve', '--host', '127.0.0.1', '--port', '0', '--db', db, ...args], io)
    return { code, err: err.join('\n'), made: existsSync(db) }
  }

  test('a key that is not the certificate’s', async () => {
    const r = await refused(['--tls-cert', certs.certFile, '--tls-key', certs.strayKeyFile])
    expect(r.code).toBe(2)
    expect(r.err).toContain(`the TLS key file ${certs.strayKeyFile} (--tls-key, TEAMDAY_TLS_KEY) is not the private key of the certificate in ${certs.certFile}`)
    expect(r.made).toBe(false)
    for (const line of [...(await pemBodyLines(certs.strayKeyFile)), ...(await pemBodyLines(certs.keyFile))]) expect(r.err).not.toContain(line)
    // The same from the environment; another server's certificate and key, crossed.
    const env = await refused([], { TEAMDAY_TLS_CERT: certs.cert2File, TEAMDAY_TLS_KEY: certs.keyFile })
    expect(env.code).toBe(2)
    expect(env.err).toContain('is not the private key of the certificate')
  })

  test('only one of the two: flags and variables alike', async () => {
    for (const [args, env, given] of [
      [['--tls-cert', certs.certFile], {}, '--tls-cert (TEAMDAY_TLS_CERT) is given without --tls-key (TEAMDAY_TLS_KEY)'],
      [['--tls-key', certs.keyFile], {}, '--tls-key (TEAMDAY_TLS_KEY) is given without --tls-cert (TEAMDAY_TLS_CERT)'],
      [[], { TEAMDAY_TLS_CERT: certs.certFile }, '--tls-cert (TEAMDAY_TLS_CERT) is given without --tls-key'],
      [[], { TEAMDAY_TLS_KEY: certs.keyFile, TEAMDAY_TLS_CERT: ' ' }, '--tls-key (TEAMDAY_TLS_KEY) is given without --tls-cert'],
    ] as const) {
      const r = await refused([...args], { ...env })
      expect([args, r.code]).toEqual([args, 2])
      expect(r.err).toContain(given)
      expect(r.made).toBe(false)
    }
    // A flag and the other's variable make a pair (flags win over the environment, one setting each).
    expect(loadConfig({ TEAMDAY_TLS_KEY: 'k.pem' }, { tlsCert: 'c.pem' })).toMatchObject({ tlsCert: 'c.pem', tlsKey: 'k.pem' })
    expect(loadConfig({}).tlsCert).toBeUndefined()
  })

  test('missing, not PEM, swapped, encrypted', async () => {
    const cases: [string[], string][] = [
      [['--tls-cert', join(dir, 'nope.pem'), '--tls-key', certs.keyFile], `cannot read the TLS certificate file ${join(dir, 'nope.pem')} (--tls-cert, TEAMDAY_TLS_CERT): there is no such file`],
      [['--tls-cert', certs.certFile, '--tls-key', dir], `cannot read the TLS private key file ${dir} (--tls-key, TEAMDAY_TLS_KEY): it is a directory`],
      [['--tls-cert', join(dir, 'one.ext'), '--tls-key', certs.keyFile], `the TLS certificate file ${join(dir, 'one.ext')} (--tls-cert, TEAMDAY_TLS_CERT) is not a PEM certificate`],
      [['--tls-cert', certs.keyFile, '--tls-key', certs.certFile], 'is not a PEM certificate: no "-----BEGIN CERTIFICATE-----" line (it holds a private key: are the two files swapped?)'],
      [['--tls-cert', certs.certFile, '--tls-key', certs.encryptedKeyFile], `the TLS key file ${certs.encryptedKeyFile} (--tls-key, TEAMDAY_TLS_KEY) is encrypted with a passphrase`],
    ]
    for (const [args, message] of cases) {
      const r = await refused(args)
      expect([args, r.code]).toEqual([args, 2])
      expect(r.err).toContain(message)
      expect(r.made).toBe(false)
      for (const line of [...(await pemBodyLines(certs.keyFile)), ...(await pemBodyLines(certs.encryptedKeyFile))]) expect(r.err).not.toContain(line)
    }
  })

  test("Bun's own refusal of a mismatched pair becomes the same message (what listen() does should Bun find it first)", async () => {
    let thrown: unknown
    try {
      Bun.serve({ port: 0, hostname: '127.0.0.1', tls: { cert: await Bun.file(certs.certFile).text(), key: await Bun.file(certs.strayKeyFile).text() }, fetch: () => new Response('') }).stop(true)
    } catch (e) {
      thrown = e
    }
    expect((thrown as { code?: string }).code).toBe('ERR_OSSL_X509_KEY_VALUES_MISMATCH')
    const { tlsListenError } = await import('../src/http/tls-files')
    expect(tlsListenError(thrown, { certFile: 'c.pem', keyFile: 'k.pem' })?.message).toStartWith('the TLS key file k.pem (--tls-key, TEAMDAY_TLS_KEY) is not the private key of the certificate in c.pem')
    expect(tlsListenError(Object.assign(new Error('x'), { code: 'EADDRINUSE' }), { certFile: 'c.pem', keyFile: 'k.pem' })).toBeNull()
  })

})

describe('serve --tls-cert with --reuse-port', () => {
  /** A port nobody holds, in 24100-24499 (a fixed one: --reuse-port asks nobody on port 0). */
  function freePort(): number {
    for (let tries = 0; tries < 100; tries++) {
      const port = 24100 + Math.floor(Math.random() * 400)
      try {
        Bun.serve({ hostname: '127.0.0.1', port, fetch: () => new Response('') }).stop(true)
        return port
      } catch {}
    }
    throw new Error('no free port in 24100-24499')
  }

  /** `serve --reuse-port` in process on `port`: its stop once it listens, or its exit code and output once refused. */
  async function shared(db: string, port: number, tls: boolean, reuse = true): Promise<{ stop: () => Promise<void> } | { code: number; out: string }> {
    const lines: string[] = []
    const io: ClientIo = { out: (s) => void lines.push(s), err: (s) => void lines.push(s), env: { TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent' } }
    const signals = new EventEmitter()
    const values = { host: '127.0.0.1', port: String(port), db, 'reuse-port': reuse, ...(tls ? { 'tls-cert': certs.certFile, 'tls-key': certs.keyFile } : {}) }
    let refused: unknown = null
    const serving = serve({ values, positionals: [], io }, signals as unknown as NodeJS.Process).catch((e: unknown) => void (refused = e))
    const deadline = Date.now() + 20_000
    while (!lines.some((l) => l.startsWith('Console: ')) && refused === null && Date.now() < deadline) await Bun.sleep(10)
    if (refused !== null) return { code: 1, out: (refused as Error).message }
    return {
      stop: async () => {
        signals.emit('SIGTERM')
        await serving
      },
    }
  }

  test('processes on the same database share the TLS port (asked over TLS); one on another database, or one without TLS, is refused', async () => {
    const db = await newDatabase('shared-tls')
    const port = freePort()
    const stops: (() => Promise<void>)[] = []
    try {
      for (let i = 0; i < 2; i++) {
        const s = await shared(db, port, true)
        expect('stop' in s ? 'listening' : s.out).toBe('listening')
        if ('stop' in s) stops.push(s.stop)
      }
      expect((await fetch(`https://localhost:${port}/api/health`, { tls: { ca: certs.ca } } as RequestInit)).status).toBe(200)
      const other = await shared(await newDatabase('shared-tls-other'), port, true)
      expect('out' in other && other.out).toContain(`port ${port} on 127.0.0.1 is held by a teamday on another database`)
      // Without TLS, its question in clear text meets a TLS listener: no answer, no proof.
      const plain = await shared(db, port, false)
      expect('out' in plain && plain.out).toContain(`port ${port} on 127.0.0.1 is held by something that does not answer as a teamday`)
      // With TLS a listener asks for SO_REUSEPORT (a reload's new listener joins it): one started
      // without --reuse-port still finds the port taken, as without TLS, whatever its database.
      for (const other of [db, await newDatabase('shared-tls-unasked')]) {
        const unasked = await shared(other, port, true, false)
        expect('out' in unasked && unasked.out).toContain(`port ${port} is already in use on 127.0.0.1`)
      }
    } finally {
      for (const stop of stops) await stop()
    }
  }, 60_000)
})

/** What a TLS connection to 127.0.0.1:`port` (trusting the test CA, as localhost) answers `request`, to its close. */
function rawTls(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = ''
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca }, () => socket.write(request))
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (got += d))
    socket.on('end', () => resolve(got))
    socket.on('error', reject)
    socket.setTimeout(5000, () => socket.destroy(new Error(`no end within 5 s: ${got}`)))
  })
}

/** The SHA-256 fingerprint of the certificate a new TLS connection to 127.0.0.1:`port` is served. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256
      socket.destroy()
      resolve(fingerprint)
    })
    socket.on('error', reject)
    socket.setTimeout(5000, () => socket.destroy(new Error('no handshake within 5 s')))
  })
}

/** A TLS connection (trusting the first test CA) that has sent `head`; `finish` sends the rest and resolves with the answer, to the connection's close. */
function halfSent(port: number, head: string): Promise<{ finish: (rest: string) => Promise<string> }> {
  return new Promise((resolveSent, reject) => {
    let got = ''
    let ended: (text: string) => void = () => {}
    const done = new Promise<string>((r) => (ended = r))
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca }, () => {
      socket.write(head)
      resolveSent({
        finish: (rest) => {
          socket.write(rest)
          return done
        },
      })
    })
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => (got += d))
    socket.on('close', () => ended(got))
    socket.on('error', reject)
    socket.setTimeout(15_000, () => socket.destroy())
  })
}

/** What a plain TCP connection answers `request` before it closes (an error ends it too: a reset is no answer). */
function rawPlain(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    let got = ''
    const socket = netConnect({ host: '127.0.0.1', port }, () => socket.write(request))
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => (got += d))
    socket.on('close', () => resolve(got))
    socket.on('error', () => {})
    socket.setTimeout(5000, () => socket.destroy())
  })
}

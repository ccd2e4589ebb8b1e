/**
 * Smoke test of the built executable, run from a temporary directory with no node_modules and
 * no drizzle/ folder, over real HTTP. Not a bun test file: run it after `npm run build` with
 *
 *   bun test/smoke/binary.ts [dist/teamday]
 *
 * Prints one `ok - …` / `not ok - …` line per check, then `N passed, M failed`; exit 1 on failure.
 */
import type { Subprocess } from 'bun'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const TOKEN = /td_[A-Za-z0-9]{43}/g
const TOKEN_LINE = /^td_[A-Za-z0-9]{43}$/
const TOTAL_LIMIT_MS = 55_000

let passed = 0
let failed = 0
const children = new Set<Subprocess>()
let workDir = ''

function check(name: string, cond: boolean, detail?: unknown): boolean {
  if (cond) {
    passed++
    console.log(`ok - ${name}`)
  } else {
    failed++
    console.log(`not ok - ${name}${detail === undefined ? '' : `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`}`)
  }
  return cond
}

function killAll() {
  for (const p of children) {
    try {
      p.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  children.clear()
}

function finish(): never {
  killAll()
  if (workDir) rmSync(workDir, { recursive: true, force: true })
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed > 0 ? 1 : 0)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Child env: nothing of ours leaks in (no TEAMDAY_*, HOST, PORT, NODE_ENV), logs at info on stderr. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('TEAMDAY_') || k === 'HOST' || k === 'PORT' || k === 'NODE_ENV') continue
    env[k] = v
  }
  return { ...env, ...extra }
}

/** Runs `./teamday ARGS` to completion (10 s limit). */
async function runBin(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const p = Bun.spawn(['./teamday', ...args], { cwd: workDir, env: childEnv(), stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' })
  children.add(p)
  const timer = setTimeout(() => p.kill('SIGKILL'), 10_000)
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  clearTimeout(timer)
  children.delete(p)
  return { code, out, err }
}

/** A running `teamday serve`, its output collected as it arrives. */
class Server {
  out = ''
  err = ''
  base = ''
  proc: Subprocess<'ignore', 'pipe', 'pipe'>

  constructor(args: string[], env: Record<string, string> = {}) {
    this.proc = Bun.spawn(['./teamday', 'serve', ...args], { cwd: workDir, env: childEnv(env), stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' })
    children.add(this.proc)
    void this.drain(this.proc.stdout, (s) => (this.out += s))
    void this.drain(this.proc.stderr, (s) => (this.err += s))
  }

  private async drain(stream: ReadableStream<Uint8Array>, sink: (s: string) => void) {
    const decoder = new TextDecoder()
    for await (const chunk of stream) sink(decoder.decode(chunk, { stream: true }))
  }

  /** Waits for the `listening on http://HOST:PORT` line; sets `base`. */
  async started(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const firstLine = this.out.split('\n')[0] ?? ''
      const m = this.out.includes('\n') ? /listening on http:\/\/(\[[^\]]+\]|[^\s:]+):(\d+)/.exec(firstLine) : null
      if (m) {
        const host = m[1] === '0.0.0.0' || m[1] === '[::]' ? '127.0.0.1' : m[1]!
        this.base = `http://${host}:${m[2]}`
        return true
      }
      if (this.proc.exitCode !== null) return false
      await sleep(20)
    }
    return false
  }

  async waitForLog(re: RegExp, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (re.test(this.err)) return true
      await sleep(20)
    }
    return re.test(this.err)
  }

  async waitForOutput(re: RegExp, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (re.test(this.out)) return true
      await sleep(20)
    }
    return re.test(this.out)
  }

  /** SIGTERM, then the exit code (null when it did not exit within the limit: then SIGKILL). */
  async stop(timeoutMs = 10_000): Promise<number | null> {
    this.proc.kill('SIGTERM')
    const code = await Promise.race([this.proc.exited, sleep(timeoutMs).then(() => null)])
    if (code === null) this.proc.kill('SIGKILL')
    await this.proc.exited
    children.delete(this.proc)
    await sleep(20) // let the last output chunks arrive
    return code
  }
}

async function http(base: string, method: string, path: string, opts: { token?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {}
  if (opts.token) headers.authorization = `Bearer ${opts.token}`
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(base + path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    redirect: 'manual',
    signal: AbortSignal.timeout(5_000),
  })
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, text, json }
}

const mode = (path: string) => (existsSync(path) ? (statSync(path).mode & 0o777).toString(8).padStart(4, '0') : 'missing')

/** Scenario 1: CLI-created user and token, then the server with a non-empty database. */
async function withCliUser() {
  const version = await runBin(['--version'])
  check('--version exits 0 and prints "teamday X.Y.Z (commit C)" with the commit stamped in', version.code === 0 && /^teamday \d+\.\d+\.\d+ \(commit (?!unknown)[0-9a-f]{7,}(-dirty)?\)\s*$/.test(version.out), version)

  const user = await runBin(['users', 'create', '--email', 'ci@example.com', '--org', 'ci', '--role', 'admin', '--db', './d/t.db'])
  check('users create exits 0', user.code === 0 && user.out.includes('ci@example.com'), user)

  const created = await runBin(['tokens', 'create', '--email', 'ci@example.com', '--name', 'smoke', '--db', './d/t.db'])
  const token = created.out.trim()
  check('tokens create prints only a td_ token on stdout', created.code === 0 && /^td_[A-Za-z0-9]{43}\n?$/.test(created.out), created)

  check('data dir is mode 0700', mode(join(workDir, 'd')) === '0700', mode(join(workDir, 'd')))
  check('database file is mode 0600', mode(join(workDir, 'd', 't.db')) === '0600', mode(join(workDir, 'd', 't.db')))

  const server = new Server(['--port', '0', '--db', './d/t.db'])
  try {
    if (!check('serve prints "listening on http://HOST:PORT" first', await server.started(), { out: server.out, err: server.err })) return
    await server.waitForOutput(/API docs/)

    const health = await http(server.base, 'GET', '/api/health')
    check('GET /api/health -> 200 {status:"ok"}', health.status === 200 && health.json?.status === 'ok', health.text)

    const ready = await http(server.base, 'GET', '/api/health/ready')
    check('GET /api/health/ready -> 200 {status:"ready"}', ready.status === 200 && ready.json?.status === 'ready', ready.text)

    const list = await http(server.base, 'GET', '/api/v1/tokens', { token })
    check('authenticated GET /api/v1/tokens -> 200', list.status === 200 && list.json?.success === true && Array.isArray(list.json?.tokens), list.text)
    check('the listing does not contain the secret', !list.text.includes(token))

    const anon = await http(server.base, 'GET', '/api/v1/tokens')
    check('unauthenticated GET /api/v1/tokens -> 401 with WWW-Authenticate: Bearer', anon.status === 401 && (anon.headers.get('www-authenticate') ?? '').startsWith('Bearer') && anon.json?.error === true, {
      status: anon.status,
      wwwAuthenticate: anon.headers.get('www-authenticate'),
    })

    const ui = await http(server.base, 'GET', '/swagger')
    check('GET /swagger -> 200 HTML referencing the embedded bundle', ui.status === 200 && (ui.headers.get('content-type') ?? '').includes('html') && ui.text.includes('/swagger/assets/swagger-ui-bundle.js'), {
      status: ui.status,
      type: ui.headers.get('content-type'),
    })
    for (const asset of ['/swagger/assets/swagger-ui-bundle.js', '/swagger/assets/swagger-ui.css']) {
      const a = await http(server.base, 'GET', asset)
      check(`GET ${asset} -> 200, non-empty`, a.status === 200 && a.text.length > 1000, { status: a.status, length: a.text.length })
    }
    const spec = await http(server.base, 'GET', '/swagger/json')
    check('GET /swagger/json -> OpenAPI JSON with /api/v1/tokens', spec.status === 200 && String(spec.json?.openapi ?? '').startsWith('3.1') && !!spec.json?.paths?.['/api/v1/tokens'], spec.status)
    // Compression, as sent on the wire (decompress: false keeps fetch from decoding it).
    const packed = await fetch(`${server.base}/swagger/json`, { headers: { 'accept-encoding': 'gzip' }, decompress: false, signal: AbortSignal.timeout(5_000) } as RequestInit)
    const packedBytes = new Uint8Array(await packed.arrayBuffer())
    let unpacked: any
    try {
      unpacked = JSON.parse(new TextDecoder().decode(Bun.gunzipSync(packedBytes)))
    } catch {
      unpacked = undefined
    }
    check('Accept-Encoding: gzip -> the JSON gzip-compressed (Content-Encoding, Vary), the same document decoded', packed.headers.get('content-encoding') === 'gzip' && packed.headers.get('vary') === 'accept-encoding' && packedBytes.length < spec.text.length / 4 && unpacked?.openapi === spec.json?.openapi && Object.keys(unpacked?.paths ?? {}).length === Object.keys(spec.json?.paths ?? {}).length, {
      encoding: packed.headers.get('content-encoding'),
      bytes: packedBytes.length,
    })
    const plainSpec = await fetch(`${server.base}/swagger/json`, { headers: { 'accept-encoding': 'identity' }, decompress: false, signal: AbortSignal.timeout(5_000) } as RequestInit)
    check('Accept-Encoding: identity -> the JSON as it is', plainSpec.headers.get('content-encoding') === null && (await plainSpec.text()).length === spec.text.length, plainSpec.headers.get('content-encoding'))

    const made = await http(server.base, 'POST', '/api/v1/tokens', { token, body: { name: 'smoke-http', expiresInDays: 7 } })
    const second: string = made.json?.token ?? ''
    check('POST /api/v1/tokens -> 201 with a new token', made.status === 201 && TOKEN_LINE.test(second) && typeof made.json?.id === 'string', made.status)
    const use = await http(server.base, 'GET', '/api/v1/tokens', { token: second })
    check('the new token works', use.status === 200, use.status)

    const del = await http(server.base, 'DELETE', `/api/v1/tokens/${made.json?.id}`, { token })
    check('DELETE /api/v1/tokens/{id} -> 200 {success:true}', del.status === 200 && del.json?.success === true, del.text)
    const after = await http(server.base, 'GET', '/api/v1/tokens', { token: second })
    check('the revoked token -> 401 token_revoked', after.status === 401 && after.json?.code === 'token_revoked', after.text)
    const still = await http(server.base, 'GET', '/api/v1/tokens', { token })
    check('the CLI token still works', still.status === 200, still.status)

    // An admin command while the server runs on the same file.
    const listed = await runBin(['tokens', 'list', '--email', 'ci@example.com', '--json', '--db', './d/t.db'])
    const parsed = (() => {
      try {
        return JSON.parse(listed.out)
      } catch {
        return undefined
      }
    })()
    check('tokens list --json works while the server runs', listed.code === 0 && parsed?.total === 2 && !listed.out.includes(token), listed)

    // Token look-ups are cached in the server until the next commit by anyone: a revocation
    // by the admin CLI (another process) must still refuse the very next request.
    const third = await http(server.base, 'POST', '/api/v1/tokens', { token, body: { name: 'smoke-cli-revoke', expiresInDays: 7 } })
    const thirdToken: string = third.json?.token ?? ''
    for (let i = 0; i < 3; i++) await http(server.base, 'GET', '/api/v1/agents', { token: thirdToken })
    const warm = await http(server.base, 'GET', '/api/v1/agents', { token: thirdToken })
    const revoked = await runBin(['tokens', 'revoke', String(third.json?.id), '--db', './d/t.db'])
    const refused = await http(server.base, 'GET', '/api/v1/agents', { token: thirdToken })
    check('a token revoked by the CLI while the server runs -> 401 token_revoked on the next request', warm.status === 200 && revoked.code === 0 && refused.status === 401 && refused.json?.code === 'token_revoked', {
      warm: warm.status,
      revoked,
      refused: refused.text,
    })

    await inputLimits(server, token)
    await observability(server, token)

    const code = await server.stop()
    check('SIGTERM -> exit 0 within 5 s', code === 0, code)
    check('serve on a non-empty database prints no token', (server.out.match(TOKEN) ?? []).length === 0, server.out)
    check('no token plaintext in the server logs', !server.err.includes(token) && !server.err.includes(second))
  } finally {
    if (server.proc.exitCode === null) server.proc.kill('SIGKILL')
  }
}

/** A raw request (the body as given) with a 5 s limit; the time it took. */
async function rawRequest(base: string, method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  const started = performance.now()
  const res = await fetch(base + path, { method, body, headers, signal: AbortSignal.timeout(5_000) })
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, json, ms: performance.now() - started }
}

/**
 * Issue 10: the binary runs Elysia in production mode (its own reading of NODE_ENV, logged at
 * start), and no body freezes the server: deeply nested JSON is a quick JSON 4xx, with or
 * without a token, while a health check sent alongside answers at once.
 */
async function inputLimits(server: Server, token: string) {
  check('the binary runs Elysia in production mode with NODE_ENV unset', /"msg":"http_mode","mode":"production"/.test(server.err), server.err.slice(0, 500))

  const deep = '['.repeat(10_000) + ']'.repeat(10_000)
  const json = { 'content-type': 'application/json' }
  const [anon, health] = await Promise.all([
    rawRequest(server.base, 'POST', '/api/v1/organizations/x/env', deep, json),
    rawRequest(server.base, 'GET', '/api/health'),
  ])
  check('a 20 KB nested body without a token -> 401 JSON within 1 s, a concurrent health check within 1 s', anon.status === 401 && anon.json?.code === 'missing_token' && anon.ms < 1000 && health.status === 200 && health.ms < 1000, {
    status: anon.status,
    ms: Math.round(anon.ms),
    healthMs: Math.round(health.ms),
  })
  const field = await rawRequest(server.base, 'POST', '/api/v1/tasks', `{"title":${deep}}`, { ...json, authorization: `Bearer ${token}` })
  check('a 10,000-deep array in a field with a token -> 400 json_too_deep JSON within 1 s', field.status === 400 && field.json?.code === 'json_too_deep' && field.ms < 1000, { status: field.status, ms: Math.round(field.ms) })

  const long = await rawRequest(server.base, 'GET', '/api/v1/tasks/' + 'a'.repeat(70_000))
  check('a 70 KB path -> 414 JSON envelope with the request id (Bun header limit raised in the build)', long.status === 414 && long.json?.code === 'uri_too_long' && long.json?.requestId === long.headers.get('x-request-id'), {
    status: long.status,
    body: long.json,
  })
}

/**
 * Issue 13: the start-up summary, one access line per request (JSON: stderr is a pipe here), and
 * GET /metrics with an admin's token (prom-client loaded on the first scrape inside the binary).
 */
async function observability(server: Server, token: string) {
  check('a server_started line names version, database and listening address', await server.waitForLog(/"msg":"server_started","version":"[^"]+","commit":"[^"]+","instanceId":"inst_[A-Za-z0-9]{20}","database":"[^"]*t\.db"/), server.err.slice(0, 800))
  const metrics = await http(server.base, 'GET', '/metrics', { token })
  check(
    'GET /metrics with an admin token -> 200 Prometheus text with route templates and process metrics',
    metrics.status === 200 &&
      (metrics.headers.get('content-type') ?? '').startsWith('text/plain; version=0.0.4') &&
      /teamday_http_requests_total\{method="GET",route="\/api\/v1\/tokens",status="200"\} \d+/.test(metrics.text) &&
      metrics.text.includes('process_resident_memory_bytes'),
    { status: metrics.status, head: metrics.text.slice(0, 300) },
  )
  const anon = await http(server.base, 'GET', '/metrics')
  check('GET /metrics without a token -> 401', anon.status === 401, anon.status)
  await http(server.base, 'GET', `/api/v1/agents?limit=2&q=${token}`, { token })
  const line = await server.waitForLog(/"msg":"request","requestId":"req_[A-Za-z0-9]+","method":"GET","path":"\/api\/v1\/agents\?limit=2&q=\[redacted\]","status":200,"durationMs":[\d.]+,"bytes":\d+,"tokenId":"pat_[A-Za-z0-9]+","organizationId":"org_[A-Za-z0-9]+","ip":"127\.0\.0\.1"\}/)
  check('an access line per request: id, method, redacted path, status, duration, bytes, token id, organization, client address', line, server.err.split('\n').filter((l) => l.includes('/api/v1/agents')).slice(-2))
  check('the metrics and 401 requests have access lines too', /"path":"\/metrics","status":200/.test(server.err) && /"path":"\/metrics","status":401/.test(server.err))
}

/** The separate metrics listener: GET /metrics without a token, on its own port; and CORS when configured. */
async function metricsListener() {
  const dash = 'https://dash.example.com'
  const srv = new Server(['--port', '0', '--db', './m/t.db', '--metrics-port', '0', '--metrics-host', '127.0.0.1'], { TEAMDAY_ACCESS_LOG: 'off', TEAMDAY_CORS_ORIGINS: dash })
  try {
    if (!check('serve with --metrics-port starts', await srv.started(), { out: srv.out, err: srv.err })) return
    await srv.waitForLog(/"msg":"server_started"/)
    const m = /"metrics":"(http:\/\/127\.0\.0\.1:\d+\/metrics)"/.exec(srv.err)
    if (!check('the start-up summary names the metrics listener', m !== null, srv.err.slice(0, 800))) return
    const res = await fetch(m![1]!, { signal: AbortSignal.timeout(5_000) })
    const text = await res.text()
    check('the metrics listener answers GET /metrics without a token', res.status === 200 && text.includes('# TYPE teamday_http_requests_total counter'), { status: res.status })
    const other = await fetch(m![1]!.replace('/metrics', '/api/v1/tokens'), { signal: AbortSignal.timeout(5_000) })
    check('the metrics listener serves nothing else (404)', other.status === 404, other.status)
    {
      const api = srv.base
      const pre = await fetch(`${api}/api/v1/tokens`, { method: 'OPTIONS', headers: { origin: dash, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' }, signal: AbortSignal.timeout(5_000) })
      check('TEAMDAY_CORS_ORIGINS: a preflight from the listed origin -> 204 with Access-Control-Allow-Origin', pre.status === 204 && pre.headers.get('access-control-allow-origin') === dash, { status: pre.status, acao: pre.headers.get('access-control-allow-origin') })
      const anon = await fetch(`${api}/api/v1/tokens`, { headers: { origin: dash }, signal: AbortSignal.timeout(5_000) })
      check('TEAMDAY_CORS_ORIGINS: a 401 to that origin is readable by its page', anon.status === 401 && anon.headers.get('access-control-allow-origin') === dash && (anon.headers.get('access-control-expose-headers') ?? '').includes('www-authenticate'), { status: anon.status })
      const elsewhere = await fetch(`${api}/api/v1/tokens`, { headers: { origin: 'https://evil.example' }, signal: AbortSignal.timeout(5_000) })
      check('TEAMDAY_CORS_ORIGINS: another origin gets no CORS header', elsewhere.headers.get('access-control-allow-origin') === null)
    }
    check('TEAMDAY_ACCESS_LOG=off: no access lines', !srv.err.includes('"msg":"request"'))
    check('metrics listener serve: SIGTERM -> exit 0', (await srv.stop()) === 0)
    check('the log ends with a stopped line (buffer flushed at shutdown)', /"msg":"stopped"/.test(srv.err), srv.err.slice(-300))
  } finally {
    if (srv.proc.exitCode === null) srv.proc.kill('SIGKILL')
  }
}

/** NODE_ENV set by whoever runs the binary wins: development mode when asked for. */
async function developmentOnRequest() {
  const dev = new Server(['--port', '0', '--db', './dev/t.db'], { NODE_ENV: 'development' })
  try {
    if (!check('serve with NODE_ENV=development starts', await dev.started(), { out: dev.out, err: dev.err })) return
    await dev.waitForOutput(/API docs/)
    const deadline = Date.now() + 10_000
    while (!dev.err.includes('http_mode') && Date.now() < deadline) await sleep(20)
    check('NODE_ENV=development is honoured (and warned about)', /"level":"warn","msg":"http_mode","mode":"development"/.test(dev.err), dev.err.slice(0, 500))
    check('development serve: SIGTERM -> exit 0', (await dev.stop()) === 0)
  } finally {
    if (dev.proc.exitCode === null) dev.proc.kill('SIGKILL')
  }
}

/**
 * Issue 13: the binary reads no .env (nor bunfig.toml) of the directory it runs in; `--env-file
 * FILE` is the way, and variables set in the environment win over the file.
 */
async function noDotenv() {
  const dir = join(workDir, 'envdir')
  mkdirSync(dir)
  writeFileSync(join(dir, '.env'), 'TEAMDAY_URL=http://dotenv.invalid\n')
  writeFileSync(join(dir, 'bunfig.toml'), 'preload = ["./preload.ts"]\n')
  writeFileSync(join(dir, 'preload.ts'), 'console.log("bunfig preload ran")\n')
  writeFileSync(join(dir, 'vars'), '# comment\nexport TEAMDAY_URL="http://envfile.invalid"\n')
  const run = async (args: string[]) => {
    const p = Bun.spawn([join(workDir, 'teamday'), ...args], { cwd: dir, env: childEnv(), stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' })
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
    return out + err
  }
  const plain = await run(['health', '--retries', '0'])
  check('a .env and a bunfig.toml in the working directory are not read', plain.includes('http://localhost:3000') && !plain.includes('dotenv.invalid') && !plain.includes('preload ran'), plain)
  const withFile = await run(['health', '--retries', '0', '--env-file', 'vars'])
  check('--env-file FILE is read', withFile.includes('envfile.invalid'), withFile)
}

/**
 * Scenario 2: first start on an empty data dir prints a one-time set-up link and no token; the
 * admin sets a password there, signs in to the console and creates a token on /settings/tokens.
 */
async function firstStart() {
  mkdirSync(join(workDir, 'e'), { mode: 0o700 })
  const first = new Server(['--port', '0', '--db', './e/t.db'])
  let token = ''
  try {
    if (!check('first serve on an empty data dir starts', await first.started(), { out: first.out, err: first.err })) return
    await first.waitForOutput(/\/setup\/[0-9A-Za-z]{43}\n[\s\S]*=+/)
    check('first start prints no td_ token', (first.out.match(TOKEN) ?? []).length === 0, first.out)
    const setup = /\/setup\/[0-9A-Za-z]{43}/.exec(first.out)?.[0] ?? ''
    check('first start prints a one-time /setup/ link', setup !== '', first.out)
    const form = { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' }
    const post = (path: string, body: Record<string, string>, cookie = '') =>
      fetch(first.base + path, { method: 'POST', redirect: 'manual', headers: { ...form, ...(cookie ? { cookie } : {}) }, body: new URLSearchParams(body).toString() })
    const pw = 'smoke test password 1'
    const set = await post(setup, { password: pw, confirm: pw })
    check('the set-up link sets the admin password: 303', set.status === 303, set.status)
    const reuse = await post(setup, { password: pw, confirm: pw })
    check('the set-up link works once: 404 the second time', reuse.status === 404, reuse.status)
    const signIn = await post('/login', { email: 'admin@localhost', password: pw })
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!
    check('sign-in: 303 with an HttpOnly session cookie', signIn.status === 303 && /HttpOnly; SameSite=Lax/.test(signIn.headers.get('set-cookie') ?? ''), signIn.status)
    const created = await post('/settings/tokens', { name: 'smoke console', expires: '90', scope: '*' }, cookie)
    const page = await created.text()
    token = /id="new-token"[^>]*>\s*(td_[A-Za-z0-9]{43})/.exec(page)?.[1] ?? ''
    check('the console creates a token (201, no-store)', created.status === 201 && token !== '' && created.headers.get('cache-control') === 'no-store', created.status)
    const res = await http(first.base, 'GET', '/api/v1/tokens', { token })
    check('the console token works on the API: 200', res.status === 200 && res.json?.tokens?.length === 1, res.text)
    const viaCookie = await fetch(first.base + '/api/v1/tokens', { headers: { cookie } })
    check('the session cookie authenticates nothing on /api/v1: 401', viaCookie.status === 401, viaCookie.status)
    check('first serve: SIGTERM -> exit 0', (await first.stop()) === 0)
    check('no token, set-up secret or password in the server logs', !first.err.includes(token) && !first.err.includes(setup) && !first.err.includes(pw))
  } finally {
    if (first.proc.exitCode === null) first.proc.kill('SIGKILL')
  }

  const again = new Server(['--port', '0', '--db', './e/t.db'])
  try {
    if (!check('second serve on the same data dir starts', await again.started(), { out: again.out, err: again.err })) return
    await again.waitForOutput(/API docs/)
    const res = await http(again.base, 'GET', '/api/v1/tokens', { token })
    check('the console-made token still works after a restart', res.status === 200, res.status)
    check('second serve: SIGTERM -> exit 0', (await again.stop()) === 0)
    check('restart prints no token and no set-up link', (again.out.match(TOKEN) ?? []).length === 0 && !again.out.includes('/setup/'), again.out)
    check('first-start database file is mode 0600', mode(join(workDir, 'e', 't.db')) === '0600', mode(join(workDir, 'e', 't.db')))
  } finally {
    if (again.proc.exitCode === null) again.proc.kill('SIGKILL')
  }
}

async function main() {
  const binary = resolve(process.argv[2] ?? 'dist/teamday')
  if (!check(`binary ${binary} exists`, existsSync(binary))) finish()
  workDir = mkdtempSync(join(tmpdir(), 'teamday-smoke-'))
  copyFileSync(binary, join(workDir, 'teamday'))
  chmodSync(join(workDir, 'teamday'), 0o755)
  check('temp dir holds only the binary (no node_modules, no drizzle/)', readdirSync(workDir).join(',') === 'teamday', readdirSync(workDir))

  const limit = setTimeout(() => {
    check(`finished within ${TOTAL_LIMIT_MS / 1000} s`, false)
    finish()
  }, TOTAL_LIMIT_MS)
  try {
    await withCliUser()
    await firstStart()
    await developmentOnRequest()
    await noDotenv()
    await metricsListener()
  } catch (e) {
    check('no unexpected error', false, e instanceof Error ? `${e.name}: ${e.message}` : String(e))
  }
  clearTimeout(limit)
  finish()
}

process.on('SIGINT', () => {
  killAll()
  process.exit(130)
})

void main()

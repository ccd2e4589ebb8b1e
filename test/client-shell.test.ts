import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { run } from '../src/main'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { recordingIo } from './helpers/cli-io'
import { resolveSecrets } from '../src/modules/spaces/secrets'

/**
 * The client as a shell script, a cron job or a CI pipeline uses it: arguments that come from
 * variables, and what reaches the server for them. The server is the app behind a recorder.
 */

let t: TestApp
let server: Server<unknown>
let base: string
let admin: Actor
let dir: string
const seen: { method: string; path: string }[] = []

beforeAll(async () => {
  t = await makeTestApp()
  // The client's own clock reads the token's expiry: the app's is the same (no expiry warning).
  t.clock.ms = Date.now()
  server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req) {
      seen.push({ method: req.method, path: new URL(req.url).pathname })
      return t.app.handle(req)
    },
  })
  base = `http://127.0.0.1:${server.port}`
  admin = await makeActor(t, { role: 'admin' })
  dir = mkdtempSync(join(tmpdir(), 'teamday-shell-'))
}, 60_000)

afterAll(() => {
  server.stop(true)
  rmSync(dir, { recursive: true, force: true })
})

async function cli(argv: string[], env: Record<string, string | undefined> = { TEAMDAY_URL: base, TEAMDAY_TOKEN: admin.token }) {
  const { io, out, err } = recordingIo(env)
  seen.length = 0
  const code = await run(argv, io)
  return { code, out: out(), err: err() }
}

describe('an ID argument that is empty, "." or ".."', () => {
  // `teamday tasks delete "$ID"` with ID unset, or a value that the URL parser turns into a path
  // step: `/api/v1/agents/../execute` is `/api/v1/execute`, the default assistant's route.
  const commands: string[][] = [
    ['agents', 'get'],
    ['agents', 'delete'],
    ['agents', 'update', '@', '--name', 'x'],
    ['agents', 'execute', '@', '-m', 'hi'],
    ['tasks', 'get'],
    ['tasks', 'delete'],
    ['tasks', 'update', '@', '--title', 'x'],
    ['spaces', 'get'],
    ['spaces', 'delete'],
    ['spaces', 'update', '@', '--name', 'x'],
    ['spaces', 'secrets', 'list'],
    ['spaces', 'secrets', 'set', '@', 'K=V'],
    ['spaces', 'secrets', 'delete', '@', 'K'],
    ['executions', 'get'],
    ['executions', 'tree'],
    ['executions', 'cancel'],
    ['executions', 'logs'],
    ['tokens', 'revoke'],
    ['tokens', 'rotate'],
    ['members', 'set-role', '@', '--role', 'viewer'],
    ['members', 'remove'],
  ]
  for (const value of ['', '.', '..']) {
    test(`${JSON.stringify(value)}: exit 2 naming the argument, nothing sent, for every command that takes one`, async () => {
      for (const c of commands) {
        const argv = c.includes('@') ? c.map((w) => (w === '@' ? value : w)) : [...c, value]
        const r = await cli([...argv, '--json'])
        const said = `${argv.join(' ')} -> ${r.code} ${r.out}`
        expect(said).toStartWith(`${argv.join(' ')} -> 2 `)
        expect(JSON.parse(r.out)).toMatchObject({ error: true, code: 'usage', exitCode: 2 })
        expect(r.err).toMatch(value === '' ? /^error: missing .*: the argument is empty \(an unset variable\?\)/ : new RegExp(`^error: "${value.replace(/\./g, '\\.')}" is not an? `))
        expect(seen).toEqual([])
      }
    })
  }

  test('an ID with dots inside, or a slash, is one path segment, as before', async () => {
    const r = await cli(['agents', 'get', '../tasks'])
    expect(r.code).toBe(4)
    expect(seen[0]).toEqual({ method: 'GET', path: '/api/v1/agents/..%2Ftasks' })
    expect((await cli(['tasks', 'get', '...'])).code).toBe(4)
  })
})

describe('--env-file and a variable the environment sets blank', () => {
  // A CI variable or secret that is not defined comes as an empty string (GitHub Actions'
  // `env: TEAMDAY_TOKEN: ${{ secrets.MISSING }}`). Blank is unset (README, Configuration), so the
  // file's value is the one that counts; a set variable still wins over the file.
  test("the file's value is used: blank is unset; a value that is set wins", async () => {
    const file = join(dir, 'client.env')
    writeFileSync(file, `TEAMDAY_URL=${base}\nTEAMDAY_TOKEN=${admin.token}\n`, { mode: 0o600 })
    const r = await cli(['whoami', '--json', '--env-file', file], { TEAMDAY_URL: ' ', TEAMDAY_TOKEN: '', XDG_CONFIG_HOME: dir })
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out).token.id).toBe(admin.tokenId)
    const set = await cli(['whoami', '--env-file', file], { TEAMDAY_URL: base, TEAMDAY_TOKEN: 'td_' + 'x'.repeat(43), XDG_CONFIG_HOME: dir })
    expect(set.code).toBe(3)
  })
})

describe('a proxy in the environment', () => {
  // Bun's fetch sends requests through HTTP_PROXY / HTTPS_PROXY as curl does: a proxy that is down
  // refused the connection, and the error said that nothing listens at the server's address.
  test('a connection the proxy refused names the proxy variable, without its credentials', async () => {
    const gone = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() })
    const proxyPort = gone.port
    gone.stop(true)
    seen.length = 0
    const env = { PATH: process.env.PATH, HOME: dir, TEAMDAY_URL: base, TEAMDAY_TOKEN: admin.token, HTTP_PROXY: `http://ops:hunter2@127.0.0.1:${proxyPort}` }
    const p = Bun.spawn([process.execPath, 'src/main.ts', 'agents', 'list', '--retries', '0', '--json'], { env, stdout: 'pipe', stderr: 'pipe' })
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()])
    expect(code).toBe(5)
    expect(JSON.parse(out)).toMatchObject({ error: true, code: 'connection_failed', exitCode: 5 })
    expect(err).toContain(`cannot reach the server at ${base}`)
    expect(err).toContain(`HTTP_PROXY is set (http://127.0.0.1:${proxyPort}): unless NO_PROXY exempts this host, requests go through that proxy`)
    expect(err + out).not.toContain('hunter2')
    expect(err + out).not.toContain(admin.token)
    expect(seen).toEqual([])
    // NO_PROXY exempts it (fetch's decision): the server answers.
    const direct = Bun.spawn([process.execPath, 'src/main.ts', 'agents', 'list', '--retries', '0'], { env: { ...env, NO_PROXY: '127.0.0.1' }, stdout: 'pipe', stderr: 'pipe' })
    expect(await direct.exited).toBe(0)
  }, 30_000)

  test('which variable applies to the URL, as curl reads them', async () => {
    const { proxyVariable } = await import('../src/client/config')
    expect(proxyVariable({}, 'http://h')).toBeNull()
    expect(proxyVariable({ HTTPS_PROXY: 'http://p:3128' }, 'http://h')).toBeNull()
    expect(proxyVariable({ HTTPS_PROXY: 'http://p:3128' }, 'https://h')).toBe('HTTPS_PROXY=http://p:3128')
    expect(proxyVariable({ http_proxy: 'http://a:1', HTTP_PROXY: 'http://b:2' }, 'http://h')).toBe('http_proxy=http://a:1')
    expect(proxyVariable({ http_proxy: ' ', HTTP_PROXY: 'u:pw@b:2' }, 'http://h')).toBe('HTTP_PROXY=b:2')
    expect(proxyVariable({ https_proxy: '""' }, 'https://h')).toBeNull()
  })
})

describe('spaces secrets set KEY: the value of $KEY', () => {
  // A CI secret that is not available (a fork's pull request, a typo in its name) comes as an
  // empty variable: `secrets set prod OPENAI_API_KEY` replaced the stored value with "", exit 0.
  test('unset or blank is a usage error, nothing sent; KEY= sets an empty value on purpose', async () => {
    const space = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Prod' } })
    const id = space.body.space.id
    const stored = await cli(['spaces', 'secrets', 'set', id, 'API_KEY=sk-kept'])
    expect(stored.code).toBe(0)
    for (const value of [undefined, '', '  ']) {
      const r = await cli(['spaces', 'secrets', 'set', id, 'API_KEY', '--json'], { TEAMDAY_URL: base, TEAMDAY_TOKEN: admin.token, API_KEY: value })
      expect(r.code).toBe(2)
      expect(JSON.parse(r.out)).toMatchObject({ error: true, code: 'usage', exitCode: 2 })
      expect(r.err).toStartWith(`error: API_KEY: no value; pass API_KEY=VALUE or set the environment variable API_KEY`)
      expect(seen).toEqual([])
    }
    expect((await resolveSecrets(t.ctx, admin.organizationId, id)).API_KEY).toBe('sk-kept')
    const explicit = await cli(['spaces', 'secrets', 'set', id, 'EMPTY='])
    expect(explicit.code).toBe(0)
    const listed = await cli(['spaces', 'secrets', 'list', id])
    expect(listed.out).toBe('API_KEY\nEMPTY\n')
  })
})

describe('an https server whose certificate this machine does not trust', () => {
  // The server answered: "check that teamday serve runs there" pointed away from the cause, and
  // nothing said how to trust an organization's own CA.
  test('the hint names NODE_EXTRA_CA_CERTS, and with it the command works', async () => {
    const cert = join(dir, 'cert.pem')
    const key = join(dir, 'key.pem')
    const made = Bun.spawnSync(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stderr: 'pipe' })
    expect(made.exitCode).toBe(0)
    const tls = Bun.serve({ port: 0, hostname: '127.0.0.1', tls: { cert: Bun.file(cert), key: Bun.file(key) }, fetch: (req) => t.app.handle(new Request(req.url.replace(/^https:\/\/[^/]+/, 'http://localhost'), req)) })
    try {
      const url = `https://127.0.0.1:${tls.port}`
      const r = await cli(['health', '--retries', '0', '--json'], { TEAMDAY_URL: url })
      expect(r.code).toBe(5)
      expect(JSON.parse(r.out)).toMatchObject({ code: 'connection_failed', exitCode: 5 })
      expect(r.err).toContain('the TLS certificate is not trusted')
      expect(r.err).toContain('point NODE_EXTRA_CA_CERTS at that CA\'s PEM file')
      expect(r.err).not.toContain('teamday serve" runs there')
      // The advice works (Bun reads the variable at start).
      const p = Bun.spawn([process.execPath, 'src/main.ts', 'health', '--retries', '0'], { env: { PATH: process.env.PATH, HOME: dir, TEAMDAY_URL: url, NODE_EXTRA_CA_CERTS: cert }, stdout: 'pipe', stderr: 'pipe' })
      const [code, out] = await Promise.all([p.exited, new Response(p.stdout).text()])
      expect(out).toStartWith(`ok: teamday `)
      expect(code).toBe(0)
    } finally {
      tls.stop(true)
    }
  }, 30_000)
})

describe('a working directory that was removed', () => {
  // A cron job or CI step whose directory was deleted under it: process.cwd() throws. With no
  // token configured, the .env hint asked for it and the command crashed, printing a page of the
  // bundle's source and a stack trace (exit 1), instead of "no token configured" (exit 3).
  test('no token: exit 3 with the message, no stack trace', async () => {
    const gone = join(dir, 'gone')
    const { mkdirSync, rmdirSync } = await import('node:fs')
    mkdirSync(gone)
    const main = join(import.meta.dir, '..', 'src', 'main.ts')
    const sh = `cd '${gone}' && rmdir '${gone}' && exec '${process.execPath}' '${main}' agents list --json`
    const p = Bun.spawn(['sh', '-c', sh], { env: { PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: dir, TEAMDAY_URL: base }, stdout: 'pipe', stderr: 'pipe' })
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()])
    expect(err).toStartWith('error: no token configured')
    expect(err).not.toContain('uv_cwd')
    expect(JSON.parse(out)).toMatchObject({ code: 'no_token', exitCode: 3 })
    expect(code).toBe(3)
    expect(() => rmdirSync(gone)).toThrow()
  }, 30_000)
})

describe('Ctrl-C and SIGTERM (README: Exit codes)', () => {
  test('end a command waiting for an answer at once, by the signal (130 / 143 in the shell)', async () => {
    const silent = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {}, open() {} } })
    try {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        const p = Bun.spawn([process.execPath, 'src/main.ts', 'agents', 'list'], { env: { PATH: process.env.PATH, HOME: dir, TEAMDAY_URL: `http://127.0.0.1:${silent.port}`, TEAMDAY_TOKEN: admin.token }, stdout: 'pipe', stderr: 'pipe' })
        // Its request is out (the server holds it) before the signal.
        await Bun.sleep(1500)
        const sent = Date.now()
        p.kill(signal)
        await p.exited
        expect(Date.now() - sent).toBeLessThan(5_000)
        expect(p.signalCode).toBe(signal)
        expect(await new Response(p.stdout).text()).toBe('')
      }
    } finally {
      silent.stop(true)
    }
  }, 30_000)
})

describe('spaces secrets list: names only on stdout', () => {
  // `N=$(teamday spaces secrets list prod | wc -l)` was 1 for a space without secrets, and a
  // `while read KEY` loop read "no secrets" as a name.
  test('a space without secrets: nothing on stdout, the sentence on stderr, exit 0', async () => {
    const space = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Empty' } })
    const r = await cli(['spaces', 'secrets', 'list', space.body.space.id])
    expect([r.code, r.out, r.err]).toEqual([0, '', 'no secrets\n'])
    const json = await cli(['spaces', 'secrets', 'list', space.body.space.id, '--json'])
    expect(JSON.parse(json.out).secrets).toEqual([])
    expect(json.err).toBe('')
  })
})

describe('a DELETE whose answer was lost on the way (a proxy answered 502 after the server did it)', () => {
  // DELETE carries no Idempotency-Key: its retry found the task gone and said only "not found"
  // (exit 4), as if the ID were wrong, though this very command had deleted it.
  test('the retry that finds nothing says an earlier attempt may have done it (exit 4, as the API answered)', async () => {
    let lose: string | null = 'DELETE'
    const lossy = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(req) {
        const res = await t.app.handle(req)
        if (req.method !== lose) return res
        lose = null
        await res.arrayBuffer()
        return new Response('<html>502 Bad Gateway</html>', { status: 502 })
      },
    })
    try {
      const env = { TEAMDAY_URL: `http://127.0.0.1:${lossy.port}`, TEAMDAY_TOKEN: admin.token }
      const task = await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'deleted once' } })
      const r = await cli(['tasks', 'delete', task.body.id, '--json'], env)
      expect(r.code).toBe(4)
      expect(JSON.parse(r.out)).toMatchObject({ statusCode: 404, code: 'not_found' })
      expect(r.err).toContain('HTTP 502; retrying')
      expect(r.err).toContain('an earlier attempt of this request got no answer (HTTP 502) and may have done it')
      expect((await t.req('GET', `/api/v1/tasks/${task.body.id}`, { token: admin.token })).status).toBe(404)

      const space = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Lossy' } })
      expect((await cli(['spaces', 'secrets', 'set', space.body.space.id, 'GONE=1'])).code).toBe(0)
      lose = 'DELETE'
      const s = await cli(['spaces', 'secrets', 'delete', space.body.space.id, 'GONE'], env)
      expect(s.code).toBe(4)
      expect(s.err).toContain(`space ${space.body.space.id} has no secret GONE; an earlier attempt of this request got no answer (HTTP 502)`)

      // `tokens rotate self` without a grace period: the first attempt ended the token its retry
      // sends (401 token_revoked, exit 3), and said nothing of the rotation it had made.
      const own = await makeActor(t, { role: 'member' })
      lose = 'POST'
      const rotated = await cli(['tokens', 'rotate', 'self'], { ...env, TEAMDAY_TOKEN: own.token })
      expect(rotated.code).toBe(3)
      expect(rotated.out).toBe('')
      expect(rotated.err).toContain('token has been revoked')
      expect(rotated.err).toContain('an earlier attempt of this request got no answer (HTTP 502) and may have done it')

      // An ID that never existed, with no answer lost: "not found" alone, as before.
      const plain = await cli(['tasks', 'delete', 'task_nothere'], env)
      expect(plain.code).toBe(4)
      expect(plain.err).not.toContain('earlier attempt')
      // Nothing was carried out by a refused connection: no such words either.
      const refused = await cli(['tasks', 'delete', 'task_nothere', '--retries', '1'], { TEAMDAY_URL: 'http://127.0.0.1:9', TEAMDAY_TOKEN: admin.token })
      expect(refused.code).toBe(5)
      expect(refused.err).not.toContain('earlier attempt')
    } finally {
      lossy.stop(true)
    }
  })
})

describe('--message - with a stdin that cannot be read', () => {
  // `< /` (a directory), a descriptor open for writing only: Bun's read fails, and the command
  // ended with exit 1 and the runtime's words ("EISDIR: illegal operation on a directory, fstat")
  // where an unreadable --message-file is input_unreadable, exit 2.
  test('exit 2, input_unreadable, naming the option and the reason; nothing sent', async () => {
    const failing = () => ({
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(Object.assign(new Error('EISDIR: illegal operation on a directory, fstat'), { code: 'EISDIR' })) }),
    })
    const { io, out, err } = recordingIo({ TEAMDAY_URL: base, TEAMDAY_TOKEN: admin.token }, { stdin: failing })
    seen.length = 0
    const code = await run(['agents', 'execute', 'bot', '-m', '-', '--json'], io)
    expect(code).toBe(2)
    expect(JSON.parse(out())).toMatchObject({ code: 'input_unreadable', exitCode: 2 })
    expect(err()).toStartWith('error: --message -: cannot read stdin: it is a directory [EISDIR]')
    expect(seen).toEqual([])
  })
})

describe('agents execute --stream against something that is not teamday', () => {
  // TEAMDAY_URL at a web front end that answers its page for every path: the stream "ended before
  // the execution finished (execution ?); see teamday executions get ?", code stream_ended, where
  // every other command says not_teamday (README: "Not a teamday server").
  test('a 200 that is not text/event-stream, or a stream that names no execution: not_teamday, exit 5', async () => {
    let answer = () => new Response('<!doctype html><html><body>app</body></html>', { headers: { 'content-type': 'text/html' } })
    const other = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => answer() })
    try {
      const env = { TEAMDAY_URL: `http://127.0.0.1:${other.port}`, TEAMDAY_TOKEN: admin.token }
      const html = await cli(['agents', 'execute', 'bot', '-m', 'hi', '--stream', '--json'], env)
      expect(html.code).toBe(5)
      expect(JSON.parse(html.out)).toMatchObject({ error: true, code: 'not_teamday', exitCode: 5 })
      expect(html.err).toContain('does not look like a teamday server')
      expect(html.err).not.toContain('executions get ?')
      answer = () => new Response(': hello\n\ndata: {"x":1}\n\n', { headers: { 'content-type': 'text/event-stream' } })
      const sse = await cli(['agents', 'execute', 'bot', '-m', 'hi', '--stream'], env)
      expect(sse.code).toBe(5)
      expect(sse.err).toContain('not what a teamday (or TeamDay) server sends')
      expect(sse.err).not.toContain('executions get ?')
    } finally {
      other.stop(true)
    }
  })
})

describe('no token: a token variable set blank', () => {
  // GitHub Actions' `env: TEAMDAY_TOKEN: ${{ secrets.TEAMDAY_TOKEN }}` with the secret not given
  // to the job (a fork's pull request, a misspelt name) sets it empty; the error said to "set
  // TEAMDAY_TOKEN", which the job's file does.
  test('the error says which variable is set but empty', async () => {
    for (const name of ['TEAMDAY_TOKEN', 'TEAMDAY_API_TOKEN']) {
      const r = await cli(['agents', 'list', '--json'], { TEAMDAY_URL: base, [name]: ' ', XDG_CONFIG_HOME: dir })
      expect(r.code).toBe(3)
      expect(JSON.parse(r.out)).toMatchObject({ code: 'no_token', exitCode: 3 })
      expect(r.err).toStartWith(`error: no token configured (${name} is set but empty: a CI secret not given to this step?)`)
      expect(seen).toEqual([])
    }
    const unset = await cli(['agents', 'list'], { TEAMDAY_URL: base, XDG_CONFIG_HOME: dir })
    expect(unset.err).toStartWith('error: no token configured: sign in')
  })
})

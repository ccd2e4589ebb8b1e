// Our own client: `teamday login` runs the browser sign-in against a server on a real port (the
// browser step is driven by the test), stores the login per server URL with mode 0600, refreshes
// by itself, never sends server A's login to server B; `teamday logout` revokes and deletes it;
// `teamday whoami` names its source; --token-file / TEAMDAY_TOKEN / TEAMDAY_API_TOKEN come first.
import { afterAll, beforeAll, describe, expect, test, spyOn } from 'bun:test'
import type { Server } from 'bun'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { recordingIo } from './helpers/cli-io'
import { run } from '../src/main'
import { decideLogin } from '../src/modules/cli-auth/service'
import { LOGIN_TIMING } from '../src/cli/client/login'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { consoleClient, givePassword, type ConsoleClient, shownApproval } from './helpers/console'
import { createUser } from '../src/modules/users/service'

interface Served {
  t: TestApp
  server: Server<unknown>
  base: string
  /** The Authorization header of every request the server received. */
  auth: string[]
}

async function serve(): Promise<Served> {
  const t = await makeTestApp()
  t.clock.ms = Date.now() // the client compares expiresAt with the real time
  const auth: string[] = []
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (req) => {
      auth.push(req.headers.get('authorization') ?? '')
      return t.app.handle(req)
    },
  })
  return { t, server, base: `http://127.0.0.1:${server.port}`, auth }
}

let a: Served
let b: Served
let alice: Actor
let home: string
const file = () => join(home, 'config', 'teamday', 'credentials.json')

// Polls every 0.5 s rather than the server's 2 s (the client's longest pause between polls,
// which a test may shorten: src/cli/client/login.ts): each login here waited out a whole 2 s
// interval before its first poll. Past the per-code limit (6 polls in 10 s) the client retries
// its 429 as it would any other.
const savedTiming = { ...LOGIN_TIMING }

beforeAll(async () => {
  Object.assign(LOGIN_TIMING, { maxIntervalMs: 500 })
  a = await serve()
  b = await serve()
  alice = await makeActor(a.t, { role: 'member' })
  await makeActor(b.t, { role: 'admin' })
  home = mkdtempSync(join(tmpdir(), 'teamday-login-'))
})

afterAll(() => {
  Object.assign(LOGIN_TIMING, savedTiming)
  a.server.stop(true)
  b.server.stop(true)
  rmSync(home, { recursive: true, force: true })
})

interface Result {
  code: number
  out: string
  err: string
}

/** `teamday ARGV` with a clean environment: HOME and XDG_CONFIG_HOME in the test's folder. */
function start(argv: string[], env: Record<string, string> = {}) {
  const { io, out, err } = recordingIo({ HOME: home, XDG_CONFIG_HOME: join(home, 'config'), ...env })
  const done = run(argv, io).then((code): Result => ({ code, out: out(), err: err() }))
  return { done, err }
}
const cli = (argv: string[], env?: Record<string, string>) => start(argv, env).done

const passworded = new Set<string>()

/**
 * Runs `teamday login`, waits for the URL it prints, and does the browser step as `who`: opens it
 * with a console session (sign-in, then back through `next`) and posts Approve, as the page's form does.
 */
async function login(s: Served, who: Actor, extra: string[] = [], env: Record<string, string> = {}, approve = async (browser: ConsoleClient, path: string) => {
  expect((await browser.post(path, { ...(await shownApproval(s.t, browser, path)), organizationId: who.organizationId })).status).toBe(303)
}): Promise<Result> {
  const p = start(['login', '--url', s.base, '--no-browser', ...extra], env)
  let url: string | undefined
  // Printed once the server answered the start of the login: waited for (10 s), as a loaded machine can take a while.
  for (const end = Date.now() + 10_000; !url && Date.now() < end; ) {
    await Bun.sleep(10)
    url = /(http:\S+\/cli\/authorize\/tdc_[A-Za-z0-9]+)/.exec(p.err())?.[1]
  }
  expect(url).toBeTruthy()
  const path = new URL(url!).pathname
  // A password once per person and server: setting one signs the person out everywhere, CLI
  // sign-ins included, which ended the sign-in a second login replaces before the client could
  // (a test of that revoke passed without it).
  if (!passworded.has(`${s.base} ${who.userId}`)) {
    await givePassword(s.t, who.userId)
    passworded.add(`${s.base} ${who.userId}`)
  }
  const browser = consoleClient(s.t)
  const first = await browser.get(path)
  expect(first.headers.get('location')).toStartWith('/login?next=')
  const signedIn = await browser.post('/login', { email: who.email, password: 'correct horse battery staple', next: path })
  expect(signedIn.headers.get('location')).toBe(path)
  expect((await browser.get(path)).text).toContain('value="approve"')
  await approve(browser, path)
  return p.done
}

describe('teamday login', () => {
  test('signs in through the browser step and stores the login for that URL only, mode 0600', async () => {
    const r = await login(a, alice)
    expect(r.code).toBe(0)
    expect(r.err).toContain(`${a.base}/cli/authorize/tdc_`)
    expect(r.err).toMatch(/shows the code [A-Z2-9]{4}-[A-Z2-9]{4}/)
    expect(r.out).toContain(`Signed in to ${a.base} as ${alice.email}`)
    expect(statSync(file()).mode & 0o777).toBe(0o600)
    expect(statSync(join(home, 'config', 'teamday')).mode & 0o777).toBe(0o700)
    const stored = JSON.parse(readFileSync(file(), 'utf8'))
    expect(Object.keys(stored.servers)).toEqual([a.base])
    expect(stored.servers[a.base].accessToken).toMatch(/^tdo_/)
    expect(stored.servers[a.base].refreshToken).toMatch(/^tdr_/)
    // Neither token is printed.
    expect(r.out + r.err).not.toContain(stored.servers[a.base].accessToken)
    expect(r.out + r.err).not.toContain(stored.servers[a.base].refreshToken)
  })

  test('whoami uses the stored login and says so; --token-file, TEAMDAY_TOKEN, TEAMDAY_API_TOKEN come first', async () => {
    const w = await cli(['whoami', '--url', a.base])
    expect(w.code).toBe(0)
    expect(w.out).toContain(alice.email)
    expect(w.out).toMatch(/source\s+teamday login \(/)
    expect((await cli(['whoami', '--url', a.base], { TEAMDAY_API_TOKEN: alice.token })).out).toMatch(/source\s+TEAMDAY_API_TOKEN/)
    expect((await cli(['whoami', '--url', a.base], { TEAMDAY_TOKEN: alice.token, TEAMDAY_API_TOKEN: 'td_x' })).out).toMatch(/source\s+TEAMDAY_TOKEN/)
    const tf = join(home, 'token')
    writeFileSync(tf, alice.token, { mode: 0o600 })
    expect((await cli(['whoami', '--url', a.base, '--token-file', tf], { TEAMDAY_TOKEN: 'td_x' })).out).toMatch(/source\s+--token-file /)
  })

  test("server A's login is never sent to server B", async () => {
    const before = b.auth.length
    const r = await cli(['whoami', '--url', b.base])
    expect(r.code).toBe(3)
    expect(r.err).toContain('no token configured')
    const sent = b.auth.slice(before)
    expect(sent.filter((h) => h !== '')).toEqual([])
    // Nor with TEAMDAY_URL pointing at B.
    expect((await cli(['agents', 'list'], { TEAMDAY_URL: b.base })).code).toBe(3)
    expect(b.auth.filter((h) => h.includes('tdo_'))).toEqual([])
  })

  test('refreshes by itself: when the stored expiresAt has passed, and when the server says the token expired', async () => {
    const stored = JSON.parse(readFileSync(file(), 'utf8'))
    const first = stored.servers[a.base]
    // 1. The stored expiry has passed: refreshed before the request, saved for the next command.
    stored.servers[a.base].expiresAt = new Date(Date.now() - 1000).toISOString()
    writeFileSync(file(), JSON.stringify(stored), { mode: 0o600 })
    expect((await cli(['agents', 'list', '--url', a.base])).code).toBe(0)
    const second = JSON.parse(readFileSync(file(), 'utf8')).servers[a.base]
    expect(second.accessToken).not.toBe(first.accessToken)
    expect(second.refreshToken).toBe(first.refreshToken)
    expect(statSync(file()).mode & 0o777).toBe(0o600)
    // 2. The server's clock is ahead: 401 token_expired, refreshed, sent again.
    a.t.clock.advance(16 * 60_000)
    const r = await cli(['agents', 'list', '--url', a.base])
    expect(r.code).toBe(0)
    const third = JSON.parse(readFileSync(file(), 'utf8')).servers[a.base]
    expect(third.accessToken).not.toBe(second.accessToken)
  })

  test('logout revokes the session on the server and deletes the login; a second logout says there is nothing', async () => {
    const { accessToken, refreshToken } = JSON.parse(readFileSync(file(), 'utf8')).servers[a.base]
    const r = await cli(['logout', '--url', a.base])
    expect(r.code).toBe(0)
    expect(r.out).toContain('the server revoked the session')
    expect(JSON.parse(readFileSync(file(), 'utf8')).servers).toEqual({})
    expect((await a.t.req('GET', '/api/v1/agents', { token: accessToken })).body.code).toBe('token_revoked')
    expect((await a.t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken } })).status).toBe(401)
    expect((await cli(['logout', '--url', a.base])).out).toContain('Not signed in')
    expect((await cli(['whoami', '--url', a.base])).code).toBe(3)
  })

  test('tokens revoke self with a stored login ends the sign-in and forgets it, as logout does (it stayed, and the next command said to set a token)', async () => {
    expect((await login(a, alice)).code).toBe(0)
    const { accessToken } = JSON.parse(readFileSync(file(), 'utf8')).servers[a.base]
    const r = await cli(['tokens', 'revoke', 'self', '--url', a.base])
    expect(r.code).toBe(0)
    expect(r.out).toContain(`signed out of ${a.base}`)
    expect(JSON.parse(readFileSync(file(), 'utf8')).servers).toEqual({})
    expect((await a.t.req('GET', '/api/v1/agents', { token: accessToken })).body.code).toBe('token_revoked')
    expect((await cli(['logout', '--url', a.base])).out).toContain('Not signed in')
  })

  test('login and logout --json print JSON on stdout (they printed a sentence)', async () => {
    const r = await login(a, alice, ['--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out)).toMatchObject({ signedIn: true, server: a.base, email: alice.email, credentialsFile: file() })
    const out = await cli(['logout', '--url', a.base, '--json'])
    expect(out.code).toBe(0)
    expect(JSON.parse(out.out)).toEqual({ signedOut: true, server: a.base, credentialsFile: file(), revoked: true })
    const again = await cli(['logout', '--url', a.base, '--json'])
    expect(JSON.parse(again.out)).toMatchObject({ signedOut: false, reason: 'not_signed_in' })
  })

  test('signing in again to the same server revokes the session it replaces; a token in the environment that comes first is named', async () => {
    expect((await login(a, alice)).code).toBe(0)
    const first = JSON.parse(readFileSync(file(), 'utf8')).servers[a.base]
    const r = await login(a, alice, [], { TEAMDAY_TOKEN: alice.token }, async (browser, path) => {
      // Nothing else ended the first sign-in before the client replaced it: the revoke below is the client's.
      expect((await a.t.req('GET', '/api/v1/agents', { token: first.accessToken })).status).toBe(200)
      expect((await browser.post(path, { ...(await shownApproval(a.t, browser, path)), organizationId: alice.organizationId })).status).toBe(303)
    })
    expect(r.code).toBe(0)
    expect(r.out).toContain('The sign-in it replaces was revoked')
    expect(r.err).toContain('warning: TEAMDAY_TOKEN is set and comes before this login')
    const second = JSON.parse(readFileSync(file(), 'utf8')).servers[a.base]
    expect(second.refreshToken).not.toBe(first.refreshToken)
    expect((await a.t.req('GET', '/api/v1/agents', { token: first.accessToken })).body.code).toBe('token_revoked')
    expect((await a.t.req('POST', '/api/auth/cli/refresh', { body: { refreshToken: first.refreshToken } })).status).toBe(401)
    expect((await a.t.req('GET', '/api/v1/agents', { token: second.accessToken })).status).toBe(200)
    expect((await cli(['logout', '--url', a.base])).code).toBe(0)
  })

  // The approval page shown again after a refusal had the console's organization picked: the
  // terminal was signed in there, and stored it, not in the one the person had chosen.
  test('the organization chosen on the approval page is the stored login\'s, whoami\'s and the token\'s, also after the page was shown again', async () => {
    const bob = await makeActor(a.t, { role: 'member', org: 'bobs-home' })
    const second = await createUser(a.t.ctx, { email: bob.email, orgSlug: 'bobs-second', role: 'admin' })
    const r = await login(a, bob, ['--json'], {}, async (browser, path) => {
      // Sent without a decision (the page is shown again, 422), then Approve as that page has it.
      const again = await browser.post(path, { organizationId: second.organization.id })
      expect(again.status).toBe(422)
      const form = /<select name="organizationId" required[^>]*>(.*?)<\/select>/.exec(again.text)![1]!
      const picked = /<option value="(org_\w+)" selected/.exec(form)?.[1]
      expect(picked).toBe(second.organization.id)
      expect((await browser.post(path, { ...(await shownApproval(a.t, browser, path)), organizationId: picked! })).status).toBe(303)
    })
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out)).toMatchObject({ signedIn: true, email: bob.email, organizationId: second.organization.id, organizationSlug: 'bobs-second', role: 'admin' })
    const stored = JSON.parse(readFileSync(file(), 'utf8')).servers[a.base]
    expect(stored.organizationId).toBe(second.organization.id)
    const who = await cli(['whoami', '--url', a.base, '--json'])
    expect(who.code).toBe(0)
    expect(JSON.parse(who.out).token).toMatchObject({ organizationId: second.organization.id, organizationSlug: 'bobs-second', role: 'admin' })
    // It acts there: its members are that organization's.
    const members = await cli(['members', 'list', '--url', a.base, '--json'])
    expect(JSON.parse(members.out).members.map((m: { email: string }) => m.email)).toEqual([bob.email])
    expect((await cli(['logout', '--url', a.base])).code).toBe(0)
  })

  test('a denied sign-in ends the command with the reason (exit 3)', async () => {
    const p = start(['login', '--url', a.base, '--no-browser'])
    let code: string | undefined
    for (const end = Date.now() + 10_000; !code && Date.now() < end; ) {
      await Bun.sleep(10)
      code = /\/cli\/authorize\/(tdc_[A-Za-z0-9]+)/.exec(p.err())?.[1]
    }
    await decideLogin(a.t.ctx, code!, { userId: alice.userId }, 'deny')
    const r = await p.done
    expect(r.code).toBe(3)
    expect(r.err).toContain('denied')
  })

  // Found for the clock review (2026-12-07): the wait's deadline was Date.now() + the code's
  // lifetime, so the wall clock stepped on (NTP, a laptop's resume) while it waited ended it at
  // once with "sign-in timed out", the code still valid on the server.
  test('the wall clock stepped an hour on while it waits: the approval still signs in', async () => {
    const real = Date.now
    let offset = 0
    const spy = spyOn(Date, 'now').mockImplementation(() => real() + offset)
    try {
      const p = start(['login', '--url', a.base, '--no-browser'])
      let code: string | undefined
      for (const end = performance.now() + 10_000; !code && performance.now() < end; ) {
        await Bun.sleep(10)
        code = /\/cli\/authorize\/(tdc_[A-Za-z0-9]+)/.exec(p.err())?.[1]
      }
      offset = 3_600_000
      // A poll or two on the stepped clock before the approval.
      await Bun.sleep(1_200)
      await decideLogin(a.t.ctx, code!, { userId: alice.userId }, 'approve')
      const r = await p.done
      expect(r.code, r.err).toBe(0)
      expect(r.err).not.toContain('timed out')
    } finally {
      spy.mockRestore()
    }
  })

  test('health reads no token source: a stored-login file that is not JSON and a missing --token-file fail whoami, not health', async () => {
    const before = readFileSync(file(), 'utf8')
    try {
      writeFileSync(file(), '{ not json', { mode: 0o600 })
      const who = await cli(['whoami', '--url', a.base])
      expect(who.code).toBe(3)
      expect(who.err).toContain('is not valid JSON')
      const health = await cli(['health', '--url', a.base])
      expect(health).toMatchObject({ code: 0, err: '' })
      expect(health.out).toStartWith(`ok: teamday `)
      const missing = join(home, 'no-such-token')
      expect((await cli(['whoami', '--url', a.base, '--token-file', missing])).err).toContain('cannot read the token file')
      expect(await cli(['health', '--url', a.base, '--token-file', missing])).toMatchObject({ code: 0, err: '' })
      // Nothing was sent for it either.
      expect(a.auth.at(-1)).toBe('')
    } finally {
      writeFileSync(file(), before, { mode: 0o600 })
    }
  })
})

import { spawn } from 'node:child_process'
import { loginCodeDisplay } from '../../auth/login-code'
import { clientBaseUrl, clientEnv, proxyVariable } from '../../client/config'
import { credentialsPath, readCredentials, writeCredentials } from '../../client/credentials'
import { ClientError, unexpectedAnswer } from '../../client/errors'
import { ApiClient } from '../../client/http'
import type { ClientValues, Run } from '../spec'
import { intFlag, warnUnverifiedTls } from './common'

/**
 * `teamday login` and `teamday logout`: browser sign-in (the same flow as TeamDay CLI's
 * `auth login`), stored per server in ~/.config/teamday/credentials.json.
 */

type Env = Record<string, string | undefined>

/** xdg-open (with a display) or open (macOS); never waits for it, never fails the command. */
function openBrowser(url: string, env: Env): boolean {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'linux' && (env.DISPLAY || env.WAYLAND_DISPLAY) ? 'xdg-open' : null
  if (!cmd) return false
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true })
    child.on('error', () => {})
    child.unref()
    return true
  } catch {
    return false
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * The sign-in page the server named, as it is shown and opened: a web page (http or https) only,
 * printed as the URL parser writes it (control characters escaped), and opened by itself only
 * when it is on the server signed in to. It was printed and handed to xdg-open as sent: a server
 * (or a man in the middle of plain http) could have the terminal print escape sequences, or the
 * desktop open a file:, javascript: or any other handler's address, or a look-alike site.
 */
export function signInPage(authUrl: string, baseUrl: string): { href: string; host: string; sameServer: boolean } {
  let u: URL
  try {
    u = new URL(authUrl)
  } catch {
    throw unexpectedAnswer(baseUrl, 200, 'a sign-in address (authUrl) that is no URL')
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw unexpectedAnswer(baseUrl, 200, `a sign-in address (authUrl) that is not a web page (${JSON.stringify(u.protocol.slice(0, 32))}); not opened`)
  return { href: u.href, host: u.host, sameServer: u.origin === new URL(baseUrl).origin }
}


/**
 * How long `teamday login` waits for the approval (a test shortens them). The server says how
 * long its code lasts (expiresIn, 300 s) and how often to poll (interval, 2 s); an answer
 * without them, or with absurd ones, polled for ever (a missing expiresIn made the deadline NaN,
 * which no time passes) or slept for ever between polls.
 * - defaultWaitMs: without a usable expiresIn; maxWaitMs: at most, whatever it says.
 * - maxIntervalMs: the longest pause between two polls.
 * - lastPollMs: how long a poll may go on past the deadline (its answer on the way).
 */
export const LOGIN_TIMING = { defaultWaitMs: 5 * 60_000, maxWaitMs: 15 * 60_000, maxIntervalMs: 30_000, lastPollMs: 2_000 }

/** "5 minutes", "0.3 s". */
function inWords(ms: number): string {
  return ms >= 120_000 && ms % 60_000 === 0 ? `${ms / 60_000} minutes` : `${ms >= 1000 ? Math.round(ms / 1000) : ms / 1000} s`
}

/** --retries, read as every other client command reads it (src/cli/client/common.ts makeClient). */
const retriesOf = (values: ClientValues): number => intFlag(values.retries, '--retries', 0, 10) ?? 3

export async function login({ values, io }: Run<ClientValues & { 'no-browser'?: boolean }>): Promise<void> {
  const baseUrl = clientBaseUrl(io.env, values.url)
  const retries = retriesOf(values)
  warnUnverifiedTls(io, baseUrl)
  const client = new ApiClient({ baseUrl, token: null, tokenSource: null, retries, warn: (line) => io.err(line), proxy: proxyVariable(io.env, baseUrl) })
  const started = await client.request('POST', '/api/auth/cli/initiate', { auth: false, expect: { code: 'string', authUrl: 'string' } })
  const { code, authUrl } = started.body as { code: string; authUrl: string }
  const expiresIn = Number(started.body.expiresIn)
  const waitMs = Number.isFinite(expiresIn) && expiresIn > 0 ? Math.min(expiresIn * 1000, LOGIN_TIMING.maxWaitMs) : LOGIN_TIMING.defaultWaitMs
  const interval = Math.min(Math.max(1, Number(started.body.interval) || 2) * 1000, LOGIN_TIMING.maxIntervalMs)
  const page = signInPage(authUrl, baseUrl)
  // Another address than the server's (its public URL, TEAMDAY_PUBLIC_URL, behind a proxy, or
  // someone else's page): shown with a word of caution, and not opened without the person.
  const elsewhere = page.sameServer ? '' : `\n\nThis page is not on ${new URL(baseUrl).host}: open it yourself only if ${page.host} is that server's public address.`
  io.err(`To sign in to ${baseUrl}, open this page in a browser and approve:\n\n  ${page.href}${elsewhere}\n\nCheck that the page shows the code ${loginCodeDisplay(code)}. Waiting for approval (up to ${inWords(waitMs)}; Ctrl-C to stop)...`)
  if (page.sameServer && !values['no-browser'] && openBrowser(page.href, io.env)) io.err('(opened in your browser)')
  // On the monotonic clock: a step of the wall clock while it waits (NTP, a laptop's resume) neither
  // ends the wait at once nor holds it for as long as the clock went back.
  const deadline = performance.now() + waitMs
  const timedOut = () => new ClientError('auth', `sign-in timed out: nobody approved it within ${inWords(waitMs)}`, 'Run "teamday login" again.', undefined, 'login_timeout')
  let tokens: any
  for (;;) {
    await sleep(Math.max(0, Math.min(interval, deadline - performance.now())))
    let r
    try {
      // A poll, its retries and their waits included, ends with the wait's deadline (and a moment
      // for its last answer): a server that answered 429 or 503 with a Retry-After of two minutes
      // held the command that long for each of 3 retries, minutes past the time it said it waits.
      const signal = AbortSignal.timeout(Math.max(0, deadline - performance.now()) + LOGIN_TIMING.lastPollMs)
      r = await client.request('GET', '/api/auth/cli/poll', { auth: false, query: { code }, expect: { status: 'string' }, signal })
    } catch (e) {
      if (performance.now() >= deadline && e instanceof ClientError && e.code === 'timeout') throw timedOut()
      if (e instanceof ClientError && e.body && (e.body as any).code) {
        const why = (e.body as any).code as string
        throw new ClientError('auth', `sign-in did not complete: ${e.message}`, why === 'login_denied' ? undefined : 'Run "teamday login" again.', e.body, why)
      }
      throw e
    }
    if (r.body.status === 'authorized') {
      tokens = r.body
      break
    }
    if (performance.now() >= deadline) throw timedOut()
  }
  const file = await credentialsPath(io.env)
  // The login this one replaces (signed in again to the same server): its session is revoked once
  // the new one is saved, as logout would (it stayed valid on the server for its 90 days).
  const previous = (await readCredentials(file, (line) => io.err(line)))[baseUrl]
  const login = { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: tokens.expiresAt, userId: tokens.userId, organizationId: tokens.organizationId, savedAt: new Date().toISOString() }
  // Who it is, with the new token, before saving it.
  const me = new ApiClient({ baseUrl, token: tokens.accessToken, tokenSource: 'teamday login', retries, warn: (line) => io.err(line) })
  const self = (await me.request('GET', '/api/v1/tokens/self', { expect: { token: 'object' } })).body.token
  await writeCredentials(file, baseUrl, { ...login, email: self.email })
  let previousRevoked: boolean | null = null
  if (previous && previous.refreshToken !== login.refreshToken) {
    const why = await revokeSession(client, previous.refreshToken)
    previousRevoked = why === null
    if (why !== null) io.err(`warning: could not revoke the sign-in this one replaces (${why}); it ends by itself within 90 days, or revoke it in the console (Settings > Profile > Personal Access Tokens, CLI sign-ins).`)
  }
  // A token in the environment (or --token-file) comes before a stored login: say so, or the
  // next command runs as someone else than who just signed in.
  const set = clientEnv(io.env)
  const before = values['token-file'] !== undefined ? '--token-file' : set.TEAMDAY_TOKEN ? 'TEAMDAY_TOKEN' : set.TEAMDAY_API_TOKEN ? 'TEAMDAY_API_TOKEN' : null
  if (before) io.err(`warning: ${before} is set and comes before this login: commands use it, not this sign-in, while it is set${before === '--token-file' ? ' (drop --token-file)' : ` (unset ${before})`}.`)
  if (values.json) {
    io.out(JSON.stringify({ signedIn: true, server: baseUrl, email: self.email, userId: self.userId, organizationId: self.organizationId, organizationSlug: self.organizationSlug ?? null, role: self.role, credentialsFile: file, previousLoginRevoked: previousRevoked, tokenSourceFirst: before }, null, 2))
    return
  }
  io.out(`Signed in to ${baseUrl} as ${self.email} (${self.organizationSlug ?? self.organizationId}, ${self.role}). Saved in ${file}.${previousRevoked ? ' The sign-in it replaces was revoked.' : ''}`)
}

/** Revokes a stored sign-in's session on the server: null when done, else why not (best effort: the caller goes on). */
async function revokeSession(client: ApiClient, refreshToken: string): Promise<string | null> {
  try {
    await client.request('POST', '/api/auth/cli/revoke', { auth: false, body: { refreshToken }, expect: 'object' })
    return null
  } catch (e) {
    return (e as Error).message
  }
}

export async function logout({ values, io }: Run<ClientValues>): Promise<void> {
  const baseUrl = clientBaseUrl(io.env, values.url)
  const retries = retriesOf(values)
  const file = await credentialsPath(io.env)
  const stored = (await readCredentials(file, (line) => io.err(line)))[baseUrl]
  if (!stored) {
    if (values.json) io.out(JSON.stringify({ signedOut: false, server: baseUrl, credentialsFile: file, reason: 'not_signed_in' }, null, 2))
    else io.out(`Not signed in to ${baseUrl} (nothing stored in ${file}).`)
    return
  }
  const client = new ApiClient({ baseUrl, token: null, tokenSource: null, retries, warn: (line) => io.err(line) })
  const why = await revokeSession(client, stored.refreshToken)
  const revoked = why === null
  if (why !== null) io.err(`warning: could not revoke the sign-in on the server (${why}); it ends by itself within 90 days, or revoke it in the console (Settings > Profile > Personal Access Tokens, CLI sign-ins).`)
  await writeCredentials(file, baseUrl, null)
  if (values.json) io.out(JSON.stringify({ signedOut: true, server: baseUrl, credentialsFile: file, revoked }, null, 2))
  else io.out(`Signed out of ${baseUrl}${revoked ? ' (the server revoked the session)' : ''}; removed from ${file}.`)
}

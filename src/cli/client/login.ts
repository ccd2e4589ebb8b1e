import { spawn } from 'node:child_process'
import { loginCodeDisplay } from '../../auth/login-code'
import { DEFAULT_URL, normalizeUrl } from '../../client/config'
import { credentialsPath, readCredentials, writeCredentials } from '../../client/credentials'
import { ClientError } from '../../client/errors'
import { ApiClient } from '../../client/http'
import type { ClientValues, Run } from '../spec'
import { intFlag } from './common'

/**
 * `teamday login` and `teamday logout`: browser sign-in (the same flow as TeamDay CLI's
 * `auth login`), stored per server in ~/.config/teamday/credentials.json.
 */

type Env = Record<string, string | undefined>

function serverUrl(env: Env, url: string | undefined): string {
  const raw = url ?? (env.TEAMDAY_URL || undefined) ?? (env.TEAMDAY_API_URL || undefined) ?? DEFAULT_URL
  return normalizeUrl(raw, url !== undefined ? '--url' : env.TEAMDAY_URL ? 'TEAMDAY_URL' : env.TEAMDAY_API_URL ? 'TEAMDAY_API_URL' : 'the default URL')
}

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

/** --retries, read as every other client command reads it (src/cli/client/common.ts makeClient). */
const retriesOf = (values: ClientValues): number => intFlag(values.retries, '--retries', 0, 10) ?? 3

export async function login({ values, io }: Run<ClientValues & { 'no-browser'?: boolean }>): Promise<void> {
  const baseUrl = serverUrl(io.env, values.url)
  const retries = retriesOf(values)
  const client = new ApiClient({ baseUrl, token: null, tokenSource: null, retries, warn: (line) => io.err(line) })
  const started = await client.request('POST', '/api/auth/cli/initiate', { auth: false, expect: { code: 'string', authUrl: 'string' } })
  const { code, authUrl, expiresIn } = started.body as { code: string; authUrl: string; expiresIn: number }
  const interval = Math.max(1, Number(started.body.interval) || 2) * 1000
  io.err(`To sign in to ${baseUrl}, open this page in a browser and approve:\n\n  ${authUrl}\n\nCheck that the page shows the code ${loginCodeDisplay(code)}. Waiting for approval (up to ${Math.round(expiresIn / 60)} minutes; Ctrl-C to stop)...`)
  if (!values['no-browser'] && openBrowser(authUrl, io.env)) io.err('(opened in your browser)')
  const deadline = Date.now() + expiresIn * 1000
  let tokens: any
  for (;;) {
    await sleep(interval)
    let r
    try {
      r = await client.request('GET', '/api/auth/cli/poll', { auth: false, query: { code }, expect: { status: 'string' } })
    } catch (e) {
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
    if (Date.now() > deadline) throw new ClientError('auth', 'sign-in timed out: nobody approved it within 5 minutes', 'Run "teamday login" again.', undefined, 'login_timeout')
  }
  const file = await credentialsPath(io.env)
  const login = { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: tokens.expiresAt, userId: tokens.userId, organizationId: tokens.organizationId, savedAt: new Date().toISOString() }
  // Who it is, with the new token, before saving it.
  const me = new ApiClient({ baseUrl, token: tokens.accessToken, tokenSource: 'teamday login', retries, warn: (line) => io.err(line) })
  const self = (await me.request('GET', '/api/v1/tokens/self', { expect: { token: 'object' } })).body.token
  await writeCredentials(file, baseUrl, { ...login, email: self.email })
  io.out(`Signed in to ${baseUrl} as ${self.email} (${self.organizationSlug ?? self.organizationId}, ${self.role}). Saved in ${file}.`)
}

export async function logout({ values, io }: Run<ClientValues>): Promise<void> {
  const baseUrl = serverUrl(io.env, values.url)
  const retries = retriesOf(values)
  const file = await credentialsPath(io.env)
  const stored = (await readCredentials(file, (line) => io.err(line)))[baseUrl]
  if (!stored) {
    io.out(`Not signed in to ${baseUrl} (nothing stored in ${file}).`)
    return
  }
  const client = new ApiClient({ baseUrl, token: null, tokenSource: null, retries, warn: (line) => io.err(line) })
  let revoked = true
  try {
    await client.request('POST', '/api/auth/cli/revoke', { auth: false, body: { refreshToken: stored.refreshToken }, expect: 'object' })
  } catch (e) {
    revoked = false
    io.err(`warning: could not revoke the sign-in on the server (${(e as Error).message}); it ends by itself within 90 days, or revoke it in the console (Settings, tokens page).`)
  }
  await writeCredentials(file, baseUrl, null)
  io.out(`Signed out of ${baseUrl}${revoked ? ' (the server revoked the session)' : ''}; removed from ${file}.`)
}

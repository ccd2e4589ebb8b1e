import { readFileSync } from 'node:fs'
import { CLIENT_EXIT, ClientError } from './errors'

type Env = Record<string, string | undefined>

export const DEFAULT_URL = 'http://localhost:3000'

export interface ClientConfig {
  /** Server origin (plus any path prefix), without a trailing slash and without /api/v1. */
  baseUrl: string
  token: string | null
  /** Where the token came from, for messages: never the token itself. */
  tokenSource: string | null
}

/**
 * Everything the client reads from its environment (passed in: this module never reads
 * process.env). URL: --url, TEAMDAY_URL, TEAMDAY_API_URL, http://localhost:3000. Token:
 * --token-file, TEAMDAY_TOKEN, TEAMDAY_API_TOKEN. A token is never taken from an argument.
 */
export function loadClientConfig(env: Env, flags: { url?: string; tokenFile?: string }): ClientConfig {
  const raw = flags.url ?? (env.TEAMDAY_URL || undefined) ?? (env.TEAMDAY_API_URL || undefined) ?? DEFAULT_URL
  const baseUrl = normalizeUrl(raw, flags.url !== undefined ? '--url' : env.TEAMDAY_URL ? 'TEAMDAY_URL' : 'TEAMDAY_API_URL')
  if (flags.tokenFile !== undefined) {
    let text: string
    try {
      text = readFileSync(flags.tokenFile, 'utf8')
    } catch (e) {
      throw new ClientError(CLIENT_EXIT.auth, `cannot read the token file ${flags.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`)
    }
    const token = text.trim()
    if (!token) throw new ClientError(CLIENT_EXIT.auth, `the token file ${flags.tokenFile} is empty`)
    if (/\s/.test(token)) throw new ClientError(CLIENT_EXIT.auth, `the token file ${flags.tokenFile} must hold only the token (one line, no spaces)`)
    return { baseUrl, token, tokenSource: `--token-file ${flags.tokenFile}` }
  }
  if (env.TEAMDAY_TOKEN) return { baseUrl, token: env.TEAMDAY_TOKEN.trim(), tokenSource: 'TEAMDAY_TOKEN' }
  if (env.TEAMDAY_API_TOKEN) return { baseUrl, token: env.TEAMDAY_API_TOKEN.trim(), tokenSource: 'TEAMDAY_API_TOKEN' }
  return { baseUrl, token: null, tokenSource: null }
}

/** http(s) only; strips a trailing slash and a trailing /api/v1 or /api (TeamDay's CLI uses the API URL). */
export function normalizeUrl(raw: string, from: string): string {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new ClientError(CLIENT_EXIT.usage, `${from} must be an http(s) URL such as http://localhost:3000 (got "${raw}")`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ClientError(CLIENT_EXIT.usage, `${from} must be an http(s) URL (got "${raw}")`)
  if (u.username || u.password) throw new ClientError(CLIENT_EXIT.usage, `${from} must not contain credentials; use TEAMDAY_TOKEN or --token-file`)
  const path = u.pathname.replace(/\/+$/, '').replace(/\/api(\/v1)?$/, '')
  return `${u.origin}${path}`
}

export const NO_TOKEN_MESSAGE =
  'no token configured: set TEAMDAY_TOKEN (export TEAMDAY_TOKEN=td_..., or a CI secret) or pass --token-file FILE'
export const NO_TOKEN_HINT =
  'Create a new token: on the server host run "teamday tokens create --email YOU --name NAME" (or use the admin token printed at first start); never pass a token as an argument.'

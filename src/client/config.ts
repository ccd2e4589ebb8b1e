import { credentialsPath, readCredentials, readWithMode } from './credentials'
import { ClientError } from './errors'
import { LoginSession } from './login-session'
import { quotableUrl, unlessBlank } from '../text'

type Env = Record<string, string | undefined>

export const DEFAULT_URL = 'http://localhost:3000'

export interface ClientConfig {
  /** Server origin (plus any path prefix), without a trailing slash and without /api/v1. */
  baseUrl: string
  token: string | null
  /** Where the token came from, for messages: never the token itself. */
  tokenSource: string | null
  /** The stored browser sign-in for this server (`teamday login`), when that is the source. */
  login?: LoginSession
  /** The proxy variable that may carry this server's requests (proxyVariable), for a connection failure's hint. */
  proxy?: string | null
  /**
   * With no token: the token variable that is set but blank (an undefined CI secret), which the
   * no-token error names (it said "set TEAMDAY_TOKEN" to a job whose file sets it).
   */
  blankToken?: string
}

/**
 * Everything the client reads from its environment (passed in: this module never reads
 * process.env). URL: --url, TEAMDAY_URL, TEAMDAY_API_URL, http://localhost:3000. Token:
 * --token-file, TEAMDAY_TOKEN, TEAMDAY_API_TOKEN, then the login stored by `teamday login` for
 * exactly this URL (never another server's). A token is never taken from an argument.
 * `warn` gets a line for stderr when the token file is open to other users. `token: false`: the
 * URL only (no token source is read).
 */
export async function loadClientConfig(given: Env, flags: { url?: string; tokenFile?: string; token?: boolean }, warn: (line: string) => void = () => {}): Promise<ClientConfig> {
  const env = clientEnv(given)
  const baseUrl = clientBaseUrl(given, flags.url)
  return { ...(await tokenConfig(given, env, baseUrl, flags, warn)), proxy: proxyVariable(given, baseUrl) }
}

async function tokenConfig(given: Env, env: ReturnType<typeof clientEnv>, baseUrl: string, flags: { tokenFile?: string; token?: boolean }, warn: (line: string) => void): Promise<ClientConfig> {
  if (flags.token === false) return { baseUrl, token: null, tokenSource: null }
  if (flags.tokenFile !== undefined) {
    let text: string
    let mode: number
    try {
      ;({ text, mode } = await readWithMode(flags.tokenFile))
    } catch (e) {
      throw new ClientError('auth', `cannot read the token file ${flags.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`, undefined, undefined, 'token_file')
    }
    const warning = tokenFileWarning(flags.tokenFile, mode)
    if (warning) warn(warning)
    const token = text.trim()
    if (!token) throw new ClientError('auth', `the token file ${flags.tokenFile} is empty`, undefined, undefined, 'token_file')
    // A token's characters (U+0021-U+007E) hold no white space: the regular expression, whose
    // first run costs a compiled command more than the check, only for a token with others.
    if (!visibleAscii(token) && /\s/.test(token)) throw new ClientError('auth', `the token file ${flags.tokenFile} must hold only the token (one line, no spaces)`, undefined, undefined, 'token_file')
    return { baseUrl, token: checkTokenCharacters(token, `--token-file ${flags.tokenFile}`), tokenSource: `--token-file ${flags.tokenFile}` }
  }
  if (env.TEAMDAY_TOKEN) return { baseUrl, token: checkTokenCharacters(env.TEAMDAY_TOKEN.trim(), 'TEAMDAY_TOKEN'), tokenSource: 'TEAMDAY_TOKEN' }
  if (env.TEAMDAY_API_TOKEN) return { baseUrl, token: checkTokenCharacters(env.TEAMDAY_API_TOKEN.trim(), 'TEAMDAY_API_TOKEN'), tokenSource: 'TEAMDAY_API_TOKEN' }
  const file = await credentialsPath(given)
  const stored = (await readCredentials(file, warn))[baseUrl]
  if (stored) {
    const source = `teamday login (${file})`
    checkTokenCharacters(stored.accessToken, source)
    checkTokenCharacters(stored.refreshToken, source)
    return { baseUrl, token: stored.accessToken, tokenSource: source, login: new LoginSession(file, baseUrl, stored) }
  }
  const blank = ['TEAMDAY_TOKEN', 'TEAMDAY_API_TOKEN'].find((name) => given[name] !== undefined)
  return { baseUrl, token: null, tokenSource: null, ...(blank !== undefined && { blankToken: blank }) }
}

/** The no-token error's message: with the variable set blank, if one is (ClientConfig.blankToken). */
export function noTokenMessage(blankToken: string | undefined): string {
  return blankToken === undefined ? NO_TOKEN_MESSAGE : NO_TOKEN_MESSAGE.replace('no token configured', `no token configured (${blankToken} is set but empty: a CI secret not given to this step?)`)
}

/**
 * The proxy variable Bun's fetch reads for this URL, as curl does: `http_proxy`, else
 * `HTTP_PROXY` for http, `https_proxy`, else `HTTPS_PROXY` for https (empty, `""` or `''` is
 * unset), as `NAME=URL` without the URL's credentials; null when none is set. Whether NO_PROXY
 * exempts the host is fetch's to decide (names, ports, CIDR ranges): the hint says "unless".
 * A connection refused by the proxy read as the server's ("nothing listens at that address").
 */
export function proxyVariable(env: Env, baseUrl: string): string | null {
  const names = baseUrl.startsWith('https:') ? ['https_proxy', 'HTTPS_PROXY'] : ['http_proxy', 'HTTP_PROXY']
  for (const name of names) {
    const v = env[name]?.trim()
    if (!v || v === '""' || v === "''") continue
    const at = v.lastIndexOf('@')
    const scheme = v.indexOf('://')
    return `${name}=${at < 0 ? v : (scheme >= 0 && scheme < at ? v.slice(0, scheme + 3) : '') + v.slice(at + 1)}`
  }
  return null
}

/**
 * The server a client command talks to: --url, TEAMDAY_URL, TEAMDAY_API_URL (a blank one is
 * unset), http://localhost:3000; normalised (normalizeUrl), an error naming where a bad one came
 * from. The one rule of every client command, `teamday login` and `logout` included.
 */
export function clientBaseUrl(given: Env, url: string | undefined): string {
  const env = clientEnv(given)
  const raw = url ?? env.TEAMDAY_URL ?? env.TEAMDAY_API_URL ?? DEFAULT_URL
  return normalizeUrl(raw, url !== undefined ? '--url' : env.TEAMDAY_URL ? 'TEAMDAY_URL' : env.TEAMDAY_API_URL ? 'TEAMDAY_API_URL' : 'the default URL')
}

/** The client's variables, a blank one (empty, or only white space: a CI variable holding a space) left out, as unset. */
export function clientEnv(env: Env): { TEAMDAY_URL?: string; TEAMDAY_API_URL?: string; TEAMDAY_TOKEN?: string; TEAMDAY_API_TOKEN?: string } {
  return { TEAMDAY_URL: unlessBlank(env.TEAMDAY_URL), TEAMDAY_API_URL: unlessBlank(env.TEAMDAY_API_URL), TEAMDAY_TOKEN: unlessBlank(env.TEAMDAY_TOKEN), TEAMDAY_API_TOKEN: unlessBlank(env.TEAMDAY_API_TOKEN) }
}

/**
 * A TeamDay token is printable ASCII (a prefix, `td_`, `tdo_`, `tdr_`, and base62 letters). Any
 * other character (a zero-width space pasted with it, a byte 0xff at a file's end, a letter
 * outside Latin-1) cannot go in an HTTP header: Bun's fetch refused the header, which read as
 * "cannot reach the server" and was retried 3 times (exit 5). Refused here, before any request:
 * exit 3, naming where the token came from and the character (never the token).
 */
export function checkTokenCharacters(token: string, source: string): string {
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i)
    if (c > 0x20 && c < 0x7f) continue
    const cp = token.codePointAt(i)!
    const name = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}${cp === 0xfffd ? ', a byte that is not UTF-8' : ''}`
    throw new ClientError(
      'auth',
      `the token from ${source} holds a character a TeamDay token never has (${name}, character ${i + 1} of ${token.length}): it was copied with something else`,
      'A TeamDay token is a prefix (td_) and 43 letters and digits. Copy it again without what came with it (an invisible space, a line ending of another system), or create a new one.',
      undefined,
      'token_invalid_character',
    )
  }
  return token
}

/** Whether every character of `s` is printable ASCII other than the space (U+0021-U+007E). */
function visibleAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x21 || c > 0x7e) return false
  }
  return true
}

/**
 * Like ssh with a private key: a token file that its group or other users may read (or
 * change) is a token they may use. A warning, not a refusal: the command still runs. Windows
 * has no such mode bits.
 */
export function tokenFileWarning(file: string, mode: number, platform: string = process.platform): string | null {
  if (platform === 'win32' || (mode & 0o077) === 0) return null
  const who = [mode & 0o070 ? 'its group' : '', mode & 0o007 ? 'all users' : ''].filter(Boolean).join(' and ')
  const octal = (mode & 0o777).toString(8).padStart(4, '0')
  return `warning: the token file ${file} is accessible to ${who} (mode ${octal}); anyone who can read it can use the token. Run: chmod 600 ${file}`
}

/** http(s) only; strips a trailing slash and a trailing /api/v1 or /api (TeamDay's CLI uses the API URL). */
export function normalizeUrl(raw: string, from: string): string {
  // Quoted without credentials, query or fragment (quotableUrl): the refusal of ftp://user:pass@…
  // printed the password, in a CI job's log when it came from TEAMDAY_URL.
  const got = () => {
    const shown = quotableUrl(raw)
    return shown === null ? '' : ` (got "${shown}")`
  }
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new ClientError('usage', `${from} must be an http(s) URL such as http://localhost:3000${got()}`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ClientError('usage', `${from} must be an http(s) URL${got()}`)
  if (u.username || u.password) throw new ClientError('usage', `${from} must not contain credentials; use TEAMDAY_TOKEN or --token-file`)
  // String tests, not a regular expression's replace: JSC compiles that built-in (written in
  // JavaScript) on its first call, which every client command paid here.
  let end = u.pathname.length
  while (end > 0 && u.pathname[end - 1] === '/') end--
  let path = u.pathname.slice(0, end)
  if (path.endsWith('/api/v1')) path = path.slice(0, -'/api/v1'.length)
  else if (path.endsWith('/api')) path = path.slice(0, -'/api'.length)
  return `${u.origin}${path}`
}

export const NO_TOKEN_MESSAGE =
  'no token configured: sign in with "teamday login", set TEAMDAY_TOKEN (export TEAMDAY_TOKEN=td_..., or a CI secret) or pass --token-file FILE'
/**
 * Where to make a token, at the server's own address (`baseUrl`, as clientBaseUrl keeps it):
 * under a sub-path (https://example.com/teamday) its prefix too; `/settings/tokens` alone sent
 * people to the root of the host, another site.
 */
export const noTokenHint = (baseUrl: string) =>
  `Create a new token: sign in to the web console and open Settings > Profile > Personal Access Tokens (${baseUrl}/settings/tokens), or on the server host run "teamday tokens create --email YOU --name NAME"; never pass a token as an argument.`

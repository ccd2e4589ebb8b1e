import { VERSION } from '../build-info'
import { writeCredentials, type StoredLogin } from './credentials'
import { ClientError, errorFromResponse, networkReason, readText } from './errors'

/**
 * A stored browser sign-in (`teamday login`) in use: hands out its access token, refreshing it
 * (POST /api/auth/cli/refresh, the refresh token is kept) once its `expiresAt` has passed or
 * when the server says it expired, and saves the new one for the next command.
 */
export class LoginSession {
  constructor(
    readonly file: string,
    readonly baseUrl: string,
    private login: StoredLogin,
    private readonly deps: { fetch?: typeof fetch; now?: () => number } = {},
  ) {}

  get refreshToken(): string {
    return this.login.refreshToken
  }

  async accessToken(): Promise<string> {
    const now = (this.deps.now ?? Date.now)()
    if (Date.parse(this.login.expiresAt) <= now) return this.refresh()
    return this.login.accessToken
  }

  async refresh(): Promise<string> {
    const res = await (this.deps.fetch ?? fetch)(`${this.baseUrl}/api/auth/cli/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'user-agent': `teamday-cli/${VERSION}` },
      body: JSON.stringify({ refreshToken: this.login.refreshToken }),
      redirect: 'manual',
      signal: AbortSignal.timeout(30_000),
      // Never on stderr with BUN_CONFIG_VERBOSE_FETCH (the body is the refresh token): see QUIET in ./http.
      ...({ verbose: false } as RequestInit),
    }).catch((e) => {
      throw new ClientError('server', `cannot reach the server at ${this.baseUrl} to refresh your sign-in: ${networkReason(e, 30_000)}`, undefined, undefined, 'connection_failed')
    })
    const text = await readText(res, this.baseUrl)
    let body: any
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined
    }
    if (res.ok && typeof body?.accessToken === 'string' && typeof body?.expiresAt === 'string') {
      this.login = { ...this.login, accessToken: body.accessToken, expiresAt: body.expiresAt, savedAt: new Date().toISOString() }
      await writeCredentials(this.file, this.baseUrl, this.login)
      return this.login.accessToken
    }
    if (res.status === 401) {
      throw new ClientError('auth', `your sign-in to ${this.baseUrl} has ended (${body?.code ?? 'refused'}): sign in again with "teamday login --url ${this.baseUrl}"`, undefined, body, 'login_ended')
    }
    throw errorFromResponse(res.status, body, text, this.baseUrl)
  }
}

import { Elysia } from 'elysia'
import { loginCodeDisplay } from '../../auth/login-code'
import { hashToken } from '../../auth/tokens'
import type { Config } from '../../config'
import type { RequestContexts } from '../../http/context'
import type { RateLimiter } from '../../ratelimit/limiter'
import { bodyErrors, sharedModels } from '../shared-models'
import { CliPollQuery, CliRefreshBody, cliAuthModels } from './model'
import { initiateLogin, pollLogin, refreshAccess, revokeByRefreshToken } from './service'
import { ipBucket } from '../../http/ip'
import { refuseHead } from '../../http/routes'
import { RESPONSE_DESCRIPTIONS } from '../../http/openapi-publish'
import { browserBase } from '../../http/host'

/** Each code may be polled 6 times per 10 s: TeamDay's CLI polls every 2 s (at most 5 per 10 s). */
export const PER_CODE_POLL_LIMIT = { limit: 6, windowMs: 10_000 }
export const POLL_INTERVAL_SECONDS = 2

type Set = { headers: Record<string, string | number>; status?: unknown }


/** The approval page of a login code (src/console, after sign-in). */
export const authorizePath = (code: string) => `/cli/authorize/${code}`

/**
 * Browser sign-in for command-line tools, TeamDay CLI's polling flow (not RFC 8628): initiate,
 * poll, refresh, and revoke (our `teamday logout`). None of these take a bearer token; each is
 * limited per client address, polls also per code. The poll's code travels in the query string,
 * which is never logged (log lines name the path only).
 */
export function cliAuthModule(config: Pick<Config, 'publicUrl' | 'cliLoginRateLimit' | 'cliPollRateLimit'>, limiter: RateLimiter, contexts: RequestContexts, isHttps: (request: Request) => boolean) {
  const anonymous = (request: Request, set: Set) => contexts.of({ kind: 'anonymous', via: 'api' }, request, set)
  // In-process requests (no socket, no trusted proxy header) have no address and are not limited per address.
  // A promise with a shared (PostgreSQL) store: awaited, so its 429 is the answer.
  const perIp = (key: string, policy: Config['cliLoginRateLimit'], set: Set, ip: string | null): void | Promise<void> => {
    if (ip) return limiter.consume(`${key}:${ipBucket(ip)}`, policy, set, key)
  }
  return new Elysia({ prefix: '/api/auth/cli', tags: ['CLI sign-in'] })
    .model({ ...sharedModels, ...cliAuthModels })
    .post(
      '/initiate',
      async ({ request, set }) => {
        const ctx = anonymous(request, set)
        await perIp('cli-login', config.cliLoginRateLimit, set, ctx.origin!.ip())
        const r = await initiateLogin(ctx)
        set.headers['cache-control'] = 'no-store'
        return { code: r.code, authUrl: browserBase(config.publicUrl, isHttps, request) + authorizePath(r.code), expiresIn: r.expiresIn, shortCode: loginCodeDisplay(r.code), interval: POLL_INTERVAL_SECONDS }
      },
      {
        response: { 200: 'CliInitiated', 429: 'CliRateLimited' },
        detail: {
          summary: 'Start a browser sign-in (CLI)',
          [RESPONSE_DESCRIPTIONS]: { 200: 'A login code, the `authUrl` to open in a browser, and how long and how often to poll.' },
          description:
            'No authentication and no body (an empty body with Content-Type: application/json is fine). Returns a login code valid for 300 s and the `authUrl` to open in a browser, where a signed-in person approves (choosing an organization) or denies. Then poll `GET /api/auth/cli/poll?code=` every 2 s. Limited per client address (TEAMDAY_CLI_LOGIN_RATE_LIMIT, default 30/60s).',
          security: [],
        },
      },
    )
    .get(
      '/poll',
      async ({ query, request, set }) => {
        refuseHead(request, '/api/auth/cli/poll')
        const ctx = anonymous(request, set)
        await perIp('cli-poll', config.cliPollRateLimit, set, ctx.origin!.ip())
        await limiter.consume(`cli-code:${hashToken(query.code).slice(0, 32)}`, PER_CODE_POLL_LIMIT, set, 'cli-code')
        set.headers['cache-control'] = 'no-store'
        const r = await pollLogin(ctx, query.code)
        if (r.status === 'pending') return { status: 'pending' as const, message: 'Waiting for approval in the browser.' }
        return { status: 'authorized' as const, accessToken: r.accessToken, refreshToken: r.refreshToken, expiresAt: r.expiresAt, userId: r.userId, organizationId: r.organizationId }
      },
      {
        query: CliPollQuery,
        response: { 200: 'CliPollAnswer', 400: 'CliPollFailed', 422: 'ValidationFailed', 429: 'CliRateLimited' },
        detail: {
          summary: 'Poll a browser sign-in (CLI)',
          [RESPONSE_DESCRIPTIONS]: { 200: '`{status: "pending"}` while the code waits for approval; once approved, exactly once, the access and refresh tokens.' },
          description:
            '`{status:"pending"}` until the code is approved; then, exactly once, `{status:"authorized", accessToken, refreshToken, expiresAt, userId, organizationId}`. The access token (`tdo_…`) lasts 15 minutes and works on every /api/v1 route with the role of the person who approved (no scope restriction beyond the role); `expiresAt` is reported 60 s early. The refresh token (`tdr_…`) lasts 90 days. Every later poll, a denied or an expired code is 400 with its own `code`; nothing secret is sent twice. Limited to 6 polls per 10 s per code and TEAMDAY_CLI_POLL_RATE_LIMIT (default 120/60s) per address.',
          security: [],
        },
      },
    )
    .post(
      '/refresh',
      async ({ body, request, set }) => {
        const ctx = anonymous(request, set)
        await perIp('cli-login', config.cliLoginRateLimit, set, ctx.origin!.ip())
        set.headers['cache-control'] = 'no-store'
        const r = await refreshAccess(ctx, body.refreshToken)
        return { accessToken: r.accessToken, expiresAt: r.expiresAt }
      },
      {
        body: CliRefreshBody,
        response: { 200: 'CliRefreshed', ...bodyErrors, 401: 'CliRefreshFailed', 429: 'CliRateLimited' },
        detail: {
          summary: 'Refresh a CLI access token',
          [RESPONSE_DESCRIPTIONS]: { 200: 'A new access token and when it expires.' },
          description:
            'A new access token (15 minutes) for the refresh token from the poll. The refresh token is not rotated: keep using the same one until its CLI session is revoked or 90 days have passed. Access tokens issued before stay valid until they expire.',
          security: [],
        },
      },
    )
    .post(
      '/revoke',
      async ({ body, request, set }) => {
        const ctx = anonymous(request, set)
        await perIp('cli-login', config.cliLoginRateLimit, set, ctx.origin!.ip())
        await revokeByRefreshToken(ctx, body.refreshToken)
        return { success: true as const }
      },
      {
        body: CliRefreshBody,
        response: { 200: 'CliRevoked', ...bodyErrors, 429: 'CliRateLimited' },
        detail: {
          summary: 'Sign out a CLI (revoke its session)',
          [RESPONSE_DESCRIPTIONS]: { 200: 'The CLI session is over (or was never there): `success: true`.' },
          description:
            'Ends the CLI session of this refresh token: the refresh token and every access token it handed out stop working at once (`teamday logout`). Like RFC 7009, the answer is 200 whether or not the token was known or already revoked.',
          security: [],
        },
      },
    )
}

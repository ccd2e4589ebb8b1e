import { t } from 'elysia'
import { errorResponse, named, successField } from '../shared-models'

const exampleCode = 'tdc_8Kq2LmX9vB3nR8kT1wYzPa4Dc7Fg2Hj5Kl8Mn0Qr'

export const CliInitiated = t.Object(
  {
    code: t.String({ description: 'The login code (`tdc_` + 43 URL-safe characters): poll with it. Valid 300 s, once.' }),
    authUrl: t.String({ description: 'Open this in a browser, sign in and approve. It contains the code: do not share it.' }),
    expiresIn: t.Integer({ description: 'Seconds the code stays valid (300)' }),
    shortCode: t.String({ description: 'A short form of the code (XXXX-XXXX) to compare with the approval page' }),
    interval: t.Integer({ description: 'Seconds to wait between polls (2)' }),
  },
  { examples: [{ code: exampleCode, authUrl: `https://teamday.example.com/cli/authorize/${exampleCode}`, expiresIn: 300, shortCode: 'RB4H-8PEX', interval: 2 }] },
)

export const CliPollQuery = t.Object({
  code: t.String({ maxLength: 200, description: 'The code from initiate', examples: [exampleCode], error: 'code is required: the login code from POST /api/auth/cli/initiate' }),
})

export const CliPollAnswer = t.Union(
  [
    t.Object(
      {
        status: t.Literal('pending', { description: 'Not approved yet: poll again after `interval` seconds' }),
        message: t.String({ description: 'A note for people: "Waiting for approval in the browser."' }),
      },
      { description: 'Still waiting for approval in the browser' },
    ),
    t.Object({
      status: t.Literal('authorized', { description: 'Approved: the tokens are here, delivered once' }),
      accessToken: t.String({ description: '`tdo_…`, valid 15 minutes; send as Authorization: Bearer' }),
      refreshToken: t.String({ description: '`tdr_…`, valid 90 days, not rotated' }),
      expiresAt: t.String({ format: 'date-time', description: 'When to refresh: 60 s before the access token really expires' }),
      userId: t.String({ description: 'The user who approved; the tokens act as them (user_…)' }),
      organizationId: t.String({ description: 'The organization the tokens work in (org_…)' }),
    }, { description: 'Approved' }),
  ],
  {
    examples: [
      { status: 'pending', message: 'Waiting for approval in the browser.' },
      {
        status: 'authorized',
        accessToken: 'tdo_3Fh8Kq2LmX9vB3nR8kT1wYzPa4Dc7Fg2Hj5Kl8Mn0',
        refreshToken: 'tdr_9Zx3Cv5Bn7Mq1Wr4Ty6UPa4Dc7Fg2Hj5Kl8Mn0Qr2',
        expiresAt: '2026-11-23T10:14:00.000Z',
        userId: 'user_4Fk9QzL2mP7xR1vN8tBc',
        organizationId: 'org_9Tr4Kx2LmQ7vB1nZ8wYc',
      },
    ],
  },
)

export const CliRefreshBody = t.Object({
  refreshToken: t.String({ minLength: 1, maxLength: 200, description: 'The refresh token (`tdr_…`) from the poll', examples: ['tdr_9Zx3Cv5Bn7Mq1Wr4Ty6UPa4Dc7Fg2Hj5Kl8Mn0Qr2'], error: 'refreshToken is required: the tdr_… token from the poll' }),
})

export const CliRefreshed = t.Object(
  {
    accessToken: t.String({ description: 'A new `tdo_…` access token, valid 15 minutes' }),
    expiresAt: t.String({ format: 'date-time', description: '60 s before the access token really expires' }),
  },
  { examples: [{ accessToken: 'tdo_3Fh8Kq2LmX9vB3nR8kT1wYzPa4Dc7Fg2Hj5Kl8Mn0', expiresAt: '2026-11-23T10:29:00.000Z' }] },
)

export const CliRevoked = t.Object({ success: successField }, { examples: [{ success: true }] })

const pollFailed = errorResponse(
  400,
  'login_denied',
  'The code will never be authorized: `invalid_login_code` (not issued here, or finished over an hour ago), `login_code_expired` (not approved within 300 s), `login_denied` (denied in the browser), `login_code_used` (its tokens were already delivered: nothing secret is sent again). Stop polling. TeamDay\'s CLI ignores error answers and keeps polling until its own time is up (expiresIn seconds), then reports a timeout.',
  'Sign-in denied: the request was denied in the browser. Start again if that was a mistake.',
)
const refreshFailed = errorResponse(
  401,
  'token_revoked',
  'The refresh token is unknown (`invalid_token`), its CLI session was revoked (`token_revoked`), it is over 90 days old (`token_expired`), or its user left the organization (`membership_revoked`). Sign in again.',
  "Invalid refresh token: its CLI session has been revoked (signed out). Sign in again: teamday login (TeamDay's CLI: teamday auth login).",
)
// The limits of src/modules/cli-auth/index.ts (perIp, PER_CODE_POLL_LIMIT) and their defaults (src/config.ts).
const cliRateLimited = errorResponse(
  429,
  'rate_limited',
  'Too many requests from this address: initiate, refresh and revoke share TEAMDAY_CLI_LOGIN_RATE_LIMIT (default 30 a minute), polls have TEAMDAY_CLI_POLL_RATE_LIMIT (default 120 a minute). A poll also when its code was polled 6 times in the last 10 s (one poll every 2 s always passes). `Retry-After` says when to retry.',
  'Too many requests: the limit is 6 requests per 10 s. Retry in 4 s.',
  { retryAfterSeconds: 4 },
)

export const cliAuthModels = named({ CliInitiated, CliPollAnswer, CliRefreshed, CliRevoked, CliPollFailed: pollFailed, CliRefreshFailed: refreshFailed, CliRateLimited: cliRateLimited })

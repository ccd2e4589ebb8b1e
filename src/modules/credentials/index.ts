import { Elysia } from 'elysia'
import { TOKEN_SCAN_REGEX } from '../../auth/tokens'
import type { Config } from '../../config'
import { API_V1, type RequestContexts } from '../../http/context'
import type { RateLimiter } from '../../ratelimit/limiter'
import { bodyErrors, errorResponse, named, sharedModels } from '../shared-models'
import { credentialModels, RevokeCredentialsBody } from './model'
import { reportLeakedCredentials } from './service'
import { ipBucket } from '../../http/ip'
import { RESPONSE_DESCRIPTIONS } from '../../http/openapi-publish'

export const SCANNER_DOC = `How secret scanners recognise TeamDay tokens: \`td_\` followed by 43 base62 characters, matched by \`${TOKEN_SCAN_REGEX.source}\`. The last 6 characters are a checksum of the 37 before them: CRC32 (IEEE) of characters 4-40 of the token (the 37 random characters after \`td_\`), written in base62 (alphabet 0-9A-Za-z) as 6 digits, most significant first, zero-padded. A match whose checksum fails is not a TeamDay token.`

/**
 * POST /api/v1/credentials/revoke: leaked-token reports, without authentication (GitHub's
 * credential revocation API). It deliberately does not use the auth macro.
 */
const leakReportLimited = errorResponse(429, 'rate_limited', 'Too many reports from this address (a strict per-IP limit, 10 per minute by default).', 'Too many requests: the limit is 10 requests per 60 s. Retry in 42 s.', { retryAfterSeconds: 42 })

/** The named OpenAPI models of these routes (also registered once by createApp: src/app.ts). */
export const credentialsApiModels = { ...sharedModels, ...credentialModels, ...named({ LeakReportRateLimited: leakReportLimited }) }

export function credentialsModule(config: Pick<Config, 'leakReportRateLimit'>, limiter: RateLimiter, contexts: RequestContexts) {
  return new Elysia({ prefix: `${API_V1}/credentials`, tags: ['Credentials'] })
    .model(credentialsApiModels)
    .post(
    '/revoke',
    async ({ body, request, set }) => {
      const ctx = contexts.of({ kind: 'anonymous', via: 'api' }, request, set)
      const ip = ctx.origin!.ip()
      if (ip) await limiter.consume(`leak:${ipBucket(ip)}`, config.leakReportRateLimit, set, 'leak-report')
      await reportLeakedCredentials(ctx, body.credentials)
      set.status = 202
      return { success: true as const, received: body.credentials.length }
    },
    {
      body: RevokeCredentialsBody,
      response: {
        202: 'RevokeCredentialsAccepted',
        ...bodyErrors,
        429: 'LeakReportRateLimited',
      },
      detail: {
        summary: 'Report leaked tokens',
        [RESPONSE_DESCRIPTIONS]: { 202: 'The report is taken: `received` counts the tokens sent. Whether any of them was real is not said.' },
        description: `No authentication. Send tokens found where they should not be (a public repository, a paste, a log); each one that is a real token is revoked at once, with the tokens it created, and the event is recorded in its organization's audit log (source \`leak_report\`); runs it started that are still queued or running are cancelled. The answer is always 202 with the number of strings received, whether or not any matched: the endpoint is not an oracle for guessing tokens. Strict per-IP rate limit (TEAMDAY_LEAK_REPORT_RATE_LIMIT, default 10/60s).\n\n${SCANNER_DOC}`,
        security: [],
      },
    },
  )
}

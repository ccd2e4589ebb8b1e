/**
 * What kind of failure, for the exit code: the CLI's one table (src/cli/registry.ts, EXIT;
 * documented in the README, "Client commands") gives each its number.
 * - failed: the operation ran and failed: an execution failed or was cancelled, a conflict (409).
 * - usage: bad arguments, or input the server rejected as invalid (400, 413, 422).
 * - auth: authentication or permission: 401, 403, or no token configured.
 * - notFound: 404.
 * - server: server or network: 5xx, connection refused, timeouts, still rate limited after retries.
 */
export type Failure = 'failed' | 'usage' | 'auth' | 'notFound' | 'server'

/** A client failure: a one-line message (never a token) and the kind of failure it is. */
export class ClientError extends Error {
  constructor(
    readonly kind: Failure,
    message: string,
    readonly hint?: string,
    /** The server's error body, when there was one (printed by --json). */
    readonly body?: unknown,
  ) {
    super(message)
  }
}

const NEW_TOKEN_HINT =
  'Create a new token (with a working token: teamday tokens create --name NAME; on the server host: ' +
  'teamday tokens create --email YOU --name NAME) and set TEAMDAY_TOKEN, or pass --token-file FILE.'

/** Executions that ran and failed come back as 502/504 with these codes: exit 1, never retried. */
export const EXECUTION_FAILURE_CODES = new Set(['bad_gateway', 'gateway_timeout'])

/** Maps a non-2xx API response to a ClientError with the server's message. */
export function errorFromResponse(status: number, body: any, text: string): ClientError {
  const envelope = body && typeof body === 'object' && body.error === true
  const code: string | undefined = envelope ? body.code : undefined
  const reqId = envelope && body.requestId ? ` (request ${body.requestId})` : ''
  const message = envelope && typeof body.message === 'string' ? body.message : `HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`
  const full = `${message}${reqId}`
  if (status === 401) return new ClientError('auth', full, NEW_TOKEN_HINT, body)
  if (status === 403) {
    if (code === 'insufficient_scope') {
      const scopes: string[] = body?.details?.requiredScopes ?? []
      return new ClientError('auth', full, `This token lacks the scope${scopes.length ? ` ${scopes.join(', ')}` : ''}: create a new token with --scopes ${scopes.join(',') || '...'} (or *).`, body)
    }
    return new ClientError('auth', full, 'Your role in the organization does not allow this; ask an organization admin (teamday users set-role).', body)
  }
  if (status === 404) return new ClientError('notFound', full, undefined, body)
  if (status === 400 || status === 413 || status === 415 || status === 422) return new ClientError('usage', full, undefined, body)
  if (code && EXECUTION_FAILURE_CODES.has(code)) return new ClientError('failed', full, undefined, body)
  if (status === 429) return new ClientError('server', full, 'Still rate limited after the retries; try later or raise --retries.', body)
  if (status >= 500) return new ClientError('server', full, undefined, body)
  return new ClientError('failed', full, undefined, body)
}

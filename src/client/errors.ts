/** Exit codes of the client commands (documented in the README, "Client commands"). */
export const CLIENT_EXIT = {
  ok: 0,
  /** The operation ran and failed: an execution failed or was cancelled, a conflict (409). */
  failed: 1,
  /** Bad arguments, or input the server rejected as invalid (400, 413, 422). */
  usage: 2,
  /** Authentication or permission: 401, 403, or no token configured. */
  auth: 3,
  notFound: 4,
  /** Server or network: 5xx, connection refused, timeouts, still rate limited after retries. */
  server: 5,
} as const

export type ClientExit = (typeof CLIENT_EXIT)[keyof typeof CLIENT_EXIT]

/** A client failure: a one-line message (never a token) and the exit code it maps to. */
export class ClientError extends Error {
  constructor(
    readonly exit: ClientExit,
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
  if (status === 401) return new ClientError(CLIENT_EXIT.auth, full, NEW_TOKEN_HINT, body)
  if (status === 403) {
    if (code === 'insufficient_scope') {
      const scopes: string[] = body?.details?.requiredScopes ?? []
      return new ClientError(CLIENT_EXIT.auth, full, `This token lacks the scope${scopes.length ? ` ${scopes.join(', ')}` : ''}: create a new token with --scopes ${scopes.join(',') || '...'} (or *).`, body)
    }
    return new ClientError(CLIENT_EXIT.auth, full, 'Your role in the organization does not allow this; ask an organization admin (teamday users set-role).', body)
  }
  if (status === 404) return new ClientError(CLIENT_EXIT.notFound, full, undefined, body)
  if (status === 400 || status === 413 || status === 415 || status === 422) return new ClientError(CLIENT_EXIT.usage, full, undefined, body)
  if (code && EXECUTION_FAILURE_CODES.has(code)) return new ClientError(CLIENT_EXIT.failed, full, undefined, body)
  if (status === 429) return new ClientError(CLIENT_EXIT.server, full, 'Still rate limited after the retries; try later or raise --retries.', body)
  if (status >= 500) return new ClientError(CLIENT_EXIT.server, full, undefined, body)
  return new ClientError(CLIENT_EXIT.failed, full, undefined, body)
}

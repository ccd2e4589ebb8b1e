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
    /** For a failure without a teamday error body: the `code` of the JSON error object --json prints. */
    readonly code?: string,
  ) {
    super(message)
  }
}

/** A teamday error body (src/errors.ts): `{error: true, statusCode, code, message, requestId, …}`. */
export function isErrorEnvelope(body: unknown): body is { error: true; code: string; message: string; requestId?: string; details?: any } {
  const b = body as Record<string, unknown> | null | undefined
  return !!b && typeof b === 'object' && b.error === true && typeof b.code === 'string' && typeof b.message === 'string'
}

export const NOT_TEAMDAY_HINT = 'Check --url / TEAMDAY_URL: it must be the address "teamday serve" listens on (try: teamday health --url URL).'

/** A response that is not from teamday: another server, a web page, a proxy's own page. */
export function notTeamday(server: string, status: number, what: string, body?: unknown): ClientError {
  return new ClientError('server', `${server} answered HTTP ${status} ${what}: this does not look like a teamday server`, NOT_TEAMDAY_HINT, body, 'not_teamday')
}

/**
 * A 2xx JSON answer without the shape every teamday (and TeamDay) server gives this request: a
 * list that is a string, a missing version. Rendered as it is, a string listed one row per
 * character and `health` said "teamday undefined", with exit 0.
 */
export function unexpectedAnswer(server: string, status: number, what: string, body?: unknown): ClientError {
  return new ClientError('server', `${server} answered HTTP ${status} with ${what}: this is not what a teamday (or TeamDay) server sends`, NOT_TEAMDAY_HINT, body, 'not_teamday')
}

export const NEW_TOKEN_HINT =
  'Create a new token (with a working token: teamday tokens create --name NAME; on the server host: ' +
  'teamday tokens create --email YOU --name NAME) and set TEAMDAY_TOKEN, or pass --token-file FILE.'

/**
 * The server a redirect points at: its target without the request's own path (and query), which
 * the client adds itself (`http://host/api/v1/agents` for /api/v1/agents is `http://host`).
 */
function serverOf(location: string, path: string | undefined): string {
  const target = location.split('?')[0]!
  return path && path !== '/' && target.endsWith(path) ? target.slice(0, -path.length) || '/' : target
}

/** What Bun's fetch errors mean, in plain words (its own texts: "Is the computer able to access the url?", "pass `verbose: true` …"). */
const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (nothing listens at that address and port)',
  ECONNRESET: 'the connection was closed before the answer was complete (reset)',
  ENOTFOUND: 'the host name does not resolve (DNS: no such host)',
  EAI_AGAIN: 'the host name could not be resolved now (DNS lookup failed; try again)',
  ETIMEDOUT: 'the connection timed out',
  EHOSTUNREACH: 'no route to the host',
  ENETUNREACH: 'the network is unreachable',
  EPIPE: 'the connection was closed while the request was sent',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the TLS certificate is not trusted (unknown issuer)',
  SELF_SIGNED_CERT_IN_CHAIN: 'the TLS certificate is not trusted (self-signed in the chain)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the TLS certificate is not trusted (self-signed)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the TLS certificate is not trusted (its issuer is unknown here)',
  CERT_HAS_EXPIRED: 'the TLS certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the TLS certificate is for another host name',
  UNABLE_TO_GET_ISSUER_CERT: 'the TLS certificate is not trusted (its issuer is unknown here)',
}

/** Bun's codes for a server certificate this machine does not trust: no retry makes it trusted. */
const UNTRUSTED = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT'])

/**
 * What to do about a certificate the client refused, or undefined for any other failure. The
 * server was reached: "check that teamday serve runs there" sent people looking at the wrong
 * thing, and nothing said how to trust an organization's own CA (Bun reads NODE_EXTRA_CA_CERTS).
 */
export function certificateHint(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return undefined
  if (UNTRUSTED.has(code)) return "The server answered with a certificate this machine does not trust. If it is self-signed or from your organization's own CA, point NODE_EXTRA_CA_CERTS at that CA's PEM file (NODE_EXTRA_CA_CERTS=/path/to/ca.pem in teamday's environment; for a self-signed one, the certificate itself); never turn verification off."
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'Use the host name the server\'s certificate names in --url / TEAMDAY_URL.'
  if (code === 'CERT_HAS_EXPIRED') return 'The server\'s certificate must be renewed (or this machine\'s clock is wrong).'
  return undefined
}

/**
 * Why a request got no answer, in words for the person reading the error: a timeout, a known
 * socket or DNS error, else the runtime's message without its advice to developers.
 */
export function networkReason(e: unknown, timeoutMs: number | null): string {
  const err = e as { name?: string; code?: string; message?: string }
  if (err?.name === 'TimeoutError') return timeoutMs === null ? 'no answer in time' : `no answer within ${timeoutMs} ms`
  if (err?.code && NETWORK_REASONS[err.code]) return `${NETWORK_REASONS[err.code]} [${err.code}]`
  let msg = err?.message ?? String(e)
  const verbose = msg.indexOf(' For more information, pass `verbose: true`')
  if (verbose >= 0) msg = msg.slice(0, verbose)
  return err?.code && !msg.startsWith(err.code) ? `${err.code}: ${msg}` : msg
}

/** Executions that ran and failed come back with these codes (502, 504; 422 for a run out of turns): exit 1, never retried. */
export const EXECUTION_FAILURE_CODES = new Set(['bad_gateway', 'gateway_timeout', 'max_turns_reached'])

/**
 * Maps a non-2xx API response to a ClientError with the server's message. Without teamday's
 * error body, a 4xx (or a redirect) is not a missing object or a bad token: the URL points at
 * something else (a 5xx or 429 page from a proxy in front of teamday stays a server error).
 */
export function errorFromResponse(status: number, body: any, text: string, server = 'the server', location?: string | null, path?: string, retried?: number): ClientError {
  const envelope = isErrorEnvelope(body)
  if (!envelope && status < 500 && status !== 429) {
    const e = notTeamday(server, status, location ? `with a redirect to ${location}` : 'without a teamday error body', body)
    return location ? new ClientError(e.kind, e.message, `${NOT_TEAMDAY_HINT} If teamday is at ${serverOf(location, path)}, use that URL.`, body, e.code) : e
  }
  // The client asks only for routes teamday has: a teamday server that has no such route is
  // reached through a path that is not its own (`--url http://host/foo`), or is older than this
  // command. Not a missing object (exit 4): the address is wrong (exit 5), health included.
  if (envelope && body.code === 'route_not_found') {
    const reqId = body.requestId ? ` (request ${body.requestId})` : ''
    return new ClientError('server', `${server} has no route for this request${reqId}: the URL must be the address "teamday serve" listens on, without a path in front of its routes (or this server is older than this command)`, NOT_TEAMDAY_HINT, body)
  }
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
    return new ClientError('auth', full, 'Your role in the organization does not allow this; ask an organization admin to change it (teamday members set-role USER --role ROLE, or on the server host teamday users set-role).', body)
  }
  if (status === 404) return new ClientError('notFound', full, undefined, body)
  // Before the 4xx of a bad request: a run out of turns (422) ran, and failed.
  if (code && EXECUTION_FAILURE_CODES.has(code)) return new ClientError('failed', full, undefined, body)
  if (status === 400 || status === 413 || status === 415 || status === 422) return new ClientError('usage', full, undefined, body)
  // The address sent too many refused credentials: this one is refused too (exit 3), not retried.
  if (status === 429 && body?.details?.reason === 'failed_authentications') return new ClientError('auth', full, NEW_TOKEN_HINT, body)
  if (status === 429) return new ClientError('server', full, rateLimitedHint(retried), body)
  if (status >= 500) return new ClientError('server', full, undefined, body)
  return new ClientError('failed', full, undefined, body)
}

/**
 * After a final 429: what the client did. `retried`: how many times it retried (undefined: not
 * known, a request outside ApiClient). With --retries 0 it did not retry, and said it had.
 */
export function rateLimitedHint(retried: number | undefined): string {
  if (retried === undefined) return 'Rate limited; try again later.'
  if (retried === 0) return 'Rate limited, and not retried (--retries 0); try later or pass --retries N (up to 10).'
  return `Still rate limited after ${retried} ${retried === 1 ? 'retry' : 'retries'}; try later or raise --retries (up to 10).`
}

/**
 * The codes of Bun's fetch for an answer whose body does not decode as its Content-Encoding says
 * (corrupt, or not that coding: a proxy's doing). Bun decodes answers natively, and prints its own
 * `Decompression error: …` line on stderr first; the client then says it in its words
 * (undecodable), not as an answer that broke off. Decoding answers in the client instead (a
 * DecompressionStream per answer) took that line away but cost `agents list` ~2 ms of CPU in
 * interleaved runs: not kept.
 */
const UNDECODABLE = new Set(['ZlibError', 'BrotliDecompressionError', 'ZstdDecompressionError'])

/** Whether `e` is Bun's failure to decode an answer's body (UNDECODABLE). */
export function undecodableAnswer(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === 'string' && UNDECODABLE.has(code)
}

/** An answer whose body does not decode as its Content-Encoding says. */
export function undecodable(server: string, coding: string, e: unknown): ClientError {
  const why = (e as { code?: unknown } | null)?.code
  return new ClientError(
    'server',
    `the answer from ${server} could not be decompressed: it says Content-Encoding ${coding}, and its body is not that (${typeof why === 'string' ? why : 'corrupt'}): damaged on the way, or changed by a proxy`,
    'Check --url / TEAMDAY_URL and any proxy between here and the server (one that compresses, or recompresses, answers), then try again (teamday health).',
    undefined,
    'answer_undecodable',
  )
}

/**
 * An answer's body as text; one that does not decode as its Content-Encoding says is
 * answer_undecodable (undecodable), not Bun's text for developers ("ZlibError fetching …, pass
 * verbose: true", exit 1). Every read of an answer's body on the client's paths goes through it
 * (a stream's reader maps the same failure itself: src/cli/client/agents.ts).
 */
export async function readText(res: Pick<Response, 'text'> & { headers: { get(name: string): string | null } }, server: string): Promise<string> {
  try {
    return await res.text()
  } catch (e) {
    if (undecodableAnswer(e)) throw undecodable(server, res.headers.get('content-encoding') ?? '?', e)
    throw e
  }
}

import { VERSION } from '../build-info'
import { certificateHint, ClientError, errorFromResponse, EXECUTION_FAILURE_CODES, networkReason, notTeamday, readText, unexpectedAnswer } from './errors'

export { readText, undecodable, undecodableAnswer } from './errors'

export { networkReason }
import { noTokenHint, noTokenMessage, type ClientConfig } from './config'
import { retryAfterMs } from '../retry-after'
import { allAre } from './lists'

export interface ApiResponse<T = any> {
  status: number
  headers: Headers
  body: T
  text: string
  /**
   * Why an earlier attempt of this request (a change) may have been carried out though its answer
   * was lost (`HTTP 502`, a reset): a retry that then finds nothing says so.
   */
  earlier?: string
}

export type Query = Record<string, string | number | boolean | undefined | null>

export interface RequestOptions {
  query?: Query
  body?: unknown
  /** Default true: sends the bearer token (and fails with exit 3 when none is configured). */
  auth?: boolean
  /** Per-attempt time limit; null = none (executions run as long as the server lets them). */
  timeoutMs?: number | null
  headers?: Record<string, string>
  /**
   * Aborts the request (and the reading of its body) when it fires: a stream's own idle limit.
   * An aborted request is not retried; its reason's message says why.
   */
  signal?: AbortSignal
  /**
   * A request that may not be repeated once its time limit passed (a synchronous execute: it ran
   * on the server, and a retry would only wait for the same run): the message for that failure.
   */
  timeoutMessage?: string
}

/**
 * The shape a command relies on: the body itself is a list (of objects) or an object, or these
 * fields are a list of objects, a list of strings, an object or a string; a field may be a path
 * (`space.id`). Checked before the body is printed, with --json too: an answer of another shape
 * comes from something that is not teamday, whatever its status. Every request() names one
 * (the type requires it): a command that read a field the answer lacked printed
 * `created agent undefined` or crashed with a runtime error ("undefined is not an object").
 */
export type Expected = 'list' | 'object' | Record<string, 'list' | 'strings' | 'object' | 'string'>

export interface ClientOptions extends ClientConfig {
  /** Retries after the first attempt (--retries, default 3). */
  retries: number
  /** Prints one line on stderr (expiry warning, retry notices). */
  warn(line: string): void
  fetch?: typeof fetch
  sleep?: (ms: number) => Promise<void>
  now?: () => number
  random?: () => number
}

export const RETRY_STATUSES = new Set([429, 502, 503, 504])

/** `details.reason` of the server's 429 for an address's failed authentications (src/ratelimit/limiter.ts). */
export const FAILED_AUTHENTICATIONS = 'failed_authentications'
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'])
const BASE_DELAY_MS = 500
const MAX_BACKOFF_MS = 8_000
/** A Retry-After longer than this is not waited for: the command fails (exit 5) and says when. */
export const MAX_RETRY_AFTER_MS = 120_000
export const EXPIRY_WARNING_DAYS = 7
const DEFAULT_TIMEOUT_MS = 30_000

/**
 * Bun prints every request, headers and body included, on stderr when BUN_CONFIG_VERBOSE_FETCH
 * is set (`curl`: as a curl command line): the Authorization header in full, a refresh token in
 * a refresh's body. A client command never prints its token, so every request it sends says
 * `verbose: false`, which wins over the variable (deleting the variable from process.env at
 * start-up does not: Bun has read it by then, in `bun src/main.ts` and a compiled binary alike).
 */
export const QUIET = { verbose: false } as RequestInit

/**
 * The HTTP client of the CLI. Retries 429/502/503/504 and connection errors with exponential
 * backoff and full jitter, honouring Retry-After; requests that are not idempotent (POST,
 * PATCH) are retried only with an Idempotency-Key, which it generates for them, so a retried
 * POST can never act twice (the server replays the first stored response).
 */
export class ApiClient {
  private warnedExpiry = false
  private readonly fetchFn: typeof fetch
  private readonly sleep: (ms: number) => Promise<void>
  private readonly now: () => number
  private readonly random: () => number

  constructor(readonly opts: ClientOptions) {
    this.fetchFn = opts.fetch ?? fetch
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)))
    this.now = opts.now ?? Date.now
    this.random = opts.random ?? Math.random
  }

  url(path: string, query?: Query): string {
    const u = new URL(this.opts.baseUrl + path)
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, String(v))
    return u.toString()
  }

  /** JSON request: resolves with a 2xx response, throws ClientError otherwise. */
  async request<T = any>(method: string, path: string, o: RequestOptions & { expect: Expected }): Promise<ApiResponse<T>> {
    let res: Response
    let text: string
    let brokeOff: string | undefined
    // The retries used so far, send()'s and these alike: one budget of --retries for the request.
    // Each answer that broke off started send() with its whole budget again, so a server that
    // answered 503 three times and then broke off its body was asked 16 times (--retries 10: 121).
    let used = 0
    for (;;) {
      res = await this.send(method, path, o, used)
      used = this.retried.get(res) ?? used
      try {
        text = await readText(res, this.opts.baseUrl)
        break
      } catch (e) {
        // An answer that does not decode (readText's answer_undecodable): said as it is, not retried.
        if (e instanceof ClientError) throw e
        // The answer began and then broke off (a reset, a server that stops sending): a network
        // failure (exit 5), retried when repeating the request is safe; not a raw runtime error.
        const why = networkReason(e, o.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : o.timeoutMs)
        const safe = IDEMPOTENT_METHODS.has(method)
        if (!safe || used >= this.opts.retries) {
          throw new ClientError('server', `the answer from ${this.opts.baseUrl} broke off: ${why}${safe ? '' : ' (the request may have been carried out)'}`, `Check --url / TEAMDAY_URL and the network, then try again (teamday health).${this.proxyHint()}`, undefined, 'connection_failed')
        }
        // Its answer began: the server did it.
        if (changes(method)) brokeOff = `the answer broke off: ${why}`
        const delay = this.backoff(used)
        used++
        this.opts.warn(`the answer broke off (${why}); retrying in ${fmtDelay(delay)} (${used}/${this.opts.retries})`)
        await this.pause(delay, o.signal)
      }
    }
    const body = parseJson(text)
    const earlier = brokeOff ?? this.maybeDone.get(res)
    if (!res.ok) throw this.error(res, body, text, path, earlier)
    // Every teamday answer is a JSON object or array; a web page with 200 is another server.
    if (body === null || typeof body !== 'object') throw notTeamday(this.opts.baseUrl, res.status, `with ${text ? 'a body that is not JSON' : 'an empty body'}`)
    const wrong = unexpectedShape(body, o.expect)
    if (wrong) throw unexpectedAnswer(this.opts.baseUrl, res.status, wrong, body)
    return { status: res.status, headers: res.headers, body: body as T, text, ...(earlier !== undefined && { earlier }) }
  }

  /** For streams: resolves with the open 2xx Response; errors as request(). */
  async open(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    const res = await this.send(method, path, o)
    if (res.ok) return res
    const text = await readText(res, this.opts.baseUrl)
    throw this.error(res, parseJson(text), text, path)
  }

  private error(res: Response, body: unknown, text: string, path: string, earlier = this.maybeDone.get(res)): ClientError {
    const e = errorFromResponse(res.status, body, text, this.opts.baseUrl, res.status >= 300 && res.status < 400 ? res.headers.get('location') : null, path, this.retried.get(res))
    // A change retried after an answer that was lost (a proxy's 502 once the server had done it):
    // its retry's 404 (a DELETE's: no key replays it) or 401 token_revoked (`tokens revoke self`,
    // `tokens rotate self` without a grace period: the first attempt ended the token the retry
    // sends) is not the whole story.
    if (earlier === undefined || !(res.status === 404 || (res.status === 401 && (body as { code?: unknown } | undefined)?.code === 'token_revoked'))) return e
    return new ClientError(e.kind, `${e.message}; ${earlierWords(earlier)}`, e.hint, e.body, e.code)
  }

  /** Why an earlier attempt of the request send() returned this response may have been carried out (ApiResponse.earlier). */
  private readonly maybeDone = new WeakMap<Response, string>()

  /** How many times send() retried before it returned this response (the 429 hint says it). */
  private readonly retried = new WeakMap<Response, number>()

  /**
   * One logical request with its retries; returns the final Response (any status). `used`: the
   * retries the request already spent (request(): on answers that broke off), out of --retries.
   */
  private async send(method: string, path: string, o: RequestOptions, used = 0): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': `teamday-cli/${VERSION}`, ...o.headers }
    const login = o.auth !== false ? this.opts.login : undefined
    if (o.auth !== false) {
      // A stored sign-in refreshes its access token when it has expired.
      const token = login ? await login.accessToken() : this.opts.token
      if (!token) throw new ClientError('auth', noTokenMessage(this.opts.blankToken), noTokenHint(this.opts.baseUrl), undefined, 'no_token')
      headers.authorization = `Bearer ${token}`
    }
    let refreshed = false
    let body: string | undefined
    if (o.body !== undefined) {
      body = JSON.stringify(o.body)
      headers['content-type'] = 'application/json'
    }
    // Non-idempotent requests get a key so that they may be retried safely (same key every attempt).
    if (!IDEMPOTENT_METHODS.has(method) && this.opts.retries > 0 && headers['idempotency-key'] === undefined) headers['idempotency-key'] = crypto.randomUUID()
    const retryable = IDEMPOTENT_METHODS.has(method) || headers['idempotency-key'] !== undefined
    const url = this.url(path, o.query)
    const timeoutMs = o.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : o.timeoutMs
    // A change whose attempt may have been carried out though its answer was lost.
    const change = changes(method)
    let maybeDone: string | undefined
    const returning = (res: Response, attempt: number): Response => {
      this.retried.set(res, attempt)
      if (maybeDone !== undefined) this.maybeDone.set(res, maybeDone)
      return res
    }
    for (let attempt = used; ; attempt++) {
      const last = !retryable || attempt >= this.opts.retries
      let res: Response
      try {
        const limit = timeoutMs === null ? undefined : AbortSignal.timeout(timeoutMs)
        const signal = o.signal && limit ? AbortSignal.any([o.signal, limit]) : (o.signal ?? limit)
        res = await this.fetchFn(url, { method, headers, body, redirect: 'manual', signal, ...QUIET })
      } catch (e) {
        const why = networkReason(e, timeoutMs)
        if (o.timeoutMessage && (e as Error)?.name === 'TimeoutError') throw new ClientError('server', o.timeoutMessage, undefined, undefined, 'timeout')
        if (o.signal?.aborted) throw new ClientError('server', `no answer from ${this.opts.baseUrl}: ${why}`, undefined, undefined, 'timeout')
        // A certificate refused here (not trusted, another host's, expired) stays so: said at once,
        // with what to do about it, not retried; the server did answer.
        const certificate = certificateHint(e)
        if (certificate) throw new ClientError('server', `cannot reach the server at ${this.opts.baseUrl}: ${why}`, certificate, undefined, 'connection_failed')
        if (last) throw new ClientError('server', `cannot reach the server at ${this.opts.baseUrl}: ${why}`, `Check --url / TEAMDAY_URL and that "teamday serve" runs there (teamday health).${this.proxyHint()}`, undefined, 'connection_failed')
        if (change && !NOT_SENT.has((e as { code?: string })?.code ?? '')) maybeDone = why
        const delay = this.backoff(attempt)
        this.opts.warn(`${why}; retrying in ${fmtDelay(delay)} (${attempt + 1}/${this.opts.retries})`)
        await this.pause(delay, o.signal)
        continue
      }
      if (res.status === 401 && login && !refreshed) {
        // The access token ended early (clock skew, or a server restart of the clock): refresh once and resend.
        const body = parseJson(await readText(res.clone(), this.opts.baseUrl)) as { code?: string } | undefined
        if (body?.code === 'token_expired') {
          refreshed = true
          await res.body?.cancel().catch(() => {})
          headers.authorization = `Bearer ${await login.refresh()}`
          attempt--
          continue
        }
      }
      await this.checkExpiry(res.headers)
      if (!RETRY_STATUSES.has(res.status) || last) return returning(res, attempt)
      if (res.status === 502 || res.status === 504 || res.status === 429) {
        // An execution that ran and failed is an answer, not a transient gateway error; a 429 for
        // the address's failed authentications is the refused credential's answer: sent again, the
        // same credential only counts more failures.
        const text = await readText(res, this.opts.baseUrl)
        const parsed = parseJson(text) as any
        if (parsed?.error === true && (res.status === 429 ? parsed.details?.reason === FAILED_AUTHENTICATIONS : EXECUTION_FAILURE_CODES.has(parsed.code))) {
          return returning(new Response(text, { status: res.status, headers: res.headers }), attempt)
        }
      } else await res.body?.cancel().catch(() => {})
      // A gateway's 502 or 504 (a proxy's: teamday's own are answers, above) may come after the
      // server did the work; a 429 or 503 says it was not done.
      if (change && (res.status === 502 || res.status === 504)) maybeDone = `HTTP ${res.status}`
      const retryAfter = retryAfterMs(res.headers.get('retry-after'), this.now())
      if (retryAfter !== null && retryAfter > MAX_RETRY_AFTER_MS) {
        throw new ClientError('server', `HTTP ${res.status}: the server asks to retry after ${Math.ceil(retryAfter / 1000)} s`, 'Try again later.', undefined, 'retry_later')
      }
      const delay = retryAfter !== null ? retryAfter + Math.floor(this.random() * 250) : this.backoff(attempt)
      this.opts.warn(`HTTP ${res.status}; retrying in ${fmtDelay(delay)} (${attempt + 1}/${this.opts.retries})`)
      await this.pause(delay, o.signal)
    }
  }

  /**
   * The wait before a retry, cut short when the request's signal fires: the next attempt then
   * fails at once as aborted. A Retry-After of up to 2 minutes held a command past its own
   * time limit (`agents execute --timeout 3` waited 11 s for a rate limit's 9 s).
   */
  private pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (!signal) return this.sleep(ms)
    if (signal.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done)
      this.sleep(ms).then(done, done)
    })
  }

  /** A connection failure's hint when a proxy variable is set: the failure may be the proxy's. */
  private proxyHint(): string {
    const p = this.opts.proxy
    return p ? `\n${p.split('=')[0]} is set (${p.slice(p.indexOf('=') + 1)}): unless NO_PROXY exempts this host, requests go through that proxy, and the failure may be the proxy's (check it, or add the host to NO_PROXY).` : ''
  }

  /** Full jitter: a random delay in [50%, 100%] of min(8 s, 0.5 s × 2^attempt). */
  private backoff(attempt: number): number {
    const cap = Math.min(MAX_BACKOFF_MS, BASE_DELAY_MS * 2 ** attempt)
    return Math.round(cap / 2 + this.random() * (cap / 2))
  }

  /**
   * Warns once on stderr when the token is near its end: fewer than 7 days left AND less than a
   * quarter of its lifetime (a fresh 7-day token is not "about to expire"). The response header
   * gives only the expiry; the creation time and the token's id come from GET /tokens/self,
   * asked only in those last days. Any failure of that look-up leaves the command alone.
   */
  private async checkExpiry(headers: Headers): Promise<void> {
    // A browser sign-in's access tokens last 15 minutes by design and refresh themselves.
    if (this.warnedExpiry || this.opts.login || this.opts.token?.startsWith('tdo_')) return
    const raw = headers.get('teamday-token-expiration')
    if (!raw) return
    const at = Date.parse(raw)
    if (Number.isNaN(at)) return
    const left = at - this.now()
    if (left >= EXPIRY_WARNING_DAYS * 86_400_000) return
    this.warnedExpiry = true
    let self: { id?: string; name?: string; createdAt?: string; revokedAt?: string | null }
    try {
      self = (await this.request('GET', '/api/v1/tokens/self', { timeoutMs: 5_000, expect: { token: 'object' } })).body.token
    } catch {
      return
    }
    const created = Date.parse(self.createdAt ?? '')
    if (typeof self.id !== 'string' || Number.isNaN(created)) return
    // Rotated with a grace period: it ends then, however long it was meant to last, and rotating
    // it again is refused; its successor is the token to use.
    if (typeof self.revokedAt === 'string') return this.opts.warn(expiryWarning(self.id, this.opts.tokenSource, at, left, true))
    if (left >= (at - created) / 4) return
    this.opts.warn(expiryWarning(self.id, this.opts.tokenSource, at, left))
  }
}

/** `warning: the token pat_… (TEAMDAY_TOKEN) expires in 2 days, on …; rotate it now (teamday tokens rotate pat_…) and update the secret` (or, for a rotated token in its grace period: put its successor in the secret). */
export function expiryWarning(id: string, source: string | null, at: number, left: number, rotated = false): string {
  const days = Math.max(0, Math.floor(left / 86_400_000))
  const when = days === 0 ? 'in less than a day' : `in ${days} day${days === 1 ? '' : 's'}`
  if (rotated) return `warning: the token ${id}${source ? ` (${source})` : ''} was rotated and stops working ${when}, on ${new Date(at).toISOString()}; put the new token that replaced it in the secret now`
  return `warning: the token ${id}${source ? ` (${source})` : ''} expires ${when}, on ${new Date(at).toISOString()}; rotate it now (teamday tokens rotate ${id}) and update the secret`
}

const KIND_OF = { list: 'a list of objects', strings: 'a list of strings', object: 'an object', string: 'a string' } as const

/** What is wrong with a JSON body for `expected` ("a body that is not a list", `"agents" that is not a list`), or undefined. */
export function unexpectedShape(body: object, expected: Expected): string | undefined {
  if (expected === 'list') return !Array.isArray(body) ? 'a body that is not a list' : allAre(body, isObject) ? undefined : 'a list whose items are not objects'
  if (Array.isArray(body)) return 'a list where an object belongs'
  if (expected === 'object') return undefined
  for (const [field, kind] of Object.entries(expected)) {
    let v: unknown = body
    for (const name of field.split('.')) v = isObject(v) ? (v as Record<string, unknown>)[name] : undefined
    const ok = kind === 'list' ? Array.isArray(v) && allAre(v, isObject) : kind === 'strings' ? Array.isArray(v) && allAre(v, isString) : kind === 'object' ? isObject(v) : typeof v === 'string'
    if (!ok) return `"${field}" ${v === undefined ? 'missing' : `that is not ${KIND_OF[kind]}`}`
  }
  return undefined
}

const isString = (v: unknown): boolean => typeof v === 'string'

/** Every item of a teamday list is an object: `[null]` or `[1,2,3]` is another server (a table of dashes, or a crash on null). */
const isObject = (v: unknown): boolean => !!v && typeof v === 'object' && !Array.isArray(v)

/** Requests that change something: a retry of one without an Idempotency-Key may repeat it. */
const changes = (method: string): boolean => method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS'

/** Connection failures before the request went out: nothing was carried out. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID'])

/** What a retry that found nothing adds to its message (ApiResponse.earlier). */
export function earlierWords(earlier: string): string {
  return `an earlier attempt of this request got no answer (${earlier}) and may have done it`
}

export function parseJson(text: string): unknown {
  if (!text) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}


function fmtDelay(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`
}

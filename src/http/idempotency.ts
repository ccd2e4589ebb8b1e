import { Elysia } from 'elysia'
import type { Principal } from '../auth/principal'
import { unavailableForNow } from '../db/unavailable'
import { ANSWERED_FOR_ROLE, IN_PROGRESS_STALE_MS, IdempotencyKeys, requestHash, sameRequestAs, type KeyStoreDeps, type WithheldKind } from '../idempotency/service'
import type { Logger } from '../logger'
import { errorMessage } from '../errors'
import { loggedTarget } from './observe'

type State = { id: string; role: string } | 'replayed'

/** Called by a route whose response holds a secret or is a stream; `createdId` is what it created. */
export type WithholdFromReplay = (request: Request, createdId: string, kind?: WithheldKind) => void

/** Response headers worth replaying besides the body (a stream, whose x-execution-id names its run, is never replayed). */
const KEPT_HEADERS = ['location']

let seq = 0
/** Methods a route serves only to requests that carry no key (a key counts on POST and PATCH only). */
const KEYLESS_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'])

/**
 * Idempotency-Key on authenticated POST and PATCH requests (keys are per token: `callerOf`
 * gives the request's principal on routes that authenticate, null on the others). The first 2xx
 * response is stored for 24 h and replayed with `Idempotency-Status: replayed`; a failed first
 * attempt (4xx/5xx) frees the key, so a corrected retry may reuse it. Other requests cost a
 * method comparison, and a WeakMap miss when their response goes out.
 */
export function idempotency(
  deps: KeyStoreDeps & { log: Logger },
  callerOf: (request: Request, set: any, route: string) => Promise<Principal> | null,
  schedule: RecordSchedule = {},
) {
  const retriesMs = schedule.recordRetriesMs ?? RECORD_RETRIES_MS
  const waitRoundMs = schedule.waitRoundMs ?? WAIT_ROUND_MS
  const keys = new IdempotencyKeys(deps)
  const states = new WeakMap<Request, State>()
  /**
   * Responses that cannot be replayed keep their key as "done" with only what they created:
   * one that carries a secret (a new token) is never stored, even encrypted, since a token's
   * plaintext exists only in its creation response (a retry gets 409 idempotency_secret_withheld);
   * a stream (a streamed execute) cannot be stored, and a retry must not start the work again
   * (409 idempotency_stream_started naming the execution).
   */
  const withheld = new WeakMap<Request, { id: string; kind: WithheldKind }>()
  const withhold: WithholdFromReplay = (request, createdId, kind = 'secret') => {
    withheld.set(request, { id: createdId, kind })
  }
  const claim = async ({ request, set, body, route }: { request: Request; set: { status?: number | string; headers: Record<string, string | number> }; body: unknown; route: string }) => {
    if (request.method !== 'POST' && request.method !== 'PATCH') return
    const key = request.headers.get('idempotency-key')
    if (key === null) return
    const caller = callerOf(request, set, route)
    if (caller === null) return
    const principal = await caller
    const url = new URL(request.url)
    // The hash binds the key to the exact target; what is stored (and quoted in a conflict's
    // message) is the target as the access log writes it, never a token sent in it.
    const target = url.pathname + url.search
    const r = await keys.begin({
      tokenId: principal.tokenId,
      key,
      method: request.method,
      path: loggedTarget(request.url),
      hash: requestHash(deps.box, request.method, target, body),
      sameAs: (stored) => sameRequestAs(deps.box, stored, request.method, target, body),
      settle: recordNow,
      role: principal.role,
    })
    if (r.kind === 'new') {
      states.set(request, { id: r.id, role: principal.role })
      return
    }
    states.set(request, 'replayed')
    set.status = r.status
    Object.assign(set.headers, r.headers)
    set.headers['idempotency-status'] = 'replayed'
    // Returned as a value, not a Response: it passes the route's response schema again.
    return r.body
  }
  /**
   * Runs for every response, success or error, before it is sent: stores a 2xx, frees the key
   * otherwise (before the response goes out, so a retry right after a failure may reuse it).
   * It answers with the response it was given: Elysia's error path sends whatever a global
   * mapResponse returns, `undefined` included (an empty body).
   */
  const settle = async ({ request, set, responseValue }: { request: Request; set: { status?: number | string; headers: Record<string, string | number> }; responseValue: unknown }) => {
    const s = states.get(request)
    if (s !== undefined && s !== 'replayed') {
      states.delete(request)
      const record = settlement(s.id, s.role, request, set, responseValue)
      try {
        await record()
      } catch (e) {
        // The route's work is done (committed, or refused) whatever happens to its key: the
        // client gets the answer that work earned, never an error claiming otherwise (a write
        // reported as failed is retried, and made twice). The key is recorded (a 2xx) or freed
        // (a failure: its 503 says "retry") again a few times in the background: a database
        // connection lost at that moment left it "in progress" for good, so the retry the 503
        // asked for was 409 idempotency_in_progress, then idempotency_interrupted: never run.
        // Meanwhile a retry with the key is 409 idempotency_in_progress ("retry after it finishes").
        void recordLater(s.id, record, {
          requestId: set.headers['x-request-id'] === undefined ? null : String(set.headers['x-request-id']),
          method: request.method,
          path: loggedTarget(request.url),
          error: errorMessage(e),
        })
      }
    }
    return responseValue as Response
  }
  const plugin = new Elysia({ name: 'teamday-idempotency', seed: ++seq }).onBeforeHandle({ as: 'global' }, claim).mapResponse({ as: 'global' }, settle)

  /** The record id of the key `request` claimed and still holds (null: none, or replayed). */
  const keyOf = (request: Request): string | null => {
    const s = states.get(request)
    return s === undefined || s === 'replayed' ? null : s.id
  }

  /**
   * Its two hooks taken off the routes no key can apply to (a route of a method other than POST
   * and PATCH, which only requests of that method reach: each hook returns at once for them),
   * before any route is compiled (on its first request). Elysia awaits both on every route, being
   * async functions: two calls and two promise turns a GET paid for nothing. A 404, an error
   * answered before routing, and any route of several methods keep them.
   */
  const onlyWhereKeyed = (routes: readonly { method: string; hooks?: { beforeHandle?: { fn: unknown }[]; mapResponse?: { fn: unknown }[] } }[]): void => {
    for (const { method, hooks } of routes) {
      if (!KEYLESS_METHODS.has(method) || !hooks) continue
      if (hooks.beforeHandle) hooks.beforeHandle = hooks.beforeHandle.filter((h) => h.fn !== claim)
      if (hooks.mapResponse) hooks.mapResponse = hooks.mapResponse.filter((h) => h.fn !== settle)
    }
  }

  return { plugin, withhold, keyOf, onlyWhereKeyed }

  /** What stores or frees a key once its request's response is known (decided now; done, and maybe done again, by the function returned). */
  function settlement(id: string, role: string, request: Request, set: { status?: number | string; headers: Record<string, string | number> }, responseValue: unknown): () => Promise<void> {
    const status = responseValue instanceof Response ? responseValue.status : typeof set.status === 'number' ? set.status : 200
    const created = withheld.get(request)
    if (created !== undefined && status < 300) return () => keys.complete(id, status, null, {}, created)
    // A 500, or a 503 for the database (a connection lost, maybe as its COMMIT went): what the
    // request wrote is not known, and its key is freed only if its work did not commit (release).
    if (status >= 300 || responseValue instanceof Response) return () => keys.release(id, outcomeUnknown(status, responseValue))
    // The role it was answered for: a replay to the caller with a lower role since is refused (ANSWERED_FOR_ROLE).
    const headers: Record<string, string> = { [ANSWERED_FOR_ROLE]: role }
    for (const h of KEPT_HEADERS) if (set.headers[h] !== undefined) headers[h] = String(set.headers[h])
    return () => keys.complete(id, status, responseValue, headers)
  }

  /**
   * Tries `record` again after 0.5, 1, 2, 4 and 8 s (schedule.recordRetriesMs); then, while the database is out of reach
   * (unavailableForNow: a lock held by another process, PostgreSQL lost), every 5 s (schedule.waitRoundMs) with the
   * other keys waiting (awaitDatabase) until the key would be stale anyway (IN_PROGRESS_STALE_MS).
   * At once when a retry with the key finds it in progress (recordNow: the database answered that
   * retry), or when the server stops (recordPendingKeys). Logs the outcome.
   */
  async function recordLater(id: string, record: () => Promise<void>, about: Record<string, unknown>): Promise<void> {
    deps.log.warn('idempotency_record_retrying', about)
    const entry: PendingRecord = { id, record, about, done: false, unavailable: false, log: deps.log, since: performance.now(), waitRoundMs }
    pending.set(entry.id, entry)
    try {
      for (const delay of retriesMs) {
        await new Promise((resolve) => setTimeout(resolve, delay))
        if (entry.done) return
        if (await attempt(entry)) return
      }
      // An outage longer than these: the key of a request answered 503 ("retry") stayed "in
      // progress" for 10 minutes, and the retry its Retry-After asked for was 409. What is
      // recorded was decided when the answer was (settlement): a 2xx's key gets its answer, and
      // only a failure's is freed; the key's row is not in the request's transaction, but a
      // request answered 503 for its database wrote nothing (its transaction was rolled back whole).
      // Waiting longer changes when, never what.
      if (entry.unavailable && !entry.done && (await awaitDatabase(entry))) return
      if (entry.done) return
      entry.done = true
      // The key stays "in progress": a retry with it is 409 idempotency_in_progress, then
      // idempotency_interrupted: never run again (the work may have been done).
      deps.log.error('idempotency_not_recorded', entry.about)
    } finally {
      pending.delete(entry.id)
    }
  }
}

/**
 * Whether a failed answer leaves unknown what its request wrote: an internal error, or the
 * database unavailable (src/http/errors.ts), that says nothing of its outcome. One that names it
 * in `details` is the route's own answer (a synchronous execute whose run failed: the failed
 * execution, whose key is freed for a new run, as any failure's).
 */
function outcomeUnknown(status: number, body: unknown): boolean | 'committed' {
  if (typeof body !== 'object' || body === null) return status === 500 || status === 503
  const { code, details } = body as { code?: unknown; details?: unknown }
  // The database's 503 (src/http/errors.ts) says what of the request committed: 'partly' is
  // known to have; 'unknown' (a lost COMMIT) and 'none' are left to the key's own mark.
  const committed = status === 503 && code === 'service_unavailable' ? databaseOutcome(details) : undefined
  if (committed !== undefined) return committed === 'partly' ? 'committed' : true
  return details === undefined && ((status === 500 && code === 'internal_error') || (status === 503 && code === 'service_unavailable'))
}

/**
 * Records now the key `id` when this process is waiting to record it (recordLater), as a retry
 * with that key finds it in progress: the database has just answered that retry. True when it went
 * (the key is freed, or holds its answer): the retry then runs, or is replayed.
 */
async function recordNow(id: string): Promise<boolean> {
  const entry = pending.get(id)
  if (entry === undefined || entry.done) return false
  return attempt(entry)
}

interface PendingRecord {
  /** The key's record id. */
  id: string
  record: () => Promise<void>
  about: Record<string, unknown>
  done: boolean
  /** Whether the last attempt failed because the database was out of reach (a passing state, not a fault of the write). */
  unavailable: boolean
  log: Logger
  /** performance.now() when the record first failed. */
  since: number
  /** How often it is tried while the database is out of reach (awaitDatabase). */
  waitRoundMs: number
}

/** Keys whose record is being tried again (recordLater), in every app of the process, by record id. */
const pending = new Map<string, PendingRecord>()

async function attempt(entry: PendingRecord): Promise<boolean> {
  try {
    await entry.record()
    // Another attempt (a retry's recordNow, the background one) may have gone first: logged once.
    if (entry.done) return true
    entry.done = true
    entry.log.info('idempotency_recorded_late', { ...entry.about, error: undefined })
    return true
  } catch (e) {
    entry.about = { ...entry.about, error: errorMessage(e) }
    entry.unavailable = unavailableForNow(e)
    return false
  }
}

/** Keys waiting for the database to answer again (awaitDatabase), oldest first, and the timer of their next round. */
const waiting = new Set<{ entry: PendingRecord; settled: (ok: boolean) => void }>()
let waitTimer: ReturnType<typeof setTimeout> | null = null
/** performance.now() when waitTimer fires. */
let waitDue = 0

/**
 * Waits for the key's record to go through, tried every WAIT_ROUND_MS with every other waiting
 * key: the oldest first, the rest only once it went (one attempt per round while the database is
 * out: on SQLite each blocks the event loop for the busy timeout). False once the key would be
 * stale (IN_PROGRESS_STALE_MS after its record first failed), or its error is no longer a passing one.
 */
function awaitDatabase(entry: PendingRecord): Promise<boolean> {
  return new Promise((settled) => {
    waiting.add({ entry, settled })
    // A round due later than this key's own (another app's, a longer one) is brought forward.
    if (waitTimer !== null && waitDue > performance.now() + entry.waitRoundMs) {
      clearTimeout(waitTimer)
      waitTimer = null
    }
    if (waitTimer === null) waitTimer = nextRound()
  })
}

async function waitRound(): Promise<void> {
  for (const w of [...waiting]) {
    if (w.entry.done || performance.now() - w.entry.since >= IN_PROGRESS_STALE_MS) {
      waiting.delete(w)
      w.settled(w.entry.done)
      continue
    }
    const ok = await attempt(w.entry)
    if (ok || !w.entry.unavailable) {
      waiting.delete(w)
      w.settled(ok)
    }
    // Still out of reach: the others wait for the next round.
    if (!ok && w.entry.unavailable) break
  }
  waitTimer = waiting.size > 0 ? nextRound() : null
}

/**
 * The next round (after the shortest round of the waiting keys' apps), which does not keep a
 * stopping process alive (a graceful stop records the keys itself: recordPendingKeys).
 */
function nextRound(): ReturnType<typeof setTimeout> {
  let ms = WAIT_ROUND_MS
  for (const w of waiting) ms = Math.min(ms, w.entry.waitRoundMs)
  waitDue = performance.now() + ms
  const timer = setTimeout(waitRound, ms)
  timer.unref?.()
  return timer
}

/**
 * At a graceful stop, before the database closes: the keys still waiting for their record are
 * tried once more now (the stop would otherwise leave them in progress for good: the retry a 503
 * asked for then never runs); what still fails is logged as not recorded.
 */
export async function recordPendingKeys(): Promise<void> {
  for (const entry of [...pending.values()]) {
    if (entry.done) continue
    if (await attempt(entry)) continue
    entry.done = true
    entry.log.error('idempotency_not_recorded', entry.about)
  }
}

/**
 * When a key whose record failed is tried again, and how often once those are spent: the
 * defaults below unless the app's factory is given others (a test's outage, shorter).
 */
export interface RecordSchedule {
  /** The delays before each quick retry, in order (read once per failed record). */
  recordRetriesMs?: Iterable<number>
  waitRoundMs?: number
}

/** When a key whose record failed is recorded again (src/http/idempotency.ts). */
const RECORD_RETRIES_MS = [500, 1000, 2000, 4000, 8000]
/** Then, while the database is out of reach, every this often (awaitDatabase). */
const WAIT_ROUND_MS = 5000

/** `details.committed` of a 503 for the database (src/http/errors.ts), when `details` is that and nothing else. */
function databaseOutcome(details: unknown): string | undefined {
  if (typeof details !== 'object' || details === null) return undefined
  const keys = Object.keys(details)
  const c = (details as { committed?: unknown }).committed
  return keys.length === 1 && (c === 'none' || c === 'partly' || c === 'unknown') ? c : undefined
}

import type { Principal } from '../auth/principal'
import type { Deps } from '../deps'
import { beginIdempotent, completeIdempotent, releaseIdempotent, requestHash, type WithheldKind } from './service'

type State = { id: string } | 'replayed'

interface Ctx {
  request: Request
  set: { status?: number | string; headers: Record<string, string | number> }
  principal?: Principal
  body?: unknown
  responseValue?: unknown
}

/**
 * Responses that cannot be replayed keep their key as "done" with only what they created:
 * one that carries a secret (a new token) is never stored, even encrypted, since a token's
 * plaintext exists only in its creation response (a retry gets 409 idempotency_secret_withheld);
 * a stream (a streamed execute) cannot be stored, and a retry must not start the work again
 * (409 idempotency_stream_started naming the execution).
 */
const withheld = new WeakMap<Request, { id: string; kind: WithheldKind }>()

/** Called by a route whose response holds a secret or is a stream; `createdId` is what it created. */
export function withholdFromReplay(request: Request, createdId: string, kind: WithheldKind = 'secret'): void {
  withheld.set(request, { id: createdId, kind })
}

/** Response headers worth replaying besides the body. */
const KEPT_HEADERS = ['location', 'teamday-execution-id']

/**
 * Idempotency-Key on authenticated POST and PATCH requests, as hooks the auth macro attaches
 * after it has resolved the token (keys are per token). The first 2xx response is stored for
 * 24 h and replayed with `Idempotency-Status: replayed`; a failed first attempt (4xx/5xx) frees
 * the key, so a corrected retry may reuse it. Requests without the header cost one Map miss.
 */
export function idempotencyHooks(deps: Deps) {
  const states = new WeakMap<Request, State>()
  return {
    beforeHandle({ request, set, principal, body }: Ctx): unknown {
      if (request.method !== 'POST' && request.method !== 'PATCH') return
      const key = request.headers.get('idempotency-key')
      if (key === null || !principal) return
      const url = new URL(request.url)
      const path = url.pathname + url.search
      const r = beginIdempotent(deps, { tokenId: principal.tokenId, key, method: request.method, path, hash: requestHash(request.method, path, body) })
      if (r.kind === 'new') {
        states.set(request, { id: r.id })
        return
      }
      states.set(request, 'replayed')
      set.status = r.status
      Object.assign(set.headers, r.headers)
      set.headers['idempotency-status'] = 'replayed'
      // Returned as a value, not a Response: it passes the route's response schema again.
      return r.body
    },
    /**
     * Runs for every response of the route, success or error, before it is sent: stores a 2xx,
     * frees the key otherwise (synchronously, so a retry right after the failure may reuse it).
     */
    mapResponse({ request, set, responseValue }: Ctx): void {
      const s = states.get(request)
      if (!s || s === 'replayed') return
      states.delete(request)
      const status = responseValue instanceof Response ? responseValue.status : typeof set.status === 'number' ? set.status : 200
      const created = withheld.get(request)
      if (created !== undefined && status < 300) {
        completeIdempotent(deps, s.id, status, null, {}, created)
        return
      }
      if (status >= 300 || responseValue instanceof Response) {
        releaseIdempotent(deps, s.id)
        return
      }
      const headers: Record<string, string> = {}
      for (const h of KEPT_HEADERS) if (set.headers[h] !== undefined) headers[h] = String(set.headers[h])
      completeIdempotent(deps, s.id, status, responseValue, headers)
    },
  }
}

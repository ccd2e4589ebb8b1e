import { withoutSecrets } from '../auth/tokens'
import type { Actor, Origin } from '../actor'
import type { AuthPlugin } from '../auth/plugin'
import type { Principal } from '../auth/principal'
import { contextOf, type Ctx, type Services } from '../context'
import { requestWorkStarted } from '../db/request-writes'
import type { WithholdFromReplay } from './idempotency'
import type { WatchToken } from './streamed-json'

type Set = { headers: Record<string, string | number> }

/** A request's origin: the client address is resolved when first asked for (a system call), once. */
class RequestOrigin implements Origin {
  private address: string | null | undefined
  readonly userAgent: string | null

  constructor(
    private readonly request: Request,
    private readonly clientAddress: (request: Request) => string | null,
  ) {
    this.userAgent = userAgentOf(request)
  }

  ip(): string | null {
    if (this.address === undefined) this.address = this.clientAddress(this.request)
    return this.address
  }
}

/**
 * A request's User-Agent as it may be stored and shown (a token's `lastUsedUserAgent`, a console or
 * CLI session's device, audit events): a secret pasted into it is redacted, never kept.
 */
export function userAgentOf(request: Request): string | null {
  const ua = request.headers.get('user-agent')
  return ua === null ? null : withoutSecrets(ua)
}

/**
 * The service context of an HTTP request: the runtime's services, the request id (set by the
 * request guards in app.ts), where it came from, and its Idempotency-Key's record (`idempotencyKeyOf`). Route handlers build one from their
 * principal and hand it to the service; services never see Elysia's context.
 */
export function requestContexts(services: Services, clientAddress: (request: Request) => string | null, idempotencyKeyOf: (request: Request) => string | null = () => null) {
  const make = (actor: Actor, request: Request, set: Set): Ctx =>
    contextOf(services, actor, { requestId: String(set.headers['x-request-id'] ?? '') || null, origin: new RequestOrigin(request, clientAddress), idempotencyKeyId: idempotencyKeyOf(request) })
  /** A route handler's context: the request's work starts (what commits from now on is its change: src/db/request-writes.ts). */
  const of = (actor: Actor, request: Request, set: Set): Ctx => {
    requestWorkStarted()
    return make(actor, request, set)
  }
  return {
    of,
    /** The context of the authentication (its last-use and counters are bookkeeping, not the request's work). */
    authenticating: make,
    /** The context of an authenticated request, acting for its principal. */
    caller: (principal: Principal, request: Request, set: Set): Ctx => of({ kind: 'token', principal }, request, set),
  }
}

export type RequestContexts = ReturnType<typeof requestContexts>

/**
 * The prefix of the resource routes. Each module carries it in its own prefix rather than being
 * mounted in an Elysia group: a group adds every route once more (its hooks merged again), which
 * cost a fifth of createApp at start-up (docs/performance.md).
 */
export const API_V1 = '/api/v1'

/**
 * Answers 201 Created with `Location` (RFC 9110 §15.3.2): the created resource's GET route under
 * API_V1, in absolute-path form (`/api/v1/agents/char_…`), each segment percent-encoded. Every
 * 201 of the API says where to read what it created (the OpenAPI document declares the header on
 * each: src/http/openapi-publish.ts); an idempotent replay sends it again (src/http/idempotency.ts).
 */
export function created(set: { status?: number | string; headers: Record<string, string | number> }, ...segments: string[]): void {
  set.status = 201
  set.headers.location = apiPath(segments)
}

/**
 * Answers 202 Accepted with `Location`: where the work it started is followed (RFC 9110 §15.3.3:
 * a 202 ought to point to a status monitor), its GET route under API_V1, as `created` writes it
 * (an async execute: `/api/v1/executions/exec_…`). No `Content-Location`: the 202's body is a
 * report of the request (`{executionId, status: "pending"}`), not a representation of that
 * resource (GET answers `{success, execution}`), which is what Content-Location would claim
 * (RFC 9110 §8.7). Kept on an idempotent replay, as a 201's (src/http/idempotency.ts).
 */
export function accepted(set: { status?: number | string; headers: Record<string, unknown> }, ...segments: string[]): void {
  set.status = 202
  set.headers.location = apiPath(segments)
}

function apiPath(segments: string[]): string {
  return `${API_V1}/${segments.map(encodeURIComponent).join('/')}`
}

/** What a resource's routes are given by app.ts: the auth macro, the context of a caller, idempotency's withhold, and the watch over a token while an answer is sent. */
export interface RouteKit {
  auth: AuthPlugin
  ctx: RequestContexts['caller']
  withholdFromReplay: WithholdFromReplay
  /** A large list page's body ends once its token is revoked, its user removed or their role changed (streamedJson's `watch`). */
  watchToken: (principal: Principal) => WatchToken
  /**
   * The server this app listens with (null in process), for a large list page to tell a client
   * that stopped reading from one that went away (streamedJson's `server`). Not the request
   * context's `server`: asking for it there defines a getter on every request of the route.
   */
  listening: () => object | null
}

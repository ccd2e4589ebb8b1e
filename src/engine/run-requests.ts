import type { Job } from './prepare'

/** A run's own request, as the execute routes see it: the run, and the signal that stops it. */
export interface RunRequest {
  job: Job
  /** Aborted when the run is stopped (cancelled, timed out, shut down): its tool call's signal. */
  signal: AbortSignal
}

/**
 * The requests runs make of this server through their `teamday_api` tool (src/engine/api-tool.ts),
 * known by the Request object itself: the tool marks each one it builds before it hands it to
 * the app's handler, and the execute routes ask here whether the request they answer is one. An
 * execute a run makes is run as a child of that run, in its delegation tree (Engine.start, `from`).
 *
 * Nothing a client sends says it: no header, body field or address. A request that came over the
 * network is a Request object this process never marked, whatever it carries, so it cannot pass
 * for a run's. A WeakMap: a request is forgotten with its object (one per Engine, no global).
 */
export class RunRequests {
  private readonly byRequest = new WeakMap<Request, RunRequest>()

  /** `request` is made by `job`'s run; `signal` is its call's (the Request's own follows it). */
  mark(request: Request, job: Job, signal: AbortSignal): void {
    this.byRequest.set(request, { job, signal })
  }

  of(request: Request): RunRequest | undefined {
    return this.byRequest.get(request)
  }
}

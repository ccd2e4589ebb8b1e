/**
 * What the server counts, in process memory: plain numbers in maps, a few nanoseconds per
 * observation, so every request and every database statement can be counted. `GET /metrics`
 * renders them with prom-client (src/metrics/prometheus.ts), loaded on the first scrape only.
 */

/** Seconds; Prometheus' convention for durations. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
export const QUERY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1]

/** A histogram per label set: cumulative counts are computed when rendered. */
export interface HistogramSeries {
  labels: Record<string, string>
  counts: number[]
  sum: number
  count: number
}

interface RouteSeries {
  key: string
  latency: HistogramSeries
  byStatus: Map<number, { value: number }>
}

export class Histogram {
  readonly series = new Map<string, HistogramSeries>()
  constructor(readonly buckets: readonly number[]) {}

  observe(key: string, labels: () => Record<string, string>, value: number): void {
    this.add(this.seriesFor(key, labels), value)
  }

  /** The series of a label set, created empty when new. */
  seriesFor(key: string, labels: () => Record<string, string>): HistogramSeries {
    let s = this.series.get(key)
    if (s === undefined) this.series.set(key, (s = { labels: labels(), counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 }))
    return s
  }

  /** One observation into a series of this histogram. */
  add(s: HistogramSeries, value: number): void {
    const b = this.buckets
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        s.counts[i]!++
        break
      }
    }
    s.sum += value
    s.count++
  }
}

/** A counter per label set. */
export class Counter {
  readonly series = new Map<string, { labels: Record<string, string>; value: number }>()

  inc(key: string, labels: () => Record<string, string>, by = 1): void {
    const s = this.series.get(key)
    if (s === undefined) this.series.set(key, { labels: labels(), value: by })
    else s.value += by
  }

  /** The series of a label set, created at 0 when new (the caller counts it). */
  seriesFor(key: string, labels: () => Record<string, string>): { value: number } {
    let s = this.series.get(key)
    if (s === undefined) this.series.set(key, (s = { labels: labels(), value: 0 }))
    return s
  }
}

/** Live values read at scrape time (the engine's queue), set by whoever owns them. */
export interface Gauges {
  executionsQueued(): number
  executionsRunning(): number
}

/** Methods kept as labels; anything else a client invents counts as OTHER (bounded label values). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

export class Metrics {
  readonly requests = new Counter()
  readonly latency = new Histogram(LATENCY_BUCKETS)
  readonly authFailures = new Counter()
  readonly rateLimited = new Counter()
  readonly executions = new Counter()
  readonly modelTokens = new Counter()
  readonly dbQueries = new Histogram(QUERY_BUCKETS)
  gauges: Gauges = { executionsQueued: () => 0, executionsRunning: () => 0 }
  /**
   * Which process these figures are (`teamday_instance_info`): the engine's instance id, the
   * version and the commit, set by the runtime. Several instances' figures look alike otherwise,
   * and a scrape through a load balancer lands on any of them.
   */
  instance: { instance_id: string; version: string; commit: string } | null = null
  /**
   * With teamday's own TLS: the end of validity of the certificate served now (Unix seconds,
   * `teamday_tls_certificate_not_after_seconds`), set at start and at each reload; null without TLS.
   */
  tlsNotAfter: number | null = null

  /** Per route template, then method: its latency series and its request counters by status. */
  private readonly routeSeries = new Map<string, Map<string, RouteSeries>>()

  /** One answered request: `route` is the route template (`/api/v1/agents/:id`), never the raw path. */
  request(anyMethod: string, route: string, status: number, seconds: number): void {
    const method = METHODS.has(anyMethod) ? anyMethod : 'OTHER'
    // The series of a (method, route) are looked up once, not by a key string built per request.
    let byMethod = this.routeSeries.get(route)
    if (byMethod === undefined) this.routeSeries.set(route, (byMethod = new Map()))
    let rs = byMethod.get(method)
    if (rs === undefined) {
      const key = `${method} ${route}`
      byMethod.set(method, (rs = { key, latency: this.latency.seriesFor(key, () => ({ method, route })), byStatus: new Map() }))
    }
    let counter = rs.byStatus.get(status)
    if (counter === undefined) {
      const key = `${rs.key} ${status}`
      rs.byStatus.set(status, (counter = this.requests.seriesFor(key, () => ({ method, route, status: String(status) }))))
    }
    counter.value++
    this.latency.add(rs.latency, seconds)
    if (status === 429) this.rateLimited.inc(rs.key, () => ({ method, route }))
  }

  authFailure(code: string): void {
    this.authFailures.inc(code, () => ({ code }))
  }

  /** An execution reached `status` (started, completed, failed, cancelled). */
  execution(status: string): void {
    this.executions.inc(status, () => ({ status }))
  }

  tokens(provider: string, input: number, output: number): void {
    if (input > 0) this.modelTokens.inc(`${provider} input`, () => ({ provider, direction: 'input' }), input)
    if (output > 0) this.modelTokens.inc(`${provider} output`, () => ({ provider, direction: 'output' }), output)
  }

  query(seconds: number): void {
    this.dbQueries.observe('', () => ({}), seconds)
  }
}

import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Counter, Histogram, Metrics } from './recorder'

type Value = { value: number; labels: Record<string, string | number>; metricName?: string }
type PromClient = typeof import('prom-client')

/**
 * The Prometheus text of a Metrics recorder, with prom-client's default process metrics
 * (CPU, memory, event-loop lag, handles; not the heap spaces, see build). prom-client is loaded on the first scrape: evaluating
 * it costs start-up time the server and `--version` would otherwise pay (README "Metrics").
 */
export class PrometheusExporter {
  private registry: Promise<import('prom-client').Registry> | undefined

  constructor(private readonly metrics: Metrics) {}

  static readonly CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

  render(): Promise<string> {
    // The event loop's monitor from the first scrape on, not from start: it wakes the process 100
    // times a second, which a server nobody scrapes should not pay (an idle server's CPU was 3-4
    // times what it was before it ran from start).
    startLoopDelay()
    this.registry ??= import('prom-client').then((prom) => this.build(prom))
    return this.registry.then((r) => r.metrics())
  }

  private build(prom: PromClient) {
    const registry = new prom.Registry()
    prom.collectDefaultMetrics({ register: registry })
    // V8's heap spaces, which Bun answers from a census of the whole JavaScript heap
    // (v8.getHeapSpaceStatistics: ~100 ms with 300,000 objects, more as the heap grows), on the
    // event loop at every scrape: every request waited. Its figures are V8's space names with
    // zeros but for old_space, the whole heap, which nodejs_heap_size_* already give.
    for (const kind of ['total', 'used', 'available']) registry.removeSingleMetric(`nodejs_heap_space_size_${kind}_bytes`)
    const m = this.metrics
    const add = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => Value[] | Promise<Value[]>) =>
      registry.registerMetric({ name, help, type, aggregator: 'sum', get: async () => ({ name, help, type, aggregator: 'sum', values: await values() }) } as any)
    // The event loop's figures. prom-client's recorded delays from its loading, at the first
    // scrape, so that scrape had none: `nodejs_eventloop_lag_min_seconds 9223372036.854776` (an
    // empty histogram's minimum, 292 years), mean and stddev `Nan`; so did any scrape with none
    // recorded since the one before. Here they cover the time since the last scrape (by anyone, on
    // either listener), and a scrape with none recorded (the first) has no sample rather than a
    // false one. Its
    // nodejs_eventloop_lag_seconds was the lag measured after the previous scrape; here this one's.
    if (loopDelay !== null) {
      const h = loopDelay
      const s = (ns: number) => ns / 1e9
      const read: [string, string, () => number][] = [
        ['nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.', () => s(h.min)],
        ['nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.', () => s(h.max)],
        ['nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.', () => s(h.mean)],
        ['nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the recorded event loop delays.', () => s(h.stddev)],
        ['nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.', () => s(h.percentile(50))],
        ['nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the recorded event loop delays.', () => s(h.percentile(90))],
        ['nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.', () => s(h.percentile(99))],
      ]
      for (const [name] of read) registry.removeSingleMetric(name)
      registry.removeSingleMetric('nodejs_eventloop_lag_seconds')
      // Read once per scrape, by the first family asked (prom-client asks them in the order
      // registered, synchronously), then cleared for the next interval.
      let taken: number[] | null = null
      add('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.', 'gauge', async () => {
        taken = h.count > 0 ? read.map(([, , f]) => f()) : null
        h.reset()
        const start = performance.now()
        await new Promise((resolve) => setImmediate(resolve))
        return [{ value: (performance.now() - start) / 1000, labels: {} }]
      })
      read.forEach(([name, help], i) => add(name, help, 'gauge', () => (taken === null || !Number.isFinite(taken[i]!) ? [] : [{ value: taken[i]!, labels: {} }])))
    }
    // prom-client counts CPU from the moment it is loaded (here: the first scrape), so the figures
    // left out everything before it; they are the process's own totals, as their names say.
    const cpu = (pick: (u: NodeJS.CpuUsage) => number) => () => [{ value: pick(process.cpuUsage()) / 1e6, labels: {} }]
    for (const [name, help, pick] of [
      ['process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', (u: NodeJS.CpuUsage) => u.user],
      ['process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', (u: NodeJS.CpuUsage) => u.system],
      ['process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', (u: NodeJS.CpuUsage) => u.user + u.system],
    ] as const) {
      registry.removeSingleMetric(name)
      add(name, help, 'counter', cpu(pick))
    }
    add('teamday_instance_info', 'This process: its instance id (a new one at each start), version and commit; always 1.', 'gauge', () => (m.instance === null ? [] : [{ value: 1, labels: { ...m.instance } }]))
    add('teamday_tls_certificate_not_after_seconds', "The end of validity of the TLS certificate this process serves (Unix time; serve --tls-cert only): alert on it minus time() falling under 14 days.", 'gauge', () => (m.tlsNotAfter === null ? [] : [{ value: m.tlsNotAfter, labels: {} }]))
    add('teamday_http_requests_total', 'HTTP requests answered, by method, route template and status.', 'counter', () => counterValues(m.requests))
    add('teamday_http_request_duration_seconds', 'Time to answer HTTP requests, by method and route template.', 'histogram', () => histogramValues('teamday_http_request_duration_seconds', m.latency))
    add('teamday_auth_failures_total', 'Refused authentications (401), by error code.', 'counter', () => counterValues(m.authFailures))
    add('teamday_rate_limited_total', 'Requests refused by a rate limit (429), by method and route template.', 'counter', () => counterValues(m.rateLimited))
    add('teamday_executions_total', 'Executions that started or ended, by status (started, completed, failed, cancelled).', 'counter', () => withZeros(counterValues(m.executions), 'status', EXECUTION_STATUSES))
    add('teamday_executions_queued', 'Executions waiting for a slot (pending).', 'gauge', () => [{ value: m.gauges.executionsQueued(), labels: {} }])
    add('teamday_executions_running', 'Executions running now.', 'gauge', () => [{ value: m.gauges.executionsRunning(), labels: {} }])
    add('teamday_model_tokens_total', 'Model tokens used by executions, by provider and direction (input, output).', 'counter', () => counterValues(m.modelTokens))
    add('teamday_db_query_duration_seconds', 'Time spent running database statements.', 'histogram', () => histogramValues('teamday_db_query_duration_seconds', m.dbQueries))
    return registry
  }
}

/**
 * The event loop's delays, recorded from the first scrape. One for the process: Bun's monitors share one histogram (a reset of any
 * clears them all), so the figures of a scrape are those since the last scrape on any listener.
 */
let loopDelay: ReturnType<typeof monitorEventLoopDelay> | null = null
function startLoopDelay(): void {
  if (loopDelay !== null) return
  try {
    loopDelay = monitorEventLoopDelay({ resolution: 10 })
    loopDelay.enable()
  } catch {
    // A runtime without it: prom-client's own figures (none there) stay.
    loopDelay = null
  }
}

/** The statuses teamday_executions_total counts (README, Metrics). */
const EXECUTION_STATUSES = ['started', 'completed', 'failed', 'cancelled']

/**
 * `values` with a series at 0 for each of `known` it lacks: a counter's series appeared only once
 * counted, so before the first failed run `teamday_executions_total{status="failed"}` was absent
 * and a rate() or an alert on it saw no data rather than 0.
 */
function withZeros(values: Value[], label: string, known: string[]): Value[] {
  const have = new Set(values.map((v) => v.labels[label]))
  return [...values, ...known.filter((k) => !have.has(k)).map((k) => ({ value: 0, labels: { [label]: k } }))]
}

function counterValues(c: Counter): Value[] {
  return [...c.series.values()].map((s) => ({ value: s.value, labels: s.labels }))
}

function histogramValues(name: string, h: Histogram): Value[] {
  const out: Value[] = []
  for (const s of h.series.values()) {
    let cumulative = 0
    h.buckets.forEach((le, i) => {
      cumulative += s.counts[i]!
      out.push({ metricName: `${name}_bucket`, value: cumulative, labels: { ...s.labels, le } })
    })
    out.push({ metricName: `${name}_bucket`, value: s.count, labels: { ...s.labels, le: '+Inf' } })
    out.push({ metricName: `${name}_sum`, value: s.sum, labels: s.labels })
    out.push({ metricName: `${name}_count`, value: s.count, labels: s.labels })
  }
  return out
}

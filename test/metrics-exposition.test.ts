// GET /metrics read as Prometheus reads it: a strict parser of the text format 0.0.4 over a
// scrape after a mixed workload (lists, creates, 4xx, refused tokens, rate limits, unknown
// paths), the figures compared with the requests sent; and two instances on one
// database told apart by their scrapes.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { freshPgSchema, ON_PG } from './helpers/pg'
import { VERSION } from '../src/build-info'

interface Family {
  name: string
  type: string
  help: string
  samples: { name: string; labels: Record<string, string>; value: number }[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/
const SUFFIXES: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] }

/** The families of a scrape; throws at the first thing a strict reader would refuse. */
function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('the text does not end with a newline')
  const families = new Map<string, Family>()
  let current: Family | undefined
  const seen = new Set<string>()
  const closed = new Set<string>()
  const family = (name: string) => {
    let f = families.get(name)
    if (f === undefined) {
      if (closed.has(name)) throw new Error(`${name}: its lines are not together`)
      if (current) closed.add(current.name)
      families.set(name, (f = { name, type: 'untyped', help: '', samples: [] }))
      current = f
    } else if (f !== current) throw new Error(`${name}: its lines are not together`)
    return f
  }
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
    if (meta) {
      const [, kind, name, rest] = meta
      if (!NAME.test(name!)) throw new Error(`invalid metric name ${name}`)
      const f = family(name!)
      if (f.samples.length > 0) throw new Error(`${name}: # ${kind} after its samples`)
      if (kind === 'HELP') {
        if (f.help !== '') throw new Error(`${name}: HELP twice`)
        f.help = rest!
      } else {
        if (f.type !== 'untyped') throw new Error(`${name}: TYPE twice`)
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest!)) throw new Error(`${name}: type ${rest}`)
        f.type = rest!
      }
      continue
    }
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line)
    if (!m) throw new Error(`not a sample line: ${line}`)
    const [, name, labelText = '', valueText] = m
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText)
    if (Number.isNaN(value) && valueText !== 'NaN') throw new Error(`not a value: ${line}`)
    const labels: Record<string, string> = {}
    let rest = labelText
    while (rest !== '') {
      const l = LABEL.exec(rest)
      if (!l) throw new Error(`bad labels: ${line}`)
      if (l[1]! in labels) throw new Error(`label ${l[1]} twice: ${line}`)
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c))
      rest = rest.slice(l[0].length)
    }
    const owner = current && (SUFFIXES[current.type] ?? ['']).some((s) => name === current!.name + s) ? current : family(name!)
    const key = name + JSON.stringify(Object.entries(labels).sort())
    if (seen.has(key)) throw new Error(`series twice: ${line}`)
    seen.add(key)
    owner.samples.push({ name: name!, labels, value })
  }
  for (const f of families.values()) {
    if (f.type === 'untyped') throw new Error(`${f.name}: no TYPE`)
    if (f.type === 'counter' && f.name.startsWith('teamday_') && !f.name.endsWith('_total')) throw new Error(`${f.name}: a counter not named _total`)
    if (f.type === 'counter' && f.samples.some((s) => s.value < 0)) throw new Error(`${f.name}: a negative counter`)
    if (f.type === 'histogram') checkHistogram(f)
  }
  return families
}

/** Every series of a histogram: buckets by increasing `le`, cumulative, ending at +Inf = _count; a _sum. */
function checkHistogram(f: Family) {
  const series = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>()
  for (const s of f.samples) {
    const { le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    const one = series.get(key) ?? { buckets: [] }
    series.set(key, one)
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: a bucket without le`)
      one.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value])
    } else if (s.name === `${f.name}_sum`) one.sum = s.value
    else one.count = s.value
  }
  for (const [key, s] of series) {
    const where = `${f.name}${key}`
    if (s.buckets.at(-1)?.[0] !== Infinity) throw new Error(`${where}: no +Inf bucket last`)
    for (let i = 1; i < s.buckets.length; i++) {
      if (!(s.buckets[i]![0] > s.buckets[i - 1]![0])) throw new Error(`${where}: le not increasing`)
      if (s.buckets[i]![1] < s.buckets[i - 1]![1]) throw new Error(`${where}: buckets not cumulative`)
    }
    if (s.count !== s.buckets.at(-1)![1]) throw new Error(`${where}: _count ${s.count} is not the +Inf bucket ${s.buckets.at(-1)![1]}`)
    if (s.sum === undefined || s.sum < 0) throw new Error(`${where}: _sum ${s.sum}`)
  }
}

const sample = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) => {
  const family = families.get(name.replace(/_(bucket|sum|count)$/, '')) ?? families.get(name)
  return family?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length)?.value
}

describe('the exposition, read strictly', () => {
  test('the parser refuses what Prometheus refuses', () => {
    expect(() => parseExposition('# TYPE a counter\n# TYPE a counter\na 1\n')).toThrow('TYPE twice')
    expect(() => parseExposition('# TYPE a_total counter\na_total 1\n# TYPE b gauge\nb 1\na_total{x="1"} 2\n')).toThrow('not together')
    expect(() => parseExposition('# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n')).toThrow('series twice')
    expect(() => parseExposition('# TYPE a gauge\na{x="un"escaped"} 1\n')).toThrow('bad labels')
    expect(() => parseExposition('# TYPE teamday_x counter\nteamday_x 1\n')).toThrow('_total')
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n')).toThrow('cumulative')
    expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 3\n')).toThrow('_count')
    expect(parseExposition('# HELP a A "quoted" \\\\ help.\n# TYPE a gauge\na{x="q\\"\\\\\\n"} 1\n').get('a')!.samples[0]!.labels.x).toBe('q"\\\n')
  })

  test('after a mixed workload: well formed, and the figures are the requests sent, by route template and status', async () => {
    const t = await makeTestApp({ config: { rateLimit: { limit: 30, windowMs: 60_000 }, authFailureLimit: { limit: 3, windowMs: 60_000 } } })
    try {
      const admin = await makeActor(t, { role: 'admin' })
      const other = await makeActor(t, { role: 'admin' })
      const scrape = async () => {
        const res = await t.req('GET', '/metrics', { token: other.token })
        expect(res.status).toBe(200)
        return parseExposition(res.text)
      }
      const first = await scrape()
      const created = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Exposed' } })
      expect(created.status).toBe(201)
      const sent: Record<string, number> = {}
      const send = async (method: string, path: string, o: Parameters<TestApp['req']>[2] = {}) => {
        const res = await t.req(method, path, o)
        sent[`${method} ${res.status}`] = (sent[`${method} ${res.status}`] ?? 0) + 1
        return res
      }
      for (let i = 0; i < 5; i++) await send('GET', '/api/v1/agents', { token: admin.token })
      for (let i = 0; i < 3; i++) await send('GET', `/api/v1/agents/${created.body.id}`, { token: admin.token })
      await send('GET', '/api/v1/agents/char_nope', { token: admin.token })
      await send('POST', '/api/v1/agents', { token: admin.token, body: { name: '' } })
      for (let i = 0; i < 5; i++) await send('GET', '/api/v1/agents', { token: 'td_' + 'x'.repeat(43), ip: '192.0.2.77' })
      for (let i = 0; i < 4; i++) await send('GET', `/no/such/path/${i}"\\`, { ip: '192.0.2.78' })
      // The admin's own budget: 30 a minute, 10 spent above and below (the scrape's token is another's).
      let limited = 0
      for (let i = 0; i < 25; i++) if ((await send('GET', '/api/v1/agents', { token: admin.token })).status === 429) limited++
      expect(limited).toBeGreaterThan(0)
      await new Promise<void>((r) => setImmediate(r))
      const after = await scrape()

      const count = (labels: Record<string, string>) => sample(after, 'teamday_http_requests_total', labels) ?? 0
      const before = (labels: Record<string, string>) => sample(first, 'teamday_http_requests_total', labels) ?? 0
      const list = { method: 'GET', route: '/api/v1/agents' }
      expect(count({ ...list, status: '200' }) - before({ ...list, status: '200' })).toBe(5 + 25 - limited)
      expect(count({ ...list, status: '401' })).toBe(3)
      expect(count({ ...list, status: '429' })).toBe(limited + 2)
      expect(sample(after, 'teamday_rate_limited_total', list)).toBe(limited + 2)
      expect(sample(after, 'teamday_auth_failures_total', { code: 'invalid_token_checksum' })).toBe(3)
      expect(count({ method: 'GET', route: '/api/v1/agents/:id', status: '200' })).toBe(3)
      expect(count({ method: 'GET', route: '/api/v1/agents/:id', status: '404' })).toBe(1)
      expect(count({ method: 'POST', route: '/api/v1/agents', status: '422' })).toBe(1)
      expect(count({ method: 'GET', route: 'unmatched', status: '404' })).toBe(4)
      // Every request sent is counted once, under one bounded series: no path, id or invented method as a label.
      const families = after.get('teamday_http_requests_total')!.samples
      const routes = new Set(families.map((s) => s.labels.route))
      expect([...routes].filter((r) => r !== 'unmatched' && !r!.startsWith('/'))).toEqual([])
      expect([...routes].some((r) => r!.includes('no/such') || r!.includes(created.body.id))).toBe(false)
      // (An invented method never reaches the app as itself: Bun's Request makes it GET.)
      expect(new Set(families.map((s) => s.labels.method))).toEqual(new Set(['GET', 'POST']))
      const byMethodStatus: Record<string, number> = {}
      for (const s of families) byMethodStatus[`${s.labels.method} ${s.labels.status}`] = (byMethodStatus[`${s.labels.method} ${s.labels.status}`] ?? 0) + s.value
      for (const s of first.get('teamday_http_requests_total')?.samples ?? []) byMethodStatus[`${s.labels.method} ${s.labels.status}`]! -= s.value
      // What was sent, plus the create and the first scrape (GET 200 on /metrics).
      const expected = { ...sent }
      expected['POST 201'] = (expected['POST 201'] ?? 0) + 1
      expected['GET 200'] = (expected['GET 200'] ?? 0) + 1
      expect(Object.fromEntries(Object.entries(byMethodStatus).filter(([, v]) => v !== 0))).toEqual(expected)
      // The latency histogram counts the same requests as the counter, route by route.
      for (const route of routes) {
        for (const method of ['GET', 'POST']) {
          const total = families.filter((s) => s.labels.route === route && s.labels.method === method).reduce((n, s) => n + s.value, 0)
          expect({ route, method, count: sample(after, 'teamday_http_request_duration_seconds_count', { method, route: route! }) ?? 0 }).toEqual({ route, method, count: total })
        }
      }
      // Counters never went backwards between the two scrapes.
      for (const [name, f] of first) {
        if (f.type !== 'counter' && f.type !== 'histogram') continue
        for (const s of f.samples) {
          if (f.type === 'histogram' && s.name.endsWith('_sum')) continue
          const now = after.get(name)!.samples.find((n) => n.name === s.name && JSON.stringify(n.labels) === JSON.stringify(s.labels))
          expect({ series: s.name + JSON.stringify(s.labels), moved: (now?.value ?? -1) >= s.value }).toEqual({ series: s.name + JSON.stringify(s.labels), moved: true })
        }
      }
    } finally {
      t.rt.close()
    }
  })
})

describe('event loop delay', () => {
  // prom-client recorded the delays from its loading, at the first scrape: that scrape said
  // nodejs_eventloop_lag_min_seconds 9223372036.854776 (an empty histogram's minimum, 292 years)
  // and mean and stddev `Nan`, as did any scrape with no delay recorded since the one before.
  test('recorded from the first scrape, which has none (no false figure); the next covers the time since', async () => {
    // In a process of its own: the monitor is one for the process, and this one's test files
    // scrape before. Made with the server, unscraped for a while: nothing recorded (the monitor
    // wakes the process 100 times a second, and ran from start before anyone scraped).
    const script = `
      const { Metrics } = await import(${JSON.stringify(join(import.meta.dir, '../src/metrics/recorder'))})
      const { PrometheusExporter } = await import(${JSON.stringify(join(import.meta.dir, '../src/metrics/prometheus'))})
      const exporter = new PrometheusExporter(new Metrics())
      const scrapes = []
      await Bun.sleep(60)
      scrapes.push(await exporter.render())
      await Bun.sleep(60)
      scrapes.push(await exporter.render())
      scrapes.push(await exporter.render())
      process.stdout.write(JSON.stringify(scrapes))`
    const child = Bun.spawnSync([process.execPath, '-e', script], { stderr: 'pipe' })
    expect(child.stderr.toString()).toBe('')
    const [none, first, again] = JSON.parse(child.stdout.toString()) as [string, string, string]
    const names = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'].map((n) => `nodejs_eventloop_lag_${n}_seconds`)
    expect(none).not.toMatch(/ nan$/im)
    // Mostly none; a scrape that took longer than the monitor's 10 ms resolution from its start
    // (a loaded machine: seen in CI) has the delays of that time, true ones, never the empty
    // histogram's 292 years.
    for (const s of names.flatMap((name) => parseExposition(none).get(name)?.samples ?? [])) expect({ name: s.name, sane: s.value >= 0 && s.value < 60 }).toEqual({ name: s.name, sane: true })
    expect(first).not.toMatch(/ nan$/im)
    const figures = parseExposition(first)
    for (const name of names) {
      const samples = figures.get(name)!.samples
      expect({ name, samples: samples.length }).toEqual({ name, samples: 1 })
      expect({ name, sane: samples[0]!.value >= 0 && samples[0]!.value < 60 }).toEqual({ name, sane: true })
    }
    expect(sample(figures, 'nodejs_eventloop_lag_min_seconds')!).toBeLessThanOrEqual(sample(figures, 'nodejs_eventloop_lag_max_seconds')!)
    // At once again: nothing recorded since, so no figure rather than a false one.
    expect(again).not.toMatch(/ nan$/im)
    const twice = parseExposition(again)
    for (const name of names) for (const s of twice.get(name)!.samples) expect({ name, value: s.value < 60 }).toEqual({ name, value: true })
  })
})

describe('several instances on one database', () => {
  // Behind a load balancer, a scrape through it lands on any instance, and every instance's
  // figures looked alike: nothing in them said which process they were.
  test('each scrape names its instance (teamday_instance_info: instance id, version, commit); two instances never share one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'teamday-instances-'))
    const key = crypto.getRandomValues(new Uint8Array(32))
    const where = ON_PG ? { pg: await freshPgSchema() } : { dbPath: join(dir, 'shared.db') }
    const first = await makeTestApp({ ...where, key })
    const second = await makeTestApp({ ...where, key })
    try {
      const admin = await makeActor(first, { role: 'admin' })
      const info = async (t: TestApp) => {
        const res = await t.req('GET', '/metrics', { token: admin.token })
        expect(res.status).toBe(200)
        const f = parseExposition(res.text).get('teamday_instance_info')
        expect(f?.type).toBe('gauge')
        expect(f!.samples).toHaveLength(1)
        expect(f!.samples[0]!.value).toBe(1)
        return f!.samples[0]!.labels
      }
      const [a, b] = [await info(first), await info(second)]
      expect(a).toEqual({ instance_id: first.rt.engine.instanceId, version: VERSION, commit: expect.any(String) })
      expect(b).toEqual({ instance_id: second.rt.engine.instanceId, version: VERSION, commit: a.commit! })
      expect(a.instance_id).toMatch(/^inst_/)
      expect(a.instance_id).not.toBe(b.instance_id)
      // The same process says the same id at every scrape.
      expect(await info(first)).toEqual(a)
    } finally {
      await first.rt.close()
      await second.rt.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

/**
 * Two instances on one PostgreSQL whose clocks disagree (a machine whose NTP has not synced yet,
 * a VM resumed from suspend), requests alternating between them as a round-robin load balancer
 * sends them: the limits they share in the database still add up to one limit. Needs PostgreSQL
 * (test/helpers/pg.ts): skipped with one line where none answers, a failure in CI.
 *
 * Found for the clock-skew review (2026-12-07): a counter's window was written by one instance's
 * clock and judged by the other's, and a window that ended more than CLOCK_SLACK_MS (60 s) after
 * one made by the judging clock would was taken for a window made before a clock was set back and
 * restarted. With clocks 90 s apart each instance restarted the other's window at every request:
 * a token's budget, the failed-authentication budget of an address and the console's sign-in
 * throttle were never spent, however many requests or password guesses came in.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import type { Config } from '../src/config'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { consoleClient, givePassword } from './helpers/console'
import { freshPgSchema, needPostgres } from './helpers/pg'
import { THROTTLE } from '../src/console/throttle'

const HAVE_PG = await needPostgres('test/pg-clock-skew.test.ts')
const MIN = 60_000
const opened: TestApp[] = []
afterAll(async () => {
  await Promise.all(opened.map((t) => t.rt.close()))
}, 30_000)

/**
 * Two apps on one fresh PostgreSQL schema with one key, built as `teamday serve` builds an instance
 * (its time kept by the database's clock, src/db-clock.ts); B's machine clock `skewMs` behind A's.
 */
async function skewedInstances(skewMs: number, config: Partial<Config> = {}) {
  const pg = await freshPgSchema()
  const key = crypto.getRandomValues(new Uint8Array(32))
  const a = await makeTestApp({ pg, key, config, clockSource: 'database' })
  const b = await makeTestApp({ pg, key, config, clockSource: 'database' })
  b.clock.ms = a.clock.ms - skewMs
  opened.push(a, b)
  return { a, b }
}

describe.skipIf(!HAVE_PG)('instances whose clocks disagree, on one PostgreSQL', () => {
  for (const skew of [90_000, 10 * MIN]) {
    test(`a token's budget, requests alternating between instances ${skew / 1000} s apart, adds up to one limit`, async () => {
      const { a, b } = await skewedInstances(skew, { rateLimit: { limit: 6, windowMs: MIN }, userRateLimit: null })
      const m = await makeActor(a)
      const statuses: number[] = []
      for (let i = 0; i < 10; i++) statuses.push((await (i % 2 ? b : a).req('GET', '/api/v1/agents', { token: m.token })).status)
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429, 429])
      // Each refusal's Retry-After is at most a window, by the clock of the instance that answered.
      for (const t of [a, b]) {
        const r = await t.req('GET', '/api/v1/agents', { token: m.token })
        expect(r.status).toBe(429)
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0)
        expect(Number(r.headers.get('retry-after'))).toBeLessThanOrEqual(60)
      }
    }, 30_000)
  }

  test('failed authentications from one address, alternating between instances 90 s apart, are refused past the limit', async () => {
    const { a, b } = await skewedInstances(90_000, { authFailureLimit: { limit: 4, windowMs: MIN } })
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) statuses.push((await (i % 2 ? b : a).req('GET', '/api/v1/agents', { token: `td_${'x'.repeat(40)}${i}`, ip: '203.0.113.9' })).status)
    expect(statuses).toEqual([401, 401, 401, 401, 429, 429, 429, 429])
  }, 30_000)

  test("the console's sign-in throttle: wrong passwords alternating between instances 90 s apart lock the account", async () => {
    const { a, b } = await skewedInstances(90_000)
    const who = await makeActor(a)
    await givePassword(a, who.userId)
    const ca = consoleClient(a, { ip: '127.0.0.7' })
    const cb = consoleClient(b, { ip: '127.0.0.7' })
    for (let i = 0; i < THROTTLE.accountFailures; i++) expect((await (i % 2 ? cb : ca).signIn(who.email, 'wrong password ' + i)).status).toBe(422)
    // Locked on both, the right password too.
    expect((await ca.signIn(who.email)).status).toBe(429)
    expect((await cb.signIn(who.email)).status).toBe(429)
  }, 30_000)

  for (const step of [10 * MIN, -10 * MIN]) {
    test(`an instance's wall clock stepped ${step / MIN} minutes (NTP, an operator) while it runs: a spent budget stays spent until its window ends`, async () => {
      const t = await makeTestApp({ clockSource: 'database', pg: await freshPgSchema(), config: { rateLimit: { limit: 3, windowMs: MIN }, userRateLimit: null } })
      opened.push(t)
      const m = await makeActor(t)
      for (let i = 0; i < 3; i++) expect((await t.req('GET', '/api/v1/agents', { token: m.token })).status).toBe(200)
      expect((await t.req('GET', '/api/v1/agents', { token: m.token })).status).toBe(429)
      t.clock.step(step)
      const r = await t.req('GET', '/api/v1/agents', { token: m.token })
      expect(r.status).toBe(429)
      expect(Number(r.headers.get('retry-after'))).toBeLessThanOrEqual(60)
      // Time passing still counts: a window on, a fresh budget.
      t.clock.advance(MIN + 1000)
      expect((await t.req('GET', '/api/v1/agents', { token: m.token })).status).toBe(200)
    }, 30_000)
  }

  test("a start on a machine whose clock is off the database's says so in the log (clock_skew), with the offset", async () => {
    const t = await makeTestApp({ clockSource: 'database', pg: await freshPgSchema() })
    opened.push(t)
    // The test clock's day (2026-06-01) is months off the database's.
    const line = t.logs.find((l) => l.includes('clock_skew'))
    expect(line).toBeDefined()
    const offsetMs = JSON.parse(line!).offsetMs as number
    expect(Math.abs(offsetMs - (t.clock.now() - Date.now()))).toBeLessThan(10_000)
  }, 30_000)
})

/**
 * The clock of an instance on PostgreSQL (src/db-clock.ts): the database's time, followed between
 * readings by the machine's monotonic clock. No database here: the readings are given. The same
 * clock across two instances on one PostgreSQL is test/pg-clock-skew.test.ts.
 */
import { describe, expect, test } from 'bun:test'
import { DatabaseClock } from '../src/db-clock'
import { createLogger } from '../src/logger'
import { TestClock } from './helpers/app'

const DB_START = Date.parse('2026-12-07T10:00:00.000Z')

function setUp(offsetMs: number) {
  const machine = new TestClock(DB_START + offsetMs)
  let db = DB_START
  let failing = false
  const lines: string[] = []
  const log = createLogger('debug', (l) => lines.push(l), machine.now)
  const read = async () => {
    if (failing) throw new Error('connection refused')
    return db
  }
  const c = new DatabaseClock(machine, read, log)
  return {
    machine,
    c,
    lines,
    /** Time passing on both the machine and the database. */
    pass(ms: number) {
      machine.advance(ms)
      db += ms
    },
    fail(on: boolean) {
      failing = on
    },
    stepDatabase(ms: number) {
      db += ms
    },
  }
}

describe("an instance's clock on PostgreSQL: the database's", () => {
  test("it is the database's time, whatever the machine's says, and follows time passing", async () => {
    const s = setUp(-90_000)
    await s.c.sync()
    expect(s.c.now()).toBe(DB_START)
    s.pass(1_500)
    expect(s.c.now()).toBe(DB_START + 1_500)
    expect(s.c.monotonic()).toBe(s.machine.monotonic())
  })

  test("a step of the machine's wall clock (NTP, an operator) does not move it", async () => {
    const s = setUp(0)
    await s.c.sync()
    s.machine.step(3_600_000)
    expect(s.c.now()).toBe(DB_START)
    s.machine.step(-7_200_000)
    s.pass(10)
    expect(s.c.now()).toBe(DB_START + 10)
    // The next reading agrees.
    await s.c.sync()
    expect(s.c.now()).toBe(DB_START + 10)
  })

  test('a reading that fails (the database out of reach) keeps time by the last one', async () => {
    const s = setUp(0)
    await s.c.sync()
    s.fail(true)
    s.pass(60_000)
    await expect(s.c.sync()).rejects.toThrow('connection refused')
    expect(s.c.now()).toBe(DB_START + 60_000)
    // A step of the database's own clock shows at the next reading.
    s.fail(false)
    s.stepDatabase(5_000)
    await s.c.sync()
    expect(s.c.now()).toBe(DB_START + 65_000)
  })

  test('a machine off the database by more than 5 s is said once (clock_skew), again only after it was back within', async () => {
    const s = setUp(90_000)
    await s.c.sync()
    await s.c.sync()
    const skews = () => s.lines.filter((l) => l.includes('clock_skew'))
    expect(skews().length).toBe(1)
    expect(JSON.parse(skews()[0]!).offsetMs).toBe(90_000)
    s.machine.step(-90_000)
    await s.c.sync()
    expect(skews().length).toBe(1)
    s.machine.step(-30_000)
    await s.c.sync()
    expect(skews().length).toBe(2)
    expect(JSON.parse(skews()[1]!).offsetMs).toBe(-30_000)
    // Within 5 s: nothing said.
    const near = setUp(4_000)
    await near.c.sync()
    expect(near.lines.filter((l) => l.includes('clock_skew'))).toEqual([])
  })
  test("a command that runs once (the admin CLI's): one reading, its skew said at debug level, not warned", async () => {
    const machine = new TestClock(DB_START + 90_000)
    let reads = 0
    const lines: string[] = []
    const log = createLogger('debug', (l) => lines.push(l), machine.now)
    const c = new DatabaseClock(machine, async () => (reads++, DB_START), log, true)
    await c.sync()
    expect(reads).toBe(1)
    expect(c.now()).toBe(DB_START)
    const skew = lines.filter((l) => l.includes('clock_skew')).map((l) => JSON.parse(l))
    expect(skew.map((l) => l.level)).toEqual(['debug'])
    // A server's clock reads three times and warns.
    const server = setUp(90_000)
    let serverReads = 0
    const counted = new DatabaseClock(server.machine, async () => (serverReads++, DB_START), createLogger('debug', (l) => server.lines.push(l), server.machine.now))
    await counted.sync()
    expect(serverReads).toBe(3)
    expect(server.lines.filter((l) => l.includes('clock_skew')).map((l) => JSON.parse(l).level)).toEqual(['warn'])
  })
})

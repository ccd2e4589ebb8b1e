/**
 * Every file descriptor taken (open connections up to `ulimit -n`): the listener cannot accept,
 * new connections wait unanswered, and the log said nothing. The watch (src/http/descriptor-watch.ts)
 * says so once, and once more when descriptors are free again; never a line per look. The
 * compiled binary under a real limit: test/resource-limits-binary.test.ts.
 */
import { describe, expect, test } from 'bun:test'
import { descriptorState, LONGEST_WAIT_MS, nextLookMs, procDescriptors, RECOVERED, SPARE_DESCRIPTORS, watchDescriptors, type DescriptorCount } from '../src/http/descriptor-watch'

function recorder() {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = []
  return {
    lines,
    warn: (msg: string, fields: Record<string, unknown>) => void lines.push({ level: 'warn', msg, fields }),
    info: (msg: string, fields: Record<string, unknown>) => void lines.push({ level: 'info', msg, fields }),
  }
}

describe('file descriptors run out', () => {
  test('said once when they run out (or cannot even be listed), once when enough are free again; nothing at the edge in between', () => {
    const log = recorder()
    const limit = 1000
    const looks: DescriptorCount[] = [
      { open: 100, limit },
      { open: limit - SPARE_DESCRIPTORS, limit },
      { open: limit, limit },
      { open: null, limit },
      // Below the limit, not yet below RECOVERED of it: still exhausted, nothing said.
      { open: limit * RECOVERED + 1, limit },
      { open: limit * RECOVERED, limit },
      { open: 50, limit },
      { open: null, limit },
    ]
    let exhausted = false
    for (const c of looks) exhausted = descriptorState(c, exhausted, log)
    expect(log.lines.map((l) => `${l.level} ${l.msg} ${l.fields.open}`)).toEqual(['warn file_descriptors_exhausted 992', `info file_descriptors_available ${limit * RECOVERED}`, 'warn file_descriptors_exhausted 1000'])
    expect(log.lines[0]!.fields).toEqual({ open: 992, limit, note: expect.stringContaining('LimitNOFILE') })
  })

  test('an unknown limit says nothing', () => {
    const log = recorder()
    expect(descriptorState({ open: 10_000, limit: null }, false, log)).toBe(false)
    expect(log.lines).toEqual([])
  })

  test.skipIf(process.platform !== 'linux')("this process's own count and limit, from /proc (Linux)", () => {
    const count = procDescriptors()!()
    expect(count.open).toBeGreaterThan(2)
    expect(count.limit).toBeGreaterThan(count.open!)
  })

  test('the watch looks on its own, and stops', async () => {
    const log = recorder()
    let open = 10
    const stop = watchDescriptors(log, () => ({ open, limit: 16 }), 10)
    for (const end = Date.now() + 5000; log.lines.length === 0 && Date.now() < end; ) await Bun.sleep(5)
    expect(log.lines.map((l) => l.msg)).toEqual(['file_descriptors_exhausted'])
    open = 2
    for (const end = Date.now() + 5000; log.lines.length === 1 && Date.now() < end; ) await Bun.sleep(5)
    stop()
    open = 16
    await Bun.sleep(50)
    expect(log.lines.map((l) => l.msg)).toEqual(['file_descriptors_exhausted', 'file_descriptors_available'])
  })

  test('while exhausted, each look closes the idle connections (said when it closed any); not before, not after', async () => {
    const log = recorder()
    let open = 2
    const asked: number[] = []
    let closes = 0
    const stop = watchDescriptors(log, () => ({ open, limit: 16 }), 5, undefined, () => (asked.push(open), closes++ === 0 ? 3 : 0))
    await Bun.sleep(40)
    expect(asked).toEqual([])
    open = 15
    for (const end = Date.now() + 5000; asked.length < 2 && Date.now() < end; ) await Bun.sleep(5)
    open = 2
    for (const end = Date.now() + 5000; log.lines.length < 3 && Date.now() < end; ) await Bun.sleep(5)
    const seen = asked.length
    await Bun.sleep(40)
    stop()
    expect(asked.length).toBe(seen)
    expect(asked.every((n) => n === 15)).toBe(true)
    expect(log.lines.map((l) => l.msg)).toEqual(['file_descriptors_exhausted', 'idle_connections_closed', 'file_descriptors_available'])
    expect(log.lines[1]!.fields).toMatchObject({ closed: 3 })
  })

  test('a look that took long puts the next one off: the watch takes at most a thousandth of the main thread', async () => {
    const log = recorder()
    let clock = 0
    let looks = 0
    // Each look "takes" 50 ms of the injected clock: the next waits a minute (at most), not 10 ms.
    const stop = watchDescriptors(log, () => ((looks++, (clock += 50)), { open: 2, limit: 1000 }), 10, () => clock)
    await Bun.sleep(300)
    stop()
    expect(looks).toBe(1)
    // A quick look keeps the interval.
    let quick = 0
    const stop2 = watchDescriptors(log, () => ((quick++, (clock += 0.001)), { open: 2, limit: 1000 }), 10, () => clock)
    await Bun.sleep(300)
    stop2()
    expect(quick).toBeGreaterThan(5)
  })

  test('the wait after a look: the interval, a thousand times a long look, a minute at most', () => {
    expect(nextLookMs(2000, 0.5)).toBe(2000)
    expect(nextLookMs(2000, 5)).toBe(5000)
    expect(nextLookMs(2000, 30)).toBe(30_000)
    // A look that a loaded machine made long (or a process descheduled in it): a minute, not 17.
    expect(nextLookMs(2000, 1000)).toBe(LONGEST_WAIT_MS)
    expect(LONGEST_WAIT_MS).toBe(60_000)
  })
})

import { describe, expect, test } from 'bun:test'
import { retryWhileUnavailable } from '../src/db/unavailable'

/** A write that throws the given errors in turn, then answers 'done'. */
function failing(...errors: unknown[]) {
  let calls = 0
  return {
    write: async () => {
      const e = errors[calls++]
      if (e !== undefined) throw e
      return 'done'
    },
    calls: () => calls,
  }
}
const coded = (code: string, cause?: unknown) => Object.assign(new Error(code), { code, ...(cause ? { cause } : {}) })

describe('retryWhileUnavailable: a write tried again while the database cannot take it', () => {
  test('a refused connection, a busy SQLite file and a PostgreSQL restart (wrapped by drizzle) are waited out', async () => {
    const w = failing(coded('ECONNREFUSED'), coded('SQLITE_BUSY'), new Error('Failed query', { cause: coded('57P01') }))
    const seen: number[] = []
    expect(await retryWhileUnavailable(w.write, 5000, (_e, attempt) => seen.push(attempt))).toBe('done')
    expect(w.calls()).toBe(4)
    expect(seen).toEqual([1, 2, 3])
  })

  test('any other error is thrown at once: a constraint, a bug, a closed pool, a moved file', async () => {
    for (const e of [coded('23505'), new TypeError('x is undefined'), coded('CONNECTION_ENDED'), coded('SQLITE_READONLY_DBMOVED')]) {
      const w = failing(e)
      expect(await retryWhileUnavailable(w.write, 5000).catch((thrown) => thrown)).toBe(e)
      expect(w.calls()).toBe(1)
    }
  })

  test('past its window it throws the last error, without a pause that would overrun the window', async () => {
    const errors = Array.from({ length: 50 }, () => coded('ECONNRESET'))
    const w = failing(...errors)
    const thrown = await retryWhileUnavailable(w.write, 400).catch((e) => e)
    // Pauses of 50, 100 and 200 ms fit in 400 ms; the next (400) would not. A loaded machine
    // firing timers late may stop one attempt earlier, never later.
    expect(w.calls()).toBeGreaterThanOrEqual(3)
    expect(w.calls()).toBeLessThanOrEqual(4)
    expect(thrown).toBe(errors[w.calls() - 1])
  })
})

import { describe, expect, test } from 'bun:test'
import { defaultDbPool, loadConfig } from '../src/config'

describe('TEAMDAY_DB_POOL default', () => {
  test('twice the cores plus one, at most 10: a small machine no longer opens more connections than PostgreSQL has cores to run', () => {
    expect([0, 1, 2, 3, 4, 5, 8, 64].map(defaultDbPool)).toEqual([3, 3, 5, 7, 9, 10, 10, 10])
    // Whatever the runtime reports (a fraction or nothing) still gives a usable pool.
    expect(defaultDbPool(Number.NaN)).toBe(3)
    expect(defaultDbPool(2.5)).toBe(5)
  })

  test('unset: from the cores this process may run on; set: as given, within 1-1000', () => {
    expect(loadConfig({}).dbPool).toBe(defaultDbPool(navigator.hardwareConcurrency))
    expect(loadConfig({ TEAMDAY_DB_POOL: '' }).dbPool).toBe(defaultDbPool(navigator.hardwareConcurrency))
    expect(loadConfig({ TEAMDAY_DB_POOL: '20' }).dbPool).toBe(20)
    expect(() => loadConfig({ TEAMDAY_DB_POOL: '0' })).toThrow('TEAMDAY_DB_POOL must be an integer 1-1000 (got "0")')
  })
})

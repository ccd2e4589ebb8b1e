/**
 * postgres-js 3.4.9 cancels a closed connection's pending write without forgetting it: a
 * connection closed while a query waited for its write (a backend terminated, a reset) could
 * never send its login again, and every later use of it waited connect_timeout and failed
 * CONNECT_TIMEOUT for the life of the process (bench/pg-reconnect.ts: 0 of 3 rounds recovered;
 * with the fix 2 of 3, the third stalled another way, noted in README). The fix is
 * patches/postgres+3.4.9.patch, applied by `npm install` (patch-package, postinstall); the
 * binary bundles the driver from node_modules. This checks that the driver every entry point
 * loads (Bun's export condition and the CommonJS one) carries it.
 */
import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

const root = dirname(require.resolve('postgres/package.json'))

describe('postgres-js carries the pending-write fix (patches/)', () => {
  test('the version the patch is for', () => {
    expect(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version).toBe('3.4.9')
  })
  for (const file of ['src/connection.js', 'cjs/src/connection.js']) {
    test(`${file}: terminate() and closed() forget the pending write`, () => {
      const source = readFileSync(join(root, file), 'utf8')
      for (const fn of ['function terminate()', 'async function closed(hadError)']) {
        const body = source.slice(source.indexOf(fn), source.indexOf('\n  }\n', source.indexOf(fn)))
        expect({ fn, cleared: body.includes('clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null') }).toEqual({ fn, cleared: true })
      }
    })
  }
})

import { describe, expect, test } from 'bun:test'
import { checksum, holdsSecret, redactPrefixed, redactSecrets, withoutSecrets } from '../src/auth/token-text'
import { randomBase62 } from '../src/auth/random'

// The search for secrets in text (src/auth/token-text.ts), without an app: its edges and its cost.

const body = () => {
  const random = randomBase62(37)
  return random + checksum(random)
}

describe('cost', () => {
  test('withoutSecrets: many bare token bodies in one text, one pass (not one rescan from the start per body)', () => {
    const bodies = Array.from({ length: 24_000 }, body)
    const text = bodies.join(' ')
    const start = performance.now()
    const out = withoutSecrets(text)
    const took = performance.now() - start
    expect(out).toBe(bodies.map(() => '…[redacted]').join(' '))
    // ~1 MiB: tens of ms in one pass; rescanning from the start after each body took 13-20 s.
    expect(took).toBeLessThan(4000)
    expect(redactSecrets({ line: `a ${bodies[0]} b ${bodies[1]}` })).toEqual({ line: 'a …[redacted] b …[redacted]' })
  })
})

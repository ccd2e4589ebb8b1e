import { describe, expect, test } from 'bun:test'
import { checksum, checksumMatchesAt, holdsSecret, redactPrefixed, redactSecrets, withoutSecrets } from '../src/auth/token-text'
import { randomBase62 } from '../src/auth/random'

// The search for secrets in text (src/auth/token-text.ts), without an app: its edges and its cost.

const body = () => {
  const random = randomBase62(37)
  return random + checksum(random)
}

describe('a near miss whose wrong character is outside the BMP (two UTF-16 code units)', () => {
  const chars = ['😀', '𝒜', '\u{10FFFF}']
  test('counts as one character wrong: refused where stored, redacted where quoted, at every position', () => {
    for (let round = 0; round < 3; round++) {
      const b = body()
      for (let j = 0; j < 43; j++) {
        const wrong = chars[(round + j) % chars.length]!
        const text = `name: td_${b.slice(0, j)}${wrong}${b.slice(j + 1)} end`
        expect({ j, held: holdsSecret(text) }).toEqual({ j, held: true })
        // Nothing of the secret survives next to the prefix: neither the characters before the
        // wrong one nor those after it, nor half of the pair. (The wrong one in last place stays,
        // as a wrong BMP character there does: a copy cut at 42, it tells nothing.)
        const want = `name: td_…[redacted]${j === 42 ? wrong : ''} end`
        expect({ j, out: redactPrefixed(text) }).toEqual({ j, out: want })
        expect(withoutSecrets(text)).toBe(want)
      }
    }
  })

  test('a look-alike with one stays ordinary text', () => {
    for (let k = 0; k < 200; k++) {
      const text = `td_${randomBase62(10)}😀${randomBase62(32)}`
      expect(holdsSecret(text)).toBe(false)
      expect(redactPrefixed(text)).toBe(text)
    }
  })
})

describe('checksumMatchesAt (the check of every authenticated request)', () => {
  test('agrees with checksum() on real bodies, on every one-character change, and at any offset', () => {
    for (let i = 0; i < 300; i++) {
      const b = body()
      for (const [prefix, s] of [['', b], ['td_', `td_${b}`], ['tdo_', `tdo_${b}`]] as const) expect(checksumMatchesAt(s, prefix.length)).toBe(true)
      const at = i % 43
      const changed = b.slice(0, at) + (b[at] === 'z' ? 'y' : 'z') + b.slice(at + 1)
      expect(checksumMatchesAt(`td_${changed}`, 3)).toBe(checksum(changed.slice(0, 37)) === changed.slice(37))
    }
  })
})

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

describe('a refused console form shows its field again (echoed): a secret across the cut', () => {
  test('a token body or a near miss cut by the length limit is not shown', async () => {
    const { echoed } = await import('../src/console/form')
    for (let k = 0; k < 20; k++) {
      const b = body()
      for (const cut of [37, 40, 42]) {
        // A token's 43 characters without their prefix, the cut leaving 37 to 42 of them.
        const bare = `${'x '.repeat(400)}${b} and more`
        const atBare = bare.indexOf(b)
        const shownBare = echoed(bare, atBare + cut)
        expect(shownBare.includes(b.slice(0, 37))).toBe(false)
        // A near miss whose wrong character (punctuation) comes early: `td_Ab.…`.
        const near = `${'y '.repeat(400)}td_${b.slice(0, 2)}.${b.slice(3)} and more`
        const atNear = near.indexOf('td_') + 3
        const shownNear = echoed(near, atNear + cut)
        expect(shownNear.includes(b.slice(3, 37))).toBe(false)
      }
      // Redactions before the cut shorten the text and bring later characters under it: two
      // prefixed tokens (46 characters each, 14 redacted) moved a body cut at 41 by a fixed
      // window (37 random characters and 4 of the checksum) into the part shown.
      const token = () => `td_${body()}`
      const shifted = `${token()} ${token()} ${'w'.repeat(1000 - 95 + 23)}.${b} tail`
      expect(echoed(shifted, 1000).includes(b.slice(0, 37))).toBe(false)
      // Text without a secret comes back as typed, cut at max.
      expect(echoed(`${'z '.repeat(600)}`, 1000)).toBe('z '.repeat(500))
    }
  })
})

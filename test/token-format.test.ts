import { describe, expect, test } from 'bun:test'
import { checkTokenFormat, checksum, generateToken, hashToken, maskFromHint, TOKEN_SCAN_REGEX, tokenHint } from '../src/auth/tokens'

describe('token format', () => {
  test('10 000 generated tokens are unique, td_ + 43 alphanumerics, and pass the format check', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 10_000; i++) {
      const tok = generateToken()
      expect(tok.length).toBe(46)
      if (!/^td_[A-Za-z0-9]{43}$/.test(tok)) throw new Error(`bad token shape: ${tok}`)
      if (checkTokenFormat(tok) !== null) throw new Error(`generated token fails its own check: ${tok}`)
      seen.add(tok)
    }
    expect(seen.size).toBe(10_000)
  })

  test('characters are spread over the whole base62 alphabet', () => {
    const counts = new Map<string, number>()
    for (let i = 0; i < 2000; i++) for (const c of generateToken().slice(3, 40)) counts.set(c, (counts.get(c) ?? 0) + 1)
    expect(counts.size).toBe(62)
    const expected = (2000 * 37) / 62
    for (const n of counts.values()) expect(Math.abs(n - expected) / expected).toBeLessThan(0.25)
  })

  test('the last 6 characters are the base62 CRC32 of the first 37', () => {
    const tok = generateToken()
    expect(tok.slice(40)).toBe(checksum(tok.slice(3, 40)))
    expect(checksum('a')).toMatch(/^[A-Za-z0-9]{6}$/)
  })

  test('any one-character typo in the body is caught by the checksum', () => {
    const tok = generateToken()
    for (let i = 3; i < tok.length; i++) {
      const c = tok[i] === 'x' ? 'y' : 'x'
      const typo = tok.slice(0, i) + c + tok.slice(i + 1)
      expect(checkTokenFormat(typo)).toBe('checksum_mismatch')
    }
  })

  test('shape problems are told apart', () => {
    const tok = generateToken()
    expect(checkTokenFormat(tok.slice(3))).toBe('missing_prefix')
    expect(checkTokenFormat('TD_' + tok.slice(3))).toBe('missing_prefix')
    expect(checkTokenFormat(tok.slice(0, -1))).toBe('wrong_length')
    expect(checkTokenFormat(tok + 'a')).toBe('wrong_length')
    expect(checkTokenFormat(tok.slice(0, -1) + '+')).toBe('invalid_characters')
    // The documented base64url shape passes the shape check, then fails the checksum.
    expect(checkTokenFormat('td_' + '_'.repeat(43))).toBe('checksum_mismatch')
  })

  test('SHA-256 hex of the whole token; hint and mask', () => {
    const tok = generateToken()
    expect(hashToken(tok)).toMatch(/^[0-9a-f]{64}$/)
    expect(hashToken(tok)).toBe(new Bun.CryptoHasher('sha256').update(tok).digest('hex'))
    expect(tokenHint(tok)).toBe(tok.slice(3, 7) + tok.slice(-4))
    expect(maskFromHint(tokenHint(tok))).toBe(`td_${tok.slice(3, 7)}…${tok.slice(-4)}`)
  })

  test('the secret-scanner regex finds a token in text', () => {
    const tok = generateToken()
    expect(TOKEN_SCAN_REGEX.exec(`export TEAMDAY_TOKEN="${tok}"`)?.[0]).toBe(tok)
  })
})

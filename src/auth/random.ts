import { randomBytes } from 'node:crypto'

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

/**
 * n characters drawn uniformly from [0-9A-Za-z] with the OS CSPRNG.
 * Rejection sampling (bytes >= 248 are dropped) keeps every character equally likely.
 */
export function randomBase62(n: number): string {
  let out = ''
  while (out.length < n) {
    const buf = randomBytes(Math.ceil((n - out.length) * 1.1) + 4)
    for (let i = 0; i < buf.length && out.length < n; i++) {
      const b = buf[i]!
      if (b < 248) out += BASE62[b % 62]
    }
  }
  return out
}

import { randomFillSync } from 'node:crypto'

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

// Bytes from the OS CSPRNG, drawn 4 KiB at a time: one system call serves many ids (every
// request gets a request id), the way Node's randomUUID caches its entropy. Each byte is used once.
const pool = Buffer.alloc(4096)
let next = pool.length

function randomByte(): number {
  if (next === pool.length) {
    randomFillSync(pool)
    next = 0
  }
  return pool[next++]!
}

/**
 * n characters drawn uniformly from [0-9A-Za-z] with the OS CSPRNG.
 * Rejection sampling (bytes >= 248 are dropped) keeps every character equally likely.
 */
export function randomBase62(n: number): string {
  let out = ''
  while (out.length < n) {
    const b = randomByte()
    if (b < 248) out += BASE62[b % 62]
  }
  return out
}

import { randomFillSync } from 'node:crypto'
import { BASE62 } from './token-text'

export { BASE62 }

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
  // Character codes written into a buffer, decoded once (cheaper than n string concatenations:
  // every request id is one).
  const out = n <= scratch.length ? scratch : Buffer.alloc(n)
  let i = 0
  while (i < n) {
    const b = randomByte()
    if (b < 248) out[i++] = CODES[b % 62]!
  }
  return out.toString('latin1', 0, n)
}

const CODES = Uint8Array.from(BASE62, (c) => c.charCodeAt(0))
const scratch = Buffer.alloc(64)

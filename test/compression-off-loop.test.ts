import { beforeAll, expect, test } from 'bun:test'
import { executions } from '../src/db/schema'
import { OFF_LOOP_FROM_BYTES } from '../src/http/compression'
import { newId } from '../src/ids'
import { insertWriter, makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

/**
 * A large JSON answer (an execution holding a model's 1.9 MB answer, read back: about 4 MB of
 * JSON) is compressed on the thread pool, not on the event loop: gzip of it at once held every
 * other request for 40-100 ms (text that compresses as poorly as a real answer's).
 *
 * Checked by what compresses it, not by the time the loop was held: the synchronous compressors
 * (Bun.gzipSync, Bun.zstdCompressSync: on the loop) are counted while the answer is made, and a
 * smaller answer, compressed on the loop by design, shows that the count sees them. The timed
 * form of this test (the loop's longest block with gzip against without) failed on a CI run at
 * load average 10-15 (175 against 52 ms): the machine's, not the server's. Times belong to
 * bench/ (bench/large-answer.ts measures the loop's longest blocks around large answers).
 */

let t: TestApp
let a: Actor
let id = ''
let small = ''
// Text that compresses about as poorly as prose: base64 of random bytes, in lines.
const answer = Array.from({ length: 1900 }, () => Buffer.from(crypto.getRandomValues(new Uint8Array(768))).toString('base64')).join('\n')

beforeAll(async () => {
  t = await makeTestApp()
  a = await makeActor(t)
  const agentId = await insertWriter(t, a)
  const now = new Date(t.clock.now())
  id = newId('exec')
  const chat = newId('exec')
  await t.db.insert(executions).values({
    id, organizationId: a.organizationId, userId: a.userId, agentId, agentName: 'Writer', agentVisibility: 'organization', chatId: chat, sessionId: chat,
    status: 'completed', message: 'Write', result: answer,
    messages: [{ role: 'user', content: 'Write', timestamp: now.toISOString() }, { role: 'assistant', content: answer, timestamp: now.toISOString() }],
    createdAt: now, updatedAt: now,
  })
  // One whose JSON is under OFF_LOOP_FROM_BYTES: compressed on the loop (it takes well under a millisecond).
  small = newId('exec')
  const part = answer.slice(0, 60_000)
  await t.db.insert(executions).values({
    id: small, organizationId: a.organizationId, userId: a.userId, agentId, agentName: 'Writer', agentVisibility: 'organization', chatId: chat, sessionId: chat,
    status: 'completed', message: 'Write', result: part,
    messages: [{ role: 'user', content: 'Write', timestamp: now.toISOString() }, { role: 'assistant', content: part, timestamp: now.toISOString() }],
    createdAt: now, updatedAt: now,
  })
})

const read = (coding?: string, of = id) => t.app.handle(new Request(`http://localhost/api/v1/executions/${of}`, { headers: { authorization: `Bearer ${a.token}`, ...(coding && { 'accept-encoding': coding }) } }))

/** How many times the synchronous compressors ran while `f` did (each wrapped, then put back). */
async function syncCompressions(f: () => Promise<unknown>): Promise<number> {
  const bun = Bun as unknown as Record<'gzipSync' | 'zstdCompressSync', (...a: unknown[]) => unknown>
  const gzipSync = bun.gzipSync
  const zstdSync = bun.zstdCompressSync
  let n = 0
  bun.gzipSync = (...a) => (n++, gzipSync(...a))
  bun.zstdCompressSync = (...a) => (n++, zstdSync(...a))
  try {
    await f()
  } finally {
    bun.gzipSync = gzipSync
    bun.zstdCompressSync = zstdSync
  }
  return n
}

for (const coding of ['gzip', 'zstd'] as const) {
  test(`an execution of ${(answer.length / 1e6).toFixed(1)} MB read back with ${coding}: the same JSON, compressed off the event loop`, async () => {
    const plain = await (await read()).text()
    expect(plain.length).toBeGreaterThan(OFF_LOOP_FROM_BYTES)
    let res!: Response
    const onLoop = await syncCompressions(async () => {
      res = await read(coding)
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-encoding')).toBe(coding)
    expect(res.headers.get('vary')).toContain('accept-encoding')
    const bytes = new Uint8Array(await res.arrayBuffer())
    const text = coding === 'gzip' ? Bun.gunzipSync(bytes) : Bun.zstdDecompressSync(bytes)
    expect(new TextDecoder().decode(text)).toBe(plain)
    // Compressed, and by none of the compressors that run on the loop.
    expect(onLoop).toBe(0)
    // The count sees them: a smaller answer is compressed on the loop, as it should be.
    let smaller!: Response
    const smallOnLoop = await syncCompressions(async () => {
      smaller = await read(coding, small)
    })
    expect(smaller.headers.get('content-encoding')).toBe(coding)
    expect(Buffer.byteLength(await (await read(undefined, small)).text())).toBeLessThan(OFF_LOOP_FROM_BYTES)
    expect(smallOnLoop).toBe(1)
  })
}

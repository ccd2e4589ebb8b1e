import { beforeAll, describe, expect, test } from 'bun:test'
import { AppError } from '../src/errors'
import { BODY_BYTES_PER_SENDER, BODY_STREAMS_PER_SENDER, IncomingBodies } from '../src/http/incoming-bodies'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

/**
 * Request bodies still arriving hold memory (src/http/incoming-bodies.ts): bounded per sender and
 * in all. Before, one token held ~1 MiB per connection for as long as its body kept trickling in
 * (200 connections: 81 → 309 MB RSS of the binary), with nothing but the descriptor limit to stop more.
 */

describe('IncomingBodies', () => {
  const req = () => new Request('http://localhost/x', { method: 'POST' })

  test("a sender past its share is refused 429; another sender still goes; what is given back is counted no more", () => {
    const b = new IncomingBodies(100, 1000)
    const [r1, r2, r3] = [req(), req(), req()]
    const end1 = b.begin(r1, 'a')
    const end2 = b.begin(r2, 'a')
    b.arrived(r1, 60)
    expect(() => b.arrived(r2, 41)).toThrow(AppError)
    try {
      b.arrived(r2, 41)
    } catch (e) {
      expect((e as AppError).status).toBe(429)
      expect((e as AppError).code).toBe('rate_limited')
    }
    b.arrived(r2, 40)
    const end3 = b.begin(r3, 'b')
    b.arrived(r3, 100)
    expect([b.holding('a'), b.holding('b'), b.holding()]).toEqual([100, 100, 200])
    end1()
    end1()
    expect([b.holding('a'), b.holding()]).toEqual([40, 140])
    b.arrived(r2, 60)
    end2()
    end3()
    // Nothing kept per sender once its bodies are in: the table is as big as the uploads under way.
    expect([b.holding(), b.senders]).toEqual([0, 0])
  })

  test('all senders together past the total: 503', () => {
    const b = new IncomingBodies(100, 150)
    const senders = ['a', 'b'].map((s) => {
      const r = req()
      b.begin(r, s)
      return r
    })
    b.arrived(senders[0]!, 100)
    let caught: unknown
    try {
      b.arrived(senders[1]!, 51)
    } catch (e) {
      caught = e
    }
    expect((caught as AppError).status).toBe(503)
    expect(b.holding()).toBe(100)
  })

  test('bodies arriving a byte at a time: at most streamsPerSender of one sender, whatever their bytes', () => {
    const b = new IncomingBodies(1000, 1000, 2)
    const rs = [req(), req(), req()]
    const ends = rs.map((r) => b.begin(r, 'a'))
    b.arrived(rs[0]!, 1)
    b.arrived(rs[1]!, 1)
    b.arrived(rs[1]!, 1)
    let caught: unknown
    try {
      b.arrived(rs[2]!, 1)
    } catch (e) {
      caught = e
    }
    expect((caught as AppError).code).toBe('rate_limited')
    expect([b.streams('a'), b.holding('a')]).toEqual([2, 3])
    ends[0]!()
    b.arrived(rs[2]!, 1)
    for (const end of ends) end()
    expect([b.streams('a'), b.holding(), b.senders]).toEqual([0, 0, 0])
  })

  test('a request not begun (a body the app does not count) is not counted', () => {
    const b = new IncomingBodies(10, 10)
    b.arrived(req(), 1000)
    expect(b.holding()).toBe(0)
  })
})

describe('bodies held back by their client, through HTTP', () => {
  let t: TestApp
  let admin: Actor
  let other: Actor
  beforeAll(async () => {
    t = await makeTestApp()
    admin = await makeActor(t, { role: 'admin' })
    other = await makeActor(t, { role: 'member', org: admin.orgSlug })
  })

  const LENGTH = 1_000_000
  const CHUNK = 64 * 1024
  /** A JSON body declaring LENGTH bytes that sends all but the last 4 KiB and then waits until `finish()` (which ends it short). */
  function heldBody() {
    const text = `{"title":"held","description":"${'a'.repeat(LENGTH - 40)}"}`
    const bytes = new TextEncoder().encode(text)
    const stopAt = LENGTH - 4096
    let sent = 0
    let reached!: () => void
    const all = new Promise<void>((resolve) => (reached = resolve))
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(c) {
          if (sent >= stopAt) {
            reached()
            await released
            c.close()
            return
          }
          const n = Math.min(CHUNK, stopAt - sent)
          c.enqueue(bytes.subarray(sent, sent + n))
          sent += n
        },
      },
      { highWaterMark: 0 },
    )
    return { body, all, finish: release, sentBytes: () => sent }
  }

  function post(token: string, body: ReadableStream<Uint8Array>, length = LENGTH) {
    return t.app.handle(
      new Request('http://localhost/api/v1/tasks', {
        method: 'POST',
        body,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(length) },
      }),
    )
  }

  /** A body declaring 100,000 bytes that sends one and then waits until `finish()` (which ends it short). */
  function trickle() {
    let sent = false
    let reached!: () => void
    const all = new Promise<void>((resolve) => (reached = resolve))
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(c) {
          if (!sent) {
            sent = true
            c.enqueue(new TextEncoder().encode('{'))
            return
          }
          reached()
          await released
          c.close()
        },
      },
      { highWaterMark: 0 },
    )
    return { body, all, finish: release }
  }

  test('bodies trickling a byte at a time hold a connection each: at most BODY_STREAMS_PER_SENDER of one user at once, the next refused 429', async () => {
    const bodies = Array.from({ length: BODY_STREAMS_PER_SENDER }, trickle)
    const answers = bodies.map((b) => post(admin.token, b.body, 100_000))
    await Promise.all(bodies.map((b) => b.all))
    const more = trickle()
    const refused = await post(admin.token, more.body, 100_000)
    expect({ status: refused.status, code: ((await refused.json()) as { code: string }).code }).toEqual({ status: 429, code: 'rate_limited' })
    expect(refused.headers.get('connection')).toBe('close')
    for (const b of bodies) b.finish()
    for (const a of await Promise.all(answers)) expect(a.status).toBe(400)
    const again = trickle()
    const answer = post(admin.token, again.body, 100_000)
    await again.all
    again.finish()
    expect((await answer).status).toBe(400)
  }, 30_000)

  test("one user's bodies held back take at most their share: the next is refused 429 and its body left unread; another user's goes on; once given back, the user may send again", async () => {
    const held = Math.floor(BODY_BYTES_PER_SENDER / (LENGTH - 4096))
    const bodies = Array.from({ length: held }, heldBody)
    const answers = bodies.map((b) => post(admin.token, b.body))
    await Promise.all(bodies.map((b) => b.all))

    const more = heldBody()
    const refused = await post(admin.token, more.body)
    const json = (await refused.json()) as { code: string; message: string }
    expect({ status: refused.status, code: json.code }).toEqual({ status: 429, code: 'rate_limited' })
    expect(refused.headers.get('retry-after')).toBe('5')
    // Its connection closes with the answer: a client still sending kept it as long as it went on.
    expect(refused.headers.get('connection')).toBe('close')
    expect(more.sentBytes()).toBeLessThan(LENGTH - 4096)

    // Another user of the same organization is not held up by them.
    const theirs = heldBody()
    const theirAnswer = post(other.token, theirs.body)
    await theirs.all
    theirs.finish()
    expect((await theirAnswer).status).toBe(400) // cut short: invalid JSON, not a refusal for memory

    for (const b of bodies) b.finish()
    for (const a of await Promise.all(answers)) expect(a.status).toBe(400)

    const again = heldBody()
    const answer = post(admin.token, again.body)
    await again.all
    again.finish()
    expect((await answer).status).toBe(400)
  }, 30_000)
})

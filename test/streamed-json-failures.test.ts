// A large list page (src/http/streamed-json.ts) is read from the database a batch at a time as the
// client reads it. When it ends early (its token revoked, its user removed or their role changed
// while it is sent, a batch's read failing), it must not end as a complete answer does: the last
// chunk (`0\r\n\r\n`) never comes, the connection is reset, so fetch rejects and curl exits
// non-zero instead of handing over a prefix that may happen to parse; compressed or not. And the
// server's log says why (`answer_ended_early`), never with the token. Over a real listening
// server, on either backend.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { memberships, tasks } from '../src/db/schema'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { ON_PG } from './helpers/pg'
import { readPaused, type PausedRead } from './helpers/raw-page'
import { until } from './helpers/scripted-provider'

let t: TestApp
let owner: Actor
let port: number
type Listening = { listen(o: object): unknown; stop(): Promise<unknown>; server: { port: number } | null }

const letters = (n: number, seed: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(97 + ((i * 7 + seed) % 26))).join('')

beforeAll(async () => {
  t = await makeTestApp()
  owner = await makeActor(t, { role: 'admin', org: 'pages' })
  // 200 tasks of about 186 KB of JSON each (a description of control characters, six bytes each
  // in JSON, and 64 KiB of metadata): a page of 37 MB, more than any kernel buffers between the
  // two ends, so most of it is still to be read from the database when the page is cut.
  const start = t.clock.now() - 1_000_000
  for (let i = 0; i < 200; i++) {
    const created = new Date(start + i * 1000)
    await t.db.insert(tasks).values({ id: newId('task'), organizationId: owner.organizationId, createdBy: owner.userId, title: `Task ${i}`, description: '\u0001'.repeat(20_000), metadata: { notes: letters(65_000, i) }, createdAt: created, updatedAt: created })
  }
  const app = t.app as unknown as Listening
  app.listen({ hostname: '127.0.0.1', port: 0 })
  port = app.server!.port
}, 120_000)

afterAll(async () => {
  await (t.app as unknown as Listening).stop()
})

/**
 * GET `path` over a raw socket; once the first bytes came, the reader pauses (the server can send
 * no more than the kernel buffers), `meanwhile` runs and the watch over open requests is asked,
 * then it reads to the end (`watch`: once the watch has ended this request, the requests it
 * holds one fewer).
 */
function cut(path: string, token: string, headers: Record<string, string>, meanwhile: (() => Promise<unknown>) | null, watch = true): Promise<PausedRead> {
  return readPaused(port, path, token, {
    headers,
    meanwhile: async () => {
      const watched = t.rt.revocations.size
      if (!meanwhile) return
      await meanwhile()
      if (!watch) return
      // The watch's next tick (about a second), asked now too; it may be under way already.
      await t.rt.revocations.check()
      await until(() => t.rt.revocations.size < watched, 15_000)
    },
  })
}

/** The warning lines of answers ended early, parsed. */
const endedEarly = () => t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'answer_ended_early')

const PAGE = '/api/v1/tasks?limit=200'

describe('a large page that ends early is a failed transfer, and the log says why', () => {
  test('a whole page ends with its last chunk (what a cut one must not look like)', async () => {
    const whole = await cut(PAGE, owner.token, {}, null)
    expect(whole.how).toBe('end')
    expect(whole.terminated).toBe(true)
    expect(whole.raw.length).toBeGreaterThan(30 << 20)
  }, 60_000)

  for (const coding of ['identity', 'gzip', 'zstd']) {
    test(`its token revoked meanwhile (${coding}): reset without the last chunk; logged as token_revoked, without the token`, async () => {
      const x = await makeToken(t, owner, { name: `reader ${coding}` })
      const before = endedEarly().length
      const r = await cut(PAGE, x.token, { 'accept-encoding': coding }, () => t.req('DELETE', `/api/v1/tokens/${x.id}`, { token: owner.token }))
      expect(r.how).toBe('reset')
      expect(r.terminated).toBe(false)
      if (coding !== 'identity') expect(r.raw.toString('latin1').toLowerCase()).toContain(`content-encoding: ${coding}`)
      const lines = endedEarly().slice(before)
      expect(lines.map((l) => [l.path, l.reason.split(':')[0]])).toEqual([[PAGE, 'token_revoked']])
      expect(JSON.stringify(lines)).not.toContain(x.token)
      expect(t.logs.some((l) => l.includes(x.token))).toBe(false)
    }, 60_000)
  }

  test("its user's role changed meanwhile (the page was chosen for an admin): access_changed", async () => {
    const admin = await makeActor(t, { role: 'admin', org: 'pages' })
    const before = endedEarly().length
    const r = await cut(PAGE, admin.token, {}, () => t.req('PATCH', `/api/v1/organizations/${owner.organizationId}/members/${admin.userId}`, { token: owner.token, body: { role: 'member' } }))
    expect([r.how, r.terminated]).toEqual(['reset', false])
    expect(endedEarly().slice(before).map((l) => l.reason.split(':')[0])).toEqual(['access_changed'])
  }, 60_000)

  test('its user no longer a member (the membership gone, the token not revoked): membership_revoked', async () => {
    const m = await makeActor(t, { role: 'member', org: 'pages' })
    const before = endedEarly().length
    const r = await cut(PAGE, m.token, {}, async () => {
      await t.db.delete(memberships).where(and(eq(memberships.organizationId, m.organizationId), eq(memberships.userId, m.userId)))
    })
    expect([r.how, r.terminated]).toEqual(['reset', false])
    expect(endedEarly().slice(before).map((l) => l.reason.split(':')[0])).toEqual(['membership_revoked'])
  }, 60_000)

  test('a batch whose read fails (its table gone meanwhile): reset without the last chunk; logged with the error', async () => {
    const before = endedEarly().length
    const rename = async (from: string, to: string) => {
      if (ON_PG) await (t.db.$client as unknown as { unsafe(q: string): Promise<unknown> }).unsafe(`ALTER TABLE ${from} RENAME TO ${to}`)
      else (t.db.$client as unknown as { exec(q: string): void }).exec(`ALTER TABLE ${from} RENAME TO ${to}`)
    }
    let r: PausedRead
    try {
      // Nothing to wait for from the watch: the next batch's read fails.
      r = await cut(PAGE, owner.token, { 'accept-encoding': 'gzip' }, () => rename('tasks', 'tasks_away'), false)
    } finally {
      await rename('tasks_away', 'tasks')
    }
    expect([r.how, r.terminated]).toEqual(['reset', false])
    const lines = endedEarly().slice(before)
    expect(lines.map((l) => l.reason.split(':')[0])).toEqual(['error'])
    expect(lines[0].reason).toContain('tasks')
    // The list is whole again once the table is back.
    expect((await cut(PAGE, owner.token, {}, null)).terminated).toBe(true)
  }, 60_000)
})

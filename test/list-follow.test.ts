import { expect, test } from 'bun:test'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { ON_PG } from './helpers/pg'

/**
 * A script that follows a list ("everything new since my last run") while others write to it, as
 * README "Paging lists" tells it to: each run walks from the first page down to OVERLAP before the
 * newest createdAt it has seen, and skips the ids it has already seen in that window. A row's
 * createdAt is taken before its write commits, and rows of one millisecond are ordered by id: a
 * follower that stopped at the newest row it had seen missed 29-32 of 360 tasks on PostgreSQL made
 * by single statements, 15 with half of them transactions (README "Paging lists"). With the
 * overlap it misses none and sees none twice, on either backend and, on PostgreSQL, with writes
 * through two instances.
 */

const OVERLAP_MS = 10_000

interface Position {
  t: number
  id: string
}

/** The follower of README "Paging lists": what it has delivered, and where its window starts. */
class Follower {
  newest: number | null = null
  /** Ids delivered whose createdAt is within OVERLAP_MS of `newest`. */
  recent = new Map<string, number>()
  delivered: string[] = []

  constructor(
    private readonly t: TestApp,
    private readonly token: string,
  ) {}

  async run(): Promise<void> {
    const stop = this.newest === null ? null : this.newest - OVERLAP_MS
    let cursor: string | null = ''
    walk: for (;;) {
      const r = await this.t.req('GET', `/api/v1/tasks?limit=50${cursor ? `&cursor=${cursor}` : ''}`, { token: this.token })
      expect(r.status).toBe(200)
      for (const row of r.body as { id: string; createdAt: string }[]) {
        const p: Position = { t: Date.parse(row.createdAt), id: row.id }
        if (stop !== null && p.t < stop) break walk
        if (this.recent.has(p.id)) continue
        this.delivered.push(p.id)
        this.recent.set(p.id, p.t)
        if (this.newest === null || p.t > this.newest) this.newest = p.t
      }
      cursor = r.headers.get('x-next-cursor')
      if (!cursor) break
    }
    if (this.newest !== null) for (const [id, at] of this.recent) if (at < this.newest - OVERLAP_MS) this.recent.delete(id)
  }
}

async function followWhileWriting(instances: TestApp[]) {
  const [t] = instances as [TestApp]
  // Time passes as it does in a server: rows of a burst land on many milliseconds, some on the same.
  for (const i of instances) i.clock.now = () => Date.now()
  const admin = await makeActor(t, { role: 'admin' })
  const space = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Follow' } })
  expect(space.status).toBe(201)
  const created: string[] = []
  // Both kinds of write: one naming a space runs in a transaction (its checks), one naming none is
  // a single statement outside any.
  const writer = async (w: number) => {
    const on = instances[w % instances.length]!
    for (let i = 0; i < 60; i++) {
      const body = w % 2 === 0 ? { title: `w${w} ${i}`, spaceId: space.body.space.id } : { title: `w${w} ${i}` }
      const r = await on.req('POST', '/api/v1/tasks', { token: admin.token, body })
      expect(r.status).toBe(201)
      created.push(r.body.id)
    }
  }
  const follower = new Follower(t, admin.token)
  let writing = true
  const following = (async () => {
    while (writing) await follower.run()
  })()
  await Promise.all([0, 1, 2, 3, 4, 5].map(writer))
  writing = false
  await following
  await follower.run()
  expect(new Set(follower.delivered).size).toBe(follower.delivered.length)
  expect(created.filter((id) => !follower.delivered.includes(id))).toEqual([])
  expect(follower.delivered.length).toBe(created.length)
}

test('a follower that re-reads its overlap misses no row and sees none twice while six clients write', async () => {
  await followWhileWriting([await makeTestApp()])
}, 60_000)

/**
 * The same with `since` (the audit log, the executions): each run asks for what was created at or
 * after the newest `createdAt` it has seen minus the margin, and skips the ids seen within it.
 * Events of concurrent changes to one space, made through `instances` in turn.
 */
async function followAuditWhileWriting(instances: TestApp[]) {
  const [t] = instances as [TestApp]
  for (const i of instances) i.clock.now = () => Date.now()
  const admin = await makeActor(t, { role: 'admin' })
  const space = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Audited' } })
  expect(space.status).toBe(201)
  let made = 0
  const writer = async (w: number) => {
    const on = instances[w % instances.length]!
    for (let i = 0; i < 30; i++) {
      const r = await on.req('PATCH', `/api/v1/spaces/${space.body.space.id}`, { token: admin.token, body: { description: `w${w} ${i}` } })
      expect(r.status).toBe(200)
      made++
    }
  }
  let newest: number | null = null
  const recent = new Map<string, number>()
  const delivered: string[] = []
  const run = async () => {
    const since = newest === null ? '' : `&since=${new Date(newest - OVERLAP_MS).toISOString()}`
    let cursor: string | null = ''
    do {
      const r = await t.req('GET', `/api/v1/audit-events?type=space.updated&limit=200${since}${cursor ? `&cursor=${cursor}` : ''}`, { token: admin.token })
      expect(r.status).toBe(200)
      for (const e of r.body.events as { id: string; createdAt: string }[]) {
        const at = Date.parse(e.createdAt)
        if (recent.has(e.id)) continue
        delivered.push(e.id)
        recent.set(e.id, at)
        if (newest === null || at > newest) newest = at
      }
      cursor = r.body.nextCursor
    } while (cursor)
    if (newest !== null) for (const [id, at] of recent) if (at < newest - OVERLAP_MS) recent.delete(id)
  }
  let writing = true
  const following = (async () => {
    while (writing) await run()
  })()
  await Promise.all([0, 1, 2, 3].map(writer))
  writing = false
  await following
  await run()
  expect(new Set(delivered).size).toBe(delivered.length)
  expect(delivered.length).toBe(made)
}

test('a follower by `since` on the audit log, the same', async () => {
  await followAuditWhileWriting([await makeTestApp()])
}, 60_000)

test.skipIf(!ON_PG)('so with writes through two instances of one PostgreSQL database', async () => {
  const key = crypto.getRandomValues(new Uint8Array(32))
  const t = await makeTestApp({ key })
  const other = await makeTestApp({ pg: t.pg, key })
  await followWhileWriting([t, other])
  await followAuditWhileWriting([t, other])
}, 60_000)

import { beforeAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

/**
 * A member's change of a task racing an admin's change of who may see or edit it. The member's
 * rights are checked on the task as read; the write must land only on the task as it was read,
 * else be judged again on the task as it is (404 when it is now hidden). On PostgreSQL a member's
 * title edit racing a move into the admin's private space landed, and its 200 showed the private
 * space (15 of 80 rounds); SQLite serializes these, so it passes there on the old code too.
 */

let t: TestApp
let admin: Actor
let member: Actor
let hideout: string

beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
  member = await makeActor(t, { role: 'member' })
  const s = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Admin only', visibility: 'private' } })
  expect(s.status).toBe(201)
  hideout = s.body.space.id
})

const ROUNDS = 40

const newTask = async (i: number) => {
  const r = await t.req('POST', '/api/v1/tasks', { token: member.token, body: { title: `T${i}` } })
  expect(r.status).toBe(201)
  return r.body.id as string
}

/** The member's request, started 0-7 ms after the admin's move (the window moves round by round). */
const racing = (i: number, id: string, member: () => Promise<{ status: number; body: any }>) =>
  Promise.all([Bun.sleep(i % 8).then(member), t.req('PATCH', `/api/v1/tasks/${id}`, { token: admin.token, body: { spaceId: hideout } })])

describe('a task changed by a member while an admin moves it into a space hidden from them', () => {
  test('an edit lands only on the task as it was read: before the move (200, outside the space), or not at all (404)', async () => {
    const wrong: string[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const id = await newTask(i)
      const [m, a] = await racing(i, id, () => t.req('PATCH', `/api/v1/tasks/${id}`, { token: member.token, body: { title: `edited${i}` } }))
      expect(a.status).toBe(200)
      const stored = (await t.req('GET', `/api/v1/tasks/${id}`, { token: admin.token })).body
      expect(stored.spaceId).toBe(hideout)
      if (m.status === 200) {
        // Written before the move: its answer is the task then, outside the hidden space.
        if (m.body.spaceId !== null || stored.title !== `edited${i}`) wrong.push(`round ${i}: 200 with spaceId ${m.body.spaceId}, stored title ${stored.title}`)
      } else {
        if (m.status !== 404 || stored.title !== `T${i}`) wrong.push(`round ${i}: ${m.status} ${m.body.code}, stored title ${stored.title}`)
      }
    }
    expect(wrong).toEqual([])
  }, 120_000)

  test('a delete takes the task only as it was read: before the move (200, and the move is 404), or not at all (404)', async () => {
    const wrong: string[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const id = await newTask(i)
      const [m, a] = await racing(i, id, () => t.req('DELETE', `/api/v1/tasks/${id}`, { token: member.token }))
      const stored = await t.req('GET', `/api/v1/tasks/${id}`, { token: admin.token })
      const fine = (m.status === 200 && a.status === 404 && stored.status === 404) || (m.status === 404 && a.status === 200 && stored.body.spaceId === hideout)
      if (!fine) wrong.push(`round ${i}: member ${m.status}, admin ${a.status}, stored ${stored.status} ${stored.body.spaceId ?? ''}`)
    }
    expect(wrong).toEqual([])
  }, 120_000)
})

describe("a member's change racing an admin's change of the same field", () => {
  test("the member's answer is what its change stored: a status sent as it was read is written, not judged unchanged against the old row", async () => {
    const wrong: string[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const id = await newTask(i)
      const [m, a] = await Promise.all([
        Bun.sleep(i % 8).then(() => t.req('PATCH', `/api/v1/tasks/${id}`, { token: member.token, body: { title: `edited${i}`, status: 'pending' } })),
        t.req('PATCH', `/api/v1/tasks/${id}`, { token: admin.token, body: { status: 'completed' } }),
      ])
      expect([m.status, a.status]).toEqual([200, 200])
      const stored = (await t.req('GET', `/api/v1/tasks/${id}`, { token: admin.token })).body
      // The member's change came after the admin's (its status is what is stored) or before it
      // (the admin's completed is stored); either way its answer says pending, the status it sent.
      if (m.body.status !== 'pending' || m.body.title !== `edited${i}`) wrong.push(`round ${i}: member's 200 says ${m.body.status}, stored ${stored.status}`)
      if (stored.status === 'pending' && stored.completedAt !== null) wrong.push(`round ${i}: pending with completedAt ${stored.completedAt}`)
    }
    expect(wrong).toEqual([])
  }, 120_000)
})

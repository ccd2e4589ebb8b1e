import { beforeAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

/**
 * A change of an agent racing another change of it. Each is judged and computed on the agent as
 * read (which fields differ, which sub-agents hidden from the caller are kept): the read and the
 * write must be one step. On PostgreSQL they were not: a member's rename back to the name it had
 * read was dropped as "unchanged" while an admin's rename landed in between, so the member's 200
 * showed the admin's name; a sub-agent the admin added out of the member's sight was dropped by
 * the member's write-back. SQLite serializes these, so it passes there on the old code too.
 */

let t: TestApp
let admin: Actor
let member: Actor
let hidden: string
let shared: string

beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
  member = await makeActor(t, { role: 'member' })
  const h = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Admin only', visibility: 'private' } })
  expect(h.status).toBe(201)
  hidden = h.body.agent.id
  const s = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'Shared', visibility: 'organization' } })
  expect(s.status).toBe(201)
  shared = s.body.agent.id
})

const ROUNDS = 30

const newAgent = async (i: number) => {
  const r = await t.req('POST', '/api/v1/agents', { token: member.token, body: { name: `A${i}`, visibility: 'organization' } })
  expect(r.status).toBe(201)
  return r.body.agent.id as string
}

describe("a member's change of their agent racing an admin's", () => {
  test("the member's answer shows what it sent: a name equal to the one read is written, not judged unchanged", async () => {
    const wrong: string[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const id = await newAgent(i)
      const [m, a] = await Promise.all([
        Bun.sleep(i % 6).then(() => t.req('PATCH', `/api/v1/agents/${id}`, { token: member.token, body: { name: `A${i}`, description: `d${i}` } })),
        t.req('PATCH', `/api/v1/agents/${id}`, { token: admin.token, body: { name: `renamed${i}` } }),
      ])
      expect([m.status, a.status]).toEqual([200, 200])
      const stored = (await t.req('GET', `/api/v1/agents/${id}`, { token: admin.token })).body.agent
      // Either order is fine; the member's 200 says the name it sent, and the description it set is stored.
      if (m.body.agent.name !== `A${i}`) wrong.push(`round ${i}: member's 200 says ${m.body.agent.name}, stored ${stored.name}`)
      if (stored.description !== `d${i}`) wrong.push(`round ${i}: stored description ${stored.description}`)
    }
    expect(wrong).toEqual([])
  }, 120_000)

  test("a sub-agent the admin adds out of the member's sight is kept by the member's write-back of the list it saw", async () => {
    const wrong: string[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const id = await newAgent(i)
      const [m, a] = await Promise.all([
        Bun.sleep(i % 6).then(() => t.req('PATCH', `/api/v1/agents/${id}`, { token: member.token, body: { subagentIds: [shared] } })),
        t.req('PATCH', `/api/v1/agents/${id}`, { token: admin.token, body: { subagentIds: [hidden] } }),
      ])
      expect([m.status, a.status]).toEqual([200, 200])
      const stored = (await t.req('GET', `/api/v1/agents/${id}`, { token: admin.token })).body.agent.subagentIds as string[]
      // Member first: the admin's list replaced it ([hidden]). Admin first: the member saw [] and
      // sent [shared]; the hidden one it was not shown is kept ([shared, hidden]).
      const fine = (stored.length === 1 && stored[0] === hidden) || (stored.length === 2 && stored[0] === shared && stored[1] === hidden)
      if (!fine) wrong.push(`round ${i}: stored ${JSON.stringify(stored)}`)
    }
    expect(wrong).toEqual([])
  }, 120_000)
})

// Who sees and who stops an execution, with runs in both organizations (provider double).
import { afterAll, describe, expect, test } from 'bun:test'
import { makeActor } from './helpers/app'
import { makeWorld } from './helpers/world'

const w = await makeWorld()
afterAll(() => w.close())

const list = async (token: string, query = '') => {
  const res = await w.t.req('GET', `/api/v1/executions${query}`, { token })
  expect(res.status).toBe(200)
  return (res.body as any[]).map((e) => e.id as string)
}

describe('the executions list is limited to the caller\'s organization', () => {
  test('admins and members of A and of B each see their own organization\'s runs and none of the other\'s', async () => {
    const adminB = makeActor(w.t, { role: 'admin', org: 'beta' })
    const a = { admin: await list(w.who.adminA.token), member: await list(w.who.otherA.token) }
    const b = { admin: await list(adminB.token), member: await list(w.who.memberB.token) }
    // Both organizations have runs: the lists below are not empty by accident.
    expect(a.admin).toContain(w.execId)
    expect(a.member).toContain(w.execId) // a shared agent's run
    expect(b.admin).toEqual([w.execB])
    expect(b.member).toEqual([w.execB])
    expect(a.admin).not.toContain(w.execB)
    expect(a.member).not.toContain(w.execB)
  })

  test('filtering by the other organization\'s agent finds nothing', async () => {
    expect(await list(w.who.adminA.token, `?agentId=${w.agentB}`)).toEqual([])
    expect(await list(w.who.memberB.token, `?agentId=${w.agentId}`)).toEqual([])
  })
})

describe('cancel: only the starter or an organization admin', () => {
  const status = async (id: string) => (await w.t.req('GET', `/api/v1/executions/${id}`, { token: w.who.adminA.token })).body.execution.status

  test('a second member of the organization is refused (403 forbidden) and the run goes on; its starter cancels it', async () => {
    const id = await w.runningExecution(w.who.memberA)
    // otherA sees the run (a shared agent's) but did not start it.
    expect((await w.t.req('GET', `/api/v1/executions/${id}`, { token: w.who.otherA.token })).status).toBe(200)
    const denied = await w.t.req('POST', `/api/v1/executions/${id}/cancel`, { token: w.who.otherA.token })
    expect(denied.status).toBe(403)
    expect(denied.body.code).toBe('forbidden')
    expect(['pending', 'running']).toContain(await status(id))
    const ok = await w.t.req('POST', `/api/v1/executions/${id}/cancel`, { token: w.who.memberA.token })
    expect(ok.status).toBe(200)
    expect(await status(id)).toBe('cancelled')
  })

  test('an admin of the organization cancels a member\'s run; a member of another organization gets 404', async () => {
    const id = await w.runningExecution(w.who.memberA)
    expect((await w.t.req('POST', `/api/v1/executions/${id}/cancel`, { token: w.who.memberB.token })).status).toBe(404)
    expect(['pending', 'running']).toContain(await status(id))
    expect((await w.t.req('POST', `/api/v1/executions/${id}/cancel`, { token: w.who.adminA.token })).status).toBe(200)
    expect(await status(id)).toBe('cancelled')
  })
})

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
    const adminB = await makeActor(w.t, { role: 'admin', org: 'beta' })
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

describe('private agents and spaces: their owner and admins only', () => {
  const run = (as: string, agentId: string, body: object) => w.t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: as, body: { message: 'hi', ...body } })
  const agent = async (visibility: string) => (await w.t.req('POST', '/api/v1/agents', { token: w.who.memberA.token, body: { name: `A ${visibility}`, visibility } })).body.id as string
  const space = async (visibility: string) => (await w.t.req('POST', '/api/v1/spaces', { token: w.who.memberA.token, body: { name: `S ${visibility}`, visibility } })).body.space.id as string

  test('a private agent is run by its owner and by an admin; another member gets 404', async () => {
    const priv = await agent('private')
    expect((await run(w.who.memberA.token, priv, {})).status).toBe(200)
    expect((await run(w.who.adminA.token, priv, {})).status).toBe(200)
    const other = await run(w.who.otherA.token, priv, {})
    expect(other.status).toBe(404)
    expect(other.body.code).toBe('not_found')
  })

  test('a private space is used by its creator and by an admin; another member gets 404; a shared one by anyone', async () => {
    const priv = await space('private')
    const shared = await space('organization')
    expect((await run(w.who.memberA.token, w.agentId, { spaceId: priv })).status).toBe(200)
    expect((await run(w.who.adminA.token, w.agentId, { spaceId: priv })).status).toBe(200)
    expect((await run(w.who.otherA.token, w.agentId, { spaceId: priv })).status).toBe(404)
    expect((await run(w.who.otherA.token, w.agentId, { spaceId: shared })).status).toBe(200)
  })

  test("a private agent's executions are seen (get, tree, logs, list) by their starter and admins, not by another member", async () => {
    const priv = await agent('private')
    const id = (await run(w.who.memberA.token, priv, {})).body.executionId as string
    for (const suffix of ['', '/tree', '/logs']) {
      const path = `/api/v1/executions/${id}${suffix}`
      expect({ path, status: (await w.t.req('GET', path, { token: w.who.memberA.token })).status }).toEqual({ path, status: 200 })
      expect({ path, status: (await w.t.req('GET', path, { token: w.who.adminA.token })).status }).toEqual({ path, status: 200 })
      expect({ path, status: (await w.t.req('GET', path, { token: w.who.otherA.token })).status }).toEqual({ path, status: 404 })
    }
    expect(await list(w.who.memberA.token)).toContain(id)
    expect(await list(w.who.adminA.token)).toContain(id)
    const seenByOther = await list(w.who.otherA.token)
    expect(seenByOther).toContain(w.execId) // the shared agent's run: the list is not empty by accident
    expect(seenByOther).not.toContain(id)
  })
})

describe('cancel and the status filter', () => {
  test('a completed or failed execution cannot be cancelled (409 invalid_state); the status filter keeps only that status', async () => {
    const failed = (await w.t.req('POST', `/api/v1/agents/${w.agentId}/execute`, { token: w.who.memberA.token, body: { message: 'FAIL' } })).body.details.executionId as string
    for (const id of [w.execId, failed]) {
      const res = await w.t.req('POST', `/api/v1/executions/${id}/cancel`, { token: w.who.memberA.token })
      expect({ id, status: res.status, code: res.body.code }).toEqual({ id, status: 409, code: 'invalid_state' })
    }
    const onlyFailed = await w.t.req('GET', '/api/v1/executions?status=failed', { token: w.who.adminA.token })
    expect(onlyFailed.body.map((e: any) => e.status)).toEqual(['failed'])
    expect(onlyFailed.body[0].id).toBe(failed)
  })
})

describe("a session's earlier turns follow the same rule", () => {
  test('a run in a space that became private to someone else no longer feeds the next turn of the session', async () => {
    const { memberA, otherA } = w.who
    const ok = async (who: typeof memberA, method: string, path: string, body?: unknown) => {
      const r = await w.t.req(method, path, { token: who.token, body })
      expect([path, r.status]).toEqual([path, method === 'POST' && path.endsWith('/spaces') ? 201 : 200])
      return r.body
    }
    const space = (await ok(otherA, 'POST', '/api/v1/spaces', { name: 'Turns', visibility: 'organization', instructions: 'SPACE-SECRET' })).space.id
    const first = await ok(memberA, 'POST', `/api/v1/agents/${w.agentId}/execute`, { message: 'turn in the shared space', spaceId: space, sessionId: 'sess-hidden' })
    expect(first.result).toBe('Echo: turn in the shared space (user turns: 1)')
    // While the space is visible, the session goes on with it.
    const second = await ok(memberA, 'POST', `/api/v1/agents/${w.agentId}/execute`, { message: 'second', sessionId: 'sess-hidden' })
    expect(second.result).toBe('Echo: second (user turns: 2)')
    await ok(otherA, 'PATCH', `/api/v1/spaces/${space}`, { visibility: 'private' })
    expect((await w.t.req('GET', `/api/v1/executions/${first.executionId}`, { token: memberA.token })).status).toBe(404)
    // Now the hidden turn is not sent to the model again; the visible one still is.
    const requests = w.double.requests.length
    const third = await ok(memberA, 'POST', `/api/v1/agents/${w.agentId}/execute`, { message: 'third', sessionId: 'sess-hidden' })
    expect(third.result).toBe('Echo: third (user turns: 2)')
    expect(JSON.stringify(w.double.requests.slice(requests))).not.toContain('turn in the shared space')
  })
})

// An execute's event stream watched its token only: a caller removed from the organization, or
// whose role or the run's space changed so that the execution was no longer theirs to open, kept
// getting its events until the run ended (minutes for a long run). Now the stream is watched for
// that too, by the rule every execution route applies (canOpenExecution, with the caller's role
// and the space as they are now), on the revocation watch's tick (src/auth/revocation-watch.ts):
// it ends with an `error` event that says why, as a revocation ends it; the run goes on. A large
// list page whose user is removed or whose role changes ends the same way as one whose token is
// revoked (test/streamed-json-failures.test.ts: a failed transfer).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { memberships } from '../src/db/schema'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'
import { agent, until } from './helpers/scripted-provider'

let double: ProviderDouble
let t: TestApp
let owner: Actor
beforeAll(async () => {
  double = startProviderDouble()
  t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model', maxConcurrentExecutions: 8 } })
  owner = await makeActor(t, { role: 'admin' })
})
afterAll(async () => {
  await t.rt.engine.shutdown(0)
  double.stop()
})

const dec = new TextDecoder()

/** A space of `owner`'s, open to the organization. */
async function space(name: string): Promise<string> {
  const r = await t.req('POST', '/api/v1/spaces', { token: owner.token, body: { name, visibility: 'organization' } })
  expect(r.status).toBe(201)
  return r.body.space.id
}

/** `who` starts a streamed run that never ends by itself (HANG), in `spaceId`; its stream read until `meta`. */
async function streamOf(who: Actor, spaceId: string | undefined) {
  const ag = await agent(t, owner)
  const res = await t.app.handle(
    new Request(`http://localhost/api/v1/agents/${ag.id}/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${who.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'HANG', stream: true, ...(spaceId && { spaceId }) }),
    }),
  )
  expect(res.status).toBe(200)
  const reader = res.body!.getReader()
  let text = ''
  while (!text.includes('event: meta')) text += dec.decode((await reader.read()).value)
  const id = /"executionId":"(exec_\w+)"/.exec(text)![1]!
  let ended = false
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      text += dec.decode(value)
    }
    ended = true
  })()
  await until(async () => (await t.req('GET', `/api/v1/executions/${id}`, { token: owner.token })).body.execution.status === 'running')
  return {
    id,
    ended: () => ended,
    /** Waits for the end (the watch's next tick, asked now too), then the stream's last event. */
    async end(): Promise<string> {
      await t.rt.revocations.check()
      // The watch's own tick may have been under way (check() then returns at once): within seconds.
      await until(() => ended, 15_000)
      await rest
      return text.trim().split('\n\n').at(-1)!
    },
    cancel: () => reader.cancel(),
  }
}

const lastError = (last: string) => {
  expect(last.startsWith('event: error\ndata: ')).toBe(true)
  return JSON.parse(last.slice('event: error\ndata: '.length))
}

describe('an execute stream whose caller loses the execution meanwhile ends with an error event; the run goes on', () => {
  test('its space made private by its owner: not_found, and the server logs why', async () => {
    const m = await makeActor(t, { role: 'member' })
    const sp = await space('Made private')
    const s = await streamOf(m, sp)
    expect((await t.req('PATCH', `/api/v1/spaces/${sp}`, { token: owner.token, body: { visibility: 'private' } })).status).toBe(200)
    const e = lastError(await s.end())
    expect(e).toMatchObject({ code: 'not_found', executionId: s.id, status: 'running' })
    expect(e.message).toContain('no longer visible to you')
    // As the execution's own route now answers them; it goes on.
    expect((await t.req('GET', `/api/v1/executions/${s.id}`, { token: m.token })).status).toBe(404)
    expect((await t.req('GET', `/api/v1/executions/${s.id}`, { token: owner.token })).body.execution.status).toBe('running')
    const logged = t.logs.find((l) => l.includes('answer_ended_early') && l.includes('not_found'))
    expect(logged).toBeDefined()
    expect(logged).not.toContain(m.token)
    await t.req('POST', `/api/v1/executions/${s.id}/cancel`, { token: owner.token })
  }, 60_000)

  test('its user removed from the organization: token_revoked by the API (which revokes their tokens), membership_revoked when the membership ends some other way', async () => {
    const m = await makeActor(t, { role: 'member' })
    const s = await streamOf(m, undefined)
    expect((await t.req('DELETE', `/api/v1/organizations/${owner.organizationId}/members/${m.userId}`, { token: owner.token })).status).toBe(200)
    expect(lastError(await s.end())).toMatchObject({ code: 'token_revoked', executionId: s.id, status: 'running' })
    await t.req('POST', `/api/v1/executions/${s.id}/cancel`, { token: owner.token })
    // Its membership row gone, its token unrevoked (an end of membership other than removeMember's).
    const n = await makeActor(t, { role: 'member' })
    const s2 = await streamOf(n, undefined)
    await t.db.delete(memberships).where(and(eq(memberships.organizationId, n.organizationId), eq(memberships.userId, n.userId)))
    const e = lastError(await s2.end())
    expect(e).toMatchObject({ code: 'membership_revoked', executionId: s2.id, status: 'running' })
    expect(e.message).toContain('removed from the organization')
    await t.req('POST', `/api/v1/executions/${s2.id}/cancel`, { token: owner.token })
  }, 60_000)

  test("an admin made a member, in another member's private space: not_found", async () => {
    const other = await makeActor(t, { role: 'member' })
    const r = await t.req('POST', '/api/v1/spaces', { token: other.token, body: { name: 'Theirs', visibility: 'private' } })
    expect(r.status).toBe(201)
    const admin = await makeActor(t, { role: 'admin' })
    const s = await streamOf(admin, r.body.space.id)
    expect((await t.req('PATCH', `/api/v1/organizations/${owner.organizationId}/members/${admin.userId}`, { token: owner.token, body: { role: 'member' } })).status).toBe(200)
    expect(lastError(await s.end())).toMatchObject({ code: 'not_found', executionId: s.id, status: 'running' })
    await t.req('POST', `/api/v1/executions/${s.id}/cancel`, { token: owner.token })
  }, 60_000)

  test('a change that leaves it theirs (their role lowered, the space renamed) ends nothing', async () => {
    const m = await makeActor(t, { role: 'member' })
    const sp = await space('Renamed')
    const s = await streamOf(m, sp)
    expect((await t.req('PATCH', `/api/v1/spaces/${sp}`, { token: owner.token, body: { name: 'Renamed again' } })).status).toBe(200)
    // A viewer may still open the executions they started (GET /executions/{id} answers them).
    expect((await t.req('PATCH', `/api/v1/organizations/${owner.organizationId}/members/${m.userId}`, { token: owner.token, body: { role: 'viewer' } })).status).toBe(200)
    const size = t.rt.revocations.size
    // Two checks (the watch's own tick may take the first), then no end.
    await t.rt.revocations.check()
    await Bun.sleep(1500)
    await t.rt.revocations.check()
    expect(s.ended()).toBe(false)
    expect(t.rt.revocations.size).toBe(size)
    await s.cancel()
    await t.req('POST', `/api/v1/executions/${s.id}/cancel`, { token: owner.token })
  }, 60_000)
})

describe('a synchronous execute whose caller loses the execution while it waits', () => {
  test('its space made private: 404 not_found naming the execution, which goes on; its membership gone: 401 membership_revoked', async () => {
    const m = await makeActor(t, { role: 'member' })
    const sp = await space('Made private while waiting')
    const ag = await agent(t, owner)
    const running = () => t.req('GET', `/api/v1/executions?agentId=${ag.id}`, { token: owner.token }).then((r) => (r.body as any[]).filter((x) => x.status === 'running').length)
    const waiting = t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: m.token, body: { message: 'HANG', spaceId: sp } })
    await until(async () => (await running()) === 1)
    expect((await t.req('PATCH', `/api/v1/spaces/${sp}`, { token: owner.token, body: { visibility: 'private' } })).status).toBe(200)
    await t.rt.revocations.check()
    const r = await Promise.race([waiting, Bun.sleep(20_000).then(() => null)])
    expect(r).not.toBeNull()
    expect([r!.status, r!.body.code]).toEqual([404, 'not_found'])
    // The token still works: its expiry is still said.
    expect(r!.headers.get('teamday-token-expiration')).not.toBeNull()
    const id = r!.body.details.executionId
    expect((await t.req('GET', `/api/v1/executions/${id}`, { token: owner.token })).body.execution.status).toBe('running')
    await t.req('POST', `/api/v1/executions/${id}/cancel`, { token: owner.token })

    const n = await makeActor(t, { role: 'member' })
    const waiting2 = t.req('POST', `/api/v1/agents/${ag.id}/execute`, { token: n.token, body: { message: 'HANG' } })
    await until(async () => (await running()) === 1)
    await t.db.delete(memberships).where(and(eq(memberships.organizationId, n.organizationId), eq(memberships.userId, n.userId)))
    await t.rt.revocations.check()
    const r2 = await Promise.race([waiting2, Bun.sleep(20_000).then(() => null)])
    expect(r2).not.toBeNull()
    expect([r2!.status, r2!.body.code]).toEqual([401, 'membership_revoked'])
    expect(r2!.headers.get('www-authenticate')).toContain('invalid_token')
    expect(r2!.headers.get('teamday-token-expiration')).toBeNull()
    await t.req('POST', `/api/v1/executions/${r2!.body.details.executionId}/cancel`, { token: owner.token })
  }, 60_000)
})

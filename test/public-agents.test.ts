import { describe, expect, test } from 'bun:test'
import { Value } from '@sinclair/typebox/value'
import { PublicAgentList } from '../src/modules/agents/model'
import { makeActor, makeTestApp } from './helpers/app'

describe('GET /api/public/agents', () => {
  test('public, non-archived agents of every organization, with exactly the directory fields, no auth', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member', org: 'acme' })
    const b = await makeActor(t, { role: 'admin', org: 'globex' })
    const mk = async (who: typeof a, body: object) => {
      t.clock.advance(1000)
      const res = await t.req('POST', '/api/v1/agents', { token: who.token, body })
      expect(res.status).toBe(201)
      return res.body.agent
    }
    const pubA = await mk(a, { name: 'Acme Helper', visibility: 'public', role: 'Helper', description: 'Helps', category: 'support', systemPrompt: 'SECRET PROMPT' })
    await mk(a, { name: 'Acme Private' })
    await mk(a, { name: 'Acme Org', visibility: 'organization' })
    await mk(a, { name: 'Acme Unlisted', visibility: 'unlisted' })
    const archived = await mk(a, { name: 'Acme Old', visibility: 'public' })
    await t.req('DELETE', `/api/v1/agents/${archived.id}`, { token: a.token })
    const pubB = await mk(b, { name: 'Globex Agent', visibility: 'public' })

    const res = await t.req('GET', '/api/public/agents')
    expect(res.status).toBe(200)
    expect(Object.keys(res.body).sort()).toEqual(['data', 'meta'])
    expect(Value.Check(PublicAgentList, res.body)).toBe(true)
    expect(res.body.data).toEqual([
      { id: pubB.id, name: 'Globex Agent', slug: 'globex-agent', description: null, role: null, category: null },
      { id: pubA.id, name: 'Acme Helper', slug: 'acme-helper', description: 'Helps', role: 'Helper', category: 'support' },
    ])
    expect(res.body.meta).toEqual({ timestamp: new Date(t.clock.now()).toISOString(), version: t.rt.config.version, total: 2, totalIsEstimate: false, nextCursor: null })
    expect(res.text).not.toContain('SECRET PROMPT')
    expect(res.text).not.toContain(a.organizationId)
    expect(res.text).not.toContain(a.userId)

    // An invalid token does not matter: the route does not authenticate.
    expect((await t.req('GET', '/api/public/agents', { token: 'td_nonsense' })).status).toBe(200)
  })

  test('an agent made private again leaves the directory; restoring an archived public one brings it back', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const x = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'X', visibility: 'public' } })).body.agent
    expect((await t.req('GET', '/api/public/agents')).body.meta.total).toBe(1)
    await t.req('PATCH', `/api/v1/agents/${x.id}`, { token: a.token, body: { visibility: 'private' } })
    expect((await t.req('GET', '/api/public/agents')).body).toMatchObject({ data: [], meta: { total: 0 } })
    await t.req('PATCH', `/api/v1/agents/${x.id}`, { token: a.token, body: { visibility: 'public', archived: true } })
    expect((await t.req('GET', '/api/public/agents')).body.meta.total).toBe(0)
    await t.req('PATCH', `/api/v1/agents/${x.id}`, { token: a.token, body: { archived: false } })
    expect((await t.req('GET', '/api/public/agents')).body.data.map((d: any) => d.id)).toEqual([x.id])
  })

  test('pagination with limit/offset; total counts all; bad limit → 422', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const made: string[] = []
    for (let i = 0; i < 3; i++) {
      t.clock.advance(1000)
      made.push((await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: `P${i}`, visibility: 'public' } })).body.id)
    }
    const p = await t.req('GET', '/api/public/agents?limit=2&offset=1')
    expect(p.body.data.map((d: any) => d.id)).toEqual([made[1], made[0]])
    expect(p.body.meta.total).toBe(3)
    const past = await t.req('GET', '/api/public/agents?offset=10')
    expect(past.body).toMatchObject({ data: [], meta: { total: 3 } })
    const bad = await t.req('GET', '/api/public/agents?limit=1000')
    expect(bad.status).toBe(422)
    expect(bad.body.code).toBe('validation_failed')
  })
})

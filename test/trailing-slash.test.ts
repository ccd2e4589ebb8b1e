/**
 * A path with one trailing slash is the path without it, on every route of the OpenAPI document
 * (Elysia's router, not strict): the same status and code, with and without a token, so a
 * trailing slash neither skips authentication nor changes an answer. Two trailing slashes, or
 * an empty segment inside the path, are no route: a JSON 404 `route_not_found`. A base URL's
 * trailing slash (`//api/v1/…`, as TeamDay's CLI joins it) is test/listen.test.ts's.
 */
import { describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp } from './helpers/app'

const t = await makeTestApp()
const admin = await makeActor(t, { role: 'admin' })
const doc = (await t.req('GET', '/swagger/json')).body as { paths: Record<string, Record<string, unknown>> }

/** What a client can compare: the status, the error code (or the JSON-ness of the body). */
async function answer(method: string, path: string, token?: string): Promise<string> {
  const hasBody = method === 'POST' || method === 'PATCH' || method === 'PUT'
  const r = await t.req(method, path, { token, ...(hasBody ? { body: {} } : {}) })
  const json = (r.headers.get('content-type') ?? '').startsWith('application/json')
  // A field named `code` that is no error code (a CLI sign-in's login code) is not compared.
  return `${r.status} ${(r.status >= 400 ? r.body?.code : undefined) ?? (json ? 'json' : method === 'HEAD' ? 'head' : r.headers.get('content-type'))}`
}

describe('a trailing slash', () => {
  test('answers as the path without it, on every operation of the document, with a token and without', async () => {
    let checked = 0
    for (const [pattern, item] of Object.entries(doc.paths)) {
      for (const m of Object.keys(item)) {
        const method = m.toUpperCase()
        if (!['GET', 'POST', 'PATCH', 'PUT', 'DELETE'].includes(method)) continue
        // Revokes the calling token: the same answer would need a second token (percent-encoded-paths.test.ts has it).
        if (method === 'DELETE' && pattern === '/api/v1/tokens/self') continue
        // Rotates the calling token, which then stops: test/rotation.test.ts sends it with a slash.
        if (method === 'POST' && pattern === '/api/v1/tokens/self/rotate') continue
        const path = pattern.replace('{orgId}', admin.organizationId).replace(/\{\w+\}/g, 'nope')
        for (const token of [admin.token, undefined]) {
          const plain = await answer(method, path, token)
          const slashed = await answer(method, `${path}/`, token)
          expect([method, pattern, !!token, slashed]).toEqual([method, pattern, !!token, plain])
          expect(plain).not.toMatch(/^5/)
          if (!token && plain.startsWith('401')) checked++
        }
        if (method === 'GET') expect([pattern, await answer('HEAD', `${path}/`, admin.token)]).toEqual([pattern, (await answer('HEAD', path, admin.token))])
      }
    }
    // Most routes need a token: each was a 401 without one, slash or not.
    expect(checked).toBeGreaterThan(40)
  })

  test('on real objects: read, change and list through the slashed path', async () => {
    const agent = (await t.req('POST', '/api/v1/agents/', { token: admin.token, body: { name: 'Slashed' } })).body.agent
    expect(typeof agent.id).toBe('string')
    expect((await t.req('GET', `/api/v1/agents/${agent.id}/`, { token: admin.token })).body.agent.id).toBe(agent.id)
    expect((await t.req('PATCH', `/api/v1/agents/${agent.slug}/`, { token: admin.token, body: { role: 'r' } })).status).toBe(200)
    expect((await t.req('GET', '/api/v1/agents/?limit=1', { token: admin.token })).body.agents.map((a: { id: string }) => a.id)).toEqual([agent.id])
  })

  test('two, or an empty segment inside the path, are no route (JSON 404), authenticated or not', async () => {
    for (const path of ['/api/v1/agents//', '/api//v1/agents', '/api/v1//agents', '/api/v1/', '/api/v1']) {
      for (const token of [admin.token, undefined]) expect([path, await answer('GET', path, token)]).toEqual([path, '404 route_not_found'])
    }
  })
})

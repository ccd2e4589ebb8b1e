import { beforeAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { refusedQueryParameter } from '../src/http/routes'

// Integer and boolean query parameters of every list route: accepted as the strings a URL
// carries, refused with a 422 that names the parameter (never TypeBox's internal kind names).
let t: TestApp
let admin: Actor
beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
}, 60_000)

const lists = ['/api/v1/agents', '/api/v1/spaces', '/api/v1/tasks', '/api/v1/tokens', '/api/v1/executions', '/api/v1/audit-events', '/api/public/agents']
const sep = (path: string) => (path.includes('?') ? '&' : '?')

describe('list query parameters', () => {
  for (const path of lists) {
    test(`${path}: limit/offset as digits work; anything else is 422 naming the field`, async () => {
      for (const q of ['limit=1', 'limit=200', 'offset=0', 'offset=3', 'limit=2&offset=1']) {
        const res = await t.req('GET', `${path}${sep(path)}${q}`, { token: admin.token })
        expect({ q, status: res.status }).toEqual({ q, status: 200 })
      }
      for (const [q, field] of [['limit=0', 'limit'], ['limit=201', 'limit'], ['limit=abc', 'limit'], ['limit=1.5', 'limit'], ['limit=%201', 'limit'], ['offset=-1', 'offset'], ['offset=x', 'offset']] as const) {
        const res = await t.req('GET', `${path}${sep(path)}${q}`, { token: admin.token })
        expect({ q, status: res.status, code: res.body?.code }).toEqual({ q, status: 422, code: 'validation_failed' })
        expect(res.body.details.map((d: any) => d.field)).toContain(field)
        expect(res.body.message).toStartWith(`Validation failed: ${field} must be`)
        expect(res.text).not.toContain('Teamday')
      }
    })
  }

  test('limit and offset page the list', async () => {
    for (let i = 0; i < 3; i++) await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: `Paged ${i}` } })
    const all = (await t.req('GET', '/api/v1/agents', { token: admin.token })).body.agents.map((a: any) => a.id)
    const page = (await t.req('GET', '/api/v1/agents?limit=1&offset=1', { token: admin.token })).body
    expect(page.agents.map((a: any) => a.id)).toEqual(all.slice(1, 2))
    expect(page.total).toBe(all.length)
  })

  for (const [path, name] of [['/api/v1/agents', 'archived'], ['/api/v1/spaces', 'archived'], ['/api/v1/tokens', 'all']] as const) {
    test(`${path}: ${name}=true|false work; other values are 422`, async () => {
      for (const v of ['true', 'false']) expect((await t.req('GET', `${path}?${name}=${v}`, { token: admin.token })).status).toBe(200)
      for (const v of ['yes', '1']) {
        const res = await t.req('GET', `${path}?${name}=${v}`, { token: admin.token })
        expect({ v, status: res.status }).toEqual({ v, status: 422 })
        expect(res.body.message).toBe(`Validation failed: ${name} must be true or false`)
      }
    })
  }

  test('archived=true includes archived agents, false leaves them out', async () => {
    const made = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: 'To archive' } })
    await t.req('DELETE', `/api/v1/agents/${made.body.id}`, { token: admin.token })
    const ids = async (q: string) => (await t.req('GET', `/api/v1/agents${q}`, { token: admin.token })).body.agents.map((a: any) => a.id)
    expect(await ids('?archived=true&limit=200')).toContain(made.body.id)
    expect(await ids('?archived=false&limit=200')).not.toContain(made.body.id)
    expect(await ids('?limit=200')).not.toContain(made.body.id)
  })
})

describe('a query parameter a list does not declare', () => {
  test('is 422 naming it (and the filter it resembles), not ignored: a misspelt filter answered the whole list', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const cases: [string, string, string | null][] = [
      ['/api/v1/tasks?space_id=space_x', 'space_id', 'spaceId'],
      ['/api/v1/tasks?assigned_to=user_x&status=pending', 'assigned_to', 'assignedTo'],
      ['/api/v1/spaces?visibility=private', 'visibility', null],
      ['/api/v1/agents?limit=5&Archived=true', 'Archived', 'archived'],
      ['/api/v1/executions?agent_id=char_x', 'agent_id', 'agentId'],
      ['/api/v1/audit-events?token_id=pat_x', 'token_id', 'tokenId'],
      // A typo is named as a body field's is (src/http/body-fields.ts): one letter off, swapped, a prefix.
      ['/api/v1/tasks?stauts=pending', 'stauts', 'status'],
      ['/api/v1/tasks?priorty=high', 'priorty', 'priority'],
      ['/api/v1/tasks?space=space_x', 'space', 'spaceId'],
      // A doubled '?' (URLs put together by hand): the route reads `?status`, not status.
      ['/api/v1/tasks??status=completed', '?status', 'status'],
      ['/api/v1/tasks??limit=1', '?limit', 'limit'],
    ]
    for (const [path, name, near] of cases) {
      const r = await t.req('GET', path, { token: a.token })
      expect([path, r.status, r.body.code, r.body.details?.[0]?.field]).toEqual([path, 422, 'validation_failed', name])
      expect(r.body.message).toContain(`unknown query parameter "${name}"`)
      if (near) expect(r.body.message).toContain(`did you mean ${near}?`)
    }
    // Declared ones pass; a route without a query schema ignores a query, as before.
    expect((await t.req('GET', '/api/v1/tasks?spaceId=space_x&status=pending&limit=5', { token: a.token })).status).toBe(200)
    expect((await t.req('GET', '/api/v1/tokens/self?verbose=1', { token: a.token })).status).toBe(200)
    // Authentication still comes first.
    expect((await t.req('GET', '/api/v1/tasks?space_id=x')).status).toBe(401)
  })
})

describe('a query parameter given more than once', () => {
  // It was taken as its last value: `?status=pending&status=completed` answered only completed
  // tasks, `limit=1&limit=2` two rows. No query schema declares an array (TeamDay's CLI and this
  // one send each parameter once), so every repeat is refused.
  test('is 422 naming it, on every documented query parameter of every route', async () => {
    const doc = (await t.req('GET', '/swagger/json')).body
    // A patterned string: the document's own example (the reuse-port proof's challenge), so that the repeat, not the value, is what is refused.
    const valid = (s: any): string => (s.type === 'boolean' ? 'true' : s.enum ? s.enum[0] : s.type === 'integer' ? String(s.minimum ?? 1) : s.pattern && s.examples ? s.examples[0] : 'x')
    let checked = 0
    for (const [pattern, item] of Object.entries<any>(doc.paths)) {
      const op = item.get
      const params = (op?.parameters ?? []).map((p: any) => (p.$ref ? doc.components.parameters[p.$ref.split('/').pop()] : p)).filter((p: any) => p.in === 'query')
      for (const p of params) {
        const path = pattern.replace('{orgId}', admin.organizationId).replace(/\{\w+\}/g, 'nope')
        const v = valid(p.schema)
        // The route's other required parameters, once each: a missing one is refused first (validation runs before this check).
        const others = params.filter((o: any) => o.required && o.name !== p.name).map((o: any) => `&${o.name}=${valid(o.schema)}`).join('')
        const res = await t.req('GET', `${path}?${p.name}=${v}&${p.name}=${v}${others}`, { token: admin.token })
        const message = `query parameter "${p.name}" was given more than once: give it once (a repeated parameter is not a list here)`
        expect([pattern, p.name, res.status, res.body?.code, res.body?.message, res.body?.details]).toEqual([pattern, p.name, 422, 'validation_failed', `Validation failed: ${message}`, [{ field: p.name, message }]])
        // Once, the route answers as it would (a 404 for an object that does not exist, a 422 for a bad value).
        expect((await t.req('GET', `${path}?${p.name}=${v}${others}`, { token: admin.token })).text).not.toContain('more than once')
        checked++
      }
    }
    expect(checked).toBeGreaterThan(30)
  })

  test('the examples found: a filter and a page size', async () => {
    await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'twice' } })
    for (const q of ['status=pending&status=completed', 'limit=1&limit=2', 'status=pending&limit=5&%73tatus=completed', 'offset=0&offset=0']) {
      const res = await t.req('GET', `/api/v1/tasks?${q}`, { token: admin.token })
      expect([q, res.status, res.body.code, res.body.message]).toEqual([q, 422, 'validation_failed', expect.stringContaining('was given more than once')])
    }
    for (const path of lists) {
      const res = await t.req('GET', `${path}${sep(path)}limit=1&limit=2`, { token: admin.token })
      expect([path, res.status, res.body.details]).toEqual([path, 422, [{ field: 'limit', message: expect.stringContaining('more than once') }]])
    }
    // An unknown name is named as unknown, given once or twice; a route without a query schema still ignores its query.
    expect((await t.req('GET', '/api/v1/tasks?state=a&state=b', { token: admin.token })).body.message).toContain('unknown query parameter "state"')
    expect((await t.req('GET', '/api/v1/tokens/self?x=1&x=2', { token: admin.token })).status).toBe(200)
    // Authentication still comes first.
    expect((await t.req('GET', '/api/v1/tasks?status=pending&status=completed')).status).toBe(401)
  })

  test('a parameter its route declares as an array may repeat', () => {
    const rule = { body: 'none' as const, objects: [], query: ['tag', 'limit'], repeatable: ['tag'] }
    expect(refusedQueryParameter(rule, ['tag', 'limit', 'tag', 'tag'])).toBeNull()
    expect(refusedQueryParameter(rule, ['tag', 'limit', 'limit'])?.message).toContain('"limit" was given more than once')
  })

  test('once empty, on either side, it is still named as given twice: the value is not what was wrong', async () => {
    // `?status=pending&status=` was "Invalid status" (the last value validated), `?status=&status=pending` "more than once".
    for (const q of ['status=pending&status=', 'status=&status=pending', 'status=&status=', 'limit=1&limit=', 'limit=&limit=1', 'status=bogus&status=pending', 'status=pending&status=bogus']) {
      const res = await t.req('GET', `/api/v1/tasks?${q}`, { token: admin.token })
      const field = q.split('=')[0]
      expect([q, res.status, res.body.code, res.body.details]).toEqual([q, 422, 'validation_failed', [{ field, message: `query parameter "${field}" was given more than once: give it once (a repeated parameter is not a list here)` }]])
    }
    // An unknown name beside a bad value: the name is what is said.
    const unknown = await t.req('GET', '/api/v1/agents?lmit=5&visibility=bogus', { token: admin.token })
    expect([unknown.status, unknown.body.details?.[0]?.field]).toEqual([422, 'lmit'])
    // Authentication still comes first.
    expect((await t.req('GET', '/api/v1/tasks?status=pending&status=')).status).toBe(401)
  })
})

describe('a query parameter given empty', () => {
  // `?spaceId=$SPACE` with SPACE unset: tasks answered [] (a filter on the space ""), audit
  // events every event (no filter), limit and enums their value's rule: one message now.
  test('is 422 naming it, on every documented query parameter of every route', async () => {
    const doc = (await t.req('GET', '/swagger/json')).body
    const valid = (s: any): string => (s.type === 'boolean' ? 'true' : s.enum ? s.enum[0] : s.type === 'integer' ? String(s.minimum ?? 1) : s.pattern && s.examples ? s.examples[0] : 'x')
    let checked = 0
    for (const [pattern, item] of Object.entries<any>(doc.paths)) {
      const params = (item.get?.parameters ?? []).map((p: any) => (p.$ref ? doc.components.parameters[p.$ref.split('/').pop()] : p)).filter((p: any) => p.in === 'query')
      for (const p of params) {
        // An empty cursor is the first page (documented), checked below.
        if (p.name === 'cursor') continue
        const path = pattern.replace('{orgId}', admin.organizationId).replace(/\{\w+\}/g, 'nope')
        const others = params.filter((o: any) => o.required && o.name !== p.name).map((o: any) => `&${o.name}=${valid(o.schema)}`).join('')
        const message = `query parameter "${p.name}" is empty (an unset variable?): give it a value, or leave it out`
        for (const q of [`${p.name}=`, `${p.name}`]) {
          const res = await t.req('GET', `${path}?${q}${others}`, { token: admin.token })
          expect([pattern, q, res.status, res.body?.code, res.body?.message, res.body?.details]).toEqual([pattern, q, 422, 'validation_failed', `Validation failed: ${message}`, [{ field: p.name, message }]])
        }
        checked++
      }
    }
    expect(checked).toBeGreaterThan(30)
  })

  test('the examples found: filters that answered every row or none', async () => {
    await t.req('POST', '/api/v1/tasks', { token: admin.token, body: { title: 'empty filters' } })
    for (const path of ['/api/v1/tasks?spaceId=', '/api/v1/tasks?assignedTo=&status=pending', '/api/v1/audit-events?type=', '/api/v1/agents?q=', '/api/v1/executions?agentId=', '/api/v1/chats?spaceId=&cursor=']) {
      const res = await t.req('GET', path, { token: admin.token })
      expect([path, res.status, res.body.code]).toEqual([path, 422, 'validation_failed'])
      expect(res.body.message).toContain('is empty')
    }
    // A value of spaces is a value: the route says what it finds (or refuses it by its rule).
    expect((await t.req('GET', '/api/v1/agents?q=%20', { token: admin.token })).status).toBe(200)
    // An empty cursor is the first page, as documented (test/list-cursors.test.ts, every list).
    for (const path of ['/api/v1/spaces?cursor=', '/api/public/agents?cursor=', '/api/v1/tasks?cursor=&status=pending']) expect((await t.req('GET', path, { token: admin.token })).status).toBe(200)
    // Routes without a query schema still ignore their query, and authentication comes first.
    expect((await t.req('GET', '/api/v1/tokens/self?x=', { token: admin.token })).status).toBe(200)
    expect((await t.req('GET', '/api/v1/tasks?spaceId=')).status).toBe(401)
  })
})

import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { createApp } from '../src/app'
import { agents } from '../src/db/schema'
import { cachedBody, cachedJson, ResponseCache } from '../src/cache/response-cache'
import { makeActor, makeTestApp } from './helpers/app'
import { sqliteOnly } from './helpers/pg'
import { findTokenForAuth } from '../src/auth/lookup'
import { authenticate } from '../src/auth/authenticate'
import { hashToken } from '../src/auth/tokens'
import { agentsVersionScope, readVersion } from '../src/db/versions'

const dir = mkdtempSync(join(tmpdir(), 'teamday-cache-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const names = (res: any) => res.body.agents.map((a: any) => a.name).sort()

describe('agent list cache', () => {
  test('every write shows in the next list: create, update, archive', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    const list = () => t.req('GET', '/api/v1/agents', { token: a.token })
    expect(names(await list())).toEqual([])
    const created = await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'One' } })
    expect(names(await list())).toEqual(['One'])
    expect(names(await list())).toEqual(['One']) // served from the cache, same answer
    await t.req('PATCH', `/api/v1/agents/${created.body.id}`, { token: a.token, body: { name: 'Uno' } })
    expect(names(await list())).toEqual(['Uno'])
    await t.req('DELETE', `/api/v1/agents/${created.body.id}`, { token: a.token })
    expect(names(await list())).toEqual([])
  })

  test('the token look-up reads the organization\'s agents version in its own statement: the list\'s key needs no read of its own', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    const hash = hashToken(a.token)
    const version = () => readVersion(t.rt.db, agentsVersionScope(a.organizationId))
    expect((await findTokenForAuth(t.rt.db, hash))?.agentsVersion).toBe('0') // no agent yet: no version row
    await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'One' } })
    const bumped = await version()
    expect(bumped).not.toBe('0')
    expect((await findTokenForAuth(t.rt.db, hash))?.agentsVersion).toBe(bumped)
    const looked = await authenticate(t.ctx, `Bearer ${a.token}`)
    expect(looked.principal.agentsVersion).toBe(bumped)
  })

  test('the usual list and lists with parameters never share an entry (a parameter at its default does)', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    for (const name of ['One', 'Two']) await t.req('POST', '/api/v1/agents', { token: a.token, body: { name } })
    const two = await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Gone' } })
    await t.req('DELETE', `/api/v1/agents/${two.body.id}`, { token: a.token })
    const list = async (query = '') => names(await t.req('GET', `/api/v1/agents${query}`, { token: a.token }))
    for (let i = 0; i < 2; i++) {
      expect(await list()).toEqual(['One', 'Two'])
      expect((await list('?limit=1')).length).toBe(1)
      expect(await list('?archived=true')).toEqual(['Gone', 'One', 'Two'])
      expect(await list('?q=On')).toEqual(['One'])
      expect(await list('?limit=50&offset=0')).toEqual(['One', 'Two'])
    }
  })

  test('a list served from the cache carries every response header', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'One' } })
    for (let i = 0; i < 2; i++) {
      const res = await t.req('GET', '/api/v1/agents', { token: a.token, headers: { 'x-request-id': `req-list-${i}` } })
      expect(res.headers.get('x-request-id')).toBe(`req-list-${i}`)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(res.headers.get('content-type')).toStartWith('application/json')
      expect(res.headers.get('teamday-token-expiration')).toBe(new Date(t.clock.now() + 90 * 86_400_000).toISOString())
      expect(res.headers.get('x-ratelimit-limit')).toBeTruthy()
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    }
  })

  test('callers with different visibility never share an entry', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const m1 = await makeActor(t, { role: 'member' })
    const m2 = await makeActor(t, { role: 'member' })
    await t.req('POST', '/api/v1/agents', { token: m1.token, body: { name: 'Private of m1' } })
    await t.req('POST', '/api/v1/agents', { token: m1.token, body: { name: 'Shared', visibility: 'organization' } })
    expect(names(await t.req('GET', '/api/v1/agents', { token: m1.token }))).toEqual(['Private of m1', 'Shared'])
    expect(names(await t.req('GET', '/api/v1/agents', { token: m2.token }))).toEqual(['Shared'])
    expect(names(await t.req('GET', '/api/v1/agents', { token: admin.token }))).toEqual(['Private of m1', 'Shared'])
    expect(names(await t.req('GET', '/api/v1/agents?limit=1', { token: m2.token }))).toEqual(['Shared'])
  })

  test.skipIf(sqliteOnly('two connections to one SQLite file; on PostgreSQL the list cache is keyed by a version read per request'))('a write through a second connection to the same database file shows in the next list on the first', async () => {
    const path = join(dir, 'shared.db')
    const key = crypto.getRandomValues(new Uint8Array(32))
    const one = await makeTestApp({ dbPath: path, key })
    const a = await makeActor(one, { role: 'admin' })
    // A second server process: its own runtime and connection to the same file, same key, its own caches.
    const two = await makeTestApp({ dbPath: path, key })
    try {
      expect(two.rt.connection).not.toBe(one.rt.connection)
      const post = (name: string) => two.app.handle(new Request('http://localhost/api/v1/agents', { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name }) }))
      const listOnOne = () => one.req('GET', '/api/v1/agents', { token: a.token })
      expect((await listOnOne()).body.total).toBe(0)
      expect((await listOnOne()).body.total).toBe(0) // now cached on connection 1
      expect((await post('Made on two')).status).toBe(201)
      expect(names(await listOnOne())).toEqual(['Made on two'])
      // And a write through connection 2 made after that list was cached.
      expect((await post('Second on two')).status).toBe(201)
      expect(names(await listOnOne())).toEqual(['Made on two', 'Second on two'])
    } finally {
      two.rt.close()
      one.rt.close()
    }
  })

  test('a change to agents made by any statement, not only by the agents service, shows in the next list (the database bumps the version)', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    const one = await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'One' } })
    const list = () => t.req('GET', '/api/v1/agents', { token: a.token })
    expect(names(await list())).toEqual(['One'])
    await t.rt.db.update(agents).set({ name: 'Renamed by a script' }).where(eq(agents.id, one.body.id)).run()
    expect(names(await list())).toEqual(['Renamed by a script'])
    await t.rt.db.delete(agents).where(eq(agents.id, one.body.id)).run()
    expect(names(await list())).toEqual([])
  })

  test('an agent write and its list version commit together: when the version cannot be bumped, the write is rolled back and the cached list stays true', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    const one = await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'One' } })
    expect(one.status).toBe(201)
    const list = () => t.req('GET', '/api/v1/agents', { token: a.token })
    expect(names(await list())).toEqual(['One']) // cached under the current version
    // Make every bump of an agents version fail, as a full disk or a lost connection would.
    const conn = t.rt.connection
    if (conn.dialect === 'pg') {
      await conn.client.unsafe(`CREATE FUNCTION refuse_agents_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.key LIKE 'version:agents:%' THEN RAISE EXCEPTION 'no space left'; END IF; RETURN NEW; END $$`)
      await conn.client.unsafe('CREATE TRIGGER refuse_agents_version BEFORE INSERT OR UPDATE ON settings FOR EACH ROW EXECUTE FUNCTION refuse_agents_version()')
    } else {
      for (const when of ['INSERT', 'UPDATE']) {
        t.db.$client.exec(`CREATE TRIGGER refuse_agents_version_${when} BEFORE ${when} ON settings WHEN NEW.key LIKE 'version:agents:%' BEGIN SELECT RAISE(ABORT, 'no space left'); END`)
      }
    }
    const created = await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Two', slug: 'two' } })
    const renamed = await t.req('PATCH', `/api/v1/agents/${one.body.id}`, { token: a.token, body: { name: 'Uno' } })
    const archived = await t.req('DELETE', `/api/v1/agents/${one.body.id}`, { token: a.token })
    for (const res of [created, renamed, archived]) {
      expect(res.status).toBe(500)
      expect(res.body.error).toBeTruthy()
    }
    // Nothing of the three writes is in the database, so the list cached before them is still right.
    expect((await t.req('GET', '/api/v1/agents/two', { token: a.token })).status).toBe(404)
    const stored = await t.req('GET', `/api/v1/agents/${one.body.id}`, { token: a.token })
    expect([stored.body.agent.name, stored.body.agent.archived]).toEqual(['One', false])
    expect(names(await list())).toEqual(['One'])
  })
})

describe('ResponseCache', () => {
  test('evicts least recently used entries beyond its bounds', () => {
    const c = new ResponseCache(2, 1000)
    c.set('a', cachedBody(new Uint8Array(10)))
    c.set('b', cachedBody(new Uint8Array(10)))
    c.get('a')
    c.set('c', cachedBody(new Uint8Array(10)))
    expect(c.get('b')).toBeUndefined()
    expect(c.get('a')).toBeDefined()
    expect(c.size).toBe(2)
    const small = new ResponseCache(10, 200)
    small.set('x', cachedBody(new Uint8Array(20)))
    small.set('y', cachedBody(new Uint8Array(20)))
    expect(small.size).toBe(2)
    small.set('z', cachedBody(new Uint8Array(24)))
    small.set('w', cachedBody(new Uint8Array(24)))
    small.set('v', cachedBody(new Uint8Array(24)))
    expect(small.size).toBeLessThan(5)
  })
})

describe('cachedJson: concurrent misses of one key', () => {
  const request = () => new Request('http://localhost/api/v1/agents')
  /** A build that counts its calls and answers after the event loop has turned a few times. */
  const counted = (answer: () => unknown) => {
    const calls = { n: 0 }
    const build = async () => {
      calls.n++
      await Bun.sleep(5)
      return answer()
    }
    return { calls, build }
  }

  test('build once: every request waiting for the same key gets the bytes of the first build, with its own headers', async () => {
    const cache = new ResponseCache()
    const { calls, build } = counted(() => ({ success: true, agents: [{ id: 'char_1' }] }))
    const sets = Array.from({ length: 5 }, (_, i) => ({ headers: { 'x-request-id': `req_${i}` } as Record<string, unknown> }))
    const answers = await Promise.all(sets.map((set) => cachedJson(cache, 'v1|org', request(), set, false, build)))
    expect(calls.n).toBe(1)
    for (const [i, res] of answers.entries()) {
      expect(await res.json()).toEqual({ success: true, agents: [{ id: 'char_1' }] })
      expect(res.headers.get('x-request-id')).toBe(`req_${i}`)
    }
    expect(cache.building.size).toBe(0)
    // Another key is another build; the same key later is a hit.
    await cachedJson(cache, 'v2|org', request(), { headers: {} }, false, build)
    await cachedJson(cache, 'v1|org', request(), { headers: {} }, false, build)
    expect(calls.n).toBe(2)
  })

  test('a build that gives a Response (a large page, streamed) or fails is not shared: the others build their own', async () => {
    const cache = new ResponseCache()
    const streamed = counted(() => new Response('[]'))
    await Promise.all(Array.from({ length: 3 }, () => cachedJson(cache, 'k', request(), { headers: {} }, false, streamed.build)))
    expect(streamed.calls.n).toBe(3)
    const failing = counted(() => {
      throw new Error('database unavailable')
    })
    const results = await Promise.allSettled(Array.from({ length: 3 }, () => cachedJson(cache, 'j', request(), { headers: {} }, false, failing.build)))
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected'])
    expect(failing.calls.n).toBe(3)
    expect(cache.building.size).toBe(0)
    expect(cache.size).toBe(0)
  })
})

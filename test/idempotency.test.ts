import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Elysia, t as schema } from 'elysia'
import { authPlugin } from '../src/auth/plugin'
import { idempotency, recordPendingKeys } from '../src/http/idempotency'
import { idempotencyKeys } from '../src/db/schema'
import { AppError } from '../src/errors'
import { IN_PROGRESS_STALE_MS, keyDigest } from '../src/idempotency/service'
import { authorizerOf, makeActor, makeTestApp, makeToken, type TestApp } from './helpers/app'
import { agent, exec, until } from './helpers/scripted-provider'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'
import { ON_PG } from './helpers/pg'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { rekeyDatabase } from '../src/db/rekey'
import { SecretBox } from '../src/crypto/secretbox'
import { generateToken } from '../src/auth/tokens'
import { atRestApp, expectNoPlaintext, readAtRest } from './helpers/at-rest'

/** The real auth macro and Idempotency-Key plugin on a tiny app, for routes needing agents:write. */
function plugins(t: TestApp) {
  const authorizer = authorizerOf(t)
  return new Elysia()
    .use(idempotency(t.rt, (request, set) => authorizer.principal(request, set, 'agents:write')).plugin)
    .use(authPlugin(authorizer))
}

/**
 * Triggers that refuse a key's record after its request (its answer stored, its key freed) let
 * through the mark its work's own transaction writes (markWorkCommitted): refused too, that
 * write would fail whole, nothing of it committed, and the answer would rightly be its error.
 */
const MARKED_PG = `TG_OP = 'UPDATE' AND NEW.state = 'committed'`
const MARKED_SQLITE = `WHEN NEW.state <> 'committed'`

describe('Idempotency-Key on POST', () => {
  test('the first response is replayed with the same body and Idempotency-Status: replayed', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const send = () => t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'Deploy' }, headers: { 'idempotency-key': 'key-1' } })
    const first = await send()
    expect(first.status).toBe(201)
    expect(first.headers.has('idempotency-status')).toBe(false)
    t.clock.advance(5_000)
    const again = await send()
    expect(again.status).toBe(201)
    expect(again.headers.get('idempotency-status')).toBe('replayed')
    expect(again.text).toBe(first.text)
    expect(again.headers.get('x-request-id')).not.toBe(first.headers.get('x-request-id'))
    expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).body).toHaveLength(1)
    // The stored copy is sealed.
    const rows = await t.db.select().from(idempotencyKeys).all()
    expect(rows.length).toBe(1)
    expect(rows[0]!.state).toBe('completed')
    expect(rows[0]!.responseBody).toStartWith('v1.')
    expect(JSON.stringify(rows)).not.toContain('Deploy')
  })

  test('a response holding a new token is never stored: a retry gets 409 naming the created token', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const send = () => t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'ci' }, headers: { 'idempotency-key': 'tok-1' } })
    const first = await send()
    expect(first.status).toBe(201)
    const again = await send()
    expect(again.status).toBe(409)
    expect(again.body.code).toBe('idempotency_secret_withheld')
    expect(again.body.details).toEqual({ createdId: first.body.id })
    expect(again.text).not.toContain(first.body.token)
    // Exactly one token was created, and nothing of its secret is stored with the key.
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token })).body.total).toBe(2)
    const rows = await t.db.select().from(idempotencyKeys).all()
    expect(rows.length).toBe(1)
    expect(rows[0]!.responseBody).toBeNull()
    expect(JSON.stringify(rows)).not.toContain(first.body.token.slice(3))
    // The same for a rotation.
    const rot = () => t.req('POST', `/api/v1/tokens/${first.body.id}/rotate`, { token: a.token, body: {}, headers: { 'idempotency-key': 'rot-1' } })
    const r1 = await rot()
    expect(r1.status).toBe(201)
    const r2 = await rot()
    expect(r2.body.code).toBe('idempotency_secret_withheld')
    expect(r2.body.details).toEqual({ createdId: r1.body.id })
    // And for the calling token's own (with a grace period, so that it may still send the retry).
    const ci = await makeToken(t, a, { name: 'ci job' })
    const selfRot = () => t.req('POST', '/api/v1/tokens/self/rotate', { token: ci.token, body: { gracePeriodSeconds: 600 }, headers: { 'idempotency-key': 'self-rot-1' } })
    const s1 = await selfRot()
    expect(s1.status).toBe(201)
    const s2 = await selfRot()
    expect([s2.status, s2.body.code, s2.body.details]).toEqual([409, 'idempotency_secret_withheld', { createdId: s1.body.id }])
    expect(s2.text).not.toContain(s1.body.token)
    expect(JSON.stringify(await t.db.select().from(idempotencyKeys).all())).not.toContain(s1.body.token.slice(3))
  })

  test('the same key with a different body → 409 idempotency_conflict; keys are per token', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const b = await makeActor(t)
    const headers = { 'idempotency-key': 'shared' }
    expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'one' }, headers })).status).toBe(201)
    const conflict = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'two' }, headers })
    expect(conflict.status).toBe(409)
    expect(conflict.body.code).toBe('idempotency_conflict')
    expect(conflict.body.message).toContain('different request')
    // Same key, other path: a conflict too.
    expect((await t.req('POST', `/api/v1/tokens/${a.tokenId}/rotate`, { token: a.token, body: {}, headers })).body.code).toBe('idempotency_conflict')
    // Another token may use the same key for its own request.
    expect((await t.req('POST', '/api/v1/tokens', { token: b.token, body: { name: 'two' }, headers })).status).toBe(201)
  })

  test('invalid keys → 400 invalid_idempotency_key', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    for (const key of ['x'.repeat(256), '']) {
      const r = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'ci' }, headers: { 'idempotency-key': key } })
      expect(r.status).toBe(400)
      expect(r.body.code).toBe('invalid_idempotency_key')
    }
    expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'ci' }, headers: { 'idempotency-key': 'k'.repeat(255) } })).status).toBe(201)
  })

  test('a key holding a token (with its prefix or its 43 characters alone) → 400 invalid_idempotency_key, nothing done or stored, the token not echoed', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    for (const key of [a.token, `retry-${a.token.slice(3)}`]) {
      const r = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'keyed' }, headers: { 'idempotency-key': key } })
      expect([r.status, r.body.code]).toEqual([400, 'invalid_idempotency_key'])
      expect(r.body.message).toContain('holds a token')
      expect(JSON.stringify(r.body)).not.toContain(a.token.slice(3))
    }
    expect(await t.db.select().from(idempotencyKeys).all()).toEqual([])
    expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).body).toEqual([])
  })

  // Two headers arrive joined by ", " and were taken as one key (made of both).
  test('two Idempotency-Key headers (joined by ", ") → 400 saying so, nothing done; a comma alone is part of a key', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const twice = new Headers([['idempotency-key', 'key-one'], ['idempotency-key', 'key-two']])
    const r = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'twice' }, headers: Object.fromEntries(twice) })
    expect([r.status, r.body.code]).toEqual([400, 'invalid_idempotency_key'])
    expect(r.body.message).toContain('more than one was sent')
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token })).body.tokens.map((x: { name: string }) => x.name)).not.toContain('twice')
    expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'comma' }, headers: { 'idempotency-key': 'order,42' } })).status).toBe(201)
  })

  test('a failed first attempt frees the key; GET and unauthenticated requests ignore the header', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const headers = { 'idempotency-key': 'retry-me' }
    const failed = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'ci', expiresAt: 'next tuesday' }, headers })
    expect(failed.status).toBe(422)
    expect((await t.db.select().from(idempotencyKeys).all()).length).toBe(0)
    expect((await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'ci' }, headers })).status).toBe(201)
    expect((await t.req('GET', '/api/v1/tokens', { token: a.token, headers: { 'idempotency-key': 'x'.repeat(300) } })).status).toBe(200)
    const leak = await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: ['x'] }, headers: { 'idempotency-key': 'x'.repeat(300) } })
    expect(leak.status).toBe(202)
  })

  test('stored responses expire after 24 h: the key then runs the request again', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const send = () => t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'nightly' }, headers: { 'idempotency-key': 'daily' } })
    const first = await send()
    t.clock.advance(24 * 3_600_000 - 1000)
    expect((await send()).headers.get('idempotency-status')).toBe('replayed')
    t.clock.advance(2000)
    const fresh = await send()
    expect(fresh.status).toBe(201)
    expect(fresh.headers.has('idempotency-status')).toBe(false)
    expect(fresh.body.id).not.toBe(first.body.id)
  })
})

describe('concurrent duplicates', () => {
  test('a duplicate while the first is in progress → 409 idempotency_in_progress; afterwards it is replayed (PATCH too)', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let runs = 0
    const tiny = new Elysia()
      .onError(({ error, set }) => {
        if (!(error instanceof AppError)) return
        set.status = error.status
        return { code: error.code }
      })
      .use(plugins(t))
      .patch(
        '/slow',
        async ({ body, set }) => {
          runs++
          await gate
          set.status = 200
          return { done: body.n, runs }
        },
        { auth: 'agents:write', body: schema.Object({ n: schema.Integer() }) },
      )
    const send = () =>
      tiny.handle(
        new Request('http://localhost/slow', {
          method: 'PATCH',
          headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json', 'idempotency-key': 'k1' },
          body: JSON.stringify({ n: 7 }),
        }),
      )
    const first = send()
    // The first has claimed its key once its handler runs (the claim comes before it); a fixed
    // sleep was too short on a loaded PostgreSQL, and a duplicate sent before the claim runs too.
    await until(() => runs > 0)
    expect(runs).toBe(1)
    const dup = await send()
    expect(dup.status).toBe(409)
    expect(((await dup.json()) as any).code).toBe('idempotency_in_progress')
    release()
    const done = await first
    expect(done.status).toBe(200)
    const firstBody = await done.text()
    const replay = await send()
    expect(replay.headers.get('idempotency-status')).toBe('replayed')
    expect(await replay.text()).toBe(firstBody)
    expect(runs).toBe(1)
  })

  test('a key whose record failed for a moment (a connection lost) is recorded again: a failed request\'s key is freed, so the retry its 503 asks for runs; a 201\'s is replayed', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const conn = t.rt.connection
    const refuse = async () => {
      if (conn.dialect === 'pg') {
        await conn.client.unsafe(`CREATE OR REPLACE FUNCTION refuse_keys() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF ${MARKED_PG} THEN RETURN NEW; END IF; RAISE EXCEPTION 'connection lost'; END $$`)
        await conn.client.unsafe('CREATE TRIGGER refuse_keys_u BEFORE UPDATE OR DELETE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION refuse_keys()')
      } else for (const when of ['UPDATE', 'DELETE']) t.db.$client.exec(`CREATE TRIGGER refuse_keys_${when} BEFORE ${when} ON idempotency_keys ${when === 'UPDATE' ? MARKED_SQLITE : ''} BEGIN SELECT RAISE(FAIL, 'connection lost'); END`)
    }
    const accept = async () => {
      if (conn.dialect === 'pg') await conn.client.unsafe('DROP TRIGGER refuse_keys_u ON idempotency_keys')
      else for (const when of ['UPDATE', 'DELETE']) t.db.$client.exec(`DROP TRIGGER refuse_keys_${when}`)
    }
    await refuse()
    const created = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'kept once' }, headers: { 'idempotency-key': 'k-back-1' } })
    expect(created.status).toBe(201)
    const failed = await t.req('PATCH', '/api/v1/tasks/task_nonexistent00000000', { token: a.token, body: { title: 'x' }, headers: { 'idempotency-key': 'k-back-2' } })
    expect(failed.status).toBe(404)
    await accept()
    // The first retry comes half a second on; a graceful stop (before its database closes) does
    // them at once: the stop left them in progress for good.
    await recordPendingKeys()
    expect(t.logs.filter((l) => l.includes('"idempotency_recorded_late"'))).toHaveLength(2)
    const replay = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'kept once' }, headers: { 'idempotency-key': 'k-back-1' } })
    expect([replay.status, replay.headers.get('idempotency-status'), replay.body.id]).toEqual([201, 'replayed', created.body.id])
    const task = (await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'to patch' } })).body.id
    // The failed request's key is free again: the same key with a corrected request runs.
    const retried = await t.req('PATCH', `/api/v1/tasks/${task}`, { token: a.token, body: { title: 'x' }, headers: { 'idempotency-key': 'k-back-2' } })
    expect(retried.status).toBe(200)
    expect(t.logs.some((l) => l.includes('"idempotency_not_recorded"'))).toBe(false)
  })

  test('a key that cannot be recorded (a full disk, a lost connection) never turns the answer into an error: the write\'s 201, the route\'s own 404, as JSON; logged', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    // Every change of a key's row fails from now on, as on a full disk.
    const conn = t.rt.connection
    if (conn.dialect === 'pg') {
      await conn.client.unsafe(`CREATE FUNCTION refuse_keys() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF ${MARKED_PG} THEN RETURN NEW; END IF; RAISE EXCEPTION 'database or disk is full'; END $$`)
      await conn.client.unsafe('CREATE TRIGGER refuse_keys_u BEFORE UPDATE OR DELETE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION refuse_keys()')
    } else {
      for (const when of ['UPDATE', 'DELETE']) t.db.$client.exec(`CREATE TRIGGER refuse_keys_${when} BEFORE ${when} ON idempotency_keys ${when === 'UPDATE' ? MARKED_SQLITE : ''} BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END`)
    }
    const created = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'once' }, headers: { 'idempotency-key': 'k-full-1' } })
    expect(created.status).toBe(201)
    expect(created.body.title).toBe('once')
    // The route's own error (the key is released: that fails too) stays that error, in JSON.
    const missing = await t.req('PATCH', '/api/v1/tasks/task_nonexistent00000000', { token: a.token, body: { title: 'x' }, headers: { 'idempotency-key': 'k-full-2' } })
    expect([missing.status, missing.body?.code]).toEqual([404, 'not_found'])
    // Recorded again in the background (below: once the database takes it); logged.
    expect(t.logs.filter((l) => l.includes('"idempotency_record_retrying"'))).toHaveLength(2)
    // The key of the write that was not recorded is held, not run again: no second task.
    const retry = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'once' }, headers: { 'idempotency-key': 'k-full-1' } })
    expect([retry.status, retry.body.code]).toEqual([409, 'idempotency_in_progress'])
    expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).body.filter((x: { title: string }) => x.title === 'once')).toHaveLength(1)
    // Ten minutes on, the key is taken for an interrupted request: still not run again (it was
    // taken over as abandoned, and the task was made a second time).
    t.clock.advance(IN_PROGRESS_STALE_MS + 1)
    const late = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'once' }, headers: { 'idempotency-key': 'k-full-1' } })
    expect([late.status, late.body.code]).toEqual([409, 'idempotency_interrupted'])
    expect(late.body.message).toContain('may or may not take effect')
    expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).body.filter((x: { title: string }) => x.title === 'once')).toHaveLength(1)
  })

  test('a 5xx first response is not stored: the retry with the same key runs again', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    let calls = 0
    const tiny = new Elysia()
      .onError(({ error, set }) => {
        set.status = error instanceof AppError ? error.status : 500
        return { failed: true }
      })
      .use(plugins(t))
      .post('/flaky', () => {
        if (++calls === 1) throw new AppError('service_unavailable', 'try again')
        return { ok: calls }
      }, { auth: 'agents:write' })
    const send = () => tiny.handle(new Request('http://localhost/flaky', { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'idempotency-key': 'flaky-1' } }))
    expect((await send()).status).toBe(503)
    const second = await send()
    expect(second.status).toBe(200)
    expect(await second.json()).toEqual({ ok: 2 })
    const third = await send()
    expect(third.headers.get('idempotency-status')).toBe('replayed')
    expect(await third.json()).toEqual({ ok: 2 })
    expect(calls).toBe(2)
  })
})

describe('a retry after the server key rotated, or the server was upgraded', () => {
  test('is replayed, not a conflict: the stored hash is recognized under a previous key and in the plain SHA-256 form older servers stored', async () => {
    const k1 = crypto.getRandomValues(new Uint8Array(32))
    const k2 = crypto.getRandomValues(new Uint8Array(32))
    const dir = mkdtempSync(join(tmpdir(), 'teamday-idem-rotation-'))
    try {
      const file = join(dir, 'teamday.db')
      const before = await makeTestApp({ key: k1, ...(ON_PG ? {} : { dbPath: file }) })
      const a = await makeActor(before)
      const send = (t: TestApp, key: string, title: string) => t.req('POST', '/api/v1/tasks', { token: a.token, headers: { 'idempotency-key': key }, body: { title } })
      const first = await send(before, 'rotated-1', 'once')
      expect(first.status).toBe(201)
      // Restarted with a new key, the old one kept as previous (README, Rotating the key).
      const after = await makeTestApp({ key: k2, previousKeys: [k1], ...(ON_PG ? { pg: before.pg } : { dbPath: file }) })
      const retry = await send(after, 'rotated-1', 'once')
      expect([retry.status, retry.headers.get('idempotency-status'), retry.body.id]).toEqual([201, 'replayed', first.body.id])
      // A key an older teamday recorded: the plain SHA-256 (hex) of method, path and body.
      const older = await send(after, 'older-1', 'from before the upgrade')
      expect(older.status).toBe(201)
      const plain = new Bun.CryptoHasher('sha256').update(`POST /api/v1/tasks\n${JSON.stringify({ title: 'from before the upgrade' })}`).digest('hex')
      await after.db.update(idempotencyKeys).set({ requestHash: plain }).where(eq(idempotencyKeys.keyHash, keyDigest('older-1'))).run()
      const olderRetry = await send(after, 'older-1', 'from before the upgrade')
      expect([olderRetry.status, olderRetry.headers.get('idempotency-status'), olderRetry.body.id]).toEqual([201, 'replayed', older.body.id])
      // Another body with either key is still a conflict.
      for (const key of ['rotated-1', 'older-1']) expect((await send(after, key, 'something else')).body.code).toBe('idempotency_conflict')
      // `teamday rekey`, then the old key dropped (README, Rotating the key, steps 2 and 3): the
      // hashes made under it can no longer be compared; a retry is replayed all the same.
      await rekeyDatabase(after.rt.connection, new SecretBox(k2, [k1]), after.clock.now())
      const alone = await makeTestApp({ key: k2, ...(ON_PG ? { pg: before.pg } : { dbPath: file }) })
      const late = await send(alone, 'rotated-1', 'once')
      expect([late.status, late.headers.get('idempotency-status'), late.body.id]).toEqual([201, 'replayed', first.body.id])
      if (!ON_PG) await Promise.all([before.rt.close(), after.rt.close(), alone.rt.close()])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('a replay after the caller\'s role changed', () => {
  test('an answer made for an admin is not replayed to them once a member (another member\'s private agent and its prompt); the same role still gets it', async () => {
    const t = await makeTestApp()
    const a1 = await makeActor(t, { role: 'admin' })
    const a2 = await makeActor(t, { role: 'admin' })
    const m = await makeActor(t, { role: 'member' })
    const created = await t.req('POST', '/api/v1/agents', { token: m.token, body: { name: 'Private', role: 'r', systemPrompt: 'TOP SECRET PROMPT', visibility: 'private' } })
    const path = `/api/v1/agents/${created.body.id}`
    const send = () => t.req('PATCH', path, { token: a2.token, body: { description: 'looked at by an admin' }, headers: { 'idempotency-key': 'edit-1' } })
    const first = await send()
    expect([first.status, first.body.agent.systemPrompt]).toEqual([200, 'TOP SECRET PROMPT'])
    // Still an admin: replayed as before, without the role it was stored for among its headers.
    const same = await send()
    expect([same.status, same.headers.get('idempotency-status'), same.text]).toEqual([200, 'replayed', first.text])
    expect([...same.headers.keys()].filter((h) => h.startsWith('x-teamday'))).toEqual([])
    const member = `/api/v1/organizations/${a1.organizationId}/members/${a2.userId}`
    expect((await t.req('PATCH', member, { token: a1.token, body: { role: 'member' } })).status).toBe(200)
    expect((await t.req('GET', path, { token: a2.token })).status).toBe(404)
    const again = await send()
    expect([again.status, again.body.code, again.headers.get('idempotency-status')]).toEqual([409, 'idempotency_interrupted', null])
    expect(again.body.details).toMatchObject({ committed: true, roleThen: 'admin', roleNow: 'member' })
    expect(again.text).not.toContain('TOP SECRET')
    // Not run again either, and back to admin it is replayed again.
    expect((await t.req('PATCH', member, { token: a1.token, body: { role: 'admin' } })).status).toBe(200)
    const back = await send()
    expect([back.status, back.headers.get('idempotency-status'), back.text]).toEqual([200, 'replayed', first.text])
  })
})

describe('a replay after the caller was made higher, or lower with an execute', () => {
  let double: ProviderDouble
  beforeAll(() => {
    double = startProviderDouble()
  })
  afterAll(() => double.stop())

  test('a member made admin is replayed the answer it had: an admin sees all a member does', async () => {
    const t = await makeTestApp()
    const a1 = await makeActor(t, { role: 'admin' })
    const m = await makeActor(t, { role: 'member' })
    const members = `/api/v1/organizations/${a1.organizationId}/members`
    const task = () => t.req('POST', '/api/v1/tasks', { token: m.token, body: { title: 'Deploy' }, headers: { 'idempotency-key': 'promo-1' } })
    const first = await task()
    expect(first.status).toBe(201)
    expect((await t.req('PATCH', `${members}/${m.userId}`, { token: a1.token, body: { role: 'admin' } })).status).toBe(200)
    const replayed = await task()
    expect([replayed.status, replayed.headers.get('idempotency-status'), replayed.text]).toEqual([201, 'replayed', first.text])
  })

  test("an admin made a member: their execute's retry is 409 idempotency_interrupted naming the execution it started (details.executionId), not its answer", async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    const a1 = await makeActor(t, { role: 'admin' })
    const a2 = await makeActor(t, { role: 'admin' })
    const ag = await agent(t, a2, { name: 'Private', visibility: 'private', systemPrompt: 'TOP SECRET PROMPT' })
    const headers = { 'idempotency-key': 'exec-1' }
    const send = () => exec(t, a2, ag.id, { message: 'hello' }, headers)
    const first = await send()
    expect([first.status, first.body.status]).toEqual([200, 'completed'])
    const executionId = first.body.executionId as string
    expect((await send()).headers.get('idempotency-status')).toBe('replayed')
    expect((await t.req('PATCH', `/api/v1/organizations/${a1.organizationId}/members/${a2.userId}`, { token: a1.token, body: { role: 'member' } })).status).toBe(200)
    const again = await send()
    expect([again.status, again.body.code, again.headers.get('idempotency-status')]).toEqual([409, 'idempotency_interrupted', null])
    expect(again.body.details).toMatchObject({ committed: true, roleThen: 'admin', roleNow: 'member', executionId })
    expect(again.body.message).toContain(executionId)
    expect(again.text).not.toContain(first.body.result)
    // The stored answer's headers never reach a replay: the execution it names is the 409's alone.
    expect((await t.req('PATCH', `/api/v1/organizations/${a1.organizationId}/members/${a2.userId}`, { token: a1.token, body: { role: 'admin' } })).status).toBe(200)
    const back = await send()
    expect([back.status, back.headers.get('idempotency-status'), back.text]).toEqual([200, 'replayed', first.text])
    expect([...back.headers.keys()].filter((h) => h.startsWith('x-teamday'))).toEqual([])
  })

  test("an async execute's retry after a demotion names its execution too; a task's names none", async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    const a1 = await makeActor(t, { role: 'admin' })
    const a2 = await makeActor(t, { role: 'admin' })
    const ag = await agent(t, a2, { name: 'Ops' })
    const started = await exec(t, a2, ag.id, { message: 'later', async: true }, { 'idempotency-key': 'exec-2' })
    expect(started.status).toBe(202)
    const task = () => t.req('POST', '/api/v1/tasks', { token: a2.token, body: { title: 'Deploy' }, headers: { 'idempotency-key': 'task-2' } })
    expect((await task()).status).toBe(201)
    expect((await t.req('PATCH', `/api/v1/organizations/${a1.organizationId}/members/${a2.userId}`, { token: a1.token, body: { role: 'member' } })).status).toBe(200)
    const again = await exec(t, a2, ag.id, { message: 'later', async: true }, { 'idempotency-key': 'exec-2' })
    expect([again.status, again.body.code, again.body.details?.executionId]).toEqual([409, 'idempotency_interrupted', started.body.executionId])
    const taskAgain = await task()
    expect([taskAgain.status, taskAgain.body.code]).toEqual([409, 'idempotency_interrupted'])
    expect(taskAgain.body.details.executionId).toBeUndefined()
  })
})

describe('what the key store keeps of a request', () => {
  test('no unkeyed hash of the body: a secret set with a key cannot be guessed offline from the database', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const space = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: 'Prod', visibility: 'organization' } })
    const path = `/api/v1/spaces/${space.body.space.id}/secrets`
    const body = { secrets: { DB_PASSWORD: 'Summer2024!' } }
    const key = crypto.randomUUID()
    expect((await t.req('POST', path, { token: admin.token, body, headers: { 'idempotency-key': key } })).status).toBe(200)
    const row = (await t.db.select().from(idempotencyKeys).all()).find((r) => r.path === path)!
    // What someone holding the file would try: method, path (both in the row) and a guessed value.
    const plain = new Bun.CryptoHasher('sha256').update(`POST ${path}\n${JSON.stringify(body)}`).digest('hex')
    expect(row.requestHash).not.toBe(plain)
    expect(row.requestHash).not.toContain(plain)
    // The key still binds its request: the same one replays, another body is a conflict.
    const again = await t.req('POST', path, { token: admin.token, body, headers: { 'idempotency-key': key } })
    expect([again.status, again.headers.get('idempotency-status')]).toEqual([200, 'replayed'])
    const other = await t.req('POST', path, { token: admin.token, body: { secrets: { DB_PASSWORD: 'hunter2' } }, headers: { 'idempotency-key': key } })
    expect([other.status, other.body.code]).toEqual([409, 'idempotency_conflict'])
  })

  const dir = mkdtempSync(join(tmpdir(), 'teamday-idem-keys-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  // A key was stored as sent for a day: one holding a token's first 30 characters (27 of its 37
  // random ones; only a whole token is refused) or a secret of the client's sat there in clear.
  test('a key is stored only as a digest: neither a token prefix nor a secret-looking key is found at rest (database files, dump, logs); replay and 409 unchanged', async () => {
    const t = await atRestApp(dir)
    const a = await makeActor(t)
    const keys = [generateToken().slice(0, 30), 'sk_live_Zx81QpWmT4vRb6NcKe0Ls9Hd']
    for (const key of keys) {
      const headers = { 'idempotency-key': key }
      const first = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'keyed' }, headers })
      expect(first.status).toBe(201)
      const retry = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'keyed' }, headers })
      expect([retry.status, retry.headers.get('idempotency-status'), retry.body.id]).toEqual([201, 'replayed', first.body.id])
      const other = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'another' }, headers })
      expect([other.status, other.body.code]).toEqual([409, 'idempotency_conflict'])
      const patched = await t.req('PATCH', `/api/v1/tasks/${first.body.id}`, { token: a.token, body: { title: 'renamed' }, headers: { 'idempotency-key': `${key}-patch` } })
      expect(patched.status).toBe(200)
    }
    const stored = (await t.db.select({ keyHash: idempotencyKeys.keyHash }).from(idempotencyKeys).all()).map((r) => r.keyHash).sort()
    expect(stored).toEqual(keys.flatMap((k) => [keyDigest(k), keyDigest(`${k}-patch`)]).sort())
    expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).body.length).toBe(2)
    expectNoPlaintext(await readAtRest(t, dir), keys)
  }, 60_000)
})

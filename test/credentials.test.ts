import { describe, expect, spyOn, test } from 'bun:test'
import { ACCESS_TOKEN_PREFIX, checksum, REFRESH_TOKEN_PREFIX, TOKEN_PREFIX, TOKEN_SCAN_REGEX } from '../src/auth/tokens'
import { eq } from 'drizzle-orm'
import { personalAccessTokens } from '../src/db/schema'
import { createToken, findTokenById } from '../src/modules/tokens/service'
import { makeActor, makeTestApp, makeToken } from './helpers/app'

const unknownToken = (prefix: string = TOKEN_PREFIX, n = 0) => {
  const random = `${n}`.padStart(37, 'Q')
  return prefix + random + checksum(random)
}

/** Each request from its own address unless told otherwise (the endpoint limits per IP). */
let ipSeq = 0
const nextIp = () => `198.51.100.${++ipSeq}`

describe('POST /api/v1/credentials/revoke', () => {
  test('202 with the same body for garbage, unknown and real tokens; only real ones are revoked', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const leaked = await makeToken(t, a)
    const kept = await makeToken(t, a)
    const send = (credentials: string[]) => t.req('POST', '/api/v1/credentials/revoke', { body: { credentials }, ip: nextIp() })

    const garbage = await send(['hello', 'td_short', `td_${'x'.repeat(43)}`])
    const unknown = await send([unknownToken()])
    const real = await send([leaked.token])
    for (const r of [unknown, real]) {
      expect(r.status).toBe(202)
      expect(r.body).toEqual({ success: true, received: 1 })
    }
    expect(garbage.status).toBe(202)
    expect(garbage.body).toEqual({ success: true, received: 3 })
    expect(Object.keys(real.body)).toEqual(Object.keys(unknown.body))

    expect((await findTokenById(t.ctx, leaked.id))!.revokedReason).toBe('leak_report')
    expect((await findTokenById(t.ctx, kept.id))!.revokedAt).toBeNull()
    expect((await t.req('GET', '/api/v1/tokens', { token: leaked.token })).body.code).toBe('token_revoked')
    expect((await t.req('GET', '/api/v1/tokens', { token: kept.token })).status).toBe(200)
    // Reporting it again (already revoked) is still 202.
    expect((await send([leaked.token, leaked.token])).body).toEqual({ success: true, received: 2 })
  })

  test('no authentication needed, and a bad Authorization header does not matter', async () => {
    const t = await makeTestApp()
    const r = await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: ['x'] }, headers: { authorization: 'Bearer nonsense' }, ip: nextIp() })
    expect(r.status).toBe(202)
  })

  test('leak reports are audited with source leak_report, the reporter\'s address, never the token', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const a = await makeActor(t)
    const leaked = await makeToken(t, a)
    await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [leaked.token, unknownToken()] }, headers: { 'user-agent': 'scanner/2.0' }, ip: '203.0.113.9' })
    const ev = (await t.req('GET', '/api/v1/audit-events?type=token.leak_reported', { token: admin.token })).body
    expect(ev.total).toBe(1)
    expect(ev.events[0]).toMatchObject({ source: 'leak_report', tokenId: leaked.id, ip: '203.0.113.9', userAgent: 'scanner/2.0', actorUserId: null, details: { ownerUserId: a.userId, revokedNow: true } })
    expect(JSON.stringify(ev)).not.toContain(leaked.token)
    expect(t.logs.join('\n')).not.toContain(leaked.token)
  })

  test('422 for a missing, empty, oversized list or an over-long string', async () => {
    const t = await makeTestApp()
    const send = (body: unknown) => t.req('POST', '/api/v1/credentials/revoke', { body, ip: nextIp() })
    for (const body of [{}, { credentials: [] }, { credentials: 'td_x' }, { credentials: Array(1001).fill('x') }, { credentials: ['x'.repeat(201)] }, { credentials: [1] }]) {
      const r = await send(body)
      expect(r.status).toBe(422)
      expect(r.body.code).toBe('validation_failed')
      expect(r.body.message).toContain('credentials')
    }
    expect((await send({ credentials: Array(1000).fill('x'.repeat(200)) })).body).toEqual({ success: true, received: 1000 })
  })

  test('strict per-IP rate limit (10 per minute by default), with headers; other addresses unaffected', async () => {
    const t = await makeTestApp()
    const send = (ip: string) => t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: ['x'] }, ip })
    for (let i = 0; i < 10; i++) {
      const r = await send('192.0.2.1')
      expect(r.status).toBe(202)
      expect(r.headers.get('x-ratelimit-remaining')).toBe(String(9 - i))
    }
    const over = await send('192.0.2.1')
    expect(over.status).toBe(429)
    expect(over.body.code).toBe('rate_limited')
    expect(over.headers.get('retry-after')).toBe('60')
    expect(over.headers.get('ratelimit-policy')).toBe('"leak-report";q=10;w=60')
    expect((await send('192.0.2.2')).status).toBe(202)
    t.clock.advance(60_000)
    expect((await send('192.0.2.1')).status).toBe(202)
  })

  test('the documented scanner regex and checksum recognise our tokens', async () => {
    const t = await makeTestApp()
    const { token } = await makeToken(t, await makeActor(t))
    expect(`config: API_KEY=${token};`.match(new RegExp(TOKEN_SCAN_REGEX.source, 'g'))).toEqual([token])
    // CRC32 of characters 4-40 (the 37 after td_), base62, 6 digits.
    expect(token.slice(-6)).toBe(checksum(token.slice(3, 40)))
  })
})

describe('a report racing the reported token\'s own requests', () => {
  test('no token the reported one creates while the report is worked through outlives it', async () => {
    // On PostgreSQL a create that the token authenticated just before the report could commit
    // after the report's sweep of what it had created: 9 surviving children in 5 rounds.
    const survivors: string[] = []
    for (let round = 0; round < 4; round++) {
      const t = await makeTestApp()
      const a = await makeActor(t)
      const create = () => t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'child' } })
      const rs = await Promise.all([create(), create(), create(), t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: [a.token] } }), create(), create(), create()])
      expect(rs[3]!.status).toBe(202)
      for (const r of rs) {
        expect([201, 202, 401]).toContain(r.status)
        if (r.status === 201 && (await t.req('GET', '/api/v1/tokens/self', { token: r.body.token })).status === 200) survivors.push(r.body.id)
      }
      await t.rt.close()
    }
    expect(survivors).toEqual([])
  }, 60_000)
})

describe('a token created while its creator is revoked elsewhere', () => {
  // The create read its time before waiting for the write lock; a leak report committed meanwhile
  // (another process on the file, another instance) revoked the creator at a later time, so the
  // creator still counted as active and its child outlived the report (3 processes on one file:
  // 5 of 177 children). A clock that moves while the create waits plays that wait here.
  const waiting = (t: Awaited<ReturnType<typeof makeTestApp>>, ms: number) => {
    let calls = 0
    return { ...t.ctx, clock: { now: () => t.clock.now() + (calls++ === 0 ? 0 : ms), monotonic: t.clock.monotonic } }
  }
  const creator = async (t: Awaited<ReturnType<typeof makeTestApp>>) => {
    const a = await makeActor(t)
    return { a, owner: { userId: a.userId, organizationId: a.organizationId, createdByTokenId: a.tokenId } }
  }

  test('revoked while the create waited for the lock: 401 token_revoked, nothing created', async () => {
    const t = await makeTestApp()
    const { a, owner } = await creator(t)
    // A grace period that ended while it waited: revoked by the time the create holds the lock.
    await t.db.update(personalAccessTokens).set({ revokedAt: new Date(t.clock.now() + 50), revokedReason: 'rotated' }).where(eq(personalAccessTokens.id, a.tokenId)).run()
    await expect(createToken(waiting(t, 100), owner, { name: 'child' })).rejects.toMatchObject({ code: 'token_revoked' })
    expect((await t.db.select().from(personalAccessTokens).where(eq(personalAccessTokens.createdByTokenId, a.tokenId)).all()).length).toBe(0)
    await t.rt.close()
  })

  test('revoked by a report whose clock ran ahead (another machine): in force at once; a grace period still ahead is not a revocation, but a rotated token makes no token', async () => {
    const t = await makeTestApp()
    const { a, owner } = await creator(t)
    await t.db.update(personalAccessTokens).set({ revokedAt: new Date(t.clock.now() + 500), revokedReason: 'leak_report' }).where(eq(personalAccessTokens.id, a.tokenId)).run()
    await expect(createToken(t.ctx, owner, { name: 'child' })).rejects.toMatchObject({ code: 'token_revoked' })
    await t.db.update(personalAccessTokens).set({ revokedReason: 'rotated' }).where(eq(personalAccessTokens.id, a.tokenId)).run()
    await expect(createToken(t.ctx, owner, { name: 'child' })).rejects.toMatchObject({ code: 'forbidden' })
    expect((await t.db.select().from(personalAccessTokens).where(eq(personalAccessTokens.createdByTokenId, a.tokenId)).all()).length).toBe(0)
    await t.rt.close()
  })
})

describe('a large report of real tokens', () => {
  test('lets other requests run while it is worked through, and a report that changes nothing is not audited again', async () => {
    const t = await makeTestApp({ config: { maxTokensPerUser: 1000 } })
    const a = await makeActor(t, { role: 'admin' })
    const tokens: string[] = []
    for (let i = 0; i < 300; i++) tokens.push((await makeToken(t, a, { name: `leaked ${i}` })).token)
    const report = () => t.req('POST', '/api/v1/credentials/revoke', { body: { credentials: tokens }, ip: nextIp() })
    expect((await report()).status).toBe(202)
    const events = async () => (await t.req('GET', '/api/v1/audit-events?type=token.leak_reported&limit=200', { token: a.token })).body.total
    expect(await events()).toBe(300)
    // Reported again: all already revoked, nothing made through them; the loop turns meanwhile.
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    expect((await report()).status).toBe(202)
    clearInterval(timer)
    expect(ticks).toBeGreaterThanOrEqual(3)
    expect(await events()).toBe(300)
  }, 30_000)
})

describe('a report of CLI tokens that do not exist', () => {
  // Each tdo_/tdr_ candidate opened a transaction before looking (on SQLite BEGIN IMMEDIATE: the
  // write lock), made-up ones too: an unauthenticated report of 1,000 took the write lock 1,000
  // times (1-2 s; 5-6 s of a pooled connection on PostgreSQL), where 1,000 td_ ones took 0.2 s.
  test('opens no more transactions than one of td_ tokens that do not exist', async () => {
    const t = await makeTestApp()
    const transactions = spyOn(t.rt.connection, 'transaction')
    const report = async (credentials: string[]) => {
      transactions.mockClear()
      const r = await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials }, ip: nextIp() })
      expect(r.body).toEqual({ success: true, received: credentials.length })
      return transactions.mock.calls.length
    }
    const many = (prefix: string) => Array.from({ length: 30 }, (_, i) => unknownToken(prefix, i))
    const baseline = await report(many(TOKEN_PREFIX))
    expect(await report([...many(ACCESS_TOKEN_PREFIX), ...many(REFRESH_TOKEN_PREFIX), 'tdo_made_up', `tdr_${'x'.repeat(43)}`])).toBe(baseline)
    transactions.mockRestore()
    await t.rt.close()
  })
})

describe('a report of td_, tdo_ and tdr_ tokens that do not exist', () => {
  // Each well-formed candidate was one look-up, in turn: 1,000 made-up tokens (a valid checksum is
  // easy to make) held a pooled PostgreSQL connection for 0.8-0.9 s, unauthenticated. They are
  // now found (or not) together: one statement per 500.
  test('costs a few statements, not one per token; the real one among them is still revoked', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'member' })
    const real = await makeToken(t, a, { name: 'leaked among many' })
    const conn = t.rt.connection
    const before = conn.onQuery
    let statements = 0
    conn.onQuery = (seconds) => {
      statements++
      before?.(seconds)
    }
    try {
      const credentials = [
        ...Array.from({ length: 333 }, (_, i) => unknownToken(TOKEN_PREFIX, i)),
        ...Array.from({ length: 333 }, (_, i) => unknownToken(ACCESS_TOKEN_PREFIX, i)),
        ...Array.from({ length: 333 }, (_, i) => unknownToken(REFRESH_TOKEN_PREFIX, i)),
        real.token,
      ]
      const r = await t.req('POST', '/api/v1/credentials/revoke', { body: { credentials }, ip: nextIp() })
      expect(r.body).toEqual({ success: true, received: 1000 })
    } finally {
      conn.onQuery = before
    }
    expect(statements).toBeLessThan(60)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: real.token })).status).toBe(401)
    await t.rt.close()
  }, 30_000)
})

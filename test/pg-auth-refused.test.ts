/**
 * PostgreSQL refusing the server's new connections by authentication while it runs: a role made
 * NOLOGIN (or renamed, or a pg_hba.conf `reject`, or a password rotated on the database before
 * teamday's URL), noticed once its pooled connections end (a restart, pg_terminate_backend).
 * Every request was a 500 "internal error" (found probing the binary on a private cluster with a
 * pg_hba.conf reject, 2026-12-07), where a privilege revoked (42501) is a 503 saying what an
 * operator must do. Now the same: 503 with Retry-After, a message naming the refusal, JSON; and
 * service again once the role may log in, without a restart.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import postgres from 'postgres'
import { databaseUnavailable, unavailableForGood } from '../src/db/unavailable'
import { makeActor, makeTestApp } from './helpers/app'
import { freshPgSchema, ON_PG, PG_ADMIN_URL } from './helpers/pg'

const role = `teamday_t_login_${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`
const admin = ON_PG ? postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {} }) : null

afterAll(async () => {
  if (!admin) return
  await admin.unsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`).catch(() => {})
  await admin.unsafe(`DROP ROLE IF EXISTS ${role}`).catch(() => {})
  await admin.end({ timeout: 1 })
})

describe('the SQLSTATEs of a connection refused by authentication, or of a database gone', () => {
  test('are the database unavailable (503), for good (not retried by waiting), each saying what an operator must do', () => {
    const pg = (code: string, message: string) => Object.assign(new Error(message), { code })
    const cases: [string, string][] = [
      ['28000', 'no pg_hba.conf entry'],
      ['28P01', 'password'],
      ['3D000', 'does not exist'],
    ]
    for (const [code, words] of cases) {
      const e = new Error('Failed query', { cause: pg(code, 'from the driver') })
      expect([code, databaseUnavailable(e)?.includes(words), unavailableForGood(e)]).toEqual([code, true, true])
    }
  })
})

describe.skipIf(!ON_PG)('a role that may no longer log in while the server runs', () => {
  test('requests and readiness are 503 with Retry-After, saying so, not 500; served again once it may', async () => {
    const pg = await freshPgSchema()
    // Superuser: it reads the schema the harness migrated as postgres without grants, and owns nothing (dropped afterwards).
    await admin!.unsafe(`CREATE ROLE ${role} LOGIN SUPERUSER`)
    const url = new URL(pg.url)
    url.username = role
    const t = await makeTestApp({ pg: { url: url.toString(), schema: pg.schema } })
    const a = await makeActor(t)
    expect((await t.req('GET', '/api/v1/tasks', { token: a.token })).status).toBe(200)

    await admin!.unsafe(`ALTER ROLE ${role} NOLOGIN`)
    await admin!.unsafe(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`)
    await Bun.sleep(200)
    const list = await t.req('GET', '/api/v1/tasks', { token: a.token })
    const write = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'refused' } })
    const ready = await t.req('GET', '/api/health/ready')
    // Before: 500 internal_error for the list and the write.
    for (const r of [list, write, ready]) {
      expect({ status: r.status, code: r.body?.code, retryAfter: r.headers.get('retry-after') !== null }).toEqual({ status: 503, code: 'service_unavailable', retryAfter: true })
      expect(r.body.message).toContain("The database refused teamday's connection (SQLSTATE 28000")
    }
    expect(write.body.details.committed).toBe('none')

    await admin!.unsafe(`ALTER ROLE ${role} LOGIN`)
    let status = 0
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await t.req('GET', '/api/v1/tasks', { token: a.token })).status
      if (status !== 200) await Bun.sleep(100)
    }
    expect(status).toBe(200)
    await t.rt.close()
  }, 60_000)
})

import { afterAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { makeTestApp, type TestApp } from './helpers/app'
import { SecretBox } from '../src/crypto/secretbox'
import { rekeyDatabase } from '../src/db/rekey'

// A database an older teamday made and served, opened by this build: an upgrade in place (the
// binary replaced, the file kept). The fixture is a SQL dump of what the build of 2026-12-03
// (commit 122c50cd, before migration 0022) left; its key and tokens are the ones it was made with.
// A SQLite file in both passes of the suite (a test that names a file gets SQLite).
const FIXTURE = join(import.meta.dir, 'fixtures/teamday-2026-12-03-122c50cd.sql')
const KEY = Uint8Array.from(Buffer.from('1AMyMFXIH+ZbVv9flH5iOlN2C9DlTUHyfgrY9ZBroaY=', 'base64'))
const CI_TOKEN = 'td_Bu88owmkjaODWnRlCbmwmDXpQqQwQElrmCQle3EwyVQ'
const REVOKED_TOKEN = 'td_51aSOkJ2zxn73PRqWOgm5lJUsp4YS1wKY4MdK0gpQOk'
/** The task the old build created for the keyed POST, at 2026-12-07T06:29:48.891Z. */
const KEYED_TASK = 'task_2zfCYOko089MX5DdWj3q'
const KEYED_BODY = { title: 'Deploy', metadata: { ticket: 42 } }

const dir = mkdtempSync(join(tmpdir(), 'teamday-upgrade-'))
const apps: TestApp[] = []
afterAll(async () => {
  for (const t of apps) await t.rt.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A fixture loaded into a new file, then opened (and so migrated) by this build, its clock minutes after the old build's last request. */
async function upgraded(name: string, fixture = { sql: FIXTURE, key: KEY }): Promise<TestApp> {
  const file = join(dir, `${name}.db`)
  const old = new Database(file)
  old.exec(readFileSync(fixture.sql, 'utf8'))
  old.close()
  const t = await makeTestApp({ dbPath: file, key: fixture.key })
  apps.push(t)
  t.clock.ms = Date.parse('2026-12-07T06:45:00.000Z')
  return t
}

// The build of 2026-11-23 (commit ea8a5bb9) wrote its audit log's address, user agent and
// details as they were; builds since seal them.
const EARLIEST = {
  sql: join(import.meta.dir, 'fixtures/teamday-2026-11-23-ea8a5bb9.sql'),
  key: Uint8Array.from(Buffer.from('g60sPSohNt4l8ggyc70Vst1gLYva/4CwEK1Y8Fyq1lE=', 'base64')),
}
const EARLIEST_TOKEN = 'td_gOaYJ3Yismj4oRLjliMagT6m3fPXyPL8eJ7KG2zSFhI'

describe('a SQLite database of the 2026-11-23 build (audit fields unsealed), upgraded in place', () => {
  const shown = (events: any[]) => events.map((e) => [e.type, e.ip, e.userAgent, e.details])
  const expected = [
    ['token.created', '127.0.0.1', 'deploy-bot/2.1', { scopes: ['agents:read'], expiresAt: '2027-03-07T06:37:13.599Z', ownerUserId: 'user_uVfHUaneudJMo3SbdLHR' }],
    ['token.new_ip', '127.0.0.1', 'deploy-bot/2.1', { previousIp: null, firstUse: true }],
    ['token.created', null, null, { scopes: ['*'], expiresAt: '2027-03-07T06:37:12.038Z', ownerUserId: 'user_uVfHUaneudJMo3SbdLHR' }],
  ]

  test('its audit log reads as it was written (it was a 500)', async () => {
    const t = await upgraded('audit', EARLIEST)
    const log = await t.req('GET', '/api/v1/audit-events', { token: EARLIEST_TOKEN })
    expect(log.status).toBe(200)
    expect(shown(log.body.events)).toEqual(expected)
  })

  test('teamday rekey seals those fields (it failed on them: "not a sealed value"), and the log reads the same after', async () => {
    const t = await upgraded('rekey', EARLIEST)
    const rawAt = () => t.db.all<{ ip: string | null; user_agent: string | null; details: string }>(sql`SELECT ip, user_agent, details FROM audit_events ORDER BY created_at`)
    expect(rawAt()[1]).toMatchObject({ ip: '127.0.0.1', user_agent: 'deploy-bot/2.1' })
    const next = crypto.getRandomValues(new Uint8Array(32))
    const report = await rekeyDatabase(t.rt.connection, new SecretBox(next, [EARLIEST.key]), t.clock.now())
    expect(report.resealed.find((r) => r.table === 'audit_events')!.values).toBe(7)
    for (const row of rawAt()) {
      for (const v of [row.ip, row.user_agent, JSON.parse(row.details)]) if (v !== null) expect(v).toMatch(/^v1\./)
    }
    // Closed before the file is opened again: one process's second connection to it, closed, drops the first's locks (DESIGN.md).
    await t.rt.close()
    apps.splice(apps.indexOf(t), 1)
    const after = await makeTestApp({ dbPath: join(dir, 'rekey.db'), key: next })
    apps.push(after)
    const log = await after.req('GET', '/api/v1/audit-events', { token: EARLIEST_TOKEN })
    expect(log.status).toBe(200)
    expect(shown(log.body.events)).toEqual(expected)
  })
})

describe('a SQLite database of the 2026-12-03 build, upgraded in place', () => {
  test('a retry with an Idempotency-Key first sent to the old build is replayed, not run a second time', async () => {
    const t = await upgraded('idempotency')
    const retry = await t.req('POST', '/api/v1/tasks', { token: CI_TOKEN, body: KEYED_BODY, headers: { 'idempotency-key': 'retry-after-upgrade-1' } })
    expect(retry.status).toBe(201)
    expect(retry.headers.get('idempotency-status')).toBe('replayed')
    expect(retry.body.id).toBe(KEYED_TASK)
    const tasks = await t.req('GET', '/api/v1/tasks', { token: CI_TOKEN })
    expect(tasks.body.map((x: { id: string }) => x.id)).toEqual([KEYED_TASK])
    // The same key with another body is the conflict it was before the upgrade.
    const other = await t.req('POST', '/api/v1/tasks', { token: CI_TOKEN, body: { title: 'Something else' }, headers: { 'idempotency-key': 'retry-after-upgrade-1' } })
    expect(other.status).toBe(409)
    expect(other.body.code).toBe('idempotency_conflict')
    // Stored as its digest now, as this build stores every key: the text sent is gone.
    const keys = t.db.all(sql`SELECT key FROM idempotency_keys`)
    expect(keys).toEqual([{ key: new Bun.CryptoHasher('sha256').update('retry-after-upgrade-1').digest('hex') }])
  })

  test("the old build's tokens authenticate as before: the live one 200 with its data, the revoked one 401 token_revoked", async () => {
    const t = await upgraded('tokens')
    const self = await t.req('GET', '/api/v1/tokens/self', { token: CI_TOKEN })
    expect(self.status).toBe(200)
    expect(self.body.token).toMatchObject({ name: 'ci', scopes: ['*'], role: 'admin', organizationSlug: 'acme' })
    const revoked = await t.req('GET', '/api/v1/tokens/self', { token: REVOKED_TOKEN })
    expect(revoked.status).toBe(401)
    expect(revoked.body.code).toBe('token_revoked')
    const task = await t.req('GET', `/api/v1/tasks/${KEYED_TASK}`, { token: CI_TOKEN })
    expect(task.status).toBe(200)
    expect(task.body).toMatchObject({ title: 'Deploy', metadata: { ticket: 42 } })
  })
})

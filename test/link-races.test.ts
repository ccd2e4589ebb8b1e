/**
 * A set-password link used at the very moment its person joins another organization (the admin
 * CLI's `users create --org`, another instance), held open in another session here (another
 * process on SQLite, a second connection on PostgreSQL). "May this account still get a link" was
 * asked before the claim's transaction: the link set the password of an account that now belongs
 * to another organization too, whose admins' account this organization's link must not reach.
 * It is asked again in the claim's transaction, the user's row read with forUpdate: the request
 * waits for the membership, sees it and refuses, setting nothing.
 */
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { users } from '../src/db/schema'
import { createLink } from '../src/modules/users/links'
import { makeActor, makeTestApp } from './helpers/app'
import { consoleClient, PASSWORD } from './helpers/console'
import { whileHeld } from './helpers/held-write'
import { ON_PG } from './helpers/pg'

const dir = mkdtempSync(join(tmpdir(), 'teamday-link-race-'))
const t = await makeTestApp(ON_PG ? {} : { dbPath: join(dir, 't.db') })
afterAll(async () => {
  if (!ON_PG) await t.rt.close()
  rmSync(dir, { recursive: true, force: true })
})

test('a set-password link used while its person joins another organization: refused, no password set', async () => {
  const person = await makeActor(t, { role: 'member', org: 'link-org' })
  const elsewhere = await makeActor(t, { role: 'admin', org: 'link-elsewhere' })
  const { path } = await createLink(t.ctx, person.userId, person.organizationId, 'set_password')
  const now = t.backend === 'pg' ? 'now()' : String(Date.now())
  const join = `INSERT INTO memberships (id, organization_id, user_id, role, created_at, updated_at) VALUES ('mem_race${Date.now()}', '${elsewhere.organizationId}', '${person.userId}', 'admin', ${now}, ${now})`
  const { res, waited } = await whileHeld(t, join, () => consoleClient(t).post(path, { password: PASSWORD, confirm: PASSWORD }))
  expect(waited).toBe(true)
  expect([res.status, res.text.includes('no longer applies')]).toEqual([422, true])
  expect((await t.rt.db.select({ hash: users.passwordHash }).from(users).where(eq(users.id, person.userId)).get())!.hash).toBeNull()
})

import { afterAll, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { makeTestApp } from './helpers/app'
import { signedInPerson } from './helpers/console'
import { cliLogin } from './helpers/world'
import { cliSessions } from '../src/db/schema'

/** Settings → Profile → Personal Access Tokens, its CLI sign-ins section. */
const t = await makeTestApp()
afterAll(() => t.rt.close())
const DE = { 'accept-language': 'de-DE,de;q=0.9' }

test('a working CLI sign-in older than the 100 newest (all revoked or expired) is listed, with its Revoke', async () => {
  const { a, c } = await signedInPerson(t, { role: 'member' })
  const working = await cliLogin(t, a)
  const row = (await t.db.select().from(cliSessions).where(eq(cliSessions.id, working.sessionId)).get())!
  // A CI runner's sign-in per job since: 60 revoked, 60 expired, each newer than the working one.
  for (let i = 0; i < 120; i++) {
    const at = new Date(row.createdAt.getTime() + (i + 1) * 1000)
    const gone = i < 60 ? { revokedAt: at, revokedBy: a.userId, revokedReason: 'logout' } : { refreshExpiresAt: new Date(t.clock.now() - 1) }
    await t.db.insert(cliSessions).values({ ...row, id: `clis_old${String(i).padStart(3, '0')}`, refreshTokenHash: `hash-${i}`, createdAt: at, ...gone }).run()
  }
  const settings = (await c.get('/settings/profile')).text
  expect(settings).not.toContain('No command-line tool is signed in')
  expect(settings).toContain(`/settings/cli-sessions/${working.sessionId}/revoke`)
  expect(settings).not.toContain('/settings/cli-sessions/clis_old')
})

test('revoking a CLI sign-in that no longer exists: the signed-in settings page with the error, 404, in English and German', async () => {
  const { c } = await signedInPerson(t, { role: 'member' })
  const en = await c.post('/settings/cli-sessions/clis_gone/revoke')
  expect(en.status).toBe(404)
  expect(en.text).toContain('No such CLI sign-in; it may have been revoked already.')
  expect(en.text).not.toContain('Link not valid')
  expect(en.text).toContain('action="/logout"')
  expect(en.text).toMatch(/role="alert"[^>]*>No such CLI sign-in/)
  const de = await c.post('/settings/cli-sessions/clis_gone/revoke', {}, DE)
  expect(de.status).toBe(404)
  expect(de.text).toContain('Diese CLI-Anmeldung gibt es nicht; vielleicht wurde sie schon widerrufen.')
})

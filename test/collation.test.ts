import { describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, type TestApp } from './helpers/app'
import { createTestDatabase, migratedSchema, needPostgres } from './helpers/pg'

/**
 * Lists the server sorts by text come out in one order whatever the database's collation: the
 * README asks for a C-collated PostgreSQL database, but one created with a distribution's
 * default locale (en-US) sorted `A_B` before `AB` in ORDER BY, where SQLite, a C database and
 * the answers of set and delete put it after.
 */

const KEYS = ['AB', 'A_B', 'A1', 'Z', 'B_', 'B']
const SORTED = [...KEYS].sort() // by code unit: A1, AB, A_B, B, B_, Z

async function secretsOrder(t: TestApp) {
  const a = await makeActor(t, { role: 'admin' })
  const made = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'S' } })
  expect(made.status).toBe(201)
  const id = made.body.id ?? made.body.space.id
  const set = await t.req('POST', `/api/v1/spaces/${id}/secrets`, { token: a.token, body: { secrets: Object.fromEntries(KEYS.map((k) => [k, 'v'])) } })
  expect(set.status).toBeLessThan(300)
  const listed = await t.req('GET', `/api/v1/spaces/${id}/secrets`, { token: a.token })
  expect(listed.status).toBe(200)
  const space = await t.req('GET', `/api/v1/spaces/${id}`, { token: a.token })
  return { listed: listed.body, space: space.body }
}

describe('secret names', () => {
  test('listed by code unit on this backend', async () => {
    const { listed } = await secretsOrder(await makeTestApp())
    expect(JSON.stringify(listed)).toContain(JSON.stringify(SORTED))
  })

  test('listed by code unit on a PostgreSQL database collated en-US (ICU)', async () => {
    if (!(await needPostgres('collation.test.ts'))) return
    const pg = await migratedSchema(await createTestDatabase({ icuLocale: 'en-US' }))
    const { listed, space } = await secretsOrder(await makeTestApp({ pg }))
    expect(JSON.stringify(listed)).toContain(JSON.stringify(SORTED))
    expect(JSON.stringify(space)).toContain(JSON.stringify(SORTED))
  })
})

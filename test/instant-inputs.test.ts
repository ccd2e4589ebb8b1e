// Instants sent by clients (a token's expiresAt, an audit or executions filter, a task's due date)
// are a full date or a date-time: a year alone (`2027`) or a year and month (`2027-06`) was read
// as the start of that period (a token's expiresAt 2027-01 expired at 2027-01-01T00:00Z, an audit
// `until=2026-12` selected nothing of December), and a date with a six-digit year
// (`+002026-12-13`) as its midnight where the same date written `2026-12-13` is the whole day.
import { describe, expect, test } from 'bun:test'
import { parseInstant } from '../src/instants'
import { makeActor, makeTestApp } from './helpers/app'

const DAY = 86_400_000

describe('instants sent by clients: a full date or a date-time, nothing shorter', () => {
  test('a year alone or a year and month is 422 naming the field, wherever an instant is read', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    for (const text of ['2027', '2027-01', '+002027', '+002027-01']) {
      const token = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'x', expiresAt: text } })
      expect([text, token.status, token.body.details?.[0]?.field]).toEqual([text, 422, 'expiresAt'])
      const alias = await t.req('POST', '/api/tokens/create', { token: a.token, body: { name: 'x', expiresAt: text } })
      expect([text, alias.status]).toEqual([text, 422])
      const rotated = await t.req('POST', '/api/v1/tokens/self/rotate', { token: a.token, body: { expiresAt: text } })
      expect([text, rotated.status, rotated.body.details?.[0]?.field]).toEqual([text, 422, 'expiresAt'])
      const task = await t.req('POST', '/api/v1/tasks', { token: a.token, body: { title: 'due', dueDate: text } })
      expect([text, task.status, task.body.details?.[0]?.field]).toEqual([text, 422, 'dueDate'])
      for (const field of ['since', 'until']) {
        const audit = await t.req('GET', `/api/v1/audit-events?${field}=${encodeURIComponent(text)}`, { token: a.token })
        expect([text, field, audit.status, audit.body.details?.[0]?.field]).toEqual([text, field, 422, field])
      }
      const runs = await t.req('GET', `/api/v1/executions?since=${encodeURIComponent(text)}`, { token: a.token })
      expect([text, runs.status, runs.body.details?.[0]?.field]).toEqual([text, 422, 'since'])
      expect([text, parseInstant(text)]).toEqual([text, null])
    }
    await t.rt.close()
  })

  test('a date with a six-digit year is the same day as with four: the end of that day for expiresAt, the whole day for until', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const day = new Date(t.clock.now() + 30 * DAY).toISOString().slice(0, 10)
    const four = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'four', expiresAt: day } })
    const six = await t.req('POST', '/api/v1/tokens', { token: a.token, body: { name: 'six', expiresAt: `+00${day}` } })
    expect([four.status, six.status]).toEqual([201, 201])
    expect(six.body.expiresAt).toBe(four.body.expiresAt)
    expect(four.body.expiresAt).toBe(`${day}T23:59:59.999Z`)
    // The test clock's day: the tokens' creation events are in it.
    const today = new Date(t.clock.now()).toISOString().slice(0, 10)
    const count = async (until: string) => (await t.req('GET', `/api/v1/audit-events?type=token.created&until=${encodeURIComponent(until)}`, { token: a.token })).body.events.length
    expect(await count(today)).toBeGreaterThan(0)
    expect(await count(`+00${today}`)).toBe(await count(today))
    await t.rt.close()
  })
})

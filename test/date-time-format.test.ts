// The `date-time` format the response schemas declare (src/http/formats.ts): RFC 3339, checked in
// one pass instead of Elysia's regular expressions and Date parse, for every time of every row sent.
import { describe, expect, test } from 'bun:test'
import { FormatRegistry } from '@sinclair/typebox'
import { checkDateTime, elysiaDateTime, isDateTime, MAX_ELYSIA_DATE_TIME } from '../src/http/formats'
import { createApp } from '../src/app'
import { makeActor, makeTestApp, makeToken } from './helpers/app'

describe('date-time format', () => {
  test('is the one TypeBox checks with once the app is loaded: RFC 3339 first, then what Elysia took', () => {
    void createApp
    expect(FormatRegistry.Get('date-time')).toBe(checkDateTime)
    // Inputs keep every form they were accepted in (a task's dueDate): a date alone, a space for the T.
    for (const v of ['2024-02-29', '2026-12-31 17:00:00+01:00', '2026-12-04T16:21:53.093Z']) expect([v, checkDateTime(v)]).toEqual([v, true])
    // (A day that does not exist passes here and is refused by the service: test/input-limits.test.ts.)
    for (const v of ['tomorrow', '', 'not a date', '2026-12-04T16:21:53.093Z trailing']) expect([v, checkDateTime(v)]).toEqual([v, false])
  })

  test('takes what toISOString writes, and RFC 3339 offsets, fractions and leap days', () => {
    const now = Date.now()
    for (let i = 0; i < 2000; i++) expect(isDateTime(new Date(now - i * 7_919_993_117).toISOString())).toBe(true)
    for (const v of [
      '2026-12-04T16:21:53Z',
      '2026-12-04T16:21:53.093Z',
      '2026-12-04t16:21:53.1z',
      '2026-12-04T16:21:53.123456789+01:00',
      '2026-12-04T00:00:00-23:59',
      '2024-02-29T12:00:00Z',
      '2000-02-29T12:00:00Z',
      '0001-01-01T00:00:00Z',
    ]) expect([v, isDateTime(v)]).toEqual([v, true])
  })

  test('refuses what RFC 3339 does not write, and impossible dates and times', () => {
    for (const v of [
      '',
      '2026-12-04',
      '2026-12-04T16:21Z',
      '2026-12-04T16:21:53',
      '2026-12-04 16:21:53Z',
      '2026/12/04T16:21:53Z',
      'Fri Dec 04 2026 16:21:53 GMT+0000 (Coordinated Universal Time)',
      '2026-12-04T16:21:53.Z',
      '2026-12-04T16:21:53.093',
      '2026-12-04T16:21:53.093Z ',
      ' 2026-12-04T16:21:53.093Z',
      '2026-12-04T16:21:53.093ZZ',
      '2026-12-04T16:21:53+0100',
      '2026-12-04T16:21:53+01',
      '2026-12-04T16:21:53+24:00',
      '2026-12-04T16:21:53+01:60',
      '2026-13-04T16:21:53Z',
      '2026-00-04T16:21:53Z',
      '2026-12-00T16:21:53Z',
      '2026-12-32T16:21:53Z',
      '2026-04-31T16:21:53Z',
      '2023-02-29T12:00:00Z',
      '1900-02-29T12:00:00Z',
      '2026-12-04T24:00:00Z',
      '2026-12-04T23:60:00Z',
      '2026-12-04T23:59:60Z',
      '2026-12-04T23:59:61Z',
      '+012026-12-04T16:21:53Z',
      '2026-1a-04T16:21:53Z',
      '２０２６-12-04T16:21:53Z',
      '2026-12-04T16:21:53.0000000000000000000001Z',
    ]) expect([v, isDateTime(v)]).toEqual([v, false])
  })

  test("takes nothing Elysia's own check refused: inputs are accepted exactly as before", () => {
    // checkDateTime = isDateTime || Elysia's: equal to Elysia's alone only if isDateTime takes a subset.
    const elysia = elysiaDateTime
    let seed = 42
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n)
    const two = (max: number) => String(rand(max + 1)).padStart(2, '0')
    const years = ['0000', '0001', '0999', '1000', '1900', '2000', '2023', '2024', '2100', '9999']
    let taken = 0
    for (let i = 0; i < 50_000; i++) {
      const year = i % 2 ? years[rand(years.length)]! : String(rand(10_000)).padStart(4, '0')
      const v = `${year}-${two(13)}-${two(32)}${rand(2) ? 'T' : 't'}${two(24)}:${two(60)}:${two(61)}${['', '.5', '.123', '.123456789'][rand(4)]}${['Z', 'z', `+${two(24)}:${two(60)}`, `-${two(23)}:${two(59)}`][rand(4)]}`
      if (!isDateTime(v)) continue
      taken++
      if (!elysia(v)) expect(`${v} taken by isDateTime only`).toBe('')
    }
    expect(taken).toBeGreaterThan(20_000)
  })

  // Elysia's check tries unanchored expressions, one of which (Date's toString form, its zone's
  // name in parentheses) backtracks in time quadratic in the length: 144 KB of that form repeated,
  // no `)`, took 340 ms (a plain string of the same length: 0.1 ms). It is given no string longer
  // than any form it takes.
  test("Elysia's check is given no long string: toString's form repeated costs no more than a plain string of that length", () => {
    const hostile = 'Tue Dec 00 0000 00:00:00 GMT+0000 (D'.repeat(4000)
    const plain = 'x'.repeat(hostile.length)
    const fastest = (f: () => boolean) => {
      let best = Infinity
      for (let i = 0; i < 3; i++) {
        const started = performance.now()
        expect(f()).toBe(false)
        best = Math.min(best, performance.now() - started)
      }
      return best
    }
    // The harmless string through Elysia's check itself: the linear work of that length.
    const plainMs = fastest(() => elysiaDateTime(plain))
    const hostileMs = fastest(() => checkDateTime(hostile))
    expect({ hostileMs, plainMs, within: hostileMs < 20 * plainMs }).toEqual({ hostileMs, plainMs, within: true })
    // What that refuses: nothing of the length Date writes (the longest zone names included).
    for (const zone of ['Coordinated Universal Time', 'Australian Central Western Standard Time']) {
      const v = `Thu Jan 01 1970 08:45:00 GMT+0845 (${zone})`
      expect([v, checkDateTime(v)]).toEqual([v, true])
    }
    const padded = `Thu Jan 01 1970 00:00:00 GMT+0000 (${'x'.repeat(MAX_ELYSIA_DATE_TIME)})`
    expect([elysiaDateTime(padded), checkDateTime(padded)]).toEqual([true, false])
  })

  // A format's check runs on the client's string only if a request schema declares it: those are
  // the app's own (src/http/formats.ts, linear, their expressions checked by regex-safety), never
  // one of Elysia's or TypeBox's (`date-time` falls back to Elysia's, `email`, `uri`… are theirs).
  test('request schemas declare only the formats the app registers itself', async () => {
    const t = await makeTestApp()
    const formats = new Map<string, string[]>()
    const walk = (s: unknown, where: string) => {
      if (s === null || typeof s !== 'object') return
      if (Array.isArray(s)) return s.forEach((x) => walk(x, where))
      const o = s as Record<string, unknown>
      if (typeof o.format === 'string') formats.set(o.format, [...(formats.get(o.format) ?? []), where])
      for (const v of Object.values(o)) walk(v, where)
    }
    for (const r of t.app.routes as { method: string; path: string; hooks?: Record<string, unknown> }[]) {
      for (const part of ['body', 'query', 'params', 'headers', 'cookie']) walk(r.hooks?.[part], `${r.method} ${r.path} ${part}`)
    }
    expect(formats.get('integer')?.length).toBeGreaterThan(3)
    expect([...formats.keys()].filter((f) => f !== 'integer' && f !== 'numeric').map((f) => [f, formats.get(f)])).toEqual([])
    await t.rt.close()
  })

  test("a token's and a member's times still pass the response check through HTTP", async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const { id } = await makeToken(t, a, { name: 'second' })
    await t.req('DELETE', `/api/v1/tokens/${id}`, { token: a.token })
    const one = await t.req('GET', `/api/v1/tokens/${id}`, { token: a.token })
    expect(one.status).toBe(200)
    expect(isDateTime(one.body.token.revokedAt)).toBe(true)
    const list = await t.req('GET', '/api/v1/tokens', { token: a.token })
    expect(list.status).toBe(200)
    expect(list.body.tokens.length).toBeGreaterThan(0)
    for (const k of list.body.tokens) expect(isDateTime(k.createdAt) && isDateTime(k.expiresAt)).toBe(true)
    const members = await t.req('GET', `/api/v1/organizations/${a.organizationId}/members`, { token: a.token })
    expect(members.status).toBe(200)
    for (const m of members.body.members) expect(isDateTime(m.joinedAt)).toBe(true)
  })
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { agents } from '../src/db/schema'
import { hasLoneSurrogate, jsonMayHaveSurrogate } from '../src/json-limits'
import { newId } from '../src/ids'
import { clipped, cutText } from '../src/text'
import { makeActor, makeTestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

/**
 * A lone surrogate (half of a UTF-16 pair, written in JSON as an escape such as `\ud800`) cannot
 * be stored by PostgreSQL: its jsonb refuses the escape (a task's metadata with one was a 500
 * there), its text keeps U+FFFD instead. So a request body holding one is refused on both
 * backends (422, as the NUL character is), and a model answer holding one is stored with U+FFFD.
 */

let double: ProviderDouble
beforeAll(() => {
  double = startProviderDouble()
})
afterAll(() => double.stop())

const post = (t: Awaited<ReturnType<typeof makeTestApp>>, token: string, path: string, raw: string) =>
  t.req('POST', path, { token, raw, headers: { 'content-type': 'application/json' } })

describe('in a request body', () => {
  test('a lone surrogate in any string or key is a 422 naming it, on either backend; a pair is kept', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    // Each names where it is (the string's field, or the object a key is in).
    const refused: [string, string, string, boolean][] = [
      ['/api/v1/tasks', '{"title":"a\\ud800b"}', 'title', false],
      ['/api/v1/tasks', '{"title":"x","metadata":{"k":"\\udc00"}}', 'metadata.k', false],
      ['/api/v1/tasks', '{"title":"x","metadata":{"\\uD83D":"v"}}', 'metadata', true],
      ['/api/v1/tasks', '{"title":"x","metadata":{"k":["ok","\\ude00\\ud83d"]}}', 'metadata.k[1]', false],
      ['/api/v1/agents', '{"name":"bot\\udbff"}', 'name', false],
      ['/api/v1/spaces', '{"name":"docs","instructions":"\\udfff"}', 'instructions', false],
      ['/api/v1/tasks', '{"\\udfff":"x","title":"x"}', 'body', true],
    ]
    for (const [path, raw, field, key] of refused) {
      const r = await post(t, a.token, path, raw)
      expect([path, raw, r.status, r.body.code]).toEqual([path, raw, 422, 'validation_failed'])
      expect(r.body.message).toContain(key ? `Validation failed: a key of ${field} must be well-formed Unicode` : `Validation failed: ${field} must be well-formed Unicode`)
      expect([raw, r.body.details]).toEqual([raw, [{ field, message: `${key ? 'a key ' : ''}must be well-formed Unicode: an escape \\ud800-\\udfff must be half of a surrogate pair` }]])
    }
    const kept = await post(t, a.token, '/api/v1/tasks', '{"title":"\\ud83d\\ude00 done","metadata":{"\\uD83D\\uDE00":"\\\\ud800"}}')
    expect(kept.status).toBe(201)
    expect(kept.body.title).toBe('😀 done')
    // An escaped backslash before "ud800" is text, not an escape.
    expect(kept.body.metadata).toEqual({ '😀': '\\ud800' })
    const read = await t.req('GET', `/api/v1/tasks/${kept.body.id}`, { token: a.token })
    expect(read.body.metadata).toEqual({ '😀': '\\ud800' })
  })

  test('the text test and the value test', () => {
    expect(jsonMayHaveSurrogate('{"a":"\\ud800"}')).toBe(true)
    expect(jsonMayHaveSurrogate('{"a":"\\uDFFF"}')).toBe(true)
    expect(jsonMayHaveSurrogate('{"a":"\\ud7ff\\ue000"}')).toBe(false)
    expect(hasLoneSurrogate({ a: ['x', { b: 'y\ud800' }] })).toBe(true)
    expect(hasLoneSurrogate({ ['k\udc00']: 1 })).toBe(true)
    expect(hasLoneSurrogate({ a: ['x', { b: '\ud83d\ude00' }], n: 1, z: null })).toBe(false)
  })
})

describe('in a model answer', () => {
  test('the run completes and its result and messages keep U+FFFD in its place, on either backend', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
    const a = await makeActor(t)
    const now = new Date(t.clock.now())
    const agentId = newId('char')
    await t.db.insert(agents).values({ id: agentId, organizationId: a.organizationId, userId: a.userId, name: 'Echo', slug: 'echo', visibility: 'organization', createdAt: now, updatedAt: now })
    const r = await t.req('POST', `/api/v1/agents/${agentId}/execute`, { token: a.token, body: { message: 'answer with SURROGATE' } })
    expect([r.status, r.body.status]).toEqual([200, 'completed'])
    expect(r.body.result).toBe('before\uFFFDafter')
    const g = await t.req('GET', `/api/v1/executions/${r.body.executionId}`, { token: a.token })
    expect(g.body.execution.status).toBe('completed')
    expect(g.body.execution.result).toBe('before\uFFFDafter')
    expect(g.body.execution.messages.at(-1).content).toBe('before\uFFFDafter')
  })
})

describe('in a value echoed cut to a length', () => {
  // 'a' then emoji: every cut at an even length of UTF-16 units fell inside a pair.
  const ref = 'a' + '\u{1F600}'.repeat(60)

  test('cutText never splits a pair; what fits is kept as slice gives it', () => {
    expect(cutText(ref, 100)).toBe('a' + '\u{1F600}'.repeat(49))
    expect(cutText(ref, 101)).toBe(ref.slice(0, 101))
    expect(cutText('short', 100)).toBe('short')
    expect(cutText('\u{1F600}', 1)).toBe('')
    for (let n = 0; n <= ref.length; n++) expect(cutText(ref, n).isWellFormed()).toBe(true)
  })

  test('clipped: cut by cutText, its mark (`...` by default, `…` for a quoted name) only after a cut', () => {
    expect(clipped(ref, 100)).toBe('a' + '\u{1F600}'.repeat(49) + '...')
    expect(clipped(ref, 100, '…')).toBe('a' + '\u{1F600}'.repeat(49) + '…')
    expect(clipped('short', 5, '…')).toBe('short')
    expect(clipped('longer', 5, '…')).toBe('longe…')
  })

  test('a not-found id, a secret key, a query parameter: the message holds no half emoji, on either backend', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const space = await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: 'S' } })
    expect(space.status).toBe(201)
    const answers = [
      await t.req('GET', `/api/v1/tasks/${encodeURIComponent(ref)}`, { token: a.token }),
      await t.req('PATCH', `/api/v1/tasks/${encodeURIComponent(ref)}`, { token: a.token, body: { title: 'x' } }),
      await t.req('POST', `/api/v1/spaces/${space.body.id ?? space.body.space.id}/secrets`, { token: a.token, body: { secrets: { [ref]: 'v' } } }),
      await t.req('GET', `/api/v1/agents?${encodeURIComponent(ref)}=1`, { token: a.token }),
      // A key of a JSON body named in a 422 (its path cut at 64 units): a NUL value, a number out of range.
      await t.req('POST', '/api/v1/tasks', { token: a.token, raw: `{"title":"x","metadata":{"${'k'.repeat(23)}${'\u{1F600}'.repeat(30)}":"\\u0000"}}`, headers: { 'content-type': 'application/json' } }),
      await t.req('POST', '/api/v1/tasks', { token: a.token, raw: `{"title":"x","metadata":{"${'k'.repeat(23)}${'\u{1F600}'.repeat(30)}":1e400}}`, headers: { 'content-type': 'application/json' } }),
    ]
    for (const [i, r] of answers.entries()) {
      expect(r.status).toBeGreaterThanOrEqual(400)
      expect(r.status).toBeLessThan(500)
      expect(r.text).not.toMatch(/\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])/i)
      expect(JSON.stringify(r.body).isWellFormed()).toBe(true)
      // A secret's name failing the rule is told by its position, never echoed (it may be a
      // value pasted as a name): nothing of it, whole or cut.
      if (i === 2) expect(JSON.stringify(r.body)).not.toContain('\u{1F600}')
      else expect(JSON.stringify(r.body)).toContain('\u{1F600}'.repeat(20))
    }
  })
})

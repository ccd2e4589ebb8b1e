import { describe, expect, test } from 'bun:test'
import { KeptHeaders } from '../src/http/kept-headers'

/** The headers of a Response as sent: names and values in order, as Bun gives them back. */
const headersOf = (init: Headers | Record<string, unknown>) => [...new Response('x', { headers: init as Record<string, string> }).headers]

describe('KeptHeaders', () => {
  test('each Response gets exactly the object’s headers, whatever came before (values changed, names added, removed or reordered)', () => {
    const kept = new KeptHeaders()
    const objects: Record<string, unknown>[] = [
      { 'x-request-id': 'req_a', 'content-type': 'application/json', 'x-ratelimit-remaining': 9 },
      { 'x-request-id': 'req_b', 'content-type': 'application/json', 'x-ratelimit-remaining': 8 },
      { 'x-request-id': 'req_c', 'content-type': 'application/json', 'x-ratelimit-remaining': 8, 'content-encoding': 'gzip' },
      { 'x-request-id': 'req_d', 'content-type': 'application/json', 'x-ratelimit-remaining': '7' },
      { 'content-type': 'application/json', 'x-request-id': 'req_e', 'x-ratelimit-remaining': 6 },
      { 'x-request-id': 'req_f', 'content-type': 'application/json' },
      { 'x-request-id': 'req_g', 'content-type': 'application/json', 'x-ratelimit-remaining': 5, 'content-encoding': 'br' },
      { a: '1' },
      { b: '2' },
      { c: '3' },
      { d: '4' },
      { 'x-request-id': 'req_h', 'content-type': 'application/json', 'x-ratelimit-remaining': 4 },
      {},
    ]
    const made = objects.map((o) => new Response('x', { headers: kept.of(o) }))
    // Each one as made from its own object, though the kept Headers changed after it was made.
    made.forEach((res, i) => expect([...res.headers]).toEqual(headersOf(objects[i]!)))
  })

  test('names that differ only in case are converted as from the object, never kept', () => {
    const kept = new KeptHeaders()
    const object = { 'Content-Type': 'text/plain', 'content-type': 'application/json' }
    for (let i = 0; i < 3; i++) expect([...new Response('x', { headers: kept.of(object) }).headers]).toEqual(headersOf(object))
  })

  test('a value that is refused is refused as from the object', () => {
    const kept = new KeptHeaders()
    kept.of({ 'x-a': 'ok' })
    expect(() => kept.of({ 'x-a': 'no\nline' })).toThrow()
    expect(() => new Headers({ 'x-a': 'no\nline' })).toThrow()
    expect([...new Response('x', { headers: kept.of({ 'x-a': 'ok' }) }).headers]).toEqual([['x-a', 'ok']])
  })
})

// src/json-text.ts: the JSON of a value holding a long string several times (an execution's
// answer, in a synchronous execute's answer and a stream's `result` event) is JSON.stringify's,
// byte for byte, with that string escaped once.
import { expect, test } from 'bun:test'
import { jsonBody, jsonParts, jsonText, jsonTextKept, SHARED_FROM_CHARS } from '../src/json-text'

/** A long string with everything JSON escapes or keeps: quotes, backslashes, controls, a pair, a lone surrogate, non-ASCII. */
const long = (seed: string) => `${seed} "quoted" back\\slash\nline\ttab \u0001 😀 \ud800 é ${'w'.repeat(SHARED_FROM_CHARS)}`

test('the same text as JSON.stringify, whatever the value holds around its repeated long strings', () => {
  const a = long('a')
  const b = long('b')
  const values: unknown[] = [
    { result: a, messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: a, timestamp: '2026-12-01T00:00:00.000Z' }] },
    { success: true, result: a, messages: [{ content: a }], execution: { result: a, messages: [{ content: a }], skipped: undefined, at: new Date(0), n: -0, big: 1e21 } },
    // Equal strings that are not the same string.
    [a, `${a.slice(0, 10)}${a.slice(10)}`, b, b, 'short', null, undefined, () => 1],
    { [a.slice(0, 100)]: a, nested: { deeper: [[a]] }, withToJSON: { toJSON: () => a } },
    // One long string only once: JSON.stringify's own text.
    { result: a, other: b },
    a,
  ]
  for (const v of values) expect(jsonText(v)).toBe(JSON.stringify(v))
})

test('a repeated long string is one part, the same string wherever it appears; a value without is one part', () => {
  const a = long('a')
  const parts = jsonParts({ result: a, messages: [{ content: a }], execution: { result: a } })
  const escaped = parts.filter((p) => p.length >= SHARED_FROM_CHARS)
  expect(escaped.length).toBe(3)
  expect(escaped[0]).toBe(JSON.stringify(a))
  expect(escaped.every((p) => p === escaped[0])).toBe(true)
  expect(jsonParts({ result: 'short', messages: [] })).toEqual([JSON.stringify({ result: 'short', messages: [] })])
})

test('a text no client can send stands for the long string: one that looks like the mark is written as it is', () => {
  const a = long('a')
  const v = { result: a, again: a, lookalike: '\u0000json-text-00000000-0000-0000-0000-000000000000-0', quote: '"' }
  expect(jsonText(v)).toBe(JSON.stringify(v))
})

test('a value looked into past a bound is serialized as JSON.stringify does, without looking further', () => {
  const a = long('a')
  const v = [...Array.from({ length: 5000 }, (_, i) => ({ i })), a, a]
  expect(jsonParts(v)).toEqual([JSON.stringify(v)])
})

test('jsonTextKept: the next jsonBody of the same value is the text kept, once', () => {
  const v = { result: long('a') }
  const text = jsonTextKept(v)
  expect(text).toBe(JSON.stringify(v))
  v.result = 'changed'
  expect(jsonBody(v)).toBe(text)
  // Kept once only: the value as it is now.
  expect(jsonBody(v)).toBe(JSON.stringify(v))
})

test('jsonBody: the UTF-8 of JSON.stringify, as bytes when a long string repeats (each encoded once), else as the text', () => {
  const a = long('a')
  const b = long('b')
  const repeated: unknown[] = [
    { result: a, messages: [{ role: 'assistant', content: a }], execution: { result: a, messages: [{ content: a }] } },
    [a, b, b, 'é', a],
  ]
  for (const v of repeated) {
    const body = jsonBody(v)
    expect(body).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(body as Uint8Array).equals(Buffer.from(JSON.stringify(v), 'utf8'))).toBe(true)
  }
  for (const v of [{ result: a, other: b }, { small: 'x' }, [1, 2]]) expect(jsonBody(v)).toBe(JSON.stringify(v))
})

/**
 * A model provider that sends what a real gateway may (found by probing the engine, 2026-12-07):
 * each case ends as README says, the answer kept and recorded once, nothing internal answered.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor } from './helpers/app'
import { agent, exec, getExec, makeTestApp, oaiChunk, oaiDone, oaiStop, oaiText, rawStream, startScripted, type Scripted } from './helpers/scripted-provider'
import { parseSse } from './helpers/providers'

let p: Scripted
beforeAll(() => {
  p = startScripted()
})
afterAll(() => p.stop())

const KEY = 'my-provider-secret-9f8e7d6c5b4a'

async function setup(extra = {}) {
  const t = await makeTestApp({ config: { openaiBaseUrl: p.openaiBaseUrl, openaiApiKey: KEY, defaultModel: 'test-model', ...extra } })
  const a = await makeActor(t)
  const ag = await agent(t, a)
  return { t, a, ag }
}

describe('usage the provider reports out of range', () => {
  // A fraction was answered 500 (the API's integers) on SQLite; on PostgreSQL its integer column
  // refused it, as it did 3e9, and the finished run lost its answer (failed, 500 internal_error).
  const cases = [
    ['fractions', { prompt_tokens: 2.5, completion_tokens: 1.25, total_tokens: 3.75 }, [3, 1]],
    ['past the integer column', { prompt_tokens: 3e9, completion_tokens: 1e300, total_tokens: 1 }, [2_147_483_647, 2_147_483_647]],
    ['negative', { prompt_tokens: -5, completion_tokens: -1, total_tokens: -6 }, [0, 0]],
  ] as const
  for (const [name, usage, [inTok, outTok]] of cases) {
    test(`${name}: completed with the answer, the counts recorded as whole tokens in range (sync, stream, GET)`, async () => {
      const o = await setup()
      p.handler = () => rawStream([oaiText('hello'), oaiStop(), oaiChunk({ choices: [], usage }), oaiDone])
      const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
      expect([r.status, r.body.status, r.body.result]).toEqual([200, 'completed', 'hello'])
      expect(r.body.usage).toEqual({ inputTokens: inTok, outputTokens: outTok })
      const row = await getExec(o.t, o.a, r.body.executionId)
      expect([row.status, row.result, row.tokensInput, row.tokensOutput]).toEqual(['completed', 'hello', inTok, outTok])
      const s = await exec(o.t, o.a, o.ag.id, { message: 'hi', stream: true })
      const result = parseSse(s.text).find((e) => e.event === 'result')
      expect(result).toBeDefined()
      expect(result!.data.usage).toEqual({ inputTokens: inTok, outputTokens: outTok })
    })
  }
})

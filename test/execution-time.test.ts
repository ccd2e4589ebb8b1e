/**
 * `executionTime` is a duration: measured on the monotonic clock (src/clock.ts), so that a step of
 * the wall clock while a run runs (NTP, an operator) neither inflates it nor makes it negative.
 * `startedAt` and `completedAt` stay the wall clock's instants.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { makeActor } from './helpers/app'
import { agent, exec, getExec, makeTestApp, oaiFull, rawStream, startScripted, until } from './helpers/scripted-provider'

const scripted = startScripted()
afterAll(() => scripted.stop())

describe('executionTime', () => {
  for (const [what, stepMs] of [
    ['forward an hour', 3_600_000],
    ['back an hour', -3_600_000],
  ] as const) {
    test(`the wall clock stepped ${what} while a run runs: its executionTime is the time that passed, its instants the wall clock's`, async () => {
      const t = await makeTestApp({ config: { openaiBaseUrl: scripted.openaiBaseUrl, defaultModel: 'test-model' } })
      const a = await makeActor(t, { role: 'admin' })
      const ag = await agent(t, a)
      const answer = Promise.withResolvers<void>()
      let asked = false
      scripted.handler = async () => {
        asked = true
        await answer.promise
        return rawStream(oaiFull('done'))
      }
      const r = await exec(t, a, ag.id, { message: 'hello', async: true })
      expect(r.status).toBe(202)
      const id = r.body.executionId
      await until(() => asked)
      const started = (await getExec(t, a, id)).startedAt
      t.clock.step(stepMs)
      t.clock.advance(1500)
      answer.resolve()
      await until(async () => (await getExec(t, a, id)).status === 'completed')
      const e = await getExec(t, a, id)
      expect(e.executionTime).toBe(1500)
      expect(e.startedAt).toBe(started)
      expect(Date.parse(e.completedAt)).toBe(Date.parse(started) + stepMs + 1500)
      await t.rt.close()
    }, 30_000)
  }
})

/**
 * An execute's event stream of a long answer, read by a client that reads: every event and the
 * `result`. The `result` event carries the answer about four times (result, messages, and the
 * execution's own), so an answer over 1 MiB makes one event of some 4 MiB: a cut of streams
 * "4 MiB behind their client" (03fb428, reverted) cut exactly these, and TeamDay's CLI then
 * reported a run that had completed as failed.
 */
import { afterAll, expect, test } from 'bun:test'
import { makeActor, makeTestApp } from './helpers/app'
import { parseSse, startProviderDouble } from './helpers/providers'

const double = startProviderDouble()
afterAll(() => double.stop())

test('a 1.2 MiB answer streamed to a client that reads: all of it, then `result`', async () => {
  const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
  const a = await makeActor(t)
  const agent = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Writer', systemPrompt: 'x' } })).body
  const res = await t.app.handle(
    new Request(`http://localhost/api/v1/agents/${agent.id}/execute`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message: 'BIG 1228', stream: true }) }),
  )
  expect(res.status).toBe(200)
  const events = parseSse(await res.text())
  const result = events.find((e) => e.event === 'result')
  expect(result).toBeDefined()
  expect(result!.data.result.length).toBe(1228 * 1024)
  expect(result!.data.execution.status).toBe('completed')
}, 60_000)

/**
 * An execute's event stream read by a client that stopped reading: the events gathered in the
 * server without bound (a probe's 100 such streams of long answers held 1.6 GB for a minute).
 * Past STREAM_BACKLOG_BYTES behind, the stream is cut; the execution goes on and is recorded.
 * In process: nothing reads the response body, so every event waits in the stream itself.
 */
import { afterAll, expect, test } from 'bun:test'
import { STREAM_BACKLOG_BYTES } from '../src/modules/executions/sse'
import { makeActor, makeTestApp } from './helpers/app'
import { until } from './helpers/scripted-provider'
import { startProviderDouble } from './helpers/providers'

const double = startProviderDouble()
afterAll(() => double.stop())

test('a stream whose client reads nothing is cut once it is STREAM_BACKLOG_BYTES behind; the execution completes; a client that reads gets it all', async () => {
  const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
  const a = await makeActor(t)
  const agent = (await t.req('POST', '/api/v1/agents', { token: a.token, body: { name: 'Talker', systemPrompt: 'x' } })).body
  // About 100 000 words, each its own event of about 100 bytes: some 10 MB of events.
  const message = 'a '.repeat(99_000)
  const execute = () =>
    t.app.handle(
      new Request(`http://localhost/api/v1/agents/${agent.id}/execute`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ message, stream: true }) }),
    )
  const unread = await execute()
  expect(unread.status).toBe(200)
  const id = unread.headers.get('x-execution-id')!
  await until(async () => (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution.status === 'completed', 30_000)
  // What reading it now gets: at most the backlog, then an error (the stream was cut).
  let bytes = 0
  let cut = false
  const reader = unread.body!.getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      bytes += value.byteLength
    }
  } catch {
    cut = true
  }
  expect(cut).toBe(true)
  expect(bytes).toBeLessThan(STREAM_BACKLOG_BYTES + 1024 * 1024)
  // A client that reads gets every event and the result.
  const text = await (await execute()).text()
  expect(text.length).toBeGreaterThan(STREAM_BACKLOG_BYTES)
  expect(text).toContain('event: result')
}, 60_000)

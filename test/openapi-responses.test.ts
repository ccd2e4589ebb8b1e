import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeWorld, type World } from './helpers/world'

/**
 * The response examples the document gives are shaped as the server answers: here the streamed
 * execute's, a string of Server-Sent Events whose `result` event showed four of the JSON body's
 * fields and no `execution`, where the stream sends the whole body with `execution`.
 */

type Json = any
let w: World
let spec: Json

beforeAll(async () => {
  w = await makeWorld()
  spec = (await w.t.req('GET', '/swagger/json')).body
}, 60_000)
afterAll(() => w.close())

/** The events of a Server-Sent Events text: name and parsed data, comments left out. */
const events = (text: string): { name: string; data: Json }[] =>
  text
    .split('\n\n')
    .filter((block) => block.startsWith('event: '))
    .map((block) => {
      const [head, ...data] = block.split('\n')
      return { name: head!.slice('event: '.length), data: JSON.parse(data.map((l) => l.slice('data: '.length)).join('\n')) }
    })

describe("the streamed execute's example", () => {
  test('has the events a stream sends, each with the fields it sends: `result` the whole JSON body with `execution`', async () => {
    for (const [url, path] of [
      [`/api/v1/agents/${w.agentId}/execute`, '/api/v1/agents/{id}/execute'],
      ['/api/v1/execute', '/api/v1/execute'],
    ]) {
      const real = await w.t.req('POST', url, { token: w.who.memberA.token, body: { message: 'hi', stream: true } })
      expect(real.headers.get('content-type')).toStartWith('text/event-stream')
      const sent = events(real.text)
      const shown = events(spec.paths[path].post.responses['200'].content['text/event-stream'].example)
      const keysOf = (list: { name: string; data: Json }[], name: string) => Object.keys(list.find((e) => e.name === name)?.data ?? {}).sort()
      expect([...new Set(shown.map((e) => e.name))]).toEqual([...new Set(sent.map((e) => e.name))])
      for (const name of ['meta', 'result']) expect({ path, name, keys: keysOf(shown, name) }).toEqual({ path, name, keys: keysOf(sent, name) })
      const execution = (list: { name: string; data: Json }[]) => Object.keys(list.find((e) => e.name === 'result')!.data.execution).sort()
      expect({ path, execution: execution(shown) }).toEqual({ path, execution: execution(sent) })
      // The JSON answer's example is the result event's body, without `execution`.
      const { execution: _, ...body } = shown.find((e) => e.name === 'result')!.data
      expect(body).toEqual(spec.components.schemas.ExecuteResult.examples[0])
    }
  })
})

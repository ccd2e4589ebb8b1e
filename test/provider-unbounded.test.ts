/**
 * A provider's answer that never ends where the AI SDK waits for its end (found from outside
 * against the compiled binary, 2026-12-06): an SSE line without a line end, or an error status
 * whose body goes on, grew the server by some 25 MB a second until the run's timeout (gigabytes
 * at the default 5 minutes), and the run ended only then, as a timeout (504). The output limits
 * count only what the SDK parsed, and it parses nothing of an event until the event ends.
 * src/engine/provider-fetch.ts bounds both: the run fails at once (502, a clear error), the
 * stream gets its `error` event, and its slot goes to the next run.
 *
 * The app runs with a small answer limit (Config.outputLimits), so the event bound is ~70 KB.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { DEFAULT_OUTPUT_LIMITS } from '../src/engine/output-limits'
import { ERROR_BODY_BYTES, eventBytesFor } from '../src/engine/provider-fetch'
import { makeActor } from './helpers/app'
import { parseSse } from './helpers/providers'
import { agent, antEv, exec, getExec, makeTestApp, oaiFull, oaiText, oaiStop, oaiUsage, oaiDone, rawStream, startScripted, until, type Scripted } from './helpers/scripted-provider'

const KEY = 'my-provider-secret-5e4d3c2b1a'
const LIMITS = { ...DEFAULT_OUTPUT_LIMITS, answerChars: 1000 }
const EVENT_BYTES = eventBytesFor(LIMITS.answerChars)
/** Long enough that a run ended by it (the old behaviour) fails these tests' expectations. */
const TIMEOUT_MS = 15_000

let p: Scripted
beforeAll(() => {
  p = startScripted()
})
afterAll(() => p.stop())

const enc = new TextEncoder()
/** A body that never ends: `head`, then 64 KiB of `fill` every few milliseconds until the reader goes. */
function endless(head: string, fill: string, status = 200): Response & { sent: () => number } {
  let sent = 0
  const block = enc.encode(fill.repeat(Math.ceil(65536 / fill.length)).slice(0, 65536))
  let first = true
  const body = new ReadableStream({
    async pull(c) {
      if (first) {
        first = false
        c.enqueue(enc.encode(head))
        return
      }
      await Bun.sleep(2)
      sent += block.length
      c.enqueue(block)
    },
  })
  const res = new Response(body, { status, headers: { 'content-type': status === 200 ? 'text/event-stream' : 'application/json' } }) as Response & { sent: () => number }
  res.sent = () => sent
  return res
}

async function setup(extra = {}) {
  const t = await makeTestApp({ config: { openaiBaseUrl: p.openaiBaseUrl, openaiApiKey: KEY, anthropicApiKey: 'sk-ant-' + KEY, anthropicBaseUrl: p.anthropicBaseUrl, defaultModel: 'test-model', outputLimits: LIMITS, executionTimeoutMs: TIMEOUT_MS, maxConcurrentExecutions: 1, ...extra } })
  const a = await makeActor(t)
  return { t, a, ag: await agent(t, a), claude: await agent(t, a, { model: 'claude-x' }) }
}

describe('a provider answer that never ends', () => {
  test('openai: an SSE line without end: failed at once (502, says why), not at the timeout; what was read stays near the bound', async () => {
    const o = await setup()
    let res: ReturnType<typeof endless> | undefined
    p.handler = () => (res = endless('data: {"choices":[{"index":0,"delta":{"content":"', 'x'))
    const started = performance.now()
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    const took = performance.now() - started
    expect(r.status).toBe(502)
    expect(r.body.code).toBe('bad_gateway')
    expect(r.body.message).toContain('without ending a stream event')
    expect(took).toBeLessThan(TIMEOUT_MS / 2)
    // What the provider wrote includes what the sockets' buffers took (megabytes on loopback);
    // before, it wrote until the timeout (some 250 MB here). Its request is abandoned: it stops.
    expect(res!.sent()).toBeLessThan(16 * 1024 * 1024)
    const sent = res!.sent()
    await Bun.sleep(500)
    expect(res!.sent()).toBeLessThan(sent + 4 * 65536)
    const row = await getExec(o.t, o.a, r.body.details.executionId)
    expect(row).toMatchObject({ status: 'failed', errorCode: 'bad_gateway' })
    expect(row.error).toContain(`more than ${EVENT_BYTES.toLocaleString('en-US')} bytes`)
    expect(JSON.stringify({ row, logs: o.t.logs })).not.toContain(KEY)
    await o.t.rt.close()
  })

  test('anthropic: data lines that never reach a blank line: the same; a stream gets its error event and ends', async () => {
    const o = await setup()
    const head = antEv('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 1 } } })
    p.handler = () => endless(head + 'event: content_block_delta\n', 'data: zzzzzzzzzzzzzzzzzzzzzz\n')
    const r = await exec(o.t, o.a, o.claude.id, { message: 'hi', stream: true })
    const events = parseSse(r.text)
    const last = events.at(-1)!
    expect(last.event).toBe('error')
    expect(last.data.code).toBe('bad_gateway')
    expect(last.data.message).toContain('without ending a stream event')
    expect(events.filter((e) => e.event === 'error' || e.event === 'result')).toHaveLength(1)
    await o.t.rt.close()
  })

  test('an error status whose body never ends: its message read from the front, 502 at once; the next queued run gets the slot', async () => {
    const o = await setup()
    let res: ReturnType<typeof endless> | undefined
    let n = 0
    p.handler = () => (n++ === 0 ? (res = endless(`{"error":{"message":"quota gone for ${KEY}","padding":"`, ' ', 500)) : rawStream(oaiFull('fine')))
    const before = p.requests.length
    const first = exec(o.t, o.a, o.ag.id, { message: 'one' })
    // Queued behind it (one slot, taken once the provider is asked): starts once the first has failed.
    await until(() => p.requests.length > before)
    const second = exec(o.t, o.a, o.ag.id, { message: 'two' })
    const r = await first
    expect(r.status).toBe(502)
    expect(r.body.code).toBe('bad_gateway')
    expect(r.body.message).toContain('HTTP 500')
    expect(r.body.message).not.toContain(KEY)
    expect(res!.sent()).toBeLessThan(16 * 1024 * 1024)
    const sent = res!.sent()
    await Bun.sleep(500)
    expect(res!.sent()).toBeLessThan(sent + 4 * 65536)
    const s = await second
    expect(s.status).toBe(200)
    expect(s.body.result).toBe('fine')
    await o.t.rt.close()
  }, 30_000)
})

test("a server's bound is README's: 12,648,448 bytes in one event, 64 KiB of an error body", async () => {
  expect(eventBytesFor(DEFAULT_OUTPUT_LIMITS.answerChars)).toBe(12_648_448)
  expect(ERROR_BODY_BYTES).toBe(64 * 1024)
  const readme = await Bun.file(new URL('../README.md', import.meta.url)).text()
  expect(readme).toContain('of more than 12,648,448 bytes')
  expect(readme).toContain('only the first 64 KiB')
})

describe('answers within the bound are untouched', () => {
  test('one event of the whole allowed answer, every character escaped, split over many chunks, with CRLF line ends', async () => {
    const o = await setup()
    const text = '\u00e9'.repeat(LIMITS.answerChars)
    const event = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: text }, finish_reason: null }] }).replace(/\u00e9/g, '\\u00e9')}\r\n\r\n`
    expect(event.length).toBeGreaterThan(LIMITS.answerChars * 6)
    const parts = event.match(/[^]{1,333}/g)!
    p.handler = () => rawStream([...parts, ...[oaiStop(), oaiUsage(), oaiDone].map((s) => s.replace(/\n/g, '\r\n'))])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect(r.status).toBe(200)
    expect(r.body.result).toBe(text)
    await o.t.rt.close()
  })

  test('many small events, more bytes in all than one event may hold', async () => {
    const o = await setup({ outputLimits: { ...LIMITS, answerChars: 100_000 } })
    const chunks = Array.from({ length: 3000 }, () => oaiText('ab'))
    expect(chunks.join('').length).toBeGreaterThan(eventBytesFor(1000))
    p.handler = () => rawStream([chunks.join(''), oaiStop(), oaiUsage(), oaiDone])
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect(r.status).toBe(200)
    expect(r.body.result).toBe('ab'.repeat(3000))
    await o.t.rt.close()
  })
})

describe('a provider that redirects', () => {
  test("elsewhere: not followed (Anthropic's key went along in x-api-key); the run fails naming the origin", async () => {
    const seen: Record<string, string>[] = []
    const other = Bun.serve({ port: 0, fetch: (req) => (seen.push(Object.fromEntries(req.headers)), new Response('{}')) })
    try {
      const o = await setup()
      p.handler = () => new Response(null, { status: 307, headers: { location: `http://localhost:${other.port}/v1/messages` } })
      const r = await exec(o.t, o.a, o.claude.id, { message: 'hi' })
      expect(seen).toEqual([])
      expect(r.status).toBe(502)
      expect(r.body.message).toContain(`redirected (HTTP 307) to http://localhost:${other.port}: not followed`)
      expect(r.body.message).not.toContain(KEY)
      const row = await getExec(o.t, o.a, r.body.details.executionId)
      expect(row).toMatchObject({ status: 'failed', errorCode: 'bad_gateway' })
      await o.t.rt.close()
    } finally {
      other.stop(true)
    }
  })

  test('within its own origin: followed, the same request again', async () => {
    const o = await setup()
    p.handler = (req) => (new URL(req.url).pathname.startsWith('/v1/') ? new Response(null, { status: 308, headers: { location: '/moved/chat/completions' } }) : rawStream(oaiFull('moved')))
    const r = await exec(o.t, o.a, o.ag.id, { message: 'hi' })
    expect(r.status).toBe(200)
    expect(r.body.result).toBe('moved')
    expect(p.requests.at(-1)!.path).toBe('/moved/chat/completions')
    expect(p.requests.at(-1)!.headers.authorization).toBe(`Bearer ${KEY}`)
    expect(p.requests.at(-1)!.body.messages.at(-1).content).toBe('hi')
    await o.t.rt.close()
  })
})

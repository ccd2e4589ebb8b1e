/**
 * A scriptable fake model provider (OpenAI-compatible and Anthropic wire formats): each test
 * sets `handler` to answer the next request(s) however it likes, down to the raw bytes (cut
 * streams, bad JSON, errors quoting keys, huge answers). test/helpers/providers.ts has the
 * behaving double; this one misbehaves on purpose.
 */
import { agents } from '../../src/db/schema'
import { newId } from '../../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './app'

export type Handler = (req: Request, body: any) => Response | Promise<Response>

export interface Scripted {
  url: string
  openaiBaseUrl: string
  anthropicBaseUrl: string
  handler: Handler
  requests: { path: string; body: any; headers: Record<string, string> }[]
  stop(): void
}

export function startScripted(): Scripted {
  const s: Scripted = {
    url: '',
    openaiBaseUrl: '',
    anthropicBaseUrl: '',
    handler: () => new Response('no handler', { status: 500 }),
    requests: [],
    stop: () => {},
  }
  const server = Bun.serve({
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname
      const body: any = await req.json().catch(() => ({}))
      s.requests.push({ path, body, headers: Object.fromEntries(req.headers) })
      return s.handler(req, body)
    },
  })
  s.url = `http://127.0.0.1:${server.port}`
  s.openaiBaseUrl = `${s.url}/v1`
  s.anthropicBaseUrl = s.url
  s.stop = () => server.stop(true)
  return s
}

const enc = new TextEncoder()
/** An SSE response from a list of raw chunks, each sent after `gapMs`; `cut`: the connection is reset after them. */
export function rawStream(chunks: string[], o: { gapMs?: number; error?: boolean } = {}): Response {
  let i = 0
  const body = new ReadableStream({
    async pull(c) {
      if (o.gapMs) await Bun.sleep(o.gapMs)
      if (i < chunks.length) c.enqueue(enc.encode(chunks[i++]))
      else if (o.error) c.error(new Error('connection reset'))
      else c.close()
    },
  })
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
}

export const oaiChunk = (o: object) => `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', ...o })}\n\n`
export const oaiText = (t: string) => oaiChunk({ choices: [{ index: 0, delta: { role: 'assistant', content: t }, finish_reason: null }] })
export const oaiStop = (reason = 'stop') => oaiChunk({ choices: [{ index: 0, delta: {}, finish_reason: reason }] })
export const oaiUsage = () => oaiChunk({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } })
export const oaiDone = 'data: [DONE]\n\n'
export const oaiFull = (text: string) => [oaiText(text), oaiStop(), oaiUsage(), oaiDone]

export const antEv = (name: string, o: object) => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...o })}\n\n`

/** A test app on the scripted provider `p` (OpenAI-compatible, its API key `key`), a member and an agent of theirs. */
export async function scriptedApp(p: Scripted, key: string, config: Parameters<typeof makeTestApp>[0] extends { config?: infer C } | undefined ? C : never = {}) {
  const t = await makeTestApp({ config: { openaiBaseUrl: p.openaiBaseUrl, openaiApiKey: key, defaultModel: 'test-model', ...config } })
  const a = await makeActor(t)
  const ag = await agent(t, a)
  return { t, a, ag }
}

export async function agent(t: TestApp, owner: Actor, o: Partial<typeof agents.$inferInsert> = {}) {
  const now = new Date(t.clock.now())
  return await t.db
    .insert(agents)
    .values({ id: newId('char'), organizationId: owner.organizationId, userId: owner.userId, name: 'Agent', slug: `a-${Math.random().toString(36).slice(2)}`, visibility: 'organization', createdAt: now, updatedAt: now, ...o })
    .returning()
    .get()
}

export const exec = (t: TestApp, a: Actor, id: string, body: object, headers?: Record<string, string>) => t.req('POST', `/api/v1/agents/${id}/execute`, { token: a.token, body, headers })
export const getExec = async (t: TestApp, a: Actor, id: string) => (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution
export const getLogs = async (t: TestApp, a: Actor, id: string) => (await t.req('GET', `/api/v1/executions/${id}/logs`, { token: a.token })).body.logs

/**
 * Waits for `fn` to hold, or fails after `ms`: generous (10 s), since on a loaded 2-core CI machine
 * a run's start, an abort seen by the provider double or a watcher's next check can be seconds late.
 */
export async function until(fn: () => Promise<boolean> | boolean, ms = 10_000) {
  const end = Date.now() + ms
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`condition not met in ${ms} ms: ${fn.toString().slice(0, 200)}`)
    await Bun.sleep(20)
  }
}

export { makeTestApp }

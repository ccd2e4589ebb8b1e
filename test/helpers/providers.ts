/**
 * Test doubles of the model providers: one Bun.serve on port 0 speaking OpenAI Chat Completions
 * (/v1/chat/completions) and Anthropic Messages (/v1/messages), streaming and not. The real
 * provider code (the AI SDK) talks to it over HTTP. Behaviour is scripted by the last user text:
 *   FAIL            -> HTTP 500 {"error":{"message":"upstream exploded"}}
 *   HANG            -> never answers (until the client aborts)
 *   SLOW            -> streams one word every 100 ms, 100 words
 *   PAUSE <ms>      -> waits <ms> (or until the client aborts), then answers as below
 *   DELEGATE <id> <message> -> a `delegate` tool call; after the tool result: "Delegated: <result>"
 *   LOOP            -> a `delegate` tool call to the first allowed agent, every time tools are offered
 *   TEAMDAY_API <METHOD> <path> [<JSON body>] -> a `teamday_api` tool call (when that tool is offered);
 *                      after the tool result: "Delegated: <result>"
 *   NUL             -> an answer holding the NUL character ("before\u0000after"), which PostgreSQL cannot store
 *   SURROGATE       -> an answer holding a lone surrogate ("before\ud800after"), which jsonb cannot store
 *   BIG <KiB>       -> an answer of that many KiB, in words of 50 KiB
 *   PROSE <KiB>     -> an answer of that many KiB of prose (words, punctuation, "quotes", lines and
 *                      paragraphs: what JSON escapes and compression meet in a real answer), in
 *                      parts of 4 KiB, one per event-loop turn (as a network delivers them: the
 *                      double shares the app's event loop, and holds it no longer than a part)
 *   WORDS <n>       -> an answer of n words "w " (n small deltas)
 *   WORDS <n> HOLD <ms> -> the same, its last word held back <ms> (a model that pauses before its end)
 *   ENDLESS         -> words of 50 KiB for ever, as fast as they are read (until the client aborts)
 *   ENDLESS_REASONING -> reasoning (`reasoning_content`) of 50 KiB a chunk for ever (openai only)
 *   anything else   -> "Echo: <text> (user turns: N)"
 */
export interface ProviderDouble {
  url: string
  openaiBaseUrl: string
  anthropicBaseUrl: string
  /** Every request body received, in order. */
  requests: { path: string; body: any }[]
  /** Requests whose client went away before the answer ended. */
  aborted: number
  stop(): void
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Plan {
  kind: 'text' | 'tool' | 'fail' | 'hang'
  text?: string
  slow?: boolean
  /** Milliseconds the last word waits. */
  holdLastMs?: number
  /** `text` again and again, for ever (openai only); as reasoning, not as the answer. */
  endless?: boolean
  reasoning?: boolean
  /** The answer's streamed parts, when not its words: one per event-loop turn. */
  parts?: string[]
  tool?: { name: string; args: Record<string, unknown> }
}

function textOf(content: any): string {
  if (typeof content === 'string') return content
  if (Array.isArray(content)) return content.map((b) => (b.type === 'text' ? b.text : '')).join('')
  return ''
}

function plan(userTexts: string[], toolResult: string | undefined, toolEnum: string[] | undefined, apiTool = false): Plan {
  const last = userTexts.at(-1) ?? ''
  if (last.includes('FAIL')) return { kind: 'fail' }
  if (last.includes('HANG')) return { kind: 'hang' }
  if (toolResult !== undefined && !last.includes('LOOP')) return { kind: 'text', text: `Delegated: ${toolResult}` }
  const m = /DELEGATE (\S+) (.+)/.exec(last)
  if (m && toolEnum) return { kind: 'tool', tool: { name: 'delegate', args: { agentId: m[1], message: m[2] } } }
  const api = /TEAMDAY_API (\S+) (\S+)(?: (.+))?/.exec(last)
  if (api && apiTool) return { kind: 'tool', tool: { name: 'teamday_api', args: { method: api[1], path: api[2], ...(api[3] && { body: JSON.parse(api[3]) }) } } }
  if (last.includes('LOOP') && toolEnum?.length) return { kind: 'tool', tool: { name: 'delegate', args: { agentId: toolEnum[0], message: 'ping' } } }
  if (last.includes('NUL')) return { kind: 'text', text: 'before\u0000after' }
  if (last.includes('SURROGATE')) return { kind: 'text', text: 'before\ud800after' }
  const big = /\bBIG (\d+)\b/.exec(last)
  if (big) return { kind: 'text', text: Array.from({ length: Math.ceil(Number(big[1]) / 50) }, () => 'x'.repeat(50 * 1024 - 1) + ' ').join('').slice(0, Number(big[1]) * 1024) }
  const prose = /\bPROSE (\d+)\b/.exec(last)
  if (prose) {
    const text = proseOf(Number(prose[1]) * 1024)
    return { kind: 'text', text, parts: partsOf(text) }
  }
  if (last.includes('ENDLESS_REASONING')) return { kind: 'text', endless: true, reasoning: true, text: 'x'.repeat(50 * 1024 - 1) + ' ' }
  if (last.includes('ENDLESS')) return { kind: 'text', endless: true, text: 'x'.repeat(50 * 1024 - 1) + ' ' }
  const many = /\bWORDS (\d+)(?: HOLD (\d+))?\b/.exec(last)
  if (many) return { kind: 'text', text: 'w '.repeat(Number(many[1])), ...(many[2] && { holdLastMs: Number(many[2]) }) }
  if (last.includes('SLOW')) return { kind: 'text', slow: true, text: Array.from({ length: 100 }, (_, i) => `w${i} `).join('') }
  return { kind: 'text', text: `Echo: ${last} (user turns: ${userTexts.length})` }
}

const VOCABULARY = 'the a of and to in model answer server request table value every which would report line its first last more than time data "quoted" word, clause; end. (aside)'.split(' ')

/** Made once per size (and its parts once per text): a test's double shares its event loop with the app. */
const proses = new Map<number, string>()
const parts = new Map<string, string[]>()

/** `chars` characters of prose-like text, the same each time: words, punctuation, quotes, lines and paragraphs. */
export function proseOf(chars: number): string {
  let text = proses.get(chars)
  if (text === undefined) proses.set(chars, (text = makeProse(chars)))
  return text
}

/** `text` in parts of 4 KiB (the same array for the same text). */
function partsOf(text: string): string[] {
  let out = parts.get(text)
  if (out === undefined) parts.set(text, (out = Array.from({ length: Math.ceil(text.length / 4096) }, (_, i) => text.slice(i * 4096, (i + 1) * 4096))))
  return out
}

function makeProse(chars: number): string {
  const out: string[] = []
  let n = 0
  let line = 0
  for (let i = 0; n < chars; i++) {
    const w = VOCABULARY[(i * 7919 + (i >> 3)) % VOCABULARY.length]!
    const sep = line > 72 ? (i % 11 === 0 ? '\n\n' : '\n') : ' '
    line = sep === ' ' ? line + w.length + 1 : 0
    out.push(w, sep)
    n += w.length + sep.length
  }
  return out.join('').slice(0, chars)
}

function sse(chunks: AsyncGenerator<string> | Generator<string>, signal: AbortSignal, onAbort: () => void): Response {
  const enc = new TextEncoder()
  const body = new ReadableStream({
    async pull(c) {
      const { value, done } = await chunks.next()
      if (done) c.close()
      else c.enqueue(enc.encode(value))
    },
    cancel() {
      onAbort()
    },
  })
  signal.addEventListener('abort', onAbort, { once: true })
  return new Response(body, { headers: { 'content-type': 'text/event-stream' } })
}

function words(text: string): string[] {
  return text.match(/\S+\s*/g) ?? ['']
}

/** `port`: 0 (the default) for any free one. */
export function startProviderDouble(port = 0): ProviderDouble {
  const requests: ProviderDouble['requests'] = []
  const state = { aborted: 0 }
  const server = Bun.serve({
    port,
    idleTimeout: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname
      const body: any = await req.json().catch(() => ({}))
      requests.push({ path, body })
      let done = false
      const onAbort = () => {
        if (!done) state.aborted++
        done = true
      }
      const lastUser = textOf(((body.messages ?? []) as any[]).findLast((m) => m.role === 'user')?.content)
      const pause = /PAUSE (\d+)/.exec(lastUser)
      if (pause) await Promise.race([sleep(Number(pause[1])), new Promise((r) => req.signal.addEventListener('abort', r, { once: true }))])
      if (path.endsWith('/chat/completions')) return openai(body, req.signal, onAbort, () => (done = true))
      if (path.endsWith('/messages')) return anthropic(body, req.signal, onAbort, () => (done = true))
      return Response.json({ error: { message: `no route ${path}` } }, { status: 404 })
    },
  })

  async function hang(signal: AbortSignal, onAbort: () => void): Promise<Response> {
    await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }))
    onAbort()
    return new Response('aborted', { status: 499 })
  }

  function openai(body: any, signal: AbortSignal, onAbort: () => void, finished: () => void): Response | Promise<Response> {
    const msgs: any[] = body.messages ?? []
    const userTexts = msgs.filter((m) => m.role === 'user').map((m) => textOf(m.content))
    const lastMsg = msgs.at(-1)
    const toolResult = lastMsg?.role === 'tool' ? textOf(lastMsg.content) : undefined
    const toolEnum = body.tools?.find((t: any) => t.function?.name === 'delegate')?.function?.parameters?.properties?.agentId?.enum
    const p = plan(userTexts, toolResult, toolEnum, body.tools?.some((t: any) => t.function?.name === 'teamday_api'))
    if (p.kind === 'fail') return Response.json({ error: { message: 'upstream exploded', type: 'server_error' } }, { status: 500 })
    if (p.kind === 'hang') return hang(signal, onAbort)
    const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: body.model }
    const usage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 }
    if (!body.stream) {
      finished()
      const message = p.kind === 'tool'
        ? { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: p.tool!.name, arguments: JSON.stringify(p.tool!.args) } }] }
        : { role: 'assistant', content: p.text }
      return Response.json({ ...base, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: p.kind === 'tool' ? 'tool_calls' : 'stop' }], usage })
    }
    const chunk = (o: object) => `data: ${JSON.stringify({ ...base, ...o })}\n\n`
    async function* gen() {
      if (p.kind === 'tool') {
        yield chunk({ choices: [{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id: `call_${requests.length}`, type: 'function', function: { name: p.tool!.name, arguments: JSON.stringify(p.tool!.args) } }] }, finish_reason: null }] })
        yield chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] })
      } else {
        const all = p.parts ?? words(p.text!)
        for (const [i, w] of all.entries()) {
          if (p.slow) await sleep(100)
          if (p.holdLastMs && i === all.length - 1) await sleep(p.holdLastMs)
          if (p.parts) await new Promise((r) => setImmediate(r))
          yield chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: w }, finish_reason: null }] })
        }
        while (p.endless) yield chunk({ choices: [{ index: 0, delta: { role: 'assistant', ...(p.reasoning ? { reasoning_content: p.text } : { content: p.text }) }, finish_reason: null }] })
        yield chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })
      }
      yield chunk({ choices: [], usage })
      finished()
      yield 'data: [DONE]\n\n'
    }
    return sse(gen(), signal, onAbort)
  }

  function anthropic(body: any, signal: AbortSignal, onAbort: () => void, finished: () => void): Response | Promise<Response> {
    const msgs: any[] = body.messages ?? []
    const userTexts = msgs.filter((m) => m.role === 'user' && textOf(m.content) !== '').map((m) => textOf(m.content))
    const last = msgs.at(-1)
    const tr = Array.isArray(last?.content) ? last.content.find((b: any) => b.type === 'tool_result') : undefined
    const toolResult = tr ? (typeof tr.content === 'string' ? tr.content : textOf(tr.content)) : undefined
    const toolEnum = body.tools?.find((t: any) => t.name === 'delegate')?.input_schema?.properties?.agentId?.enum
    const p = plan(userTexts, toolResult, toolEnum, body.tools?.some((t: any) => t.name === 'teamday_api'))
    if (p.kind === 'fail') return Response.json({ type: 'error', error: { type: 'api_error', message: 'upstream exploded' } }, { status: 500 })
    if (p.kind === 'hang') return hang(signal, onAbort)
    const usage = { input_tokens: 13, output_tokens: 5 }
    const block = p.kind === 'tool' ? { type: 'tool_use', id: `toolu_${requests.length}`, name: p.tool!.name, input: p.tool!.args } : { type: 'text', text: p.text }
    const stop = p.kind === 'tool' ? 'tool_use' : 'end_turn'
    if (!body.stream) {
      finished()
      return Response.json({ id: 'msg_1', type: 'message', role: 'assistant', model: body.model, content: [block], stop_reason: stop, stop_sequence: null, usage })
    }
    const ev = (name: string, o: object) => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...o })}\n\n`
    async function* gen() {
      yield ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 13, output_tokens: 1 } } })
      if (p.kind === 'tool') {
        yield ev('content_block_start', { index: 0, content_block: { ...block, input: {} } })
        yield ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(p.tool!.args) } })
      } else {
        yield ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } })
        const all = p.parts ?? words(p.text!)
        for (const [i, w] of all.entries()) {
          if (p.slow) await sleep(100)
          if (p.holdLastMs && i === all.length - 1) await sleep(p.holdLastMs)
          if (p.parts) await new Promise((r) => setImmediate(r))
          yield ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } })
        }
      }
      yield ev('content_block_stop', { index: 0 })
      yield ev('message_delta', { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 5 } })
      finished()
      yield ev('message_stop', {})
    }
    return sse(gen(), signal, onAbort)
  }

  const url = `http://127.0.0.1:${server.port}`
  return {
    url,
    openaiBaseUrl: `${url}/v1`,
    anthropicBaseUrl: url,
    requests,
    get aborted() {
      return state.aborted
    },
    stop: () => server.stop(true),
  }
}

export interface SseEvent {
  event: string
  data: any
}

/** Parses a Server-Sent Events body as a client would: blank-line separated, comments skipped. */
export function parseSse(text: string): SseEvent[] {
  const out: SseEvent[] = []
  for (const block of text.split('\n\n')) {
    let event = 'message'
    const data: string[] = []
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue
      if (line.startsWith('event: ')) event = line.slice(7)
      else if (line.startsWith('data: ')) data.push(line.slice(6))
    }
    if (data.length) out.push({ event, data: JSON.parse(data.join('\n')) })
  }
  return out
}


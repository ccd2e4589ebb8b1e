/**
 * Thinking written into the answer's text: models such as DeepSeek-R1 and Qwen3 begin their text
 * with `<think>…</think>` when the server does not split it off (llama.cpp's server without
 * `--reasoning-format`, vLLM without `--reasoning-parser`, LM Studio and older Ollama): it was
 * the run's answer, streamed and stored, and sent back as such. A text part that begins (white
 * space aside) with `<think>` has what runs to `</think>` as reasoning, as `reasoning_content`
 * would be, and the text after it (its leading white space dropped) as the answer. Only there:
 * `<think>` anywhere else is text the model wrote. The deltas pass as they come but for what
 * could still be the start of `<think>` or of `</think>`, held until it is known.
 *
 * A chat template that opens the block itself (DeepSeek-R1's and its distills' end their prompt
 * with `<think>\n`: llama.cpp, vLLM and SGLang without a reasoning parser) leaves the model's text
 * without the opening tag. A text part that begins (white space aside) with `</think>` closed
 * such a block with nothing in it (R1 skipping its thinking): the tag is dropped, as its empty
 * block would be, and the answer is the text after it. It was the answer's first word. Thinking
 * written before such a closing tag is not told from an answer here: that would hold every
 * model's answer back until its end, to see whether a `</think>` comes.
 */
import type { LanguageModel } from 'ai'
import { aiSdk } from './sdk'

const OPEN = '<think>'
const CLOSE = '</think>'

type Part = { type: string; id?: string; delta?: string; [k: string]: unknown }

/** How many characters at the end of `s` could begin `tag` (held back until the next delta). */
function partialTagAtEnd(s: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, s.length); n > 0; n--) if (tag.startsWith(s.slice(s.length - n))) return n
  return 0
}

/** The transform of a model's stream parts (LanguageModelV3/V4 stream parts). */
export function thinkTagsTransform(): TransformStream<Part, Part> {
  type State = { mode: 'probe' | 'think' | 'after' | 'text'; buf: string; start?: Part; started: boolean; reasoningId: string }
  const states = new Map<string, State>()
  let n = 0
  return new TransformStream<Part, Part>({
    transform(part, c) {
      const id = part.id ?? ''
      if (part.type === 'text-start') {
        states.set(id, { mode: 'probe', buf: '', start: part, started: false, reasoningId: `think-${n++}` })
        return
      }
      const s = states.get(id)
      if (!s || (part.type !== 'text-delta' && part.type !== 'text-end')) {
        c.enqueue(part)
        return
      }
      const text = (t: string) => {
        if (!t) return
        if (!s.started) {
          c.enqueue(s.start!)
          s.started = true
        }
        c.enqueue({ type: 'text-delta', id, delta: t })
      }
      const reason = (t: string) => {
        if (t) c.enqueue({ type: 'reasoning-delta', id: s.reasoningId, delta: t })
      }
      let input = part.type === 'text-delta' ? String(part.delta ?? '') : ''
      const ending = part.type === 'text-end'
      for (;;) {
        if (s.mode === 'probe') {
          s.buf += input
          input = ''
          const t = s.buf.trimStart()
          if (t.startsWith(OPEN)) {
            c.enqueue({ type: 'reasoning-start', id: s.reasoningId })
            s.mode = 'think'
            input = t.slice(OPEN.length)
            s.buf = ''
            continue
          }
          if (t.startsWith(CLOSE)) {
            s.mode = 'after'
            input = t.slice(CLOSE.length)
            s.buf = ''
            continue
          }
          if (!ending && (OPEN.startsWith(t) || CLOSE.startsWith(t))) break
          s.mode = 'text'
          input = s.buf
          s.buf = ''
          continue
        }
        if (s.mode === 'think') {
          s.buf += input
          input = ''
          const at = s.buf.indexOf(CLOSE)
          if (at >= 0) {
            reason(s.buf.slice(0, at))
            c.enqueue({ type: 'reasoning-end', id: s.reasoningId })
            input = s.buf.slice(at + CLOSE.length)
            s.buf = ''
            s.mode = 'after'
            continue
          }
          const keep = ending ? 0 : partialTagAtEnd(s.buf, CLOSE)
          reason(s.buf.slice(0, s.buf.length - keep))
          s.buf = s.buf.slice(s.buf.length - keep)
          if (ending) c.enqueue({ type: 'reasoning-end', id: s.reasoningId })
          break
        }
        if (s.mode === 'after') {
          input = input.trimStart()
          if (!input) break
          s.mode = 'text'
          continue
        }
        text(input)
        break
      }
      if (ending) {
        if (s.started) c.enqueue(part)
        states.delete(id)
      }
    },
  })
}

/** `model` with leading `<think>` blocks read as reasoning (thinkTagsTransform). */
export function withThinkTags(model: Exclude<LanguageModel, string>): Exclude<LanguageModel, string> {
  const { wrapLanguageModel } = aiSdk()
  return wrapLanguageModel({
    model: model as Parameters<typeof wrapLanguageModel>[0]['model'],
    middleware: {
      wrapStream: async ({ doStream }) => {
        const { stream, ...rest } = await doStream()
        return { stream: (stream as unknown as ReadableStream<Part>).pipeThrough(thinkTagsTransform()) as unknown as typeof stream, ...rest }
      },
    },
  }) as Exclude<LanguageModel, string>
}

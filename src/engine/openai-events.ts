/**
 * What the OpenAI-compatible provider makes of an event that is not a chunk of the answer (its
 * `errorStructure`: the AI SDK reads an event as a chunk, else as this schema's, else fails the
 * run). An object with no `choices` (`data: {}`, a gateway's or a server's own event: usage,
 * timings, a heartbeat) or `choices: null` failed a run after its whole answer ("Type validation
 * failed", 502): it is read as a chunk with no choices, as OpenAI's own usage chunk is
 * (`choices: []`, sent with `stream_options.include_usage`), its usage counted when it has any.
 * An `error` is the run's failure, its message said: `{"error": "..."}` and an error without a
 * message failed with a dump of the schema's complaints instead. What is not an object at all
 * (an array, a string, a number) still fails the run, in plain words (providerMessage).
 *
 * The same schema reads an error status's body (4xx, 5xx): an object that is none of these errors
 * is no message, so the error says the HTTP status text, as before.
 */
import type * as Zod from 'zod'
import { clipped } from '../text'

/** Usage as the AI SDK's chunk reads it; usage that does not fit is dropped, not the run. */
const usageSchema = (z: typeof Zod) =>
  z
    .looseObject({
      prompt_tokens: z.number().nullish(),
      completion_tokens: z.number().nullish(),
      total_tokens: z.number().nullish(),
      prompt_tokens_details: z.looseObject({ cached_tokens: z.number().nullish() }).nullish(),
      completion_tokens_details: z.looseObject({ reasoning_tokens: z.number().nullish(), accepted_prediction_tokens: z.number().nullish(), rejected_prediction_tokens: z.number().nullish() }).nullish(),
    })
    .nullish()
    .catch(undefined)

/** What an error event or body read into: its message, or none (an event that is no error). */
type Read = { error: { message: string } } | { choices: unknown[]; usage?: unknown; id?: unknown; model?: unknown; created?: unknown; [NOT_AN_ERROR]: true }

/**
 * A chunk whose tool calls' `arguments` are a JSON object rather than the string of one (as
 * some servers and gateways send them, after Ollama's native API): the chunk as the AI SDK's own
 * schema reads it, each such `arguments` the JSON string of its object. The AI SDK refused the
 * chunk ("not part of an answer this server can read", 502) and the run with it.
 */
const objectArgumentsChunk = (z: typeof Zod) =>
  z.looseObject({
    id: z.string().nullish(),
    created: z.number().nullish(),
    model: z.string().nullish(),
    choices: z
      .array(
        z.object({
          delta: z
            .object({
              role: z.enum(['assistant', '']).nullish(),
              content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]).nullish(),
              refusal: z
                .unknown()
                .nullish()
                .transform((value) => (typeof value === 'string' ? value : undefined)),
              reasoning_content: z.string().nullish(),
              reasoning: z.string().nullish(),
              tool_calls: z.array(
                z.object({
                  index: z.number().nullish(),
                  id: z.string().nullish(),
                  function: z.object({ name: z.string().nullish(), arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish() }),
                  extra_content: z.object({ google: z.object({ thought_signature: z.string().nullish() }).nullish() }).nullish(),
                }),
              ),
            })
            .nullish(),
          finish_reason: z.string().nullish(),
        }),
      )
      .refine((choices) => choices.some((c) => c.delta?.tool_calls.some((t) => t.function.arguments !== null && typeof t.function.arguments === 'object'))),
    usage: usageSchema(z),
  })

const NOT_AN_ERROR = Symbol('not an error')

/** A short JSON of `v` for a message. */
const shortJson = (v: unknown): string => clipped(JSON.stringify(v) ?? String(v), 200)

export function openaiErrorStructure(z: typeof Zod) {
  const errorSchema = z.union([
    // OpenAI's own error (OpenRouter's, vLLM's, Groq's): its message.
    z.object({ error: z.looseObject({ message: z.string() }) }).transform((v): Read => ({ error: { message: v.error.message } })),
    // An error that is only a string, or an object without a message: said as it came.
    z.object({ error: z.string() }).transform((v): Read => ({ error: { message: v.error } })),
    z.object({ error: z.looseObject({}) }).transform((v): Read => ({ error: { message: `the provider sent an error without a message: ${shortJson(v.error)}` } })),
    // An error as vLLM's and FastChat's servers write it, in a stream or as an error status's
    // body: `{"object": "error", "message": …}` (before this, read as an empty chunk: the run
    // failed with "stream ended without a finish reason" and the provider's message was lost).
    z.looseObject({ object: z.literal('error'), message: z.string() }).transform((v): Read => ({ error: { message: v.message } })),
    // Tool calls whose arguments are an object: their JSON string, as the chunk's schema has them.
    objectArgumentsChunk(z).transform(
      (v): Read => ({
        ...v,
        choices: v.choices.map((c) =>
          c.delta ? { ...c, delta: { ...c.delta, tool_calls: c.delta.tool_calls.map((t) => ({ ...t, function: { ...t.function, arguments: t.function.arguments !== null && typeof t.function.arguments === 'object' ? JSON.stringify(t.function.arguments) : t.function.arguments } })) } } : c,
        ),
        [NOT_AN_ERROR]: true,
      }),
    ),
    // No choices and no error: a chunk with nothing in it but what it counts.
    z
      .looseObject({ choices: z.null().optional(), error: z.null().optional(), usage: usageSchema(z), id: z.unknown().optional(), model: z.unknown().optional(), created: z.unknown().optional() })
      .transform((v): Read => ({
        choices: [],
        usage: v.usage,
        id: typeof v.id === 'string' ? v.id : undefined,
        model: typeof v.model === 'string' ? v.model : undefined,
        created: typeof v.created === 'number' ? v.created : undefined,
        [NOT_AN_ERROR]: true,
      })),
  ])
  return {
    errorSchema,
    errorToMessage: (read: Read): string => {
      // An error status's body that says nothing: the AI SDK gives the status text instead of a message that throws.
      if (NOT_AN_ERROR in read) throw new Error('not an error')
      return read.error.message
    },
  }
}

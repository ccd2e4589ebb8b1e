import type { Execution } from '../../db/schema'
import type { EngineEvent } from '../../engine/run'
import { failureError, toPublicExecution } from './service'
import { bodyMeter } from '../../http/observe'
import { closeWhenSilent } from '../../http/listen'
import type { OutputLimits } from '../../engine/output-limits'
import { executeResult } from '../../execute-result'
import { jsonParts, utf8Parts } from '../../json-text'

export const HEARTBEAT_MS = 15_000

/**
 * Streams one execution as Server-Sent Events: `meta`, then `message` events in the Anthropic
 * stream-event shape (text blocks with text_delta, tool_use blocks around tool calls), then
 * `result` (the completed execution) or `error` ({message, code, executionId}). A comment line
 * every 15 s keeps proxies from closing an idle stream.
 *
 * Made before the run starts: `push` receives the engine's events from the first one (given to
 * `engine.start` as `onEvent`); those that come before the response exists wait for it.
 *
 * Client disconnect: the execution keeps running to its end and is recorded as usual (poll
 * GET /executions/{id}); cancel it explicitly with POST /executions/{id}/cancel. A reader that
 * falls behind is bounded by `limits` (Config.outputLimits: streamBacklogBytes,
 * streamBacklogHardBytes, streamStallMs; src/engine/output-limits.ts): one that stopped reading is
 * dropped, as one that went away.
 */
export function executionStream(shown: (e: EngineEvent) => Promise<EngineEvent>, limits: Pick<OutputLimits, 'streamBacklogBytes' | 'streamBacklogHardBytes' | 'streamStallMs'>) {
  const { streamBacklogBytes, streamBacklogHardBytes, streamStallMs } = limits
  const early: EngineEvent[] = []
  // Each event as its reader may see it (`shown` may read the database), in the order they came.
  let order = Promise.resolve()
  let deliver: ((e: EngineEvent) => void) | null = null
  /** Ends the stream with an `error` event of the server's own (its token revoked, or its caller no longer allowed to see the execution), once it is open. */
  let endWith: ((data: Record<string, unknown>) => void) | null = null
  let ended: (() => void) | undefined
  /** Nothing more is written (stopWriting): the run's further events are not even prepared. */
  let stopped = false
  return {
    push(e: EngineEvent): void {
      if (stopped) return
      order = order
        .then(() => shown(e))
        .then((s) => {
          if (deliver) deliver(s)
          else early.push(s)
        })
        // Never a broken chain: the events after one that failed still go out.
        .catch(() => {})
    },
    /** An `error` event, then the end of the stream; the execution goes on (as when the client goes away). */
    fail(data: Record<string, unknown>): void {
      endWith?.(data)
    },
    /**
     * `onEnd`: called once when the stream ends, however it ends. The access log counts its bytes
     * (bodyMeter). `server`: the one serving `request` (null in process), which closes its
     * connection when the stream is dropped.
     */
    response(r0: Execution, request: Request, o: { onEnd?: () => void; server?: Parameters<typeof closeWhenSilent>[0] } = {}): Response {
      ended = o.onEnd
      const meter = bodyMeter(request)
      const enc = new TextEncoder()
      let heartbeat: ReturnType<typeof setInterval> | undefined
      /** No more writing, however the stream ends (its end, the client gone, a reader that stopped): the run goes on. */
      const stopWriting = (failed?: string) => {
        stopped = true
        early.length = 0
        clearInterval(heartbeat)
        deliver = () => {}
        endWith = null
        meter.end(failed)
        ended?.()
        ended = undefined
      }
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          let open = true
          // What the reader has taken so far (written minus waiting), and when it last took some.
          let written = 0
          let taken = 0
          // A duration: the monotonic clock, which a step of the wall clock does not move.
          let tookAt = performance.now()
          /** Queues one event's bytes, in one piece or several (`more`); nothing once the stream no longer writes. */
          const sendBytes = (first: Uint8Array, ...more: Uint8Array[]) => {
            if (!open) return
            // Checked before the event: a fast reader's one large event (the result) still goes out.
            const waiting = -(controller.desiredSize ?? 0)
            if (written - waiting > taken) {
              taken = written - waiting
              tookAt = performance.now()
            }
            if (waiting > streamBacklogHardBytes) return dropStuck(`client_stopped_reading: ${waiting} bytes of events waited for it, past ${streamBacklogHardBytes}`)
            const idle = performance.now() - tookAt
            if (waiting > streamBacklogBytes && idle > streamStallMs) return dropStuck(`client_stopped_reading: ${waiting} bytes of events waited for it and it had taken none for ${(idle / 1000).toFixed(1)} s`)
            try {
              for (const bytes of [first, ...more]) {
                controller.enqueue(bytes)
                written += bytes.byteLength
                meter.sent(bytes.byteLength)
              }
            } catch {
              open = false
            }
          }
          const send = (chunk: string) => sendBytes(enc.encode(chunk))
          const event = (name: string, data: unknown) => send(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`)
          /**
           * An event that holds a long string several times (the `result`: the answer is its
           * `result`, its last message, and both again in `execution`): its JSON in parts
           * (src/json-text.ts), the answer escaped and encoded once and its bytes queued
           * wherever it appears (nothing changes a queued chunk). 16 MiB of JSON written and
           * encoded at once for a 4 MiB answer held the event loop for 40-100 ms.
           */
          const largeEvent = (name: string, data: unknown) => {
            sendBytes(enc.encode(`event: ${name}\ndata: `), ...utf8Parts(jsonParts(data)), enc.encode('\n\n'))
          }
          /** The reader stopped reading (`why`, for the log): what waits for it is dropped with the connection, closed within seconds; the run goes on. */
          const dropStuck = (why: string) => {
            open = false
            try {
              controller.error(new Error('the client stopped reading the stream'))
            } catch {}
            closeWhenSilent(o.server, request)
            stopWriting(why)
          }
          /** `failed`: the server ends the stream before the run's end, and why (for its log). */
          const close = (failed?: string) => {
            if (!open) return
            open = false
            try {
              controller.close()
            } catch {}
            stopWriting(failed)
          }
          let index = 0
          let textOpen = false
          const endText = () => {
            if (textOpen) event('message', { type: 'content_block_stop', index: index++ })
            textOpen = false
          }
          const toolIndex = new Map<string, number>()
          /** Tool blocks started and not stopped yet (a run cancelled or failed during a tool call). */
          const openTools = new Set<number>()
          /** Every block still open is stopped before the stream's last event: a client that pairs them (Anthropic's SDKs do) is never left waiting on one. */
          const endBlocks = () => {
            endText()
            for (const i of openTools) event('message', { type: 'content_block_stop', index: i })
            openTools.clear()
          }
          endWith = (data) => {
            endBlocks()
            event('error', data)
            close(`${String(data.code)}: ${String(data.message)}`)
          }
          send(': stream open\n\n')
          event('meta', { executionId: r0.id, chatId: r0.chatId, sessionId: r0.sessionId, agentId: r0.agentId, model: r0.model })
          heartbeat = setInterval(() => send(': heartbeat\n\n'), HEARTBEAT_MS)
          deliver = (e) => {
            if (e.type === 'text') {
              if (!textOpen) {
                event('message', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } })
                textOpen = true
              }
              event('message', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: e.text } })
            } else if (e.type === 'tool_start') {
              endText()
              toolIndex.set(e.id, index)
              openTools.add(index)
              event('message', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: e.id, name: e.name, input: {} } })
              event('message', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(e.input ?? {}) } })
              index++
            } else if (e.type === 'tool_end') {
              const i = toolIndex.get(e.id) ?? index
              openTools.delete(i)
              event('message', { type: 'content_block_stop', index: i })
            } else if (e.type === 'done') {
              endBlocks()
              const r = e.execution
              if (r.status === 'completed') {
                const execution = toPublicExecution(r)
                largeEvent('result', { ...executeResult(execution), execution })
              } else {
                const err = failureError(r)
                const retryAfterSeconds = (err.details as { retryAfterSeconds?: number }).retryAfterSeconds
                event('error', { message: err.message, code: err.code, executionId: r.id, status: r.status, ...(retryAfterSeconds !== undefined && { retryAfterSeconds }) })
              }
              close()
            }
          }
          for (const e of early.splice(0)) deliver(e)
        },
        cancel() {
          // The client went away: stop writing, keep the execution running (see above).
          stopWriting()
        },
      }, new ByteLengthQueuingStrategy({ highWaterMark: 64 * 1024 }))
      return new Response(body, {
        status: 200,
        headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-store', connection: 'keep-alive', 'x-accel-buffering': 'no', 'x-execution-id': r0.id },
      })
    },
  }
}

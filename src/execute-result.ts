/**
 * The body of a completed synchronous execute, which is also the `result` event of a stream,
 * made from the execution; alone in a file without imports: the server answers with it
 * (src/modules/executions/sse.ts) and the client's follow-up of a stream whose answer was lost
 * prints it (src/cli/client/executions.ts), one shape for both.
 */
export function executeResult<E extends ResultOf>(r: E) {
  return {
    success: true as const,
    executionId: r.id,
    id: r.id,
    status: 'completed' as const,
    result: r.result ?? '',
    messages: r.messages as E['messages'],
    chatId: r.chatId as E['chatId'],
    sessionId: r.sessionId as E['sessionId'],
    usage: { inputTokens: r.tokensInput as E['tokensInput'], outputTokens: r.tokensOutput as E['tokensOutput'] },
    historyTrimmed: (r.historyTrimmed ?? null) as NonNullable<E['historyTrimmed']> | null,
  }
}

/** What executeResult reads of an execution (a row of the database, or the API's execution). */
export interface ResultOf {
  id: string
  result?: string | null
  messages?: unknown
  chatId?: unknown
  sessionId?: unknown
  tokensInput?: unknown
  tokensOutput?: unknown
  historyTrimmed?: unknown
}

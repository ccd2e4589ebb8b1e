/**
 * What one run's output may hold in memory: the most its delegation tree's models may write
 * (src/engine/run.ts) and the most a streamed execute keeps waiting for its reader
 * (src/modules/executions/sse.ts). Config.outputLimits (src/config.ts) carries them to both; they
 * are not read from the environment: a server always runs with DEFAULT_OUTPUT_LIMITS, and README
 * (Executions) states them. A runtime built with smaller ones (the tests) reaches each bound with
 * kilobytes instead of megabytes, through the same code.
 */
export interface OutputLimits {
  /**
   * The most the models of one run and of the sub-agents it delegates to (its delegation tree:
   * DelegationTree, src/engine/prepare.ts) may write in all, over all their model turns (steps)
   * in this run, in characters
   * (UTF-16 code units: at most 6 MiB as UTF-8 by default): answers, reasoning and tool calls'
   * names, ids and input together, the provider data beside reasoning, Anthropic's citations and the results of tools a provider ran itself (src/engine/run.ts); far beyond what a model writes in one run (a 128k-token output is about half
   * a million characters). A provider that streams on without end (broken, or hostile) grew a run
   * in memory until its timeout (gigabytes; reasoning and tool input were not counted at first),
   * and on PostgreSQL its record then failed (jsonb's limit) and lost the answer whole. Counted
   * per run, a parent took each child's answer into its context besides its own
   * (TEAMDAY_MAX_DELEGATIONS_PER_RUN children: a hundred times the limit). Past it (or
   * `streamedParts`) the run that crosses it stops: failed, 502, with the answer up to there kept;
   * its parent is told so, and stops the same way if it writes on.
   *
   * Not counted: the earlier turns of a session the run continues. Earlier runs wrote them, each
   * under this limit, and they come back as input, bounded by TEAMDAY_MAX_HISTORY_CHARS
   * (src/engine/store.ts, sessionHistory): what a run holds is at most that history and this.
   * Counted, a conversation would stop working for good once its turns together reached it. Nor
   * are runs attached with an API client's parentExecutionId: each is an execute of its own,
   * whose answer never enters the parent's context (they count in the tree's
   * TEAMDAY_MAX_DELEGATIONS_PER_RUN: src/engine/prepare.ts, assertTreeRoom).
   */
  answerChars: number
  /** The most streamed parts (deltas) one delegation tree's models may send, each of which the AI SDK keeps until its run ends (a few hundred bytes apiece). */
  streamedParts: number
  /**
   * How far a stream's reader may fall behind, in bytes written and not yet taken: past it, a
   * reader that has taken nothing for `streamStallMs` is taken as stopped (a paused process, a
   * client that never reads) and the stream is dropped, its connection closed within seconds, as
   * when a client goes away (the execution runs on); one that reads, if slower than the model
   * writes, keeps its stream up to `streamBacklogHardBytes` behind. Without it, each event of a
   * long answer waited in memory for a reader that never came: gigabytes for a few such clients.
   */
  streamBacklogBytes: number
  streamBacklogHardBytes: number
  streamStallMs: number
}

/** What a server runs with (README, Executions: 2,097,152 characters in 262,144 parts; 8 MiB waiting and 2 s untaken, or 32 MiB). */
export const DEFAULT_OUTPUT_LIMITS: Readonly<OutputLimits> = Object.freeze({
  answerChars: 2 * 1024 * 1024,
  streamedParts: 256 * 1024,
  streamBacklogBytes: 8 * 1024 * 1024,
  streamBacklogHardBytes: 32 * 1024 * 1024,
  streamStallMs: 2_000,
})

import type { Agent } from '../db/schema'

/**
 * The tool names an agent's `disallowedTools` takes away, each entry trimmed: one stored with white
 * space around it (by a build that kept entries as sent, `"teamday_api "`) still takes its tool
 * away, never leaves it to the model. Names are compared exactly otherwise (tool names are
 * case-sensitive: the model calls a tool by its exact name).
 */
export function disallowedTools(agent: Pick<Agent, 'disallowedTools'>): Set<string> {
  return new Set(agent.disallowedTools.map((name) => name.trim()))
}

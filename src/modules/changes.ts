/**
 * The fields of a change that differ from the row they would be written to. A PATCH that sends
 * what is already there (`{}`, the same name, `archived: true` on an archived agent) changes
 * nothing and writes nothing: `updatedAt` moved on every such request, so it did not say when
 * the object last changed, and a client writing back what it read looked like an edit.
 */
export function changes<T extends object>(patch: Partial<T>, row: T, together: readonly (readonly (keyof T)[])[] = []): Partial<T> {
  const out: Partial<T> = {}
  for (const key of Object.keys(patch) as (keyof T)[]) {
    const next = patch[key]
    if (next === undefined || sameValue(next, row[key])) continue
    out[key] = next
  }
  // Fields that hold together (a task's status and completedAt): when one is written, all that
  // the patch sets are. `row` may be stale by the time the UPDATE lands (a status-only PATCH is
  // one statement, no row lock): leaving out a field because it matched the stale row kept
  // another request's value of it beside ours, e.g. `in_progress` with a completedAt (PostgreSQL,
  // two PATCHes at once).
  for (const group of together) {
    if (!group.some((key) => key in out)) continue
    for (const key of group) if (patch[key] !== undefined) out[key] = patch[key]
  }
  return out
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime()
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  // Lists and JSON objects (tags, a task's metadata): the same JSON is the same value.
  return JSON.stringify(a) === JSON.stringify(b)
}

/** The fields whose old and new values an audit event of a change names (the rest by name only). */
const AUDITED_VALUES = ['visibility', 'archived', 'slug'] as const

/**
 * What an `*.updated` audit event says of a change (src/audit/log.ts): the names of the fields it
 * wrote, and for those that decide who sees the object or how it is named (visibility, archived,
 * slug) their values before and after. Never the other values: a prompt, instructions or a
 * description can hold anything.
 */
export function changeDetails<T extends object>(before: T, changed: Partial<T>): Record<string, unknown> {
  const fields = Object.keys(changed).sort()
  const out: Record<string, unknown> = { fields }
  for (const key of AUDITED_VALUES) {
    if (key in changed) out[key] = { from: (before as Record<string, unknown>)[key] ?? null, to: (changed as Record<string, unknown>)[key] ?? null }
  }
  return out
}

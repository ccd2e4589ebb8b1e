/**
 * Fields a request body has that its route does not take. Such a field is ignored, as TeamDay's
 * API ignores it (its own CLI sends some: a task's `id` and `status`, a space's `organizationId`,
 * an agent's `advanced_tools`), unless its name is so close to one the route takes that it is
 * almost certainly that one misspelt: then the request is refused (422) naming both, since what
 * it meant would otherwise be lost without a word (`{"scope": ["tasks:read"]}` made a token with
 * every scope; `{"stauts": "completed"}` changed nothing and answered 200).
 *
 * Close means, with case ignored: the same letters once `_`, `-`, spaces and a trailing `[]` are
 * dropped (`expires_at`, `Scopes`, a form's `scopes[]`); a typo, one edit (a letter added, dropped,
 * changed, or two swapped) for names of 4-7 characters, two from 8 on (`scope`, `stauts`,
 * `visiblity`); the singular or plural of it from 3 characters (`tag`, `key`); or the start of a
 * longer name, 5 characters or more (`expiresIn` for `expiresInDays`, `archive` for `archived`).
 */
export function nearestField(name: string, fields: readonly string[]): string | null {
  const a = squash(name)
  if (a === '') return null
  let best: string | null = null
  let bestDistance = Infinity
  for (const field of fields) {
    const b = squash(field)
    if (a === b) return field
    if (a.length >= 5 && b.startsWith(a) && bestDistance > 0.5) {
      best = field
      bestDistance = 0.5
      continue
    }
    const shorter = Math.min(a.length, b.length)
    // One for many or many for one (`tag`, `key`): close at any length from 3.
    if (shorter >= 3 && (a + 's' === b || b + 's' === a) && bestDistance > 1) {
      best = field
      bestDistance = 1
      continue
    }
    if (shorter < 4) continue
    const limit = shorter >= 8 ? 2 : 1
    const d = editDistance(a, b, limit)
    if (d <= limit && d < bestDistance) {
      best = field
      bestDistance = d
    }
  }
  return best
}

const squash = (name: string) => name.replace(/(\[[^\]]*\])+$/, '').replace(/[-_\s]/g, '').toLowerCase()

/**
 * Optimal string alignment distance (insertions, deletions, substitutions and swaps of two
 * neighbours), or `limit + 1` once it must exceed `limit`.
 */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1
  let prev2: number[] = []
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    let rowMin = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1)
      row.push(v)
      rowMin = Math.min(rowMin, v)
    }
    if (rowMin > limit) return limit + 1
    prev2 = prev
    prev = row
  }
  return prev[b.length]!
}

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
  const seen = nameMarks()
  let marked = false
  let best: string | null = null
  let bestDistance = Infinity
  for (const field of prepared(fields)) {
    const b = field.squashed
    // Lengths first: most names are too long or too short for anything but a prefix.
    const apart = a.length - b.length
    if (apart === 0 && a === b) return field.name
    if (a.length >= 5 && apart < 0 && bestDistance > 0.5 && b.startsWith(a)) {
      best = field.name
      bestDistance = 0.5
      continue
    }
    if (apart > 2 || apart < -2) continue
    const shorter = Math.min(a.length, b.length)
    // One for many or many for one (`tag`, `key`): close at any length from 3.
    if (shorter >= 3 && bestDistance > 1 && isPlural(a, b)) {
      best = field.name
      bestDistance = 1
      continue
    }
    if (shorter < 4) continue
    const limit = shorter >= 8 ? 2 : 1
    if (apart > limit || apart < -limit) continue
    // Each edit brings in at most one character the other name lacks: a name with more such
    // characters than the limit cannot be that close (most unknown fields stop here, cheaply).
    if (absent(a, (c) => field.present[c] === 1) > limit) continue
    if (!marked) {
      for (let i = 0; i < a.length; i++) if (a.charCodeAt(i) < 128) seen.table[a.charCodeAt(i)] = seen.stamp
      marked = true
    }
    if (absent(b, (c) => seen.table[c] === seen.stamp) > limit) continue
    const d = editDistance(a, b, limit)
    if (d <= limit && d < bestDistance) {
      best = field.name
      bestDistance = d
    }
  }
  return best
}

/**
 * Which ASCII characters the name being compared holds: those whose entry is this name's stamp (a
 * new stamp per name, so that no entry need be cleared).
 */
const marks = { table: new Uint32Array(128), stamp: 0 }

function nameMarks(): typeof marks {
  if (++marks.stamp === 0xffffffff) {
    marks.table.fill(0)
    marks.stamp = 1
  }
  return marks
}

/** How many of `s`'s characters are not `present` (at most 3 counted: a limit is 2 at most); any non-ASCII one is not. */
function absent(s: string, present: (code: number) => boolean): number {
  let n = 0
  for (let i = 0; i < s.length && n <= 2; i++) {
    const c = s.charCodeAt(i)
    if (c >= 128 || !present(c)) n++
  }
  return n
}

/** One string is the other and an `s`. */
function isPlural(a: string, b: string): boolean {
  if (a.length === b.length + 1) return a.endsWith('s') && a.startsWith(b)
  if (b.length === a.length + 1) return b.endsWith('s') && b.startsWith(a)
  return false
}

interface Field {
  name: string
  squashed: string
  /** Which ASCII characters its squashed name holds. */
  present: Uint8Array
}

/**
 * The route's fields squashed once per list (a body of 50,000 unknown fields squashed the route's
 * 22 names for each of them, beside the comparisons: 0.7-2.6 s of a held event loop).
 */
const preparedFields = new WeakMap<readonly string[], Field[]>()

function prepared(fields: readonly string[]): Field[] {
  let out = preparedFields.get(fields)
  if (out === undefined) {
    out = fields.map((name) => {
      const squashed = squash(name)
      return { name, squashed, present: presentIn(squashed) }
    })
    preparedFields.set(fields, out)
  }
  return out
}

function presentIn(s: string): Uint8Array {
  const present = new Uint8Array(128)
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 128) present[c] = 1
  }
  return present
}

/**
 * The name as compared: a trailing run of `[…]` groups dropped (a form's `scopes[]`, `scope[0]`),
 * then `-`, `_` and whitespace, in lower case. Linear in the name's length: the regular expression
 * it was, `/(\[[^\]]*\])+$/`, backtracked over every `[` of a name without a `]` (40,000 of them:
 * 1.6 s; a body of 1 MiB, a quarter of an hour), on routes without authentication too.
 */
function squash(name: string): string {
  let end = name.length
  // Each `]` closes a group that opens at the first `[` after the `]` before it (the leftmost
  // match of that expression); only the last group may start past that `]`, the run ending there.
  while (end > 0 && name.charCodeAt(end - 1) === 0x5d /* ] */) {
    const before = name.lastIndexOf(']', end - 2)
    const open = name.indexOf('[', before + 1)
    if (open < 0 || open >= end - 1) break
    end = open
  }
  return name.slice(0, end).replace(/[-_\s]/g, '').toLowerCase()
}

const rows = [new Int32Array(64), new Int32Array(64), new Int32Array(64)] as const

/**
 * Optimal string alignment distance (insertions, deletions, substitutions and swaps of two
 * neighbours), or `limit + 1` once it must exceed `limit`. Only the cells within `limit` of the
 * diagonal are computed (any other is over it), and nothing is allocated for names under 64
 * characters (a field's name is one; a longer name's length is too far from it to get here).
 */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1
  const over = limit + 1
  const width = b.length + 1
  let [prev2, prev, row] = width + 1 <= 64 ? rows : [new Int32Array(width + 1), new Int32Array(width + 1), new Int32Array(width + 1)]
  for (let j = 0; j <= width; j++) prev[j] = j <= limit ? j : over
  for (let i = 1; i <= a.length; i++) {
    const lo = Math.max(1, i - limit)
    const hi = Math.min(b.length, i + limit)
    row[0] = i <= limit ? i : over
    row[lo - 1] = lo === 1 ? row[0]! : over
    row[hi + 1] = over
    let rowMin = lo === 1 ? row[0]! : over
    for (let j = lo; j <= hi; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1
      let v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost)
      if (i > 1 && j > 1 && a.charCodeAt(i - 1) === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1)) v = Math.min(v, prev2[j - 2]! + 1)
      row[j] = v
      if (v < rowMin) rowMin = v
    }
    if (rowMin > limit) return over
    ;[prev2, prev, row] = [prev, row, prev2]
  }
  return Math.min(prev[b.length]!, over)
}

/** TEAMDAY_MODEL_ALIASES: which model id an agent's model runs as (read by config.ts, used by providers.ts). */

/** One TEAMDAY_MODEL_ALIASES entry: model ids matching `pattern` (glob, `*` = anything) run as `target`. */
export interface ModelAlias {
  pattern: string
  target: string
}

/**
 * Parses TEAMDAY_MODEL_ALIASES: `pattern=target` pairs, comma-separated, e.g.
 * `claude-sonnet-4-5*=llama3.1:8b,gpt-4o*=qwen2.5:7b`. Returns an error message when malformed.
 */
export function parseModelAliases(value: string | undefined): ModelAlias[] | string {
  const out: ModelAlias[] = []
  for (const raw of (value ?? '').split(',')) {
    const entry = raw.trim()
    if (entry === '') continue
    const eq = entry.indexOf('=')
    const pattern = eq < 0 ? '' : entry.slice(0, eq).trim()
    const target = eq < 0 ? '' : entry.slice(eq + 1).trim()
    if (!pattern || !target || /\s/.test(pattern) || /\s/.test(target) || target.includes('*')) {
      return `TEAMDAY_MODEL_ALIASES: "${entry}" is not pattern=model (e.g. claude-sonnet-4-5*=llama3.1:8b; * in the pattern matches anything, the model has none)`
    }
    out.push({ pattern, target })
  }
  return out
}

/**
 * A UTF-16 unit as a case-insensitive RegExp without the u flag compares it (ECMA-262
 * Canonicalize): upper-cased, unless that gives several units or takes a non-ASCII one to ASCII.
 */
function canonical(s: string): string {
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!
    const up = ch.toUpperCase()
    out += up.length !== 1 || (ch.charCodeAt(0) >= 128 && up.charCodeAt(0) < 128) ? ch : up
  }
  return out
}

/** What `.` does not match: a star's run has no line terminator. */
const LINE_TERMINATOR = /[\n\r\u2028\u2029]/

const globCache = new Map<string, string[]>()
/**
 * `*` matches any run of characters but a line terminator; everything else literally;
 * case-insensitive, whole id. What /^part.*part.*part$/i (the pattern's parts escaped) answers,
 * by a scan: the first part starts the id, the last ends it, and each one between is found at its
 * first place after the one before (a later place would leave less for the rest). The expression
 * tried every way to place the parts: time growing with the id's length to the power of the
 * pattern's stars less one. (A pattern has no line terminator: parseModelAliases refuses white space.)
 */
export function globMatches(pattern: string, id: string): boolean {
  let parts = globCache.get(pattern)
  if (!parts) {
    parts = canonical(pattern).split('*')
    globCache.set(pattern, parts)
  }
  const s = canonical(id)
  const first = parts[0]!
  if (parts.length === 1) return s === first
  const last = parts[parts.length - 1]!
  if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false
  const end = s.length - last.length
  let at = first.length
  for (let i = 1; i < parts.length - 1; i++) {
    const found = s.indexOf(parts[i]!, at)
    if (found < 0 || found + parts[i]!.length > end || LINE_TERMINATOR.test(s.slice(at, found))) return false
    at = found + parts[i]!.length
  }
  return !LINE_TERMINATOR.test(s.slice(at, end))
}

/** The id a model runs as: the target of the first alias whose pattern matches, else itself. */
export function resolveAlias(aliases: readonly ModelAlias[], id: string): string {
  return aliases.find((a) => globMatches(a.pattern, id))?.target ?? id
}

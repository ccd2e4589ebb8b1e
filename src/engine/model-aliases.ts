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

const globCache = new Map<string, RegExp>()
/** `*` matches any run of characters; everything else literally; case-insensitive, whole id. */
export function globMatches(pattern: string, id: string): boolean {
  let re = globCache.get(pattern)
  if (!re) {
    re = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i')
    globCache.set(pattern, re)
  }
  return re.test(id)
}

/** The id a model runs as: the target of the first alias whose pattern matches, else itself. */
export function resolveAlias(aliases: readonly ModelAlias[], id: string): string {
  return aliases.find((a) => globMatches(a.pattern, id))?.target ?? id
}

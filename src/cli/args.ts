/**
 * The command line's option parser: strict, for the option tables of src/cli/spec.ts. It does
 * what the commands used from node:util's parseArgs (long options with a value as the next word
 * or after `=`, booleans, one-letter aliases, `--` before positionals) without loading node:util,
 * which costs a compiled client command about 3 ms of a 5 ms start (bench/startup.ts).
 */
export interface ArgOption {
  type: 'string' | 'boolean'
  short?: string
}

export type ArgValues = Record<string, string | boolean | undefined>

/** A word the table does not know: `option` as the user typed it. */
export class UnknownOptionError extends Error {
  constructor(readonly option: string) {
    super(`unknown option ${option}`)
  }
}

/** A malformed option (a missing value, a value given to a flag, a value that looks like an option, an option given twice). */
export class OptionValueError extends Error {}

export function parseArgv(args: readonly string[], options: Readonly<Record<string, ArgOption>>): { values: ArgValues; positionals: string[] } {
  const values: ArgValues = {}
  const positionals: string[] = []
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!
    if (word === '--') {
      positionals.push(...args.slice(i + 1))
      break
    }
    let name: string | undefined
    let inline: string | undefined
    let shown = word
    if (word.startsWith('--') && word.length > 2) {
      const eq = word.indexOf('=')
      name = eq === -1 ? word.slice(2) : word.slice(2, eq)
      inline = eq === -1 ? undefined : word.slice(eq + 1)
      shown = `--${name}`
      if (!Object.hasOwn(options, name)) throw new UnknownOptionError(shown)
    } else if (word.startsWith('-') && word.length > 1) {
      name = byShort(options, word[1]!)
      shown = word.slice(0, 2)
      if (name === undefined) throw new UnknownOptionError(shown)
      if (word.length > 2) inline = word.slice(2)
    } else {
      positionals.push(word)
      continue
    }
    const label = options[name]!.short ? `-${options[name]!.short}, --${name}` : `--${name}`
    // No option is meant to repeat: a second value silently replaced the first (`users create
    // --email a@… --email b@…` created b@…), as the API refuses a repeated query parameter.
    if (values[name] !== undefined) throw new OptionValueError(`option '${label}' is given more than once; give it once`)
    if (options[name]!.type === 'boolean') {
      if (inline !== undefined) throw new OptionValueError(`option '${label}' does not take a value`)
      values[name] = true
      continue
    }
    if (inline === undefined) {
      const next = args[i + 1]
      if (next === undefined) throw new OptionValueError(`option '${label} <value>' needs a value`)
      // A value that looks like an option is more likely a forgotten value: say so (use --name=-x).
      if (next.startsWith('-') && next !== '-') throw new OptionValueError(`option '${label} <value>' needs a value; to give one that starts with a dash, write --${name}=${next}`)
      inline = next
      i++
    }
    values[name] = inline
  }
  return { values, positionals }
}

/**
 * The option whose one-letter alias is `letter` (the last, as a Map of them would give). A loop,
 * not a Map built from `Object.entries(…).flatMap(…)` on every parse: JSC writes those built-ins
 * in JavaScript and compiles each on its first call, which cost every client command more than
 * the rest of the parse (docs/performance.md).
 */
function byShort(options: Readonly<Record<string, ArgOption>>, letter: string): string | undefined {
  let found: string | undefined
  for (const name in options) if (Object.hasOwn(options, name) && options[name]!.short === letter) found = name
  return found
}

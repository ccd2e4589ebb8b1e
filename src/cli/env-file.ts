import { readFileSync } from 'node:fs'
import { ConfigError } from '../config-error'

/**
 * `--env-file FILE`: VAR=value lines, the only way teamday reads such a file (the binary is
 * built without Bun's .env autoloading: a .env in the working directory changes nothing).
 * Variables already in the environment win, as with Node's and Bun's --env-file.
 *
 * The format: `KEY=value`, `export KEY=value`, blank lines and `#` comments; a value may be
 * in double quotes (`\n`, `\"`, `\\` escapes) or single quotes (literal); an unquoted value
 * ends before ` #`. Errors name the line, never its value (it may be a secret).
 */
export function readEnvFile(file: string): Record<string, string> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new ConfigError(`cannot read --env-file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`)
  }
  return parseEnv(text, file)
}

export function parseEnv(text: string, file = 'the env file'): Record<string, string> {
  const vars: Record<string, string> = {}
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
    if (!m) throw new ConfigError(`${file} line ${i + 1}: expected KEY=value`)
    vars[m[1]!] = value(m[2]!, () => new ConfigError(`${file} line ${i + 1}: unterminated quote in the value of ${m[1]}`))
  })
  return vars
}

function value(v: string, unterminated: () => Error): string {
  const q = v[0]
  if (q === '"' || q === "'") {
    let out = ''
    for (let i = 1; i < v.length; i++) {
      const c = v[i]!
      if (c === q) return out
      if (q === '"' && c === '\\' && i + 1 < v.length) {
        const n = v[++i]!
        out += n === 'n' ? '\n' : n === 'r' ? '\r' : n === 't' ? '\t' : n
      } else out += c
    }
    throw unterminated()
  }
  return v.replace(/\s+#.*$/, '').trim()
}

import type { Io } from '../../src/cli/common'
import { run } from '../../src/main'

export interface CliResult {
  code: number
  out: string
  err: string
}

/** Runs the teamday CLI in-process against a database file, capturing stdout and stderr. */
export function cliOn(db: string) {
  return async (...argv: string[]): Promise<CliResult> => {
    const out: string[] = []
    const err: string[] = []
    const io: Io = { out: (s) => out.push(s), err: (s) => err.push(s), env: { TEAMDAY_LOG_LEVEL: 'silent' } }
    const code = await run([...argv, '--db', db], io)
    return { code, out: out.join('\n'), err: err.join('\n') }
  }
}

import { redactTokens } from './auth/tokens'

/**
 * JSON-lines logger to stderr. Fields are explicit: callers never pass a request body or
 * header wholesale; and whatever a field holds (a path, a message naming client input), the
 * line is redacted of anything token-shaped before it is written.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error'
const ORDER: Record<Level | 'silent', number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

export function createLogger(
  level: Level | 'silent' = 'info',
  sink: (line: string) => void = (line) => process.stderr.write(line + '\n'),
  clock: () => number = Date.now,
): Logger {
  const min = ORDER[level]
  const log = (lvl: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return
    sink(redactTokens(JSON.stringify({ time: new Date(clock()).toISOString(), level: lvl, msg, ...fields })))
  }
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }
}

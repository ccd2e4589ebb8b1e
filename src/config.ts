import { dirname, join, resolve } from 'node:path'

/** Everything the server reads from its environment. The only reader of process.env. */
export interface Config {
  host: string
  port: number
  dbPath: string
  /** base64 of 32 bytes; when unset a key file beside the database is used (created 0600). */
  encryptionKey?: string
  /** Older keys (comma-separated base64) still accepted for decryption during a rotation. */
  previousEncryptionKeys: string[]
  keyFile: string
  /** Trust X-Forwarded-For / X-Real-IP for the client address (behind a reverse proxy). */
  trustProxy: boolean
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  maxBodyBytes: number
  version: string
}

export const VERSION = '0.1.0'
export const DEFAULT_DB_PATH = './data/teamday.db'

type Env = Record<string, string | undefined>

export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const dbPath = overrides.dbPath ?? env.TEAMDAY_DB ?? DEFAULT_DB_PATH
  const port = overrides.port ?? parsePort(env.PORT ?? '3000')
  const logLevel = (env.TEAMDAY_LOG_LEVEL ?? 'info') as Config['logLevel']
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(logLevel)) {
    throw new ConfigError(`TEAMDAY_LOG_LEVEL must be one of debug, info, warn, error, silent (got "${logLevel}")`)
  }
  return {
    host: env.HOST ?? '0.0.0.0',
    port,
    dbPath,
    encryptionKey: env.TEAMDAY_ENCRYPTION_KEY || undefined,
    previousEncryptionKeys: (env.TEAMDAY_ENCRYPTION_KEYS_PREVIOUS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    keyFile: env.TEAMDAY_KEY_FILE ?? defaultKeyFile(dbPath),
    trustProxy: ['1', 'true', 'yes'].includes((env.TEAMDAY_TRUST_PROXY ?? '').toLowerCase()),
    logLevel,
    maxBodyBytes: 1024 * 1024,
    version: VERSION,
    ...overrides,
  }
}

export function defaultKeyFile(dbPath: string): string {
  if (dbPath === ':memory:') return ''
  return join(dirname(resolve(dbPath)), 'teamday.key')
}

export function parsePort(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`port must be an integer 0-65535 (got "${value}")`)
  return n
}

export class ConfigError extends Error {}

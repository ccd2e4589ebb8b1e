import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { ConfigError, type Config } from '../config'
import { KEY_BYTES, SecretBox } from './secretbox'

export function decodeKey(b64: string, what: string): Uint8Array {
  const key = Buffer.from(b64.trim(), 'base64')
  if (key.length !== KEY_BYTES) {
    throw new ConfigError(`${what} must be base64 of exactly ${KEY_BYTES} bytes (got ${key.length}); generate one with: openssl rand -base64 32`)
  }
  return key
}

/**
 * The key file's text. One that cannot be read (a folder, no permission) is a setting to fix,
 * named with its path and the variable that chooses it, not Node's bare `EISDIR: illegal
 * operation on a directory, read`.
 */
function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    const why = code === 'EISDIR' ? 'it is a folder, not a file' : code === 'EACCES' ? 'permission denied (it must be readable by the user teamday runs as)' : (e as Error).message
    throw new ConfigError(`cannot read the encryption key file ${path}: ${why}. TEAMDAY_KEY_FILE chooses it (default: teamday.key beside the database); or set TEAMDAY_ENCRYPTION_KEY`)
  }
}

/** How the key was found, for messages: `encryption key from /data/teamday.key`. */
export function describeKey(source: KeySource, keyFile: string): string {
  switch (source) {
    case 'env':
      return 'encryption key from TEAMDAY_ENCRYPTION_KEY'
    case 'file':
      return `encryption key from ${keyFile}`
    case 'created':
      return `new encryption key written to ${keyFile}; back it up: without it sealed data is lost`
    case 'ephemeral':
      return 'temporary encryption key (in-memory database)'
  }
}

export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64')
}

/** No key configured and no key file, where none may be created. */
export class MissingKeyError extends Error {}

export type KeySource = 'env' | 'file' | 'created' | 'ephemeral'

/**
 * The server key: TEAMDAY_ENCRYPTION_KEY when set; otherwise a key file beside the database
 * (created once with mode 0600, unless `create` is false). An in-memory database with no key
 * gets a fresh key, as its data lives no longer than the process.
 */
export function loadSecretBox(
  config: Pick<Config, 'encryptionKey' | 'previousEncryptionKeys' | 'keyFile'>,
  opts: { create?: boolean } = {},
): {
  box: SecretBox
  source: KeySource
  /** A key file others may read (any of mode 077): said, as ssh says of a private key; the key is used all the same. */
  warning?: string
} {
  const previous = config.previousEncryptionKeys.map((k, i) => decodeKey(k, `TEAMDAY_ENCRYPTION_KEYS_PREVIOUS[${i}]`))
  if (config.encryptionKey) {
    return { box: new SecretBox(decodeKey(config.encryptionKey, 'TEAMDAY_ENCRYPTION_KEY'), previous), source: 'env' }
  }
  if (!config.keyFile) return { box: new SecretBox(randomBytes(KEY_BYTES), previous), source: 'ephemeral' }
  if (existsSync(config.keyFile)) {
    const key = decodeKey(readKeyFile(config.keyFile), `key file ${config.keyFile}`)
    const mode = statSync(config.keyFile).mode & 0o777
    const warning =
      (mode & 0o077) === 0
        ? undefined
        : `the key file ${config.keyFile} is readable or writable by ${(mode & 0o007) !== 0 ? 'all users' : 'its group'} (mode ${mode.toString(8).padStart(4, '0')}): whoever reads it can open every sealed secret and token name; chmod 600 ${config.keyFile}`
    return { box: new SecretBox(key, previous), source: 'file', ...(warning ? { warning } : {}) }
  }
  if (opts.create === false) {
    throw new MissingKeyError(`no encryption key: TEAMDAY_ENCRYPTION_KEY is not set and there is no key file at ${config.keyFile} (set TEAMDAY_KEY_FILE or TEAMDAY_ENCRYPTION_KEY to the key this database was created with)`)
  }
  const dir = dirname(config.keyFile)
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 })
  const b64 = generateKey()
  try {
    // 'wx': never overwrite a key another process created a moment ago.
    writeFileSync(config.keyFile, b64 + '\n', { mode: 0o600, flag: 'wx' })
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    return { box: new SecretBox(decodeKey(readKeyFile(config.keyFile), `key file ${config.keyFile}`), previous), source: 'file' }
  }
  chmodSync(config.keyFile, 0o600)
  return { box: new SecretBox(decodeKey(b64, 'generated key'), previous), source: 'created' }
}

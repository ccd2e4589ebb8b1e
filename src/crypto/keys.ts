import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { ConfigError, type Config } from '../config'
import { KEY_BYTES, SecretBox } from './secretbox'

/**
 * The key `b64` holds: base64 of exactly KEY_BYTES bytes, spaces and line ends around it ignored.
 * The one check of every key (a variable, a key file, one just generated). Else a ConfigError:
 * `what` names the setting ("… must be base64 of exactly 32 bytes"), or says it all from the
 * number of bytes it held (a key file's refusal: keyOfFile).
 */
export function decodeKey(b64: string, what: string | ((bytes: number) => string)): Uint8Array {
  const key = Buffer.from(b64.trim(), 'base64')
  if (key.length === KEY_BYTES) return key
  throw new ConfigError(typeof what === 'function' ? what(key.length) : `${what} must be base64 of exactly ${KEY_BYTES} bytes (got ${key.length}); generate one with: openssl rand -base64 32`)
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

/**
 * The key in a key file. One that holds no key (empty: an older teamday's start on a full disk
 * left such a file; cut short; another file) is said to be damaged: "generate one with openssl"
 * suited a new database only, and a database already holding data sealed under the lost key
 * then refused the new one too.
 */
export function keyOfFile(path: string): Uint8Array {
  const text = readKeyFile(path)
  return decodeKey(
    text,
    (bytes) =>
      `the encryption key file ${path} holds no key (${text.trim() === '' ? 'it is empty' : `${bytes} bytes, not ${KEY_BYTES}`}): it is damaged, or not a key file. Restore it from your backup (what the database sealed needs that key) and start again; only a new database may take a new one (openssl rand -base64 32, or delete the file and a start writes one). TEAMDAY_KEY_FILE chooses the file (default: teamday.key beside the database); TEAMDAY_ENCRYPTION_KEY gives the key itself`,
  )
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

/**
 * TEAMDAY_ENCRYPTION_KEY set but blank is unset, as every blank variable is; but whoever set it
 * meant something (a secret that came through empty): said once by whatever opens the key (a
 * start, an admin command), with the key used instead. Undefined when there is nothing to say.
 */
export function blankKeyWarning(config: Pick<Config, 'encryptionKey' | 'encryptionKeyBlank' | 'keyFile'>, source: KeySource): string | undefined {
  if (!config.encryptionKeyBlank || config.encryptionKey) return undefined
  return `TEAMDAY_ENCRYPTION_KEY is set but blank, which counts as unset: using the ${describeKey(source, config.keyFile)}`
}

/** How TEAMDAY_ENCRYPTION_KEY stands when no key was found: "is not set", or "is set but blank". */
export const keyVarState = (config: Pick<Config, 'encryptionKeyBlank'>): string => (config.encryptionKeyBlank ? 'is set but blank' : 'is not set')

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
  config: Pick<Config, 'encryptionKey' | 'encryptionKeyBlank' | 'previousEncryptionKeys' | 'keyFile'>,
  opts: { create?: boolean; fs?: KeyFileSystem } = {},
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
    const key = keyOfFile(config.keyFile)
    const mode = statSync(config.keyFile).mode & 0o777
    const warning =
      (mode & 0o077) === 0
        ? undefined
        : `the key file ${config.keyFile} is readable or writable by ${(mode & 0o007) !== 0 ? 'all users' : 'its group'} (mode ${mode.toString(8).padStart(4, '0')}): whoever reads it can open every sealed secret and token name; chmod 600 ${config.keyFile}`
    return { box: new SecretBox(key, previous), source: 'file', ...(warning ? { warning } : {}) }
  }
  if (opts.create === false) {
    throw new MissingKeyError(`no encryption key: TEAMDAY_ENCRYPTION_KEY ${keyVarState(config)} and there is no key file at ${config.keyFile} (set TEAMDAY_KEY_FILE or TEAMDAY_ENCRYPTION_KEY to the key this database was created with)`)
  }
  const dir = dirname(config.keyFile)
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 })
  const b64 = generateKey()
  if (!createKeyFile(config.keyFile, b64 + '\n', opts.fs ?? nodeFs)) {
    // Another process created it a moment ago: that key is the one.
    return { box: new SecretBox(keyOfFile(config.keyFile), previous), source: 'file' }
  }
  return { box: new SecretBox(decodeKey(b64, 'generated key'), previous), source: 'created' }
}

/** The file operations a new key file is written with (node:fs; a test gives one that fails). */
export interface KeyFileSystem {
  openSync(path: string, flags: string, mode?: number): number
  writeSync(fd: number, buffer: Uint8Array, offset: number): number
  fsyncSync(fd: number): void
  closeSync(fd: number): void
  chmodSync(path: string, mode: number): void
  linkSync(existing: string, path: string): void
  unlinkSync(path: string): void
}

const nodeFs: KeyFileSystem = { openSync, writeSync, fsyncSync, closeSync, chmodSync, linkSync, unlinkSync }

/**
 * Writes a new key file, whole or not at all: the key goes to a temporary file beside it (mode
 * 0600, synced to the disk), which is then linked to its name, and never over an existing file
 * (another process's key of a moment ago: false). Written in place, a full disk left an empty
 * key file (every later start then refused it: "must be base64 of exactly 32 bytes (got 0)"), a
 * crash one whose key was not on the disk yet, and a process starting at the same moment could
 * read it half-written. A failure says which file and why, and leaves nothing behind.
 */
function createKeyFile(path: string, text: string, fs: KeyFileSystem): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  let fd: number | undefined
  let made = false
  try {
    fd = fs.openSync(tmp, 'wx', 0o600)
    made = true
    const bytes = Buffer.from(text)
    for (let at = 0; at < bytes.length; ) at += fs.writeSync(fd, bytes, at)
    fs.fsyncSync(fd)
    fs.closeSync(fd)
    fd = undefined
    // The umask may have taken the owner's bits: exactly 0600.
    fs.chmodSync(tmp, 0o600)
    try {
      fs.linkSync(tmp, path)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw e
    }
    syncFolder(dirname(path), fs)
    return true
  } catch (e) {
    throw new Error(cannotWriteKey(path, e, made))
  } finally {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd)
      } catch {
        // closing after a failed write: nothing more to do
      }
    }
    if (made) {
      try {
        fs.unlinkSync(tmp)
      } catch {
        // already gone
      }
    }
  }
}

/** The folder's entry for a new file, on the disk (where the system can sync a folder). */
function syncFolder(dir: string, fs: KeyFileSystem): void {
  let fd: number | undefined
  try {
    fd = fs.openSync(dir, 'r')
    fs.fsyncSync(fd)
  } catch {
    // Windows opens no folder; the key's own bytes are synced already.
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

/**
 * Why a new key file could not be written, for an operator. `made`: the temporary file was
 * created, so the folder is writable, and a chmod or link refused after that (EPERM, ENOSYS,
 * ENOTSUP) is the file system's: vfat, exFAT and some network shares keep no file modes or hard
 * links. That said "permission denied (its folder must be writable …)", or "ENOSYS: function not
 * implemented, chmod '…tmp'" (found on a FAT folder, 2026-12-06).
 */
function cannotWriteKey(path: string, e: unknown, made: boolean): string {
  const code = (e as NodeJS.ErrnoException).code
  const why =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? 'no space left on its disk'
      : code === 'EROFS'
        ? 'its folder is on a read-only file system'
        : made && (code === 'EPERM' || code === 'ENOSYS' || code === 'ENOTSUP' || code === 'EOPNOTSUPP')
          ? `its file system keeps no file modes or hard links (vfat, exFAT, some network shares), so it cannot hold a key file only its owner may read (${code})`
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied (its folder must be writable by the user teamday runs as)'
            : errorText(e)
  return `cannot write the new encryption key file ${path}: ${why}; nothing was written there. Fix that and start again, or give the key yourself: TEAMDAY_ENCRYPTION_KEY, or TEAMDAY_KEY_FILE naming a file that holds it`
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e))

import { chmodSync, closeSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { ClientError } from './errors'

type Env = Record<string, string | undefined>

/**
 * `teamday login` stores what browser sign-in gave it in one file, keyed by server URL: a login
 * made against server A is only ever sent to server A. `$XDG_CONFIG_HOME/teamday/credentials.json`
 * (default `~/.config/teamday/credentials.json`), mode 0600 in a 0700 folder, replaced
 * atomically (written beside, then renamed).
 */
export interface StoredLogin {
  accessToken: string
  refreshToken: string
  /** When to refresh (already 60 s early, from the server). */
  expiresAt: string
  userId: string
  organizationId: string
  email?: string
  savedAt: string
}

interface CredentialsFile {
  version: 1
  servers: Record<string, StoredLogin>
}

export function credentialsPath(env: Env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config')
  return join(base, 'teamday', 'credentials.json')
}

function isLogin(v: any): v is StoredLogin {
  return v && typeof v === 'object' && typeof v.accessToken === 'string' && typeof v.refreshToken === 'string' && typeof v.expiresAt === 'string'
}

/**
 * A file's text and mode, read through one descriptor (no swap between a stat and the read):
 * the token file and the credentials file both warn when others may read them.
 */
export function readWithMode(file: string): { text: string; mode: number } {
  const fd = openSync(file, 'r')
  try {
    return { mode: fstatSync(fd).mode, text: readFileSync(fd, 'utf8') }
  } finally {
    closeSync(fd)
  }
}

/** The file's logins; none when it does not exist. A file others may read gets a warning. */
export function readCredentials(file: string, warn: (line: string) => void = () => {}): Record<string, StoredLogin> {
  let text: string
  let mode: number
  try {
    ;({ text, mode } = readWithMode(file))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new ClientError('auth', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`, undefined, undefined, 'credentials_file')
  }
  if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
    warn(`warning: ${file} is accessible to other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); anyone who can read it can use your login. Run: chmod 600 ${file}`)
  }
  let parsed: any
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new ClientError('auth', `${file} is not valid JSON; delete it and run "teamday login" again`, undefined, undefined, 'credentials_file')
  }
  const out: Record<string, StoredLogin> = {}
  for (const [url, login] of Object.entries(parsed?.servers ?? {})) if (isLogin(login)) out[url] = login
  return out
}

/** Sets (or, with null, removes) the login of one server, keeping the others. */
export function writeCredentials(file: string, baseUrl: string, login: StoredLogin | null): void {
  const servers = readCredentials(file)
  if (login) servers[baseUrl] = login
  else delete servers[baseUrl]
  const body: CredentialsFile = { version: 1, servers }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`
  // Created 0600 (never readable by others, not even between write and chmod), then renamed over.
  writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  chmodSync(tmp, 0o600)
  renameSync(tmp, file)
}

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

export async function credentialsPath(env: Env): Promise<string> {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : joinPath(env.HOME || (await import('node:os')).homedir(), '.config')
  return joinPath(base, 'teamday', 'credentials.json')
}

/**
 * `path.join` for a base folder and plain names, without loading node:path (every client command
 * passes here; see test/startup-costs.test.ts): one separator between the parts.
 */
export function joinPath(base: string, ...names: string[]): string {
  const sep = process.platform === 'win32' ? '\\' : '/'
  // Trailing separators off (a loop, not a regular expression's replace: JSC compiles that
  // built-in, written in JavaScript, on its first call, a cost every client command paid here).
  let end = base.length
  if (end > 1) while (end > 0 && (base[end - 1] === '/' || base[end - 1] === '\\')) end--
  const head = base.slice(0, end)
  let path = head === sep ? '' : head
  for (const name of names) path += sep + name
  return path
}

function isLogin(v: any): v is StoredLogin {
  return v && typeof v === 'object' && typeof v.accessToken === 'string' && typeof v.refreshToken === 'string' && typeof v.expiresAt === 'string'
}

/**
 * A file's text and mode: the token file and the credentials file both warn when others may read
 * them. Bun.file, not node:fs: a client command that reads its token this way never loads
 * node:fs, which costs a compiled `teamday agents list` about as much as the rest of the command.
 */
export async function readWithMode(file: string): Promise<{ text: string; mode: number }> {
  const f = Bun.file(file)
  const { mode } = await f.stat()
  return { mode, text: await f.text() }
}

/** The file's logins; none when it does not exist. A file others may read gets a warning. */
export async function readCredentials(file: string, warn: (line: string) => void = () => {}): Promise<Record<string, StoredLogin>> {
  // Most commands run without a stored login: no file (or a folder in its place), and no error to build for its absence.
  if (!(await Bun.file(file).exists())) return {}
  let text: string
  let mode: number
  try {
    ;({ text, mode } = await readWithMode(file))
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
export async function writeCredentials(file: string, baseUrl: string, login: StoredLogin | null): Promise<void> {
  const { chmodSync, mkdirSync, renameSync, writeFileSync } = await import('node:fs')
  const servers = await readCredentials(file)
  if (login) servers[baseUrl] = login
  else delete servers[baseUrl]
  const body: CredentialsFile = { version: 1, servers }
  mkdirSync(file.slice(0, Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\'))), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`
  // Created 0600 (never readable by others, not even between write and chmod), then renamed over.
  writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  chmodSync(tmp, 0o600)
  renameSync(tmp, file)
}


import { ClientError } from '../client/errors'

/** A .env file is a few lines: more than this is not read for a hint. */
const MAX_BYTES = 64 * 1024

/**
 * The token variable a `.env` line sets to something (`TEAMDAY_TOKEN=…`, `export TEAMDAY_API_TOKEN="…"`),
 * a commented or empty one (`TEAMDAY_TOKEN=`, `TEAMDAY_TOKEN=""`) not counted. Only its name is
 * ever used: the value is never kept or shown. Read line by line with string operations: the one
 * regular expression that did this backtracked polynomially on a line of many tabs
 * (test/regex-safety.test.ts).
 */
function tokenVariableSet(text: string): string | undefined {
  const blank = (s: string) => s.trim() === ''
  for (const raw of text.split('\n')) {
    let line = raw.trimStart()
    if (line.startsWith('export') && (line[6] === ' ' || line[6] === '\t')) line = line.slice(6).trimStart()
    const name = line.startsWith('TEAMDAY_TOKEN') ? 'TEAMDAY_TOKEN' : line.startsWith('TEAMDAY_API_TOKEN') ? 'TEAMDAY_API_TOKEN' : undefined
    if (name === undefined) continue
    const rest = line.slice(name.length).trimStart()
    if (!rest.startsWith('=')) continue
    // A value of something but quotes and white space.
    if (!blank(rest.slice(1).replaceAll('"', '').replaceAll("'", ''))) return name
  }
  return undefined
}

/**
 * The no-token error (`no_token`, src/client/http.ts) with one more line when a `.env` file in
 * `cwd` sets TEAMDAY_TOKEN or TEAMDAY_API_TOKEN: teamday reads no .env file by itself (README,
 * "Environment files"), so the token kept there as TeamDay's docs suggest ("Oder in .env Datei
 * (für lokale Entwicklung)") seemed to be ignored without a word. Any other error, or no such
 * file (or no working directory), is returned as it is. `cwd`: process.cwd() when undefined.
 */
export async function withDotenvHint(e: ClientError, cwd: string | undefined): Promise<ClientError> {
  // Bun.file, not node:fs: the client's bundle imports no node module statically but where a
  // command needs one (test/client-startup.test.ts). A `/` separates on Windows too.
  let text: string
  try {
    // process.cwd() throws when the directory was removed under the command (a cron job's, a CI
    // step's): no hint then, and not a crash with a stack trace in place of "no token configured".
    const file = Bun.file(`${cwd ?? process.cwd()}/.env`)
    if (file.size > MAX_BYTES) return e
    text = await file.text()
  } catch {
    return e
  }
  const name = tokenVariableSet(text)
  if (name === undefined) return e
  const hint = `A .env file in this directory sets ${name}, but teamday reads no .env file by itself: pass --env-file .env, or export the variable.`
  return new ClientError(e.kind, e.message, e.hint ? `${e.hint}\n${hint}` : hint, e.body, e.code)
}

import { loadClientConfig } from '../../client/config'
import { ApiClient, type Expected } from '../../client/http'
import { keyValueLines, table, terminalSafe, UsageError, type ClientIo, type Io } from '../common'
import type { ClientValues, Run } from '../spec'

export type { ClientIo } from '../common'

export function writeRaw(io: ClientIo, text: string): void {
  if (io.write) io.write(text)
  else io.out(text)
}

/**
 * A client for the parsed common options. `token: false` for a command whose requests are all
 * unauthenticated (`health`): it reads no token file and no stored login, so a broken one cannot
 * fail it, and it starts no file read (a compiled command's first asynchronous file read starts
 * Bun's thread pool: ~4 ms of a ~30 ms command).
 */
export async function makeClient(io: Io, values: { url?: string; 'token-file'?: string; retries?: string }, o: { token?: boolean } = {}): Promise<ApiClient> {
  const retries = values.retries === undefined ? 3 : Number(values.retries)
  if (values.retries !== undefined && (!/^\d+$/.test(values.retries) || retries > 10)) throw new UsageError('--retries must be a whole number 0-10')
  const config = await loadClientConfig(io.env, { url: values.url, tokenFile: values['token-file'], token: o.token }, (line) => io.err(line))
  warnUnverifiedTls(io, config.baseUrl)
  return new ApiClient({ ...config, retries, warn: (line) => io.err(line) })
}

/**
 * Bun's fetch stops verifying TLS certificates when NODE_TLS_REJECT_UNAUTHORIZED is 0, and says
 * nothing (Node warns): the token would go to whoever answers. A client command says so on stderr.
 */
export function warnUnverifiedTls(io: Io, baseUrl: string): void {
  if (io.env.NODE_TLS_REJECT_UNAUTHORIZED === '0' && baseUrl.toLowerCase().startsWith('https:')) {
    io.err(`warning: NODE_TLS_REJECT_UNAUTHORIZED=0 is set: the certificate of ${baseUrl} is not verified, so anyone on the way can read the token. Unset it, and trust a self-signed or private-CA certificate with NODE_EXTRA_CA_CERTS=/path/to/ca.pem instead.`)
  }
}

export function intFlag(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`${flag} must be a whole number ${min}-${max}`)
  return n
}

/**
 * A list's filter option: an empty one (`--space "$SPACE"` with SPACE unset) is a usage error.
 * The client left an empty value out of the query, so the command listed every row; the API
 * refuses an empty filter (422) for the same reason.
 */
export function filterFlag(value: string | undefined, flag: string): string | undefined {
  if (value === '') throw new UsageError(`${flag} is empty (an unset variable?): give it a value, or leave the option out`)
  return value
}

/**
 * A list's paging options: --limit, --offset and --cursor (the API's `?cursor=`, what the note
 * after a page names). An empty --cursor (`--cursor "$NEXT"` with NEXT unset) is a usage error:
 * the API takes `cursor=` as the first page, so a script's loop would start over for ever. A
 * cursor with an --offset above 0 is one too (the API's 422: a cursor says where its page starts).
 */
export function pageFlags(values: { limit?: string; offset?: string; cursor?: string }): { limit: number | undefined; offset: number | undefined; cursor: string | undefined } {
  const limit = intFlag(values.limit, '--limit', 1, 200)
  const offset = intFlag(values.offset, '--offset', 0, 1e9)
  if (values.cursor === '') throw new UsageError('--cursor is empty (an unset variable?): give it the cursor that the note after a page (or nextCursor) named, or leave it out for the first page')
  if (values.cursor !== undefined && offset) throw new UsageError('--cursor and --offset: a cursor says where its page starts; give one of them')
  return { limit, offset, cursor: values.cursor }
}

export function listFlag(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter(Boolean)
}

export function boolFlag(value: string | undefined, flag: string): boolean | undefined {
  if (value === undefined) return undefined
  if (value === 'true') return true
  if (value === 'false') return false
  throw new UsageError(`${flag} must be true or false`)
}

/** Drops undefined fields (unset flags are not sent). */
export function compact<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/** `--json`: the exact API body; otherwise the human rendering. */
export function output(io: Io, json: boolean | undefined, body: unknown, human: () => string): void {
  io.out(json ? JSON.stringify(body, null, 2) : human())
}

/**
 * What a create command prints: the new object's id alone on stdout (`ID=$(teamday tasks create
 * …)`, as help says), the sentence for a person on stderr; --json: the API body.
 */
export function created(io: Io, json: boolean | undefined, body: unknown, id: string, sentence: string): void {
  if (json) return output(io, json, body, () => '')
  io.out(id)
  io.err(sentence)
}

/** What a list is of: `1 execution`, `2 executions`. */
export interface Noun {
  singular: string
  plural: string
}

/** A noun whose plural adds an s (every list the client shows: agents, audit events…). */
export const noun = (singular: string): Noun => ({ singular, plural: `${singular}s` })

/**
 * After a page of a list, when the server has a next one: how many were shown and how to ask for
 * the next page, on stderr, so that stdout holds only the rows (`| wc -l`, `| while read`) or the
 * JSON. With --json too: tasks and executions are bare arrays, whose next page only headers
 * said (the note was the only sign, and --json dropped it). `next`: the server's next cursor
 * (`nextCursor`, or the X-Next-Cursor header), named as `--cursor` (rows created meanwhile are
 * neither repeated nor skipped); a page read by --offset names the next --offset too, a page
 * read by --cursor only the cursor (its offset is not known here).
 */
export function nextPageHint(io: Io, _json: boolean | undefined, page: { noun: Noun; shown: number; offset: number | undefined; cursor: string | undefined; next: unknown; total?: string | number | null; estimate?: boolean }): void {
  if (!page.next) return
  const of = page.total === undefined || page.total === null ? '' : ` of ${page.total}${page.estimate ? '+' : ''}`
  // "1 of 40 tasks", but "1 execution" (a server that sends no total said "1 executions").
  const noun = page.shown === 1 && of === '' ? page.noun.singular : page.noun.plural
  const offset = page.cursor === undefined ? ` (or --offset ${(page.offset ?? 0) + page.shown})` : ''
  io.err(`${page.shown}${of} ${noun} shown; the next page: --cursor ${String(page.next)}${offset}`)
}

export function rows(items: Record<string, unknown>[], columns: string[], empty: string): string {
  if (items.length === 0) return empty
  // Loops, not map and Object.fromEntries, and one whitespace test for the whole table instead of
  // a replace per cell: see table() (src/cli/common.ts).
  const texts: (string | null)[][] = []
  let all = ''
  for (let j = 0; j < items.length; j++) {
    const r = items[j]!
    const line: (string | null)[] = []
    for (let i = 0; i < columns.length; i++) {
      const t = cellText(r[columns[i]!])
      if (t !== null) all += t + ' '
      line.push(t)
    }
    texts.push(line)
  }
  const collapse = SPACE_TO_COLLAPSE.test(all)
  const cut: Record<string, unknown>[] = []
  for (let j = 0; j < texts.length; j++) {
    const row: Record<string, unknown> = {}
    for (let i = 0; i < columns.length; i++) row[columns[i]!] = short(texts[j]![i]!, collapse)
    cut.push(row)
  }
  return table(cut, columns)
}

/** One object as aligned `key  value` lines (nested values as compact JSON). */
export function details(obj: Record<string, unknown>, keys?: readonly string[]): string {
  const ks = keys ?? Object.keys(obj)
  // Loops for the same reason as table()'s (src/cli/common.ts).
  const names: string[] = []
  const values: string[] = []
  for (let i = 0; i < ks.length; i++) {
    names.push(ks[i]!)
    values.push(fmt(obj[ks[i]!]))
  }
  return keyValueLines(names, values)
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return '-'
  if (typeof v === 'object') return JSON.stringify(v)
  return String(v)
}

/** Whitespace that a table cell shows differently: anything but a lone space. */
const SPACE_TO_COLLAPSE = /[^\S ]|  /

/**
 * A cell's text, or null for '-': no value, and also an empty list or a blank text (a space
 * without secrets showed nothing in its SECRETKEYS column, and the row read as one column short
 * to `read` and `awk`).
 */
function cellText(v: unknown): string | null {
  if (v === null || v === undefined) return null
  const t = Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v)
  return t.trim() === '' ? null : t
}

/**
 * A cell on one line (runs of whitespace as one space), made terminal-safe here (its escapes are
 * what the table measures: measured before, a name holding ESC pushed its column out of line),
 * cut at 60 characters, never inside a surrogate pair (an emoji cut in half printed U+FFFD) or an
 * escape.
 */
function short(text: string | null, collapse: boolean): string | null {
  if (text === null) return null
  const s = terminalSafe(collapse ? text.replace(/\s+/g, ' ') : text)
  if (s.length <= 60) return s
  let cut = 59
  const c = s.charCodeAt(cut)
  if (c >= 0xdc00 && c <= 0xdfff) cut--
  const escape = s.lastIndexOf('\\u', cut)
  if (escape >= 0 && escape > cut - 6 && /^\\u[0-9a-f]{4}/.test(s.slice(escape, escape + 6))) cut = escape
  return s.slice(0, cut) + '…'
}

/**
 * `<resource> get ID` and `<resource> delete ID`, the same for agents, spaces and tasks.
 * `pick` chooses the object to show from a GET body; `deleted` says what DELETE did.
 */
export async function getOrDelete(
  { values, positionals, io }: Run<ClientValues>,
  sub: 'get' | 'delete',
  r: { path: string; noun: string; detail: readonly string[]; expect: Expected; pick: (body: any) => Record<string, unknown>; deleted: string },
): Promise<void> {
  const client = await makeClient(io, values)
  const id = positionals[0]!
  const url = `${r.path}/${encodeURIComponent(id)}`
  if (sub === 'get') {
    const res = await client.request('GET', url, { expect: r.expect })
    output(io, values.json, res.body, () => details(r.pick(res.body), r.detail))
  } else {
    const res = await client.request('DELETE', url, { expect: 'object' })
    output(io, values.json, res.body, () => `${r.deleted} ${r.noun} ${id}`)
  }
}

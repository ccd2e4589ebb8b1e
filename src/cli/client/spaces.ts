import { ClientError } from '../../client/errors'
import { earlierWords } from '../../client/http'
import { isSecretKey, MAX_KEYS_PER_REQUEST, SECRET_KEY_RULE } from '../../secret-names'
import { inline, UsageError } from '../common'
import type { ClientValues, Run } from '../spec'
import { boolFlag, compact, created, details, getOrDelete, listFlag, makeClient, nextPageHint, noun, output, pageFlags, rows } from './common'
import { enc } from './executions'
import { readTexts } from './text-input'
import { unlessBlank } from '../../text'

/** `teamday spaces …` and `teamday spaces secrets …` over HTTP (options and usage: src/cli/registry.ts). */

type Fields = { name?: string; slug?: string; description?: string; visibility?: string; type?: string; instructions?: string; 'instructions-file'?: string; 'add-agents'?: string; 'remove-agents'?: string }

const COLUMNS = ['id', 'name', 'visibility', 'type', 'secretKeys', 'archived', 'updatedAt']
const DETAIL = ['id', 'name', 'slug', 'description', 'visibility', 'type', 'instructions', 'agentRefs', 'secretKeys', 'archived', 'createdBy', 'createdAt', 'updatedAt']

function spaceBody(v: Fields) {
  return compact({
    name: v.name,
    slug: v.slug,
    description: v.description,
    visibility: v.visibility,
    type: v.type,
    instructions: v.instructions,
    addCharacters: listFlag(v['add-agents']),
    removeCharacters: listFlag(v['remove-agents']),
  })
}

export async function list({ values, io }: Run<ClientValues & { archived?: boolean; limit?: string; offset?: string; cursor?: string }>): Promise<void> {
  const client = await makeClient(io, values)
  const query = { archived: values.archived ? 'true' : undefined, ...pageFlags(values) }
  const r = await client.request('GET', '/api/v1/spaces', { query, expect: { spaces: 'list' } })
  output(io, values.json, r.body, () => rows(r.body.spaces, COLUMNS, 'no spaces'))
  nextPageHint(io, values.json, { noun: noun('space'), shown: r.body.spaces.length, offset: query.offset, cursor: query.cursor, next: r.body.nextCursor, total: r.body.total, estimate: r.body.totalIsEstimate })
}

/** The body, its --instructions read from stdin or a file when asked. */
async function spaceBodyWithTexts(io: Run<unknown>['io'], values: Fields) {
  const body = spaceBody(values)
  return { ...body, ...(await readTexts(io, values, ['instructions'])) }
}

export async function create({ values, io }: Run<ClientValues & Fields>): Promise<void> {
  const body = await spaceBodyWithTexts(io, values)
  const client = await makeClient(io, values)
  const r = await client.request('POST', '/api/v1/spaces', { body, expect: { 'space.id': 'string' } })
  created(io, values.json, r.body, r.body.space.id, `created space ${r.body.space.id} (${inline(r.body.space.name)})`)
}

const ONE = { path: '/api/v1/spaces', noun: 'space', detail: DETAIL, expect: { space: 'object' }, pick: (b: any) => b.space, deleted: 'archived' } as const
export const get = (run: Run<ClientValues>) => getOrDelete(run, 'get', ONE)
export const remove = (run: Run<ClientValues>) => getOrDelete(run, 'delete', ONE)

export async function update({ values, positionals, io }: Run<ClientValues & Fields & { archived?: string }>): Promise<void> {
  const body = { ...(await spaceBodyWithTexts(io, values)), ...compact({ archived: boolFlag(values.archived, '--archived') }) }
  if (Object.keys(body).length === 0) throw new UsageError('nothing to update: pass at least one option')
  const client = await makeClient(io, values)
  const r = await client.request('PATCH', `/api/v1/spaces/${enc(positionals[0]!)}`, { body, expect: { space: 'object' } })
  output(io, values.json, r.body, () => details(r.body.space, DETAIL))
}

export async function secretsList({ values, positionals, io }: Run<ClientValues>): Promise<void> {
  const client = await makeClient(io, values)
  const r = await client.request('GET', `/api/v1/spaces/${enc(positionals[0]!)}/secrets`, { expect: { secrets: 'strings' } })
  // Names only on stdout, one a line (`| wc -l`, `while read KEY`): none is no line there, and
  // the sentence for a person goes to stderr ("no secrets" on stdout counted as one name).
  if (!values.json && r.body.secrets.length === 0) return io.err('no secrets')
  output(io, values.json, r.body, () => r.body.secrets.join('\n'))
}

/**
 * A name the server would refuse (422), refused before anything is sent, by the server's own rule
 * (it accepted "lower" and "_X", which the server then rejected). Names the argument by its place:
 * `set` arguments may hold values.
 */
function badName(index: number, count: number): UsageError {
  return new UsageError(`secret names are ${SECRET_KEY_RULE} (KEY ${index + 1} of ${count})`)
}

/** More than the API takes in one request: said before anything is sent (it was the server's 422, or "unexpected argument" past 1000). */
function assertFewEnough(count: number): void {
  if (count > MAX_KEYS_PER_REQUEST) throw new UsageError(`at most ${MAX_KEYS_PER_REQUEST} secrets per command, the API's limit for one request (got ${count}): split them over several commands`)
}

export async function secretsSet({ values, positionals, io }: Run<ClientValues>): Promise<void> {
  const [space, ...items] = positionals
  assertFewEnough(items.length)
  const map: Record<string, string> = {}
  for (const item of items) {
    const eq = item.indexOf('=')
    const key = eq < 0 ? item : item.slice(0, eq)
    // Never echo the argument: it may hold a value.
    if (!isSecretKey(key)) throw badName(items.indexOf(item), items.length)
    // $KEY set blank is unset, as every variable the client reads: an undefined CI secret (a
    // fork's pull request) arrives as "", and replaced the stored value with it. KEY= is explicit.
    const value = eq < 0 ? unlessBlank(io.env[key]) : item.slice(eq + 1)
    if (value === undefined) throw new UsageError(`${key}: no value; pass ${key}=VALUE or set the environment variable ${key} (unset or blank here)`)
    map[key] = value
  }
  const client = await makeClient(io, values)
  const r = await client.request('POST', `/api/v1/spaces/${enc(space!)}/secrets`, { body: { secrets: map }, expect: { keys: 'strings' } })
  output(io, values.json, r.body, () => `set ${r.body.keys.join(', ')} on space ${space}`)
}

export async function secretsDelete({ values, positionals, io }: Run<ClientValues>): Promise<void> {
  const [space, ...items] = positionals
  assertFewEnough(items.length)
  const bad = items.findIndex((k) => !isSecretKey(k))
  if (bad >= 0) throw badName(bad, items.length)
  const client = await makeClient(io, values)
  const r = await client.request('DELETE', `/api/v1/spaces/${enc(space!)}/secrets`, { body: { keys: items }, expect: { deleted: 'strings' } })
  const deleted: string[] = r.body.deleted
  // The API ignores names the space does not have; the command says so and fails with the
  // not-found exit code (it said "deleted nothing" with exit 0: a typo in a clean-up script
  // left the secret in place unnoticed). What it did delete is still said on stdout.
  const missing = [...new Set(items)].filter((k) => !deleted.includes(k))
  if (missing.length === 0) return output(io, values.json, r.body, () => `deleted ${deleted.join(', ')} from space ${space}`)
  if (!values.json && deleted.length > 0) io.out(`deleted ${deleted.join(', ')} from space ${space}`)
  const message = `space ${space} has no secret ${missing.map(inline).join(', ')}${deleted.length > 0 ? ` (deleted ${deleted.join(', ')})` : ''}${r.earlier !== undefined ? `; ${earlierWords(r.earlier)}` : ''}`
  throw new ClientError('notFound', message, `See its secrets: teamday spaces secrets list ${space}`, { error: true, code: 'not_found', message, deleted, missing }, 'not_found')
}

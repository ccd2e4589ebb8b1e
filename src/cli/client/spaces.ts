import { CLIENT_EXIT } from '../../client/errors'
import { UsageError, type Io } from '../common'
import { boolFlag, CLIENT_OPTIONS_USAGE, clientGuard, compact, details, intFlag, isHelp, listFlag, makeClient, output, parseClient, rows, getOrDelete } from './common'
import { enc } from './executions'

export const SPACES_USAGE = `usage:
  teamday spaces list [--archived] [--limit N] [--offset N]
  teamday spaces get ID
  teamday spaces create --name N [--description D] [--visibility private|organization|public] [--type empty|git|starterKit]
                        [--instructions TEXT] [--add-agents ID,ID]
  teamday spaces update ID [the create options] [--remove-agents ID,ID] [--archived true|false]
  teamday spaces delete ID            archives the space
  teamday spaces secrets list SPACE   names only, never values
  teamday spaces secrets set SPACE KEY=VALUE... | KEY...
      KEY alone takes the value of the environment variable KEY (keeps values out of shell history)
  teamday spaces secrets delete SPACE KEY...
${CLIENT_OPTIONS_USAGE}`

const FIELDS = {
  name: { type: 'string' },
  description: { type: 'string' },
  visibility: { type: 'string' },
  type: { type: 'string' },
  instructions: { type: 'string' },
  'add-agents': { type: 'string' },
} as const

const COLUMNS = ['id', 'name', 'visibility', 'type', 'secretKeys', 'archived', 'updatedAt']
const DETAIL = ['id', 'name', 'description', 'visibility', 'type', 'instructions', 'agentRefs', 'secretKeys', 'archived', 'createdBy', 'createdAt', 'updatedAt']
const SECRET_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/

function spaceBody(v: Record<string, string | boolean | undefined>) {
  return compact({
    name: v.name as string | undefined,
    description: v.description as string | undefined,
    visibility: v.visibility as string | undefined,
    type: v.type as string | undefined,
    instructions: v.instructions as string | undefined,
    addCharacters: listFlag(v['add-agents'] as string | undefined),
    removeCharacters: listFlag(v['remove-agents'] as string | undefined),
  })
}

export function spacesCommand(args: string[], io: Io): Promise<number> {
  return clientGuard(io, SPACES_USAGE, async () => {
    const [sub, ...rest] = args
    if (isHelp(sub)) {
      io.out(SPACES_USAGE)
      return sub ? CLIENT_EXIT.ok : CLIENT_EXIT.usage
    }
    if (sub === 'secrets') return secrets(rest, io)
    if (sub === 'list') {
      const { values } = parseClient(rest, { archived: { type: 'boolean' }, limit: { type: 'string' }, offset: { type: 'string' } }, { min: 0, max: 0, names: '' })
      if (values.help) return help(io)
      const client = makeClient(io, values)
      const query = { archived: values.archived ? 'true' : undefined, limit: intFlag(values.limit, '--limit', 1, 200), offset: intFlag(values.offset, '--offset', 0, 1e9) }
      const r = await client.request('GET', '/api/v1/spaces', { query })
      output(io, values.json, r.body, () => rows(r.body.spaces, COLUMNS, 'no spaces'))
      return CLIENT_EXIT.ok
    }
    if (sub === 'create') {
      const { values } = parseClient(rest, FIELDS, { min: 0, max: 0, names: '' })
      if (values.help) return help(io)
      if (!values.name) throw new UsageError('missing required option --name')
      const client = makeClient(io, values)
      const r = await client.request('POST', '/api/v1/spaces', { body: spaceBody(values) })
      output(io, values.json, r.body, () => `created space ${r.body.space.id} (${r.body.space.name})`)
      return CLIENT_EXIT.ok
    }
    if (sub === 'get' || sub === 'delete') {
      return getOrDelete(io, sub, rest, { path: '/api/v1/spaces', noun: 'space', detail: DETAIL, pick: (b) => b.space, deleted: 'archived', help })
    }
    if (sub === 'update') {
      const { values, positionals } = parseClient(rest, { ...FIELDS, 'remove-agents': { type: 'string' }, archived: { type: 'string' } }, { min: 1, max: 1, names: 'space ID' })
      if (values.help) return help(io)
      const body = { ...spaceBody(values), ...compact({ archived: boolFlag(values.archived, '--archived') }) }
      if (Object.keys(body).length === 0) throw new UsageError('nothing to update: pass at least one option')
      const client = makeClient(io, values)
      const r = await client.request('PATCH', `/api/v1/spaces/${enc(positionals[0]!)}`, { body })
      output(io, values.json, r.body, () => details(r.body.space, DETAIL))
      return CLIENT_EXIT.ok
    }
    throw new UsageError(`unknown spaces command "${sub}"`)
  })
}

function help(io: Io) {
  io.out(SPACES_USAGE)
  return CLIENT_EXIT.ok
}

async function secrets(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args
  if (isHelp(sub)) {
    io.out(SPACES_USAGE)
    return sub ? CLIENT_EXIT.ok : CLIENT_EXIT.usage
  }
  if (sub === 'list') {
    const { values, positionals } = parseClient(rest, {}, { min: 1, max: 1, names: 'space ID' })
    if (values.help) return help(io)
    const client = makeClient(io, values)
    const r = await client.request('GET', `/api/v1/spaces/${enc(positionals[0]!)}/secrets`)
    output(io, values.json, r.body, () => (r.body.secrets.length ? r.body.secrets.join('\n') : 'no secrets'))
    return CLIENT_EXIT.ok
  }
  if (sub === 'set' || sub === 'delete') {
    const { values, positionals } = parseClient(rest, {}, { min: 2, max: 1000, names: sub === 'set' ? 'space ID and KEY=VALUE' : 'space ID and KEY' })
    if (values.help) return help(io)
    const [space, ...items] = positionals
    if (sub === 'set') {
      const map: Record<string, string> = {}
      for (const item of items) {
        const eq = item.indexOf('=')
        const key = eq < 0 ? item : item.slice(0, eq)
        // Never echo the argument: it may hold a value.
        if (!SECRET_KEY.test(key)) throw new UsageError(`secret names are letters, digits and _ and do not start with a digit (argument ${items.indexOf(item) + 1})`)
        const value = eq < 0 ? io.env[key] : item.slice(eq + 1)
        if (value === undefined) throw new UsageError(`${key}: no value; pass ${key}=VALUE or set the environment variable ${key}`)
        map[key] = value
      }
      const client = makeClient(io, values)
      const r = await client.request('POST', `/api/v1/spaces/${enc(space!)}/secrets`, { body: { secrets: map } })
      output(io, values.json, r.body, () => `set ${r.body.keys.join(', ')} on space ${space}`)
    } else {
      const client = makeClient(io, values)
      const r = await client.request('DELETE', `/api/v1/spaces/${enc(space!)}/secrets`, { body: { keys: items } })
      output(io, values.json, r.body, () => `deleted ${Array.isArray(r.body.deleted) ? r.body.deleted.join(', ') || 'nothing' : r.body.deleted} from space ${space}`)
    }
    return CLIENT_EXIT.ok
  }
  throw new UsageError(`unknown spaces secrets command "${sub}"`)
}

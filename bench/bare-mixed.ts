// The mixed benchmark's floor: a bare Bun.serve on bun:sqlite, no framework, no drizzle, running
// the statements teamday runs for the same requests (bearer -> SHA-256 -> token look-up with the
// owner's e-mail and role; first pages by keyset with limit + 1 and the capped count; one row
// by id; an insert ... returning), with the same pragmas and indexes, on a copy of the same
// database. Rows go out as SQLite returns them (JSON columns left as text). argv: database file
import { Database, type SQLQueryBindings } from 'bun:sqlite'

const db = new Database(process.argv[2]!)
db.exec('PRAGMA busy_timeout = 5000')
db.exec('PRAGMA journal_mode = WAL')
db.exec('PRAGMA synchronous = NORMAL')
db.exec('PRAGMA foreign_keys = ON')

const CAP = 1000
const statements = new Map<string, ReturnType<Database['query']>>()
const q = (sql: string) => {
  let s = statements.get(sql)
  if (!s) statements.set(sql, (s = db.query(sql)))
  return s
}

const auth = db.query(
  `select "id", "user_id", "organization_id", "expires_at", "revoked_at", "last_used_at", "scopes",
     (select "email" from "users" where "users"."id" = "personal_access_tokens"."user_id"),
     (select "role" from "memberships" where ("memberships"."organization_id" = "personal_access_tokens"."organization_id" and "memberships"."user_id" = "personal_access_tokens"."user_id"))
   from "personal_access_tokens" where "personal_access_tokens"."token_hash" = ?`,
)

interface Principal {
  org: string
  user: string
}

function authenticate(req: Request): Principal | null {
  const h = req.headers.get('authorization')
  if (!h?.startsWith('Bearer ')) return null
  const hash = new Bun.CryptoHasher('sha256').update(h.slice(7)).digest('hex')
  const row = auth.values(hash)[0] as [string, string, string, number, number | null, number | null, string, string, string | null] | undefined
  const now = Date.now()
  if (!row || row[8] === null || row[3] <= now || (row[4] !== null && row[4] <= now)) return null
  return { org: row[2], user: row[1] }
}

/**
 * A JSON response; with `gzip` (the request accepts it) a body of 1 KiB or more goes out
 * gzip-compressed at level 1, as teamday sends it (src/http/compression.ts).
 */
function json(gzip: boolean, body: unknown, status = 200): Response {
  const text = JSON.stringify(body)
  if (!gzip || text.length < 1024) return new Response(text, { status, headers: { 'content-type': 'application/json;charset=utf-8' } })
  return new Response(Bun.gzipSync(text, { level: 1 }), { status, headers: { 'content-type': 'application/json;charset=utf-8', 'content-encoding': 'gzip', vary: 'accept-encoding' } })
}
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

/** A first page of `table`, newest first, with the equality filters given. */
function page(table: string, where: [string, SQLQueryBindings][], limit: number) {
  const cond = where.map(([c]) => `"${table}"."${c}" = ?`).join(' and ')
  const params = where.map(([, v]) => v)
  const rows = q(`select * from "${table}" where (${cond}) order by "${table}"."created_at" desc, "${table}"."id" desc limit ? offset ?`).all(...params, limit + 1, 0) as any[]
  const more = rows.length > limit
  if (more) rows.length = limit
  let total = rows.length
  if (more) total = (q(`select count(*) as n from (select 1 from "${table}" where (${cond}) limit ?) "matches"`).get(...params, CAP + 1) as { n: number }).n
  const last = rows[rows.length - 1]
  return {
    rows,
    total: Math.min(total, CAP),
    totalIsEstimate: total > CAP,
    nextCursor: more ? b64([1, table, last.created_at, last.id, Math.min(total, CAP), total > CAP ? 1 : 0]) : null,
  }
}

const id = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll('-', '').slice(0, 20)}`
const limitOf = (u: URL) => Math.min(200, Math.max(1, Number(u.searchParams.get('limit') ?? 50)))

const insertTask = db.query(
  `insert into "tasks" ("id", "organization_id", "created_by", "title", "description", "status", "priority", "assigned_to", "assignee_type", "space_id", "due_date", "completed_at", "metadata", "created_at", "updated_at")
   values (?, ?, ?, ?, ?, 'pending', ?, null, null, null, null, null, '{}', ?, ?) returning *`,
)
const insertAgent = db.query(
  `insert into "agents" ("id", "organization_id", "user_id", "name", "slug", "role", "system_prompt", "description", "category", "visibility", "model", "max_turns", "archived", "archived_at", "created_at", "updated_at")
   values (?, ?, ?, ?, ?, null, ?, null, ?, ?, null, null, 0, null, ?, ?) returning *`,
)

const server = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(req) {
    const z = req.headers.get('accept-encoding')?.includes('gzip') ?? false
    const p = authenticate(req)
    if (!p) return json(z, { error: true, statusCode: 401 }, 401)
    const u = new URL(req.url)
    const parts = u.pathname.split('/') // ['', 'api', 'v1', resource, id?]
    const resource = parts[3]
    const rowId = parts[4]
    if (resource !== 'tasks' && resource !== 'agents') return json(z, { error: true, statusCode: 404 }, 404)
    if (req.method === 'GET' && rowId) {
      const row = q(`select * from "${resource}" where ("${resource}"."id" = ? and "${resource}"."organization_id" = ?)`).get(rowId, p.org)
      return row ? json(z, { success: true, ...(row as object) }) : json(z, { error: true, statusCode: 404 }, 404)
    }
    const now = Date.now()
    if (resource === 'tasks') {
      if (req.method === 'POST') {
        const b = (await req.json()) as { title: string; description?: string; priority?: string }
        return json(z, { success: true, ...(insertTask.get(id('task'), p.org, p.user, b.title, b.description ?? null, b.priority ?? 'medium', now, now) as object) }, 201)
      }
      const where: [string, SQLQueryBindings][] = [['organization_id', p.org]]
      for (const [param, col] of [['status', 'status'], ['priority', 'priority'], ['assignedTo', 'assigned_to'], ['spaceId', 'space_id']]) {
        const v = u.searchParams.get(param!)
        if (v !== null) where.push([col!, v])
      }
      const { rows, ...rest } = page('tasks', where, limitOf(u))
      return json(z, { success: true, tasks: rows, ...rest })
    }
    if (req.method === 'POST') {
      const b = (await req.json()) as { name: string; systemPrompt?: string; category?: string; visibility?: string }
      const slug = b.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')
      return json(z, { success: true, agent: insertAgent.get(id('char'), p.org, p.user, b.name, slug, b.systemPrompt ?? null, b.category ?? null, b.visibility ?? 'private', now, now) }, 201)
    }
    // The admin's list: active agents, optionally by visibility or category.
    const where: [string, SQLQueryBindings][] = [['organization_id', p.org], ['archived', 0]]
    for (const col of ['visibility', 'category']) {
      const v = u.searchParams.get(col)
      if (v !== null) where.push([col, v])
    }
    const { rows, ...rest } = page('agents', where, limitOf(u))
    return json(z, { success: true, agents: rows, characters: rows, ...rest })
  },
})
console.log(`listening on http://127.0.0.1:${server.port}`)
// Exit cleanly on SIGTERM (so a --cpu-prof profile gets written).
process.on('SIGTERM', () => process.exit(0))

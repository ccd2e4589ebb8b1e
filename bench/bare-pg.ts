// bench/run.ts's PostgreSQL floor: a bare Bun.serve with postgres-js (the driver teamday uses,
// the same pool size), no framework, no drizzle, sending for each request the statements teamday
// sends on PostgreSQL (bun bench/pg-roundtrips.ts lists them): the token look-up by its SHA-256,
// the token's and the user's rate-limit counters in one upsert, and one read (the agent list's
// data version, or the token's row), then answering with the bytes PUT to /__body (the
// response teamday gives). The gap between this and the bare constant is what the round trips
// cost; the gap between teamday and this is teamday's own work. argv: database URL, pool size
import postgres from 'postgres'

const sql = postgres(process.argv[2]!, { max: Number(process.argv[3] ?? 10), prepare: true, onnotice: () => {} })
let body: Uint8Array = new Uint8Array()
let type = 'application/json;charset=utf-8'
const LIMIT = 999_999_999

async function respond(req: Request): Promise<Response> {
  const h = req.headers.get('authorization')
  if (!h?.startsWith('Bearer ')) return new Response('{"error":true}', { status: 401 })
  const hash = new Bun.CryptoHasher('sha256').update(h.slice(7)).digest('hex')
  const [tok] = await sql`select "id", "user_id", "organization_id", "expires_at", "revoked_at", "last_used_at", "scopes",
      ((select "email" from "users" where "users"."id" = "personal_access_tokens"."user_id")),
      ((select "role" from "memberships" where ("memberships"."organization_id" = "personal_access_tokens"."organization_id" and "memberships"."user_id" = "personal_access_tokens"."user_id"))) as role,
      'pat' from "personal_access_tokens" where "personal_access_tokens"."token_hash" = ${hash}`
  const now = Date.now()
  if (!tok || !tok.role || tok.revoked_at || new Date(tok.expires_at).getTime() <= now) return new Response('{"error":true}', { status: 401 })
  const nowIso = new Date(now).toISOString()
  const reset = new Date(now + 60_000).toISOString()
  await sql`
    WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)),
    first AS (
      INSERT INTO rate_limit_counters AS c (key, count, reset_at) SELECT ${`tok:${tok.id}`}, 1, ${reset}::timestamptz FROM async_commit
      ON CONFLICT (key) DO UPDATE SET count = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN 1 ELSE LEAST(c.count + 1, ${LIMIT + 1}::int) END,
        reset_at = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN EXCLUDED.reset_at ELSE c.reset_at END
      RETURNING count, reset_at
    ),
    second AS (
      INSERT INTO rate_limit_counters AS c (key, count, reset_at) SELECT ${`user:${tok.user_id}`}, 1, ${reset}::timestamptz FROM first WHERE first.count <= ${LIMIT}::bigint
      ON CONFLICT (key) DO UPDATE SET count = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN 1 ELSE LEAST(c.count + 1, ${LIMIT * 3 > 2_147_483_647 ? 2_147_483_647 : LIMIT * 3 + 1}::int) END,
        reset_at = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN EXCLUDED.reset_at ELSE c.reset_at END
      RETURNING count, reset_at
    )
    SELECT 1 AS n, count, (extract(epoch FROM reset_at) * 1000)::bigint AS reset_ms FROM first
    UNION ALL SELECT 2, count, (extract(epoch FROM reset_at) * 1000)::bigint FROM second`
  const path = new URL(req.url).pathname
  if (path.startsWith('/api/v1/tokens/')) await sql`select * from "personal_access_tokens" where "id" = ${path.slice(15)} and "organization_id" = ${tok.organization_id}`
  else await sql`select "value" from "settings" where "settings"."key" = ${`version:agents:${tok.organization_id}`}`
  return new Response(body, { headers: { 'content-type': type } })
}

const server = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(req) {
    if (req.method === 'PUT' && new URL(req.url).pathname === '/__body') {
      body = new Uint8Array(await req.arrayBuffer())
      type = req.headers.get('content-type') ?? type
      return new Response(null, { status: 204 })
    }
    return respond(req)
  },
})
console.log(`listening on http://127.0.0.1:${server.port}`)
process.on('SIGTERM', () => process.exit(0))

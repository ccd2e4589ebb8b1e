// bench/run.ts's PostgreSQL floor: a bare Bun.serve with postgres-js (the driver teamday uses,
// the same pool size), no framework, no drizzle, sending for each request the statements teamday
// sends on PostgreSQL (bun bench/pg-roundtrips.ts lists them): one statement that looks the
// token up by its SHA-256, counts the token's and the user's rate-limit hits when it is valid
// and reads the agent list's data version (src/auth/pg-lookup.ts), then for the token GET its
// row, then answering with the bytes PUT to /__body (the response teamday gives). One statement
// per request: unlike teamday it does not batch one token's concurrent requests. The gap between
// this and the bare constant is what the round trips cost; the gap between teamday and this is
// teamday's own work. argv: database URL, pool size
import postgres from 'postgres'

const sql = postgres(process.argv[2]!, { max: Number(process.argv[3] ?? 10), prepare: true, onnotice: () => {} })
let body: Uint8Array = new Uint8Array()
let type = 'application/json;charset=utf-8'
let encoding = ''
const LIMIT = 999_999_999
const USER_LIMIT = 2_147_483_647

async function respond(req: Request): Promise<Response> {
  const h = req.headers.get('authorization')
  if (!h?.startsWith('Bearer ')) return new Response('{"error":true}', { status: 401 })
  const hash = new Bun.CryptoHasher('sha256').update(h.slice(7)).digest('hex')
  const now = Date.now()
  const nowIso = new Date(now).toISOString()
  const reset = new Date(now + 60_000).toISOString()
  const adding = sql`count = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN EXCLUDED.count ELSE LEAST(c.count::bigint + EXCLUDED.count, ${USER_LIMIT}::bigint)::int END,
        reset_at = CASE WHEN c.reset_at <= ${nowIso}::timestamptz THEN EXCLUDED.reset_at ELSE c.reset_at END`
  const [tok] = await sql`
    WITH auth AS (
      SELECT t.id, t.user_id, t.organization_id, t.expires_at, t.revoked_at, t.last_used_at, t.scopes,
        (SELECT u.email FROM users u WHERE u.id = t.user_id) AS email,
        (SELECT m.role FROM memberships m WHERE m.organization_id = t.organization_id AND m.user_id = t.user_id) AS role
      FROM personal_access_tokens t WHERE t.token_hash = ${hash}
    ),
    valid AS (SELECT id, user_id FROM auth WHERE role IS NOT NULL AND expires_at > ${nowIso}::timestamptz AND (revoked_at IS NULL OR revoked_at > ${nowIso}::timestamptz)),
    async_commit AS (SELECT set_config('synchronous_commit', 'off', true) FROM valid),
    first AS (
      INSERT INTO rate_limit_counters AS c (key, count, reset_at) SELECT 'tok:' || id, 1, ${reset}::timestamptz FROM valid, async_commit
      ON CONFLICT (key) DO UPDATE SET ${adding}
      RETURNING count, (extract(epoch FROM reset_at) * 1000)::bigint AS reset_ms
    ),
    within AS (SELECT LEAST(1, GREATEST(0, ${LIMIT}::bigint - (count - 1)))::int AS n FROM first),
    second AS (
      INSERT INTO rate_limit_counters AS c (key, count, reset_at) SELECT 'user:' || user_id, n, ${reset}::timestamptz FROM valid, within WHERE n > 0
      ON CONFLICT (key) DO UPDATE SET ${adding}
      RETURNING count, (extract(epoch FROM reset_at) * 1000)::bigint AS reset_ms
    )
    SELECT a.id, a.organization_id, a.role, (SELECT count FROM first) AS first_count, (SELECT count FROM second) AS second_count,
      COALESCE((SELECT value FROM settings WHERE key = 'version:agents:' || a.organization_id), '0') AS agents_version
    FROM auth a`
  if (!tok || tok.first_count === null) return new Response('{"error":true}', { status: 401 })
  const path = new URL(req.url).pathname
  if (path.startsWith('/api/v1/tokens/')) await sql`select * from "personal_access_tokens" where "id" = ${path.slice(15)} and "organization_id" = ${tok.organization_id}`
  const headers = encoding ? { 'content-type': type, 'content-encoding': encoding } : { 'content-type': type }
  // As teamday does (src/http/listen.ts): a body of 12 KiB or more, ready after the database
  // answered, as one chunk of a stream, which Bun writes corked (else one send(2) per header fragment).
  if (body.byteLength < 12 * 1024) return new Response(body, { headers })
  const bytes = body
  return new Response(new ReadableStream({ start: (c) => (c.enqueue(bytes), c.close()) }), { headers })
}

const server = Bun.serve({
  port: 0,
  hostname: '127.0.0.1',
  async fetch(req) {
    if (req.method === 'PUT' && new URL(req.url).pathname === '/__body') {
      body = new Uint8Array(await req.arrayBuffer())
      type = req.headers.get('content-type') ?? type
      encoding = req.headers.get('x-content-encoding') ?? ''
      return new Response(null, { status: 204 })
    }
    return respond(req)
  },
})
console.log(`listening on http://127.0.0.1:${server.port}`)
process.on('SIGTERM', () => process.exit(0))

// Exits 0 when PostgreSQL answers at TEAMDAY_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres),
// 1 with the reason otherwise. .ci/run calls it before the PostgreSQL pass of the test suite.
import postgres from 'postgres'

const url = process.env.TEAMDAY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} })
try {
  const [row] = await sql`SELECT current_setting('server_version') AS v`
  console.log(`PostgreSQL ${row!.v} answers at ${url.replace(/:[^:@/]+@/, ':***@')}`)
  await sql.end({ timeout: 1 })
} catch (e) {
  console.error(`PostgreSQL does not answer at ${url}: ${e instanceof Error ? e.message : String(e)} (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start)`)
  process.exit(1)
}

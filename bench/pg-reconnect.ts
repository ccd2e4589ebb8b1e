// PostgreSQL driver recovery after killed connections: 16 clients loop on a pool of 4
// postgres-js connections; every backend of the pool is terminated (pg_terminate_backend) five
// times, 0.5 s apart; then it prints the queries answered in each of the next 10 seconds.
// postgres-js 3.4.9 left a connection closed with a write pending unable to send its login again
// (every later use waited connect_timeout and failed CONNECT_TIMEOUT, for the life of the
// process): patches/postgres+3.4.9.patch (applied by `npm install`) clears the pending write.
//
//   bun bench/pg-reconnect.ts [postgres://…]   (default: postgres://postgres@127.0.0.1:5432/postgres)
import postgres from 'postgres'

const url = process.argv[2] ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)

async function round(): Promise<{ perSecond: number[]; timeouts: number }> {
  const name = `teamday_reconnect_${process.pid}`
  const sql = postgres(url, { max: 4, connect_timeout: 3, onnotice: () => {}, connection: { application_name: name } })
  const admin = postgres(url, { max: 1, onnotice: () => {} })
  let stop = false
  let ok = 0
  let timeouts = 0
  const client = async () => {
    while (!stop) {
      try {
        await sql`select pg_sleep(0.005), ${Math.random()}::float8 as x`
        ok++
      } catch (e) {
        if ((e as { code?: string }).code === 'CONNECT_TIMEOUT') timeouts++
      }
    }
  }
  const clients = Array.from({ length: 16 }, client)
  for (let i = 0; i < 5; i++) {
    await Bun.sleep(500)
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${name}`
  }
  const perSecond: number[] = []
  timeouts = 0
  for (let s = 0; s < 10; s++) {
    ok = 0
    await Bun.sleep(1000)
    perSecond.push(ok)
  }
  stop = true
  await Promise.race([Promise.all(clients), Bun.sleep(3000)])
  await Promise.all([sql.end({ timeout: 1 }), admin.end({ timeout: 1 })])
  return { perSecond, timeouts }
}

let recovered = 0
for (let r = 0; r < ROUNDS; r++) {
  const { perSecond, timeouts } = await round()
  const ok = perSecond.slice(-5).every((n) => n > 0) && timeouts === 0
  if (ok) recovered++
  console.log(`round ${r + 1}: queries answered per second after the kills: ${perSecond.join(' ')}; CONNECT_TIMEOUT failures: ${timeouts}${ok ? '' : '  (not recovered)'}`)
}
console.log(`recovered (every one of the last 5 seconds answered, no CONNECT_TIMEOUT): ${recovered} of ${ROUNDS} rounds`)
process.exit(0)

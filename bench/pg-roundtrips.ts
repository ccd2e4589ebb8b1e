// Where a request's time goes on PostgreSQL, counted rather than timed: the statements (round
// trips to PostgreSQL) teamday sends for each kind of request of the benchmarks, in-process on a
// database of its own (teamday_bench_<random>, dropped at the end), with the rate limiter on as
// in bench/run.ts. Each request is sent twice and the second is counted (the first may fill a
// cache, record the token's first use, …). Prints the count and the statements in order.
//
//   bun bench/pg-roundtrips.ts [--db postgres://postgres@127.0.0.1:5432/postgres]
import { createApp } from '../src/app'
import { loadConfig } from '../src/config'
import { operatorContext } from '../src/context'
import type { PgConnection } from '../src/db/pg'
import { createLogger } from '../src/logger'
import { createToken } from '../src/modules/tokens/service'
import { createUser } from '../src/modules/users/service'
import { createRuntime } from '../src/runtime'
import { benchDatabase, pgServerArg } from './common'

const server = pgServerArg(process.argv.slice(2)) ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const db = await benchDatabase(server)
try {
  const config = loadConfig({ TEAMDAY_RATE_LIMIT: '999999999/60s' }, { dbPath: db.url, logLevel: 'silent' })
  const rt = await createRuntime(config, { log: createLogger('silent') })
  const { user, organization } = await createUser(operatorContext(rt), { email: 'bench@example.com', orgSlug: 'bench', role: 'admin' })
  const { token, row } = await createToken(operatorContext(rt), { userId: user.id, organizationId: organization.id }, { name: "bench" })
  const tokenId = row.id
  const app = createApp(rt, { peerAddress: () => '127.0.0.1' })
  const client = (rt.connection as PgConnection).client
  let statements: string[] | null = null
  ;(client.options as any).debug = (_conn: number, query: string) => statements?.push(query.replace(/\s+/g, ' ').trim())

  const send = async (method: string, path: string, body?: unknown) => {
    const res = await app.handle(
      new Request(`http://localhost${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      }),
    )
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    return res.json() as Promise<any>
  }
  const agent = await send('POST', '/api/v1/agents', { name: 'Reviewer', systemPrompt: 'You review.', visibility: 'organization' })
  const task = await send('POST', '/api/v1/tasks', { title: 'A task', priority: 'high' })
  let n = 0
  const cases: [string, string, () => unknown][] = [
    ['GET', '/api/v1/agents', () => undefined],
    ['GET', `/api/v1/tokens/${tokenId}`, () => undefined],
    ['GET', '/api/v1/tasks', () => undefined],
    ['GET', '/api/v1/tasks?status=pending', () => undefined],
    ['GET', `/api/v1/tasks/${task.id ?? task.task?.id}`, () => undefined],
    ['GET', `/api/v1/agents/${agent.id}`, () => undefined],
    ['POST', '/api/v1/tasks', () => ({ title: `Bench task ${++n}`, description: 'Created by the benchmark', priority: 'high' })],
    ['POST', '/api/v1/agents', () => ({ name: `Bench agent ${++n}`, systemPrompt: 'You help.', category: 'support', visibility: 'organization' })],
  ]
  for (const [method, path, body] of cases) {
    await send(method, path, body())
    statements = []
    await send(method, path, body())
    const list = statements
    statements = null
    console.log(`${method} ${path.replace(tokenId, '{id}')}: ${list.length} statement(s)`)
    for (const s of list) console.log(`    ${process.env.BENCH_FULL || s.length <= 150 ? s : `${s.slice(0, 147)}...`}`)
  }
  await rt.close()
} finally {
  await db.drop()
}

// Benchmark: do the requests a long-lived deployment keeps making slow down as its history
// grows? A CI user who makes a token per pipeline run and revokes it after leaves a revoked token
// per run for good (they stay listed as the account's history: README "Retention and
// housekeeping"); this seeds 1,000 and then 50,000 revoked tokens (HISTORY_SIZES) of one
// user, and times what that user goes on doing: make a token (POST /api/v1/tokens, which counts
// the user's working tokens against TEAMDAY_MAX_TOKENS_PER_USER), revoke it, list their working
// tokens (`?status=active`) and, as the console's token page does for an admin, the
// organization's (`?all=true&status=active`), rotate one. In-process (app.handle), on a WAL
// database file, with the server's own runtime; prints the median ms of each and the ratio
// big / small. A request whose cost follows the history shows a ratio far above 1.
//
//   bun bench/history.ts                     HISTORY_SIZES=1000,50000 HISTORY_REPEAT=25
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp } from '../src/app'
import { loadConfig } from '../src/config'
import { createToken } from '../src/modules/tokens/service'
import { createUser } from '../src/modules/users/service'
import { operatorContext } from '../src/context'
import { createRuntime, sqliteConnection } from '../src/runtime'
import { createLogger } from '../src/logger'
import { seedTokens } from './seed'

const SIZES = (process.env.HISTORY_SIZES ?? '1000,50000').split(',').map(Number)
const REPEAT = Number(process.env.HISTORY_REPEAT ?? 25)
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function measure(n: number): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-history-'))
  const rt = await createRuntime(loadConfig({ TEAMDAY_RATE_LIMIT: 'off' }, { dbPath: join(dir, 'bench.db'), logLevel: 'silent' }), { log: createLogger('silent') })
  const { user, organization } = await createUser(operatorContext(rt), { email: 'ci@example.com', orgSlug: 'bench', role: 'admin' })
  const owner = { userId: user.id, organizationId: organization.id }
  const { token } = await createToken(operatorContext(rt), owner, { name: 'pipeline' })
  // The history: n tokens of this user, made and revoked over the last n hours (newest first in the index).
  const now = Date.now()
  const ids = await seedTokens(sqliteConnection(rt).sync, rt.box, owner, n, { now: now - 60_000, step: 3_600_000 })
  const c = sqliteConnection(rt).client
  c.prepare(`update personal_access_tokens set revoked_at = created_at + 600000, revoked_reason = 'manual' where id in (select value from json_each(?))`).run(JSON.stringify(ids))
  c.exec('ANALYZE')
  c.exec('PRAGMA wal_checkpoint(TRUNCATE)')

  const app = createApp(rt)
  const call = async (method: string, path: string, body?: unknown, bearer = token) => {
    const t0 = performance.now()
    const res = await app.handle(
      new Request(`http://localhost${path}`, {
        method,
        headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      }),
    )
    const text = await res.text()
    const ms = performance.now() - t0
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`)
    return { ms, body: JSON.parse(text) }
  }
  const times: Record<string, number[]> = { 'POST /api/v1/tokens': [], 'DELETE /api/v1/tokens/{id}': [], 'GET /api/v1/tokens?status=active': [], 'GET /api/v1/tokens?all=true&status=active': [], 'POST /api/v1/tokens/{id}/rotate': [] }
  for (let i = 0; i < REPEAT + 3; i++) {
    const made = await call('POST', '/api/v1/tokens', { name: `run ${i}`, scopes: ['tasks:read'] })
    const list = await call('GET', '/api/v1/tokens?status=active')
    const orgList = await call('GET', '/api/v1/tokens?all=true&status=active')
    const rotated = await call('POST', `/api/v1/tokens/${made.body.id}/rotate`, { gracePeriodSeconds: 0 })
    const revoked = await call('DELETE', `/api/v1/tokens/${rotated.body.id}`)
    if (i < 3) continue
    times['POST /api/v1/tokens']!.push(made.ms)
    times['GET /api/v1/tokens?status=active']!.push(list.ms)
    times['GET /api/v1/tokens?all=true&status=active']!.push(orgList.ms)
    times['POST /api/v1/tokens/{id}/rotate']!.push(rotated.ms)
    times['DELETE /api/v1/tokens/{id}']!.push(revoked.ms)
  }
  await rt.close?.()
  rmSync(dir, { recursive: true, force: true })
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]))
}

const results: Record<string, number>[] = []
for (const n of SIZES) {
  results.push(await measure(n))
  console.log(`  ${n} revoked tokens of the user: done`)
}
console.log(`\n| Request (median of ${REPEAT}) | ${SIZES.map((n) => `${n.toLocaleString('en')} revoked`).join(' | ')} | ratio |`)
console.log(`| --- | ${SIZES.map(() => '---').join(' | ')} | --- |`)
for (const k of Object.keys(results[0]!)) {
  const v = results.map((r) => r[k]!)
  console.log(`| \`${k}\` | ${v.map((x) => `${x.toFixed(2)} ms`).join(' | ')} | ${(v[v.length - 1]! / v[0]!).toFixed(2)} |`)
}
process.exit(0)

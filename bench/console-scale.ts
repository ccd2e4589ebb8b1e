// Benchmark: every console page and admin CLI listing against the compiled binary, on an
// organization of 1,000 and of 100,000 rows (agents, spaces, tasks, executions and audit events;
// the signed-in admin's tokens n/20, members n/5). A page or command whose time or size grows
// with the organization is a defect, however fast: a page shows a page, a listing prints a page.
// Prints the median ms and the bytes of each, at both sizes, and the ratio 100k / 1k.
//
//   npm run build && bun bench/console-scale.ts [dist/teamday]
//   BENCH_SIZES=1000,100000 BENCH_REPEAT=11 BENCH_PORT=24100
//   BENCH_PG_URLS=postgres://…/NAME_1k,postgres://…/NAME_100k: each size copied into its database
//   (one per size, of your own and empty: each is migrated and filled) and measured there too.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config'
import { operatorContext } from '../src/context'
import { createLogger } from '../src/logger'
import { setPassword } from '../src/modules/users/passwords'
import { createUser } from '../src/modules/users/service'
import { createRuntime, sqliteConnection } from '../src/runtime'
import { copyToPostgres, seedAgents, seedAudit, seedExecutions, seedMembers, seedSpaces, seedTasks, seedTokens } from './seed'

const BIN = process.argv[2] ?? 'dist/teamday'
const SIZES = (process.env.BENCH_SIZES ?? '1000,100000').split(',').map(Number)
const REPEAT = Number(process.env.BENCH_REPEAT ?? 11)
const PORT = Number(process.env.BENCH_PORT ?? 24100)
const PG_URLS = process.env.BENCH_PG_URLS?.split(',').filter(Boolean) ?? []
const KEY = process.env.BENCH_KEY ?? Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
const EMAIL = 'bench@example.com'
const PASSWORD = 'correct horse battery staple'
const ENV = { ...process.env, TEAMDAY_ENCRYPTION_KEY: KEY, TEAMDAY_RATE_LIMIT: 'off', TEAMDAY_LOG_LEVEL: 'error', NO_COLOR: '1' }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

interface Seeded {
  n: number
  db: string
  dir: string
  agent: string
  space: string
  oldMember: string
}

async function seed(n: number): Promise<Seeded> {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-console-scale-'))
  const db = join(dir, 'bench.db')
  const rt = await createRuntime(loadConfig({ TEAMDAY_ENCRYPTION_KEY: KEY, TEAMDAY_RATE_LIMIT: 'off' }, { dbPath: db, logLevel: 'silent' }), { log: createLogger('silent') })
  const ctx = operatorContext(rt)
  const { user, organization } = await createUser(ctx, { email: EMAIL, orgSlug: 'bench', role: 'admin' })
  await setPassword(ctx, user.id, PASSWORD)
  const owner = { userId: user.id, organizationId: organization.id }
  const sync = sqliteConnection(rt).sync
  const t0 = performance.now()
  const o = { now: Date.now() - 60_000, step: 1000 }
  const agentIds = await seedAgents(sync, owner, n, o)
  const spaceIds = await seedSpaces(sync, owner, n, o)
  await seedTasks(sync, owner, n, { ...o, agentIds: agentIds.slice(0, 200), spaceIds: spaceIds.slice(0, 50) })
  // Half the executions are chats of the admin with one agent (its chat page lists them).
  const agent = agentIds[agentIds.length - 1]!
  await seedExecutions(sync, owner, n / 2, { ...o, agentIds: [agent] })
  await seedExecutions(sync, owner, n / 2, { ...o, agentIds: agentIds.slice(0, 200) })
  const tokenIds = await seedTokens(sync, rt.box, owner, n / 20, o)
  const members = await seedMembers(sync, owner, n / 5, o)
  // Other members' tokens: the organization's list (admins: "every token of the organization").
  for (const userId of members.slice(0, 10)) await seedTokens(sync, rt.box, { ...owner, userId }, n / 20, o)
  await seedAudit(sync, owner, n, { ...o, tokenIds: tokenIds.slice(0, 100) })
  // Events of an old member (past the newest 2,000): the audit page's person filter on them.
  await seedAudit(sync, { ...owner, userId: members[0]! }, 50, o)
  sqliteConnection(rt).client.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  await rt.close()
  console.log(`  ${n} rows seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  return { n, db, dir, agent, space: spaceIds[spaceIds.length - 1]!, oldMember: members[0]! }
}

interface Server {
  base: string
  proc: ReturnType<typeof Bun.spawn>
  cookie: string
}

async function serve(db: string, port: number): Promise<Server> {
  const proc = Bun.spawn([BIN, 'serve', '--port', String(port), '--host', '127.0.0.1', '--db', db], { env: ENV, stdout: 'pipe', stderr: 'pipe' })
  const base = `http://127.0.0.1:${port}`
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`${base}/api/health`).then((r) => r.ok, () => false)
    if (ok) break
    await Bun.sleep(100)
  }
  const res = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
    body: new URLSearchParams({ email: EMAIL, password: PASSWORD }).toString(),
  })
  if (res.status !== 303) throw new Error(`sign-in: ${res.status} ${(await res.text()).slice(0, 300)}`)
  const cookie = res.headers.get('set-cookie')!.split(';')[0]!
  return { base, proc, cookie }
}

async function getPage(s: Server, path: string): Promise<{ ms: number; bytes: number; text: string; status: number }> {
  const start = performance.now()
  const res = await fetch(s.base + path, { headers: { cookie: s.cookie, 'accept-encoding': 'identity' }, redirect: 'manual' })
  const text = await res.text()
  return { ms: performance.now() - start, bytes: Buffer.byteLength(text), text, status: res.status }
}

function runCli(args: string[]): { ms: number; bytes: number; status: number; out: string } {
  const start = performance.now()
  const r = Bun.spawnSync([BIN, ...args], { env: ENV, stdout: 'pipe', stderr: 'pipe' })
  const ms = performance.now() - start
  return { ms, bytes: r.stdout.length, status: r.exitCode ?? -1, out: r.stderr.toString().slice(0, 200) }
}

/** The href of a "more" link (a `cursor=` query) on a page, or null. */
const nextCursor = (html: string) => /[?&;]cursor=([^"&]+)/.exec(html)?.[1] ?? null

interface Row {
  label: string
  ms: Map<number, number>
  bytes: Map<number, number>
}

async function measure(targets: { s: Seeded; server: Server | null; db: string }[], pages: boolean): Promise<Row[]> {
  const rows: Row[] = []
  const add = (label: string, n: number, ms: number, bytes: number) => {
    let r = rows.find((x) => x.label === label)
    if (!r) rows.push((r = { label, ms: new Map(), bytes: new Map() }))
    r.ms.set(n, ms)
    r.bytes.set(n, bytes)
  }
  for (const { s, server, db } of targets) {
    if (pages && server) {
      const first = await getPage(server, '/agents')
      const spaces = await getPage(server, '/spaces')
      const members = await getPage(server, '/org/members')
      const chat = await getPage(server, `/agents/${s.agent}/chat`)
      const chatId = /[?&;]chat=([^"&]+)/.exec(chat.text)?.[1]
      const tokenPages = Math.max(1, Math.ceil(s.n / 20 / 100))
      const paths: [string, string][] = [
        ['/settings/profile', '/settings/profile'],
        ['/settings/profile?all=1', '/settings/profile?all=1'],
        ['/settings/profile?all=1&inactive=1', '/settings/profile?all=1&inactive=1'],
        ['/settings/profile?page=<last>', `/settings/profile?page=${tokenPages}`],
        ['/settings/profile?page=<past the end>', `/settings/profile?all=1&page=${tokenPages * 20}`],
        ['/settings/cli-sessions', '/settings/cli-sessions'],
        ['/agents', '/agents'],
        ['/agents?cursor=<next>', `/agents?cursor=${nextCursor(first.text)}`],
        ['/agents/<id>/chat', `/agents/${s.agent}/chat`],
        ['/agents/<id>/chat?chat=<id>', `/agents/${s.agent}/chat?chat=${chatId}`],
        ['/agents/<id>/chat?cursor=<next>', `/agents/${s.agent}/chat?cursor=${nextCursor(chat.text)}`],
        ['/spaces', '/spaces'],
        ['/spaces?cursor=<next>', `/spaces?cursor=${nextCursor(spaces.text)}`],
        ['/spaces?archived=1', '/spaces?archived=1'],
        ['/spaces/<id>', `/spaces/${s.space}`],
        ['/org/members', '/org/members'],
        ['/org/members?cursor=<next>', `/org/members?cursor=${nextCursor(members.text)}`],
        ['/org/audit', '/org/audit'],
        ['/org/audit?type=token.created', '/org/audit?type=token.created'],
        ['/org/audit?person=<old member>', `/org/audit?person=${s.oldMember}`],
      ]
      for (const [label, path] of paths) {
        for (let i = 0; i < 2; i++) await getPage(server, path)
        const ms: number[] = []
        let last = await getPage(server, path)
        if (last.status >= 400) console.log(`  ${label}: ${last.status} ${last.text.slice(0, 200)}`)
        for (let i = 0; i < REPEAT; i++) ms.push((last = await getPage(server, path)).ms)
        add(`GET ${label}`, s.n, median(ms), last.bytes)
      }
    }
    const cli: [string, string[]][] = [
      ['users list --org bench', ['users', 'list', '--org', 'bench', '--db', db]],
      ['users list --org bench --json', ['users', 'list', '--org', 'bench', '--json', '--db', db]],
      ['tokens list --email', ['tokens', 'list', '--email', EMAIL, '--db', db]],
      ['tokens list --email --json', ['tokens', 'list', '--email', EMAIL, '--json', '--db', db]],
      ['audit list --db', ['audit', 'list', '--db', db]],
      ['audit list --org bench', ['audit', 'list', '--org', 'bench', '--db', db]],
      ['audit list --org bench --user-id <old>', ['audit', 'list', '--org', 'bench', '--user-id', s.oldMember, '--db', db]],
      ['audit list --type token.created', ['audit', 'list', '--type', 'token.created', '--db', db]],
    ]
    for (const [label, args] of cli) {
      runCli(args)
      const ms: number[] = []
      let last = runCli(args)
      if (last.status !== 0) console.log(`  ${label}: exit ${last.status} ${last.out}`)
      for (let i = 0; i < Math.min(REPEAT, 5); i++) ms.push((last = runCli(args)).ms)
      add(`teamday ${label}`, s.n, median(ms), last.bytes)
    }
  }
  return rows
}

function print(title: string, rows: Row[], sizes: number[]) {
  const [a, b] = [sizes[0]!, sizes[sizes.length - 1]!]
  const kb = (x: number | undefined) => (x === undefined ? '-' : `${(x / 1024).toFixed(1)} KB`)
  console.log(`\n${title}`)
  console.log(`${'page or command'.padEnd(52)}${`${a} ms`.padStart(10)}${`${b} ms`.padStart(12)}${'ratio'.padStart(8)}${`${a} size`.padStart(12)}${`${b} size`.padStart(13)}`)
  for (const r of rows) {
    const x = r.ms.get(a)
    const y = r.ms.get(b)
    console.log(
      `${r.label.padEnd(52)}${(x === undefined ? '-' : x.toFixed(1)).padStart(10)}${(y === undefined ? '-' : y.toFixed(1)).padStart(12)}${(x && y ? (y / x).toFixed(2) : '-').padStart(8)}${kb(r.bytes.get(a)).padStart(12)}${kb(r.bytes.get(b)).padStart(13)}`,
    )
  }
}

console.log(`teamday console and admin CLI at scale: ${BIN}, median of ${REPEAT} (CLI: 5); seeding:`)
const seeded: Seeded[] = []
for (const n of SIZES) seeded.push(await seed(n))
const servers: Server[] = []
try {
  const targets = []
  for (const [i, s] of seeded.entries()) {
    const server = await serve(s.db, PORT + i)
    servers.push(server)
    targets.push({ s, server, db: s.db })
  }
  print('SQLite', await measure(targets, true), SIZES)
  if (PG_URLS.length > 0) {
    if (PG_URLS.length !== seeded.length) throw new Error(`BENCH_PG_URLS: one database per size (${SIZES.join(', ')})`)
    const pgTargets = []
    for (const [i, s] of seeded.entries()) {
      const rt = await createRuntime(loadConfig({ TEAMDAY_ENCRYPTION_KEY: KEY }, { dbPath: s.db, logLevel: 'silent' }), { log: createLogger('silent') })
      const t0 = performance.now()
      await copyToPostgres(sqliteConnection(rt).sync, PG_URLS[i]!)
      await rt.close()
      console.log(`  ${s.n} rows copied to PostgreSQL in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      const server = await serve(PG_URLS[i]!, PORT + 10 + i)
      servers.push(server)
      pgTargets.push({ s, server, db: PG_URLS[i]! })
    }
    print('PostgreSQL', await measure(pgTargets, true), SIZES)
  }
} finally {
  for (const s of servers) s.proc.kill()
  // BENCH_KEEP=1: the seeded databases stay, for EXPLAIN QUERY PLAN by hand.
  for (const s of seeded) if (process.env.BENCH_KEEP) console.log(`kept ${s.db}`)
  else rmSync(s.dir, { recursive: true, force: true })
}

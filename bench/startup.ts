// Start-up of the compiled binary, against a compiled "hello" built by the same Bun in this run:
// - client commands (`--version`, `health`, `agents list` against a running server): what a
//   cron job or CI step pays on every call; target <= 1.5x hello;
// - `serve` on a fresh database until its first authenticated 200; target <= 60 ms.
// Medians of BENCH_RUNS runs (default 20).
//
//   npm run build && bun bench/startup.ts [dist/teamday]
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const BIN = resolve(process.argv[2] ?? 'dist/teamday')
const RUNS = Number(process.env.BENCH_RUNS ?? 20)
const dir = mkdtempSync(join(tmpdir(), 'teamday-startup-'))
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TEAMDAY_LOG_LEVEL: 'warn' }

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const ms = (x: number) => `${x.toFixed(1)} ms`

function timeCommand(argv: string[], extraEnv: Record<string, string> = {}): number {
  const runs: number[] = []
  for (let i = 0; i < RUNS + 2; i++) {
    const t0 = performance.now()
    const r = spawnSync(argv[0]!, argv.slice(1), { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] })
    const t = performance.now() - t0
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`)
    if (i >= 2) runs.push(t) // two warm-up runs
  }
  return median(runs)
}

// The floor: a compiled hello world, built by this Bun now.
const helloSrc = join(dir, 'hello.ts')
writeFileSync(helloSrc, 'console.log("hello")\n')
const hello = join(dir, 'hello')
const built = spawnSync(process.execPath, ['build', '--compile', '--bytecode', '--target=bun-linux-x64', helloSrc, '--outfile', hello], { stdio: 'ignore' })
if (built.status !== 0) throw new Error('could not compile the hello baseline')

async function startServe(db: string): Promise<{ child: ReturnType<typeof spawn>; base: string; token: string; startedAt: number }> {
  // The first start prints no token since issue 16: the database gets its admin and token from
  // the admin CLI first (not timed), so the figure is a start on a database with one user.
  spawnSync(BIN, ['users', 'create', '--email', 'admin@localhost', '--org', 'default', '--role', 'admin', '--db', db], { env, stdio: 'ignore' })
  const minted = spawnSync(BIN, ['tokens', 'create', '--email', 'admin@localhost', '--name', 'bench', '--db', db], { env, encoding: 'utf8' }).stdout.trim()
  const startedAt = performance.now()
  const child = spawn(BIN, ['serve', '--port', '0', '--host', '127.0.0.1', '--db', db], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  const found = await new Promise<{ base: string; token: string }>((ok, fail) => {
    child.stdout!.on('data', (d) => {
      out += d
      const port = /listening on http:\/\/[^\s]+:(\d+)/.exec(out)
      if (port) ok({ base: `http://127.0.0.1:${port[1]}`, token: minted })
    })
    child.once('exit', () => fail(new Error(`serve exited: ${out}`)))
  })
  return { child, ...found, startedAt }
}

async function serveToFirst200(): Promise<number> {
  const runs: number[] = []
  for (let i = 0; i < Math.min(RUNS, 10) + 1; i++) {
    const db = join(dir, `fresh${i}.db`)
    const { child, base, token, startedAt } = await startServe(db)
    const res = await fetch(`${base}/api/v1/agents`, { headers: { authorization: `Bearer ${token}` } })
    const t = performance.now() - startedAt
    if (res.status !== 200) throw new Error(`first request: ${res.status}`)
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    if (i >= 1) runs.push(t)
  }
  return median(runs)
}

try {
  const floor = timeCommand([hello])
  const version = timeCommand([BIN, '--version'])
  const { child, base, token } = await startServe(join(dir, 'server.db'))
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, token, { mode: 0o600 })
  const health = timeCommand([BIN, 'health', '--url', base])
  const list = timeCommand([BIN, 'agents', 'list', '--url', base, '--token-file', tokenFile])
  child.kill('SIGTERM')
  const serve = await serveToFirst200()

  console.log(`compiled hello (floor)                 ${ms(floor)}`)
  console.log(`teamday --version                      ${ms(version)}  ratio ${(version / floor).toFixed(2)} (target <= 1.5)`)
  console.log(`teamday health (HTTP to a server)      ${ms(health)}  ratio ${(health / floor).toFixed(2)} (target <= 1.5)`)
  console.log(`teamday agents list (HTTP, token)      ${ms(list)}  ratio ${(list / floor).toFixed(2)} (target <= 1.5)`)
  console.log(`teamday serve, fresh db -> first 200   ${ms(serve)}  (target <= 60 ms)`)
} finally {
  rmSync(dir, { recursive: true, force: true })
}

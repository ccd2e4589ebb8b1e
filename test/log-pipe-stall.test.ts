/**
 * A log reader that stops reading (a stalled shipper, `| logger`, a full Docker log driver):
 * stderr is a pipe nobody empties. The server wrote its log with writeSync, which blocked on the
 * full pipe, and with it every request, /api/health included, until the reader read again. Its
 * log writes are asynchronous now (src/logger.ts): requests go on, lines wait (then are dropped,
 * counted) while the pipe is full.
 */
import { afterAll, expect, test } from 'bun:test'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const ROOT = resolve(import.meta.dir, '..')
const dir = mkdtempSync(join(tmpdir(), 'teamday-log-stall-'))
let group: number | undefined
let slowGroup: number | undefined
afterAll(() => {
  for (const g of [group, slowGroup]) {
    if (g === undefined) continue
    try {
      process.kill(-g, 'SIGKILL')
    } catch {}
  }
  rmSync(dir, { recursive: true, force: true })
})

/** The server `script` starts (its own process group), once it listens. */
async function started(script: string) {
  const p = spawn('bash', ['-c', script], { cwd: ROOT, env: { ...process.env, TEAMDAY_LOG_LEVEL: 'info', TEAMDAY_ACCESS_LOG: 'on', TEAMDAY_LOG_FORMAT: 'json', NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'ignore'], detached: true })
  let out = ''
  p.stdout!.on('data', (d) => (out += d))
  const deadline = Date.now() + 15_000
  for (;;) {
    const m = /listening on http:\/\/[^\s]+:(\d+)/.exec(out)
    if (m) return { p, port: Number(m[1]) }
    if (Date.now() > deadline) throw new Error(`not listening: ${out}`)
    await Bun.sleep(25)
  }
}

test('a stderr pipe nobody reads does not stop the server: 2 000 access-log lines later, /api/health still answers', async () => {
  // stderr into a process that never reads it (`sleep`): the pipe is full after about 64 KB.
  const script = `exec "${process.execPath}" "${join(ROOT, 'src/main.ts')}" serve --host 127.0.0.1 --port 0 --db "${join(dir, 'teamday.db')}" 2> >(exec sleep 120)`
  const { p, port } = await started(script)
  group = p.pid
  const base = `http://127.0.0.1:${port}`
  // Each request writes an access-log line of about 250 bytes: far past what the pipe holds.
  // With the event loop blocked on the full pipe nothing answers again, ever: a generous deadline
  // on each request catches that, not a bound in ms (a loaded machine is slow, not stopped).
  for (let round = 0; round < 20; round++) {
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        const r = await fetch(`${base}/api/v1/agents`, { signal: AbortSignal.timeout(15_000) })
        expect(r.status).toBe(401)
        await r.text()
      }),
    )
  }
  const health = await fetch(`${base}/api/health`, { signal: AbortSignal.timeout(15_000) })
  expect(health.status).toBe(200)

  // A stop is not held up by the pipe either: the final flush wrote what was left with a
  // synchronous write, which blocked on the full pipe for as long as nobody read it: the process
  // never ended (until a SIGKILL). What the stalled reader never took is lost.
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)))
  process.kill(p.pid!, 'SIGTERM')
  const code = await Promise.race([exited, Bun.sleep(15_000).then(() => 'still running' as const)])
  expect(code).toBe(0)
}, 60_000)

test('a reader that is slow but reads (40 KB/s) gets every line at a stop: the stall rule is not taken for it', async () => {
  // A reader taking 4 KiB at a time at 40 KB/s, into a file. One write of the whole backlog kept
  // a write open for seconds: the stop took the reader for stalled and dropped 3 lines in 4.
  const out = join(dir, 'slow-reader.log')
  const reader = `import sys, time\nrate = int(sys.argv[1])\nf = open(sys.argv[2], 'wb')\nwhile True:\n    d = sys.stdin.buffer.read1(4096)\n    if not d:\n        break\n    f.write(d)\n    f.flush()\n    time.sleep(len(d) / rate)\n`
  writeFileSync(join(dir, 'slow.py'), reader)
  const script = `exec "${process.execPath}" "${join(ROOT, 'src/main.ts')}" serve --host 127.0.0.1 --port 0 --db "${join(dir, 'slow.db')}" 2> >(exec python3 "${join(dir, 'slow.py')}" 40000 "${out}")`
  const { p, port } = await started(script)
  slowGroup = p.pid
  const N = 600
  for (let round = 0; round < N / 100; round++) {
    await Promise.all(Array.from({ length: 100 }, async () => void (await (await fetch(`http://127.0.0.1:${port}/api/v1/agents`)).text())))
  }
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)))
  process.kill(p.pid!, 'SIGTERM')
  expect(await exited).toBe(0)
  // The reader drains what the pipe still holds, then sees its end.
  let lines: { msg: string }[] = []
  for (let i = 0; i < 200; i++) {
    await Bun.sleep(100)
    // Complete lines only: the reader may be halfway through one.
    lines = readFileSync(out, 'utf8')
      .split('\n')
      .slice(0, -1)
      .flatMap((l) => {
        try {
          return [JSON.parse(l)]
        } catch {
          return []
        }
      })
    if (lines.some((l) => l.msg === 'stopped')) break
  }
  const requests = lines.filter((l) => l.msg === 'request').length
  expect(requests).toBeGreaterThanOrEqual(N)
  expect(lines.some((l) => l.msg === 'stopped')).toBe(true)
}, 60_000)

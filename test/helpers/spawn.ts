import { chmodSync, copyFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { Subprocess } from 'bun'

/** The line `teamday serve` prints once it accepts connections (https:// with --tls-cert); group 1 is the port. */
export const LISTENING = /listening on https?:\/\/[^\s]+:(\d+)/

/** A child process whose stdout and stderr are collected as they come (it never blocks on a full pipe). */
export interface Spawned {
  proc: Subprocess<'ignore', 'pipe', 'pipe'>
  /** Everything it printed so far, stdout and stderr in the order read. */
  output(): string
  /** Resolves with the first match of `re` in its output; fails, with the output, if it exits first or after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>
  /** Its exit code, or `'still running'` if it has not exited within `ms`; then its remaining output is read. */
  exited(ms?: number): Promise<number | 'still running'>
}

export function spawnCollected(cmd: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): Spawned {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  let out = ''
  const drain = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder()
    for await (const chunk of s) out += dec.decode(chunk, { stream: true })
  }
  const drained = Promise.all([drain(proc.stdout), drain(proc.stderr)]).catch(() => {})
  return {
    proc,
    output: () => out,
    async waitFor(re, ms = 20_000) {
      const deadline = Date.now() + ms
      for (;;) {
        const m = re.exec(out)
        if (m) return m
        if (proc.exitCode !== null || proc.signalCode !== null) {
          await drained
          const late = re.exec(out)
          if (late) return late
          throw new Error(`${cmd.join(' ')} exited (${proc.exitCode ?? proc.signalCode}) before printing ${re}: ${out}`)
        }
        if (Date.now() > deadline) throw new Error(`${cmd.join(' ')} did not print ${re} within ${ms} ms: ${out}`)
        await Bun.sleep(20)
      }
    },
    async exited(ms = 20_000) {
      const code = await Promise.race([proc.exited, Bun.sleep(ms).then(() => 'still running' as const)])
      if (code !== 'still running') await drained
      return code
    },
  }
}

/** A server process that printed its listening line (and every one of `ready`), on 127.0.0.1:`port`. */
export interface Served extends Spawned {
  port: number
  /** http://127.0.0.1:port */
  origin: string
}

/** Starts `cmd` (a `serve`) and waits until it listens and has printed each of `ready` (e.g. the first start's set-up link). */
export async function startServer(cmd: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; ready?: RegExp[]; ms?: number } = {}): Promise<Served> {
  const s = spawnCollected(cmd, opts)
  const port = Number((await s.waitFor(LISTENING, opts.ms))[1])
  for (const re of opts.ready ?? []) await s.waitFor(re, opts.ms)
  return { ...s, port, origin: `http://127.0.0.1:${port}` }
}

/** The executable `binary` copied into a new temporary directory (as `teamday`, mode 755): that directory. */
export function binaryInTempDir(binary: string, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  copyFileSync(resolve(binary), join(dir, 'teamday'))
  chmodSync(join(dir, 'teamday'), 0o755)
  return dir
}

/** A random TEAMDAY_ENCRYPTION_KEY (32 bytes, base64). */
export const randomKey = (): string => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')

/**
 * `teamday serve` run in process on a SQLite file of its own (a temporary folder), with an admin's
 * token minted by the admin CLI: for tests of what serve itself notices about its file while it
 * runs (test/database-moved.test.ts, test/rolling-upgrade.test.ts).
 */
import { EventEmitter } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve } from '../../src/cli/admin/serve'
import type { ClientIo } from '../../src/cli/common'
import { run } from '../../src/main'

export interface ServingFile {
  /** The database file. */
  db: string
  /** http://127.0.0.1:PORT */
  base: string
  /** The admin's token (`Bearer` it). */
  token: string
  /** Stops serve (SIGTERM) and removes the folder; safe to call once a start failed. */
  close(): Promise<void>
}

export async function serveOnFile(prefix: string, tokenName: string): Promise<ServingFile> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const db = join(dir, 'teamday.db')
  const out: string[] = []
  const env = { TEAMDAY_ENCRYPTION_KEY: Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64'), TEAMDAY_LOG_LEVEL: 'info', TEAMDAY_LOG_FORMAT: 'json' }
  const io: ClientIo = { out: (s) => void out.push(s), err: () => {}, env }
  const signals = new EventEmitter()
  const serving = serve({ values: { host: '127.0.0.1', port: '0', db }, positionals: [], io }, signals as unknown as NodeJS.Process)
  const close = async () => {
    signals.emit('SIGTERM')
    await serving.catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const deadline = Date.now() + 20_000
    while (!out.some((l) => /listening on http:\/\/[^:]+:\d+/.test(l)) && Date.now() < deadline) await Bun.sleep(20)
    const base = `http://127.0.0.1:${/listening on http:\/\/[^:]+:(\d+)/.exec(out.join('\n'))![1]}`
    const minted: string[] = []
    const code = await run(['tokens', 'create', '--email', 'admin@localhost', '--name', tokenName, '--db', db], { ...io, env: { ...env, TEAMDAY_LOG_LEVEL: 'silent' }, out: (s) => void minted.push(s) })
    if (code !== 0) throw new Error(`tokens create exited ${code}`)
    return { db, base, token: minted.join('').trim(), close }
  } catch (e) {
    await close()
    throw e
  }
}

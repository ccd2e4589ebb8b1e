/**
 * An app on a database a test can take away (`down`) and give back (`up`): a real outage on either
 * backend. On SQLite another connection holds the file's write lock (an admin command, a rekey:
 * SQLITE_BUSY after the busy timeout); on PostgreSQL the app reaches the database through a relay
 * (test/helpers/relay.ts) that `down` cuts. `stop` ends the outage's means (the relay, the other
 * connection); the app is the caller's to stop. Temporary folders go with `cleanUp`.
 */
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeTestApp, type TestApp } from './app'
import { freshPgSchema, ON_PG } from './pg'
import { startRelay } from './relay'

export interface Outage {
  t: TestApp
  down: () => void
  up: () => void
  stop: () => void
}

const dirs: string[] = []

/** The folders appWithOutage made, removed (afterAll). */
export function cleanUpOutages(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
}

/**
 * A test app on a fresh PostgreSQL schema, reached through a relay (test/helpers/relay.ts) on
 * 127.0.0.1:`relayPort` (0: any free port): what the relay does to its connections, the app meets.
 */
export async function appBehindRelay(config?: object, relayPort = 0) {
  const pg = await freshPgSchema()
  const u = new URL(pg.url)
  const relay = startRelay(u.hostname, Number(u.port || 5432), relayPort)
  u.port = String(relay.port)
  const t = await makeTestApp({ pg: { url: u.toString(), schema: pg.schema }, config })
  return { t, relay }
}

/** `relayPort`: the relay's port on PostgreSQL (0: any free one). `config`: the app's. */
export async function appWithOutage(opts: { relayPort: number; config?: object; name: string }): Promise<Outage> {
  if (ON_PG) {
    const { t, relay } = await appBehindRelay(opts.config, opts.relayPort)
    return { t, down: () => relay.cut(), up: () => relay.restore(), stop: () => relay.stop() }
  }
  const dir = mkdtempSync(join(tmpdir(), `teamday-${opts.name}-`))
  dirs.push(dir)
  const file = join(dir, 'teamday.db')
  const t = await makeTestApp({ dbPath: file, config: opts.config })
  let other: Database | null = null
  const down = () => {
    other = new Database(file)
    other.exec('BEGIN IMMEDIATE')
  }
  const up = () => {
    other?.exec('ROLLBACK')
    other?.close()
    other = null
  }
  return { t, down, up, stop: up }
}

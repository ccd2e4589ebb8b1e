import { createApp } from '../../src/app'
import { requestAuthorizer } from '../../src/auth/plugin'
import { requestContexts } from '../../src/http/context'
import { loadConfig, type Config } from '../../src/config'
import { operatorContext, type Ctx } from '../../src/context'
import { SecretBox } from '../../src/crypto/secretbox'
import type { SyncDb } from '../../src/db/connection'
import { agents, useDialect, type Role } from '../../src/db/schema'
import type { ModelProviders } from '../../src/engine/providers'
import type { PasswordHashing } from '../../src/modules/users/password-hashing'
import { createLogger } from '../../src/logger'
import type { RateLimitStore } from '../../src/ratelimit/store'
import { createRuntime, type Runtime } from '../../src/runtime'
import { createToken, type CreateTokenInput } from '../../src/modules/tokens/service'
import { createUser } from '../../src/modules/users/service'
import { newId } from '../../src/ids'
import { closeAtEnd, freshPgSchema, ON_PG } from './pg'

/** A clock tests move by hand: time passing (`advance`), or the wall clock stepped (`step`, as NTP does). */
export class TestClock {
  /** The monotonic clock's reading (src/clock.ts): time passing moves it, a step of the wall clock does not. */
  mono = 0
  constructor(public ms = Date.parse('2026-06-01T12:00:00.000Z')) {}
  now = () => this.ms
  monotonic = () => this.mono
  advance(ms: number) {
    this.ms += ms
    this.mono += ms
  }
  /** The wall clock set `ms` on (back, when negative), no time passing. */
  step(ms: number) {
    this.ms += ms
  }
}

export interface TestApp {
  app: ReturnType<typeof createApp>
  /** The app's runtime (src/runtime.ts): its own database, clock, engine, limiter. */
  rt: Runtime
  /**
   * The same database for seeding and for looking at rows: synchronous on SQLite; on PostgreSQL
   * the same query builders return promises, so tests `await` what they read through it.
   */
  db: SyncDb
  /** Which backend the app runs on (TEAMDAY_TEST_DATABASE=postgres: a fresh PostgreSQL schema). */
  backend: 'sqlite' | 'pg'
  /** On PostgreSQL: the database URL and the schema holding this app's tables (a pg_dump of it is what is at rest). */
  pg?: { url: string; schema: string }
  /** A context acting as the operator (the admin CLI), for calling services directly. */
  ctx: Ctx
  clock: TestClock
  logs: string[]
  /**
   * Sends a request in-process. `token` sets `Authorization: Bearer <token>`; `body` is JSON;
   * `ip` is the socket peer's address the app sees (as Bun's requestIP gives it to a server;
   * none by default).
   */
  req(method: string, path: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: RequestInit["body"]; ip?: string }): Promise<Res>
}

export interface Res {
  status: number
  headers: Headers
  body: any
  text: string
}

let seq = 0

/**
 * The password hashing cost of a test app unless its test asks for another (`config.passwordHashing`):
 * argon2id at its cheapest (a fraction of a millisecond where the server's cost, PASSWORD_HASHING,
 * takes 40-120 ms on this machine), since most tests give people passwords without being about the
 * hash. A test of the hash itself (its cost, the re-hash of an older one, the time a sign-in takes)
 * builds its app with PASSWORD_HASHING.
 */
export const TEST_PASSWORD_HASHING: PasswordHashing = { algorithm: 'argon2id', memoryCost: 64, timeCost: 1 }

export async function makeTestApp(
  opts: {
    dbPath?: string
    config?: Partial<Config>
    key?: Uint8Array
    /** Earlier keys of the ring (TEAMDAY_ENCRYPTION_KEYS_PREVIOUS): a key rotation. */
    previousKeys?: Uint8Array[]
    providers?: ModelProviders
    rateLimitStore?: RateLimitStore
    /** PostgreSQL: this schema (another app's, for a second instance on one database) instead of a fresh one. */
    pg?: { url: string; schema: string }
    /** PostgreSQL: keep time by the database's clock, as `teamday serve` does (src/db-clock.ts), the TestClock being the machine's. */
    clockSource?: 'database' | 'machine'
  } = {},
): Promise<TestApp> {
  const clock = new TestClock()
  const logs: string[] = []
  // The whole suite runs on either backend; a test that names a SQLite file gets SQLite.
  const pg = opts.pg ?? (ON_PG && opts.dbPath === undefined ? await freshPgSchema() : undefined)
  const config = loadConfig({}, { dbPath: opts.dbPath ?? ':memory:', passwordHashing: TEST_PASSWORD_HASHING, ...opts.config, ...(pg ? { dbPath: pg.url, dbPool: 4 } : {}) })
  const box = new SecretBox(opts.key ?? crypto.getRandomValues(new Uint8Array(32)), opts.previousKeys)
  const log = createLogger('debug', (l) => logs.push(l), clock.now)
  const rt = await createRuntime(config, { clock, log, box, providers: opts.providers, rateLimitStore: opts.rateLimitStore, pgSchema: pg?.schema, pgIdleTimeoutS: 2, clockSource: opts.clockSource })
  if (pg) closeAtEnd(rt)
  else if (ON_PG) {
    // A SQLite file's app in the PostgreSQL pass: the process's table bindings are one dialect's
    // (src/db/schema/index.ts useDialect), and opening the file turned them to SQLite's; its close
    // turns them back, so the file's PostgreSQL app goes on with its own (a test after one that
    // opened a SQLite file inserted a Date as SQLite's milliseconds into PostgreSQL).
    const close = rt.close.bind(rt)
    rt.close = () => {
      const closed = close()
      useDialect('pg')
      return closed
    }
  }
  // Injected the way the server injects Bun's requestIP: the app asks for a request's peer.
  const peers = new WeakMap<Request, string>()
  const app = createApp(rt, { peerAddress: (r) => peers.get(r) ?? null })
  const req: TestApp['req'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers }
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`
    let body: RequestInit["body"] = o.raw
    if (o.body !== undefined) {
      body = JSON.stringify(o.body)
      headers['content-type'] ??= 'application/json'
    }
    // A request from a socket is read in an event-loop turn of its own; commits by other
    // connections are sampled once per turn (src/db/change-signal.ts). Do as the server does.
    await new Promise<void>((r) => setImmediate(r))
    const request = new Request(`http://localhost${path}`, { method, headers, body })
    if (o.ip !== undefined) peers.set(request, o.ip)
    const res = await app.handle(request)
    const text = await res.text()
    let parsed: any
    try {
      parsed = JSON.parse(text)
    } catch {
      parsed = undefined
    }
    return { status: res.status, headers: res.headers, body: parsed, text }
  }
  const db = rt.connection.dialect === 'sqlite' ? rt.connection.sync : (rt.connection.db as unknown as SyncDb)
  return { app, rt, db, backend: rt.connection.dialect, ...(pg ? { pg } : {}), ctx: operatorContext(rt), clock, logs, req }
}

export interface Actor {
  userId: string
  email: string
  organizationId: string
  orgSlug: string
  role: Role
  token: string
  tokenId: string
}

/** Factory: a user with a role in an organization (created when missing) and a fresh token. */
export async function makeActor(t: TestApp, o: { role?: Role; org?: string; email?: string; token?: Partial<CreateTokenInput> } = {}): Promise<Actor> {
  const n = ++seq
  const orgSlug = o.org ?? 'acme'
  const email = o.email ?? `user${n}@example.com`
  const role = o.role ?? 'member'
  let r
  try {
    r = await createUser(t.ctx, { email, orgSlug, role })
  } catch (e) {
    // Said as it was: not every failure here is a user already in the organization.
    throw new Error(`makeActor: ${email} in ${orgSlug}: ${e instanceof Error ? e.message : String(e)}`, { cause: e })
  }
  const { token, row } = await createToken(t.ctx, { userId: r.user.id, organizationId: r.organization.id }, { name: `token ${n}`, ...o.token })
  return { userId: r.user.id, email, organizationId: r.organization.id, orgSlug, role, token, tokenId: row.id }
}

/** Factory: another token for an existing actor. */
export async function makeToken(t: TestApp, actor: Actor, input: Partial<CreateTokenInput> = {}): Promise<{ token: string; id: string }> {
  const { token, row } = await createToken(t.ctx, { userId: actor.userId, organizationId: actor.organizationId }, { name: `extra ${++seq}`, ...input })
  return { token, id: row.id }
}

/**
 * Factory: an agent "Writer" (slug `writer`, visible to the organization) owned by `actor`, written
 * straight to the database (no route, no audit event), with `fields` over those. Returns its id.
 */
export async function insertWriter(t: TestApp, actor: Actor, fields: Partial<typeof agents.$inferInsert> = {}): Promise<string> {
  const id = newId('char')
  const now = new Date(t.clock.now())
  await t.db.insert(agents).values({ id, organizationId: actor.organizationId, userId: actor.userId, name: 'Writer', slug: 'writer', visibility: 'organization', createdAt: now, updatedAt: now, ...fields })
  return id
}

/** The real authorizer on a test app's runtime (no rate limits), for tiny apps that test one plugin. */
export function authorizerOf(t: TestApp) {
  return requestAuthorizer({ contextOf: requestContexts(t.rt, () => null).of })
}

import { createApp } from '../../src/app'
import { loadConfig, type Config } from '../../src/config'
import { SecretBox } from '../../src/crypto/secretbox'
import { openDatabase } from '../../src/db/client'
import { runMigrations } from '../../src/db/migrate'
import type { Role } from '../../src/db/schema'
import type { Deps } from '../../src/deps'
import { createLogger } from '../../src/logger'
import { createToken, type CreateTokenInput } from '../../src/modules/tokens/service'
import { createUser } from '../../src/modules/users/service'

/** A clock tests move by hand. */
export class TestClock {
  constructor(public ms = Date.parse('2026-06-01T12:00:00.000Z')) {}
  now = () => this.ms
  advance(ms: number) {
    this.ms += ms
  }
}

export interface TestApp {
  app: ReturnType<typeof createApp>
  deps: Deps
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

export function makeTestApp(opts: { dbPath?: string; config?: Partial<Config>; key?: Uint8Array } = {}): TestApp {
  const clock = new TestClock()
  const logs: string[] = []
  const config = loadConfig({}, { dbPath: opts.dbPath ?? ':memory:', ...opts.config })
  const db = openDatabase(config.dbPath)
  runMigrations(db)
  const box = new SecretBox(opts.key ?? crypto.getRandomValues(new Uint8Array(32)))
  // Injected the way the server injects Bun's requestIP: the app asks for a request's peer.
  const peers = new WeakMap<Request, string>()
  const peerAddress = (r: Request) => peers.get(r) ?? null
  const deps: Deps = { db, box, clock, logger: createLogger('debug', (l) => logs.push(l), clock.now), config, peerAddress }
  const app = createApp(deps)
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
  return { app, deps, clock, logs, req }
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
export function makeActor(t: TestApp, o: { role?: Role; org?: string; email?: string; token?: Partial<CreateTokenInput> } = {}): Actor {
  const n = ++seq
  const orgSlug = o.org ?? 'acme'
  const email = o.email ?? `user${n}@example.com`
  const role = o.role ?? 'member'
  let r
  try {
    r = createUser(t.deps.db, t.clock, { email, orgSlug, role })
  } catch {
    throw new Error(`makeActor: ${email} already in ${orgSlug}`)
  }
  const { token, row } = createToken(t.deps, { userId: r.user.id, organizationId: r.organization.id }, { name: `token ${n}`, ...o.token })
  return { userId: r.user.id, email, organizationId: r.organization.id, orgSlug, role, token, tokenId: row.id }
}

/** Factory: another token for an existing actor. */
export function makeToken(t: TestApp, actor: Actor, input: Partial<CreateTokenInput> = {}): { token: string; id: string } {
  const { token, row } = createToken(t.deps, { userId: actor.userId, organizationId: actor.organizationId }, { name: `extra ${++seq}`, ...input })
  return { token, id: row.id }
}

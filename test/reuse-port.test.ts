/**
 * `serve --reuse-port` shares a port only with processes on the same database: each database has
 * a random identity (src/db/settings.ts stampDatabaseId), a server proves it holds the same one
 * (GET /api/health/database-proof, src/db/identity.ts), and a start asks whoever is on its port
 * (src/cli/admin/port-holder.ts). The processes themselves: test/server-process.test.ts and, the
 * compiled binary on both databases, test/reuse-port-binary.test.ts.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EventEmitter } from 'node:events'
import { parseReply, probeAddresses, PROOF_PATH, refuseAnotherDatabase, type Get } from '../src/cli/admin/port-holder'
import { serve } from '../src/cli/admin/serve'
import type { ClientIo } from '../src/cli/common'
import { createLogger } from '../src/logger'
import { DatabaseIdentity, newProofToken } from '../src/db/identity'
import { LIVE_PROBE_TTL_MS, putLiveProbe } from '../src/db/settings'
import { settings } from '../src/db/schema'
import { Housekeeping } from '../src/housekeeping'
import { eq, sql } from 'drizzle-orm'
import { makeTestApp, type TestApp } from './helpers/app'
import { createTestDatabase, ON_PG, urlFor } from './helpers/pg'

const dir = mkdtempSync(join(tmpdir(), 'teamday-reuse-port-'))
const stops: (() => void)[] = []
afterAll(() => {
  // Not awaited: a stopped server's promise may wait on connections its peer has long closed.
  for (const stop of stops) stop()
  rmSync(dir, { recursive: true, force: true })
})

const key = crypto.getRandomValues(new Uint8Array(32))
/** Two apps on one database (another instance on the same PostgreSQL schema, or on the same SQLite file). */
async function oneDatabase(): Promise<() => Promise<TestApp>> {
  if (ON_PG) {
    const a = await makeTestApp({ key })
    return async () => makeTestApp({ pg: a.pg, key })
  }
  const file = join(dir, `${newProofToken().slice(0, 8)}.db`)
  return () => makeTestApp({ dbPath: file, key })
}

/** A probe written into `t`'s database, as a starting process writes one (src/cli/admin/port-holder.ts askHolder). */
async function probeIn(t: TestApp) {
  const name = newProofToken()
  const nonce = newProofToken()
  await putLiveProbe(t.rt.db, name, nonce)
  return { name, nonce }
}
/** Moves a probe's writing time `ms` back, as the database stores it: one a start left behind that long ago. */
async function age(t: TestApp, name: string, ms: number) {
  const earlier = ON_PG ? sql`${settings.updatedAt} - ${sql.raw(`interval '${ms} milliseconds'`)}` : sql`${settings.updatedAt} - ${ms}`
  await t.db.update(settings).set({ updatedAt: earlier }).where(eq(settings.key, `reuse_port_probe:${name}`)).run()
}
const ask = (t: TestApp, challenge: string, name: string) => t.req('GET', `${PROOF_PATH}?challenge=${challenge}&probe=${name}`)
const proofOf = async (t: TestApp, challenge: string, name: string) => (await ask(t, challenge, name)).body
const settingsOf = async (t: TestApp) => (await t.db.select().from(settings).all()) as { key: string; value: string }[]
const idOf = async (t: TestApp) => (await settingsOf(t)).find((r) => r.key === 'database_id')?.value

describe('a database identity and its proof of the live database', () => {
  test('a server proves it read the probe a process on the same database wrote there; to anyone else its answer says nothing; no two answers are alike', async () => {
    const instance = await oneDatabase()
    const [a, b] = [await instance(), await instance()]
    const other = await makeTestApp({ key })
    const challenge = newProofToken()
    const probe = await probeIn(a)
    const res = await ask(b, challenge, probe.name)
    expect(res.status).toBe(200)
    expect(Object.keys(res.body).sort()).toEqual(['proof', 'salt'])
    expect(res.body.proof).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(a.rt.databaseIdentity!.proves(challenge, probe.nonce, res.body)).toBe(true)
    // The process itself reads its own probe too (the start asks its own listener once it listens).
    expect(a.rt.databaseIdentity!.proves(challenge, probe.nonce, await proofOf(a, challenge, probe.name))).toBe(true)
    // Another database has no such row: an answer of the same shape, which proves nothing.
    const elsewhere = await ask(other, challenge, probe.name)
    expect(elsewhere.status).toBe(200)
    expect(Object.keys(elsewhere.body).sort()).toEqual(['proof', 'salt'])
    expect(elsewhere.body.proof).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(a.rt.databaseIdentity!.proves(challenge, probe.nonce, elsewhere.body)).toBe(false)
    // Nor is it an answer to another challenge, or under another nonce; every answer has its own salt and proof.
    expect(a.rt.databaseIdentity!.proves(newProofToken(), probe.nonce, res.body)).toBe(false)
    expect(a.rt.databaseIdentity!.proves(challenge, newProofToken(), res.body)).toBe(false)
    const again = await proofOf(b, challenge, probe.name)
    expect(again.salt).not.toBe(res.body.salt)
    expect(again.proof).not.toBe(res.body.proof)
    // The identity and the nonce are nowhere in an answer.
    const id = (await idOf(a))!
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/)
    for (const text of [res.text, elsewhere.text]) {
      expect(text).not.toContain(id)
      expect(text).not.toContain(probe.nonce)
    }
  })

  test('a name nobody wrote, and one a probe holds, get answers alike in shape, status and headers', async () => {
    const t = await makeTestApp({ key })
    const probe = await probeIn(t)
    const [found, missing] = [await ask(t, newProofToken(), probe.name), await ask(t, newProofToken(), newProofToken())]
    expect(missing.status).toBe(found.status)
    const shape = (r: typeof found) => ({ keys: Object.keys(r.body), lengths: Object.values(r.body).map((v) => String(v).length), headers: [...r.headers.keys()].filter((h) => h !== 'x-request-id' && h !== 'date').sort(), length: r.text.length })
    expect(shape(missing)).toEqual(shape(found))
  })

  test('a database that holds the identity of another (a pg_dump restored, a file copied) is another database: neither proves itself to the other', async () => {
    // A proof keyed with the identity alone (before the probe) took a PostgreSQL database restored
    // from a dump of another for it on a shared port.
    const instance = await oneDatabase()
    const original = await instance()
    const before = await makeTestApp({ key, ...(ON_PG ? {} : { dbPath: join(dir, `${newProofToken().slice(0, 8)}.db`) }) })
    await before.db.update(settings).set({ value: (await idOf(original))! }).where(eq(settings.key, 'database_id')).run()
    // Started on it from then on (the identity is read at a start), as a restored database would be.
    const copy = await makeTestApp({ key, ...(ON_PG ? { pg: before.pg! } : { dbPath: before.rt.config.dbPath }) })
    expect(await idOf(copy)).toBe((await idOf(original))!)
    const challenge = newProofToken()
    const mine = await probeIn(original)
    expect(original.rt.databaseIdentity!.proves(challenge, mine.nonce, await proofOf(copy, challenge, mine.name))).toBe(false)
    const theirs = await probeIn(copy)
    expect(copy.rt.databaseIdentity!.proves(challenge, theirs.nonce, await proofOf(original, challenge, theirs.name))).toBe(false)
    // The original's other instances still prove themselves to it.
    const again = await instance()
    expect(original.rt.databaseIdentity!.proves(challenge, mine.nonce, await proofOf(again, challenge, mine.name))).toBe(true)
  })

  test('a challenge or a probe that is not 43 base64url characters, or missing, is a 422 envelope (before any database read)', async () => {
    const t = await makeTestApp()
    const ok = newProofToken()
    for (const q of ['', `?challenge=${ok}`, `?probe=${ok}`, `?challenge=short&probe=${ok}`, `?challenge=${ok}&probe=short`, `?challenge=${ok}&probe=${'a'.repeat(42)}!`, `?challenge=${ok}&probe=${'a'.repeat(44)}`, `?challenge=${ok}&probe=${ok.slice(0, 40)}%25%27`]) {
      const res = await t.req('GET', `${PROOF_PATH}${q}`)
      expect({ q, status: res.status, code: res.body?.code }).toEqual({ q, status: 422, code: 'validation_failed' })
    }
  })

  test('a probe is good for a minute from when it was written; an older one proves nothing, and housekeeping deletes it', async () => {
    const instance = await oneDatabase()
    const [a, b] = [await instance(), await instance()]
    const challenge = newProofToken()
    const stale = await probeIn(a)
    await age(a, stale.name, LIVE_PROBE_TTL_MS + 1_000)
    const fresh = await probeIn(a)
    expect(a.rt.databaseIdentity!.proves(challenge, stale.nonce, await proofOf(b, challenge, stale.name))).toBe(false)
    expect(a.rt.databaseIdentity!.proves(challenge, fresh.nonce, await proofOf(b, challenge, fresh.name))).toBe(true)
    const probes = async () => (await settingsOf(a)).filter((r) => r.key.startsWith('reuse_port_probe:')).map((r) => r.key)
    expect((await probes()).sort()).toEqual([`reuse_port_probe:${stale.name}`, `reuse_port_probe:${fresh.name}`].sort())
    const hk = new Housekeeping({ db: a.rt.db, clock: a.clock, log: a.rt.log, config: { auditRetentionDays: null, executionRetentionDays: null } })
    expect(await hk.runIfDue()).toMatchObject({ reusePortProbes: 1 })
    expect(await probes()).toEqual([`reuse_port_probe:${fresh.name}`])
    // Nothing else of the settings is touched.
    expect(await idOf(a)).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  test("processes whose clocks are minutes apart judge a probe's age alike, by the database's clock: a fresh one is good and a stale one is not, whoever asks, and housekeeping deletes only the stale one", async () => {
    // Each process's clock was the judge: with more than the TTL between two instances' clocks
    // (PostgreSQL instances on several machines), a probe just written was "expired" to one and a
    // stale one "alive" to the other; a process whose clock ran ahead deleted probes being asked.
    const instance = await oneDatabase()
    const [a, ahead, behind] = [await instance(), await instance(), await instance()]
    const skew = 5 * LIVE_PROBE_TTL_MS
    ahead.clock.advance(skew)
    behind.clock.advance(-skew)
    const challenge = newProofToken()
    const fresh = await probeIn(a)
    for (const b of [ahead, behind]) expect(a.rt.databaseIdentity!.proves(challenge, fresh.nonce, await proofOf(b, challenge, fresh.name))).toBe(true)
    const mineAhead = await probeIn(ahead)
    expect(ahead.rt.databaseIdentity!.proves(challenge, mineAhead.nonce, await proofOf(behind, challenge, mineAhead.name))).toBe(true)
    const stale = await probeIn(a)
    await age(a, stale.name, LIVE_PROBE_TTL_MS + 1_000)
    for (const b of [a, ahead, behind]) expect(a.rt.databaseIdentity!.proves(challenge, stale.nonce, await proofOf(b, challenge, stale.name))).toBe(false)
    const hk = new Housekeeping({ db: ahead.rt.db, clock: ahead.clock, log: ahead.rt.log, config: { auditRetentionDays: null, executionRetentionDays: null } })
    expect(await hk.runIfDue()).toMatchObject({ reusePortProbes: 1 })
    const left = (await settingsOf(a)).filter((r) => r.key.startsWith('reuse_port_probe:')).map((r) => r.key)
    expect(left.sort()).toEqual([`reuse_port_probe:${fresh.name}`, `reuse_port_probe:${mineAhead.name}`].sort())
  })

  test('a database an older build made gets an identity at its next start, the same one from then on', async () => {
    const instance = await oneDatabase()
    const first = await instance()
    await first.db.delete(settings).where(eq(settings.key, 'database_id')).run()
    const [second, third] = [await instance(), await instance()]
    const challenge = newProofToken()
    const probe = await probeIn(third)
    expect(third.rt.databaseIdentity!.proves(challenge, probe.nonce, await proofOf(second, challenge, probe.name))).toBe(true)
    expect(first.rt.databaseIdentity!.proves(challenge, probe.nonce, await proofOf(second, challenge, probe.name))).toBe(false)
  })
})

describe('a copy of a SQLite database file', () => {
  // The copy holds the same database_id, but its data parts from the original's at the first
  // write to either: a backup started as a server on the live one's port joined it, and clients
  // were split between the two. Refused since by the probe alone: the copy never sees the nonce
  // written into the original (the proof no longer covers the file's device and inode).
  test.skipIf(ON_PG)('is another database: neither proves itself to the other', async () => {
    const file = join(dir, `${newProofToken().slice(0, 8)}.db`)
    const copy = `${file}.copy`
    const original = await makeTestApp({ dbPath: file, key })
    const { Database } = await import('bun:sqlite')
    const reader = new Database(file)
    reader.exec(`VACUUM INTO '${copy}'`)
    reader.close()
    const copied = await makeTestApp({ dbPath: copy, key })
    expect(await idOf(copied)).toBe((await idOf(original))!)
    const challenge = newProofToken()
    const mine = await probeIn(original)
    const theirs = await probeIn(copied)
    expect(copied.rt.databaseIdentity!.proves(challenge, theirs.nonce, await proofOf(original, challenge, theirs.name))).toBe(false)
    expect(original.rt.databaseIdentity!.proves(challenge, mine.nonce, await proofOf(copied, challenge, mine.name))).toBe(false)
    // The same file opened again still proves itself.
    const again = await makeTestApp({ dbPath: file, key })
    expect(original.rt.databaseIdentity!.proves(challenge, mine.nonce, await proofOf(again, challenge, mine.name))).toBe(true)
  })
})

/** A server on 127.0.0.1 (on `port`, shared, or a free one) answering every request with `answer`. */
function holder(answer: (req: Request) => Response | Promise<Response>, port = 0) {
  const server = Bun.serve({ hostname: '127.0.0.1', port, reusePort: true, fetch: answer })
  stops.push(() => void server.stop(true))
  return server as typeof server & { port: number }
}
/** A database in memory, as far as probes go: its rows (name → nonce), and a starting process's way of writing them. */
function memoryDatabase() {
  const rows = new Map<string, string>()
  const written: string[] = []
  return { rows, written, probes: { put: async (name: string, nonce: string) => void (rows.set(name, nonce), written.push(name)), remove: async (name: string) => void rows.delete(name) } }
}
/** A holder answering as a teamday does (src/modules/system), with the nonces of `rows`. */
const provingWith = (identity: DatabaseIdentity, rows: Map<string, string>) => (req: Request) => {
  const q = new URL(req.url).searchParams
  return Response.json(identity.prove(q.get('challenge')!, rows.get(q.get('probe')!)))
}

describe('the start asks whoever holds the port', () => {
  const myDatabase = memoryDatabase()
  const identity = new DatabaseIdentity(newProofToken())
  const mine = { identity, probes: myDatabase.probes }
  const another = new DatabaseIdentity(newProofToken())

  test('nobody there, or a teamday on the same database: it may share the port', async () => {
    const free = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('') })
    const port = free.port!
    await free.stop(true)
    await refuseAnotherDatabase('127.0.0.1', port, mine, 1)
    // Nobody to ask: no probe written (one was, and deleted, for every start on a free port).
    expect(myDatabase.written).toEqual([])
    const same = holder(provingWith(identity, myDatabase.rows))
    await refuseAnotherDatabase('127.0.0.1', same.port, mine, 4)
    // A wildcard host is asked on loopback.
    await refuseAnotherDatabase('0.0.0.0', same.port, mine, 1)
    // Each question that reached the holder wrote a probe of its own, and removed it.
    expect(myDatabase.written.length).toBe(5)
    expect(new Set(myDatabase.written).size).toBe(5)
    expect(myDatabase.rows.size).toBe(0)
  })

  test('a probe that cannot be written (the database refuses it) fails the start with that error, and nothing is asked', async () => {
    let asked = 0
    const same = holder((req) => (asked++, provingWith(identity, myDatabase.rows)(req)))
    const refuse = async () => {
      throw new Error('database is locked')
    }
    const failing = { identity, probes: { ...myDatabase.probes, put: refuse } }
    await expect(refuseAnotherDatabase('127.0.0.1', same.port, failing, 1)).rejects.toThrow('database is locked')
    expect(asked).toBe(0)
    expect(myDatabase.rows.size).toBe(0)
  })

  test('a teamday with the same identity on a copy of the database (a pg_dump restored: it did not see the probe) is refused as another database, and the probe is removed', async () => {
    const copy = holder(provingWith(identity, new Map()))
    await expect(refuseAnotherDatabase('127.0.0.1', copy.port, mine, 1)).rejects.toThrow(`port ${copy.port} on 127.0.0.1 is held by a teamday on another database`)
    expect(myDatabase.rows.size).toBe(0)
  })

  test('a teamday of the previous round (its proof keyed with the identity alone; it knows no probe: 422) is not shared with', async () => {
    const older = holder(() => Response.json({ error: true, statusCode: 422, code: 'validation_failed' }, { status: 422 }))
    await expect(refuseAnotherDatabase('127.0.0.1', older.port, mine, 1)).rejects.toThrow('a server that does not show which database it is on (HTTP 422 to GET /api/health/database-proof: a teamday older than this one, or another program)')
    // Even answering a proof keyed as it was, with the identity but no nonce: not this database's.
    const keyedAsBefore = holder((req) => Response.json(identity.prove(new URL(req.url).searchParams.get('challenge')!, undefined)))
    await expect(refuseAnotherDatabase('127.0.0.1', keyedAsBefore.port, mine, 1)).rejects.toThrow('held by a teamday on another database')
    expect(myDatabase.rows.size).toBe(0)
  })

  test('a question that fails on the way (the transport throws once connected) still removes its probe', async () => {
    const before = myDatabase.written.length
    const broken: Get = async (_host, _port, _path, _timeoutMs, connected) => {
      await connected?.()
      throw new Error('boom')
    }
    await expect(refuseAnotherDatabase('127.0.0.1', 1, mine, 1, undefined, broken)).rejects.toThrow('boom')
    expect(myDatabase.written.length).toBe(before + 1)
    expect(myDatabase.rows.size).toBe(0)
  })

  test('a teamday on another database: refused, naming the port and what to do', async () => {
    const other = holder(provingWith(another, myDatabase.rows))
    const refused = refuseAnotherDatabase('127.0.0.1', other.port, mine, 1)
    await expect(refused).rejects.toThrow(`port ${other.port} on 127.0.0.1 is held by a teamday on another database: --reuse-port shares a port only between teamday processes on the same database`)
    await expect(refuseAnotherDatabase('0.0.0.0', other.port, mine, 1)).rejects.toThrow('use another --port (PORT), or the database that server is on (--db / TEAMDAY_DB)')
  })

  test('a server that cannot prove its database (an older teamday: 404; another program; an answer that is not a proof) is not shared with', async () => {
    const older = holder(() => Response.json({ error: true, statusCode: 404, code: 'not_found' }, { status: 404 }))
    await expect(refuseAnotherDatabase('127.0.0.1', older.port, mine, 1)).rejects.toThrow('a server that does not show which database it is on (HTTP 404 to GET /api/health/database-proof: a teamday older than this one, or another program)')
    for (const answer of [() => new Response('hello'), () => Response.json({ salt: newProofToken(), proof: 'x' }), () => Response.json({ salt: 'x', proof: newProofToken() }), () => Response.json(another.prove(newProofToken(), undefined))]) {
      const s = holder(answer)
      await expect(refuseAnotherDatabase('127.0.0.1', s.port, mine, 1)).rejects.toThrow(`port ${s.port} on 127.0.0.1 is held by`)
    }
  })

  test('something that is not HTTP, or says nothing, is not shared with (and the question gives up)', async () => {
    const sockets: Socket[] = []
    const closes: Server = createServer((socket) => socket.end())
    const silent: Server = createServer((socket) => void sockets.push(socket))
    for (const s of [closes, silent]) {
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
      stops.push(() => {
        for (const c of sockets) c.destroy()
        s.close()
      })
    }
    const portOf = (s: Server) => (s.address() as { port: number }).port
    await expect(refuseAnotherDatabase('127.0.0.1', portOf(closes), mine, 1)).rejects.toThrow('something that does not answer as a teamday (the connection closed without an answer)')
    // Not answered, it would wait for ever: a deadline, not a bound in ms (a loaded machine is slow).
    const silence = refuseAnotherDatabase('127.0.0.1', portOf(silent), mine, 1, 200).then(
      () => 'shared',
      (e: Error) => e.message,
    )
    expect(await Promise.race([silence, Bun.sleep(15_000).then(() => 'still waiting')])).toContain('something that does not answer as a teamday (no answer within 0.2 s)')
  })

  test('a holder that answers a byte at a time, for ever, is given up on at the limit, not waited for (the limit is for the whole answer, not between bytes)', async () => {
    const sockets: Socket[] = []
    const timers: ReturnType<typeof setInterval>[] = []
    const dribbles: Server = createServer((socket) => {
      sockets.push(socket)
      socket.on('error', () => {})
      socket.write('HTTP/1.1 200 OK\r\n')
      timers.push(setInterval(() => socket.write('x'), 50))
    })
    await new Promise<void>((r) => dribbles.listen(0, '127.0.0.1', r))
    stops.push(() => {
      for (const t of timers) clearInterval(t)
      for (const c of sockets) c.destroy()
      dribbles.close()
    })
    const asked = refuseAnotherDatabase('127.0.0.1', (dribbles.address() as { port: number }).port, mine, 1, 200).then(
      () => 'shared',
      (e: Error) => e.message,
    )
    // Timing only the silence between bytes, it waited for ever: a deadline, not a bound in ms (a
    // loaded machine is slow); that the limit was the 0.2 s asked for, the message says.
    const outcome = await Promise.race([asked, Bun.sleep(15_000).then(() => 'still waiting')])
    expect(outcome).toContain('something that does not answer as a teamday (no answer within 0.2 s)')
  })

  test('two processes on the port (one started at the same moment on another database): the questions reach both, and the start is refused', async () => {
    const same = holder(provingWith(identity, myDatabase.rows))
    holder(provingWith(another, new Map()), same.port)
    await expect(refuseAnotherDatabase('127.0.0.1', same.port, mine, 32)).rejects.toThrow('held by a teamday on another database')
  })

  test('an answer is read to its end, chunked or not', () => {
    expect(parseReply('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}')).toEqual({ kind: 'http', status: 200, body: '{}' })
    expect(parseReply('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n')).toEqual({ kind: 'http', status: 200, body: '{"a":1}' })
    expect(parseReply('SSH-2.0-OpenSSH_9.2\r\n')).toEqual({ kind: 'failed', why: 'an answer that is not HTTP' })
  })
})

describe('a start that cannot reach its own listener says the check was skipped', () => {
  const myDatabase = memoryDatabase()
  const identity = new DatabaseIdentity(newProofToken())
  const mine = { identity, probes: myDatabase.probes }

  test('every spelling of a wildcard --host is asked on loopback of its family (a connection to the wildcard itself reaches a listener on some systems only)', () => {
    for (const host of ['0.0.0.0', '[0.0.0.0]']) expect({ host, asked: probeAddresses(host) }).toEqual({ host, asked: ['127.0.0.1'] })
    for (const host of ['::', '[::]', '::0', '[::0]', '0:0:0:0:0:0:0:0', '0000::0000']) expect({ host, asked: probeAddresses(host) }).toEqual({ host, asked: ['::1', '127.0.0.1'] })
    // Any other host is asked where it is.
    for (const [host, asked] of [
      ['127.0.0.1', '127.0.0.1'],
      ['[::1]', '::1'],
      ['192.0.2.7', '192.0.2.7'],
      ['::ffff:0.0.0.0', '::ffff:0.0.0.0'],
      ['localhost', 'localhost'],
    ])
      expect({ host, asked: probeAddresses(host!) }).toEqual({ host, asked: [asked] })
  })

  test('what the questions met: a process (on this database), or nobody at any address asked, with each address and its error', async () => {
    const same = holder(provingWith(identity, myDatabase.rows))
    expect(await refuseAnotherDatabase('127.0.0.1', same.port, mine, 2)).toEqual({ reached: true })
    const free = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: () => new Response('') })
    const port = free.port!
    await free.stop(true)
    expect(await refuseAnotherDatabase('127.0.0.1', port, mine, 2)).toEqual({ reached: false, why: `no connection to 127.0.0.1:${port} (ECONNREFUSED) reached a listener` })
    // A transport that reaches nothing (an address this machine cannot connect to).
    const unreachable: Get = async () => ({ kind: 'nobody', why: 'ENETUNREACH' })
    expect(await refuseAnotherDatabase('::', same.port, mine, 2, undefined, unreachable)).toEqual({
      reached: false,
      why: `no connection to [::1]:${same.port} (ENETUNREACH) or 127.0.0.1:${same.port} (ENETUNREACH) reached a listener`,
    })
  })

  /** A port nobody holds (a fixed one: --reuse-port asks nobody on port 0), from 4000-4999. */
  function freePort(): number {
    for (let tries = 0; tries < 100; tries++) {
      const port = 4000 + Math.floor(Math.random() * 1000)
      try {
        Bun.serve({ hostname: '127.0.0.1', port, fetch: () => new Response('') }).stop(true)
        return port
      } catch {}
    }
    throw new Error('no free port in 4000-4999')
  }

  test('serve --reuse-port: when its own listener cannot be reached, the log says the check was skipped and why; otherwise it says nothing of it', async () => {
    const db = ON_PG ? urlFor(await createTestDatabase()) : join(dir, `unchecked-${newProofToken().slice(0, 8)}.db`)
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
    /** One start and stop on a port of this helper's range: the JSON log lines. */
    async function startAndStop(probe?: Get) {
      const out: string[] = []
      const logged: string[] = []
      const io: ClientIo = { out: (s) => void out.push(s), err: (s) => void out.push(s), env: { TEAMDAY_ENCRYPTION_KEY: key, TEAMDAY_LOG_LEVEL: 'silent' } }
      const signals = new EventEmitter()
      const port = String(freePort())
      const serving = serve({ values: { host: '127.0.0.1', port, db, 'reuse-port': true }, positionals: [], io }, signals as unknown as NodeJS.Process, { log: createLogger('warn', (l) => void logged.push(l), Date.now, { format: 'json' }) }, probe)
      const deadline = Date.now() + 20_000
      while (!out.some((l) => l.startsWith('Console: ')) && Date.now() < deadline) await Bun.sleep(10)
      expect(out.join('\n')).toContain(`listening on http://127.0.0.1:${port}`)
      signals.emit('SIGTERM')
      await serving
      return { port: Number(port), log: logged.map((l) => JSON.parse(l)).filter((l) => l.msg === 'reuse_port_unchecked') }
    }
    const unreachable: Get = async () => ({ kind: 'nobody', why: 'EADDRNOTAVAIL' })
    const skipped = await startAndStop(unreachable)
    expect(skipped.log).toEqual([
      expect.objectContaining({
        level: 'warn',
        host: '127.0.0.1',
        port: skipped.port,
        reason: `no connection to 127.0.0.1:${skipped.port} (EADDRNOTAVAIL) reached a listener`,
        note: expect.stringContaining('was skipped: this server could not reach its own listener'),
      }),
    ])
    // The real question reaches the server's own listener: checked, nothing said.
    expect((await startAndStop()).log).toEqual([])
  }, 60_000)
})

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { eq } from 'drizzle-orm'
import { STREAMED_BATCH_BYTES, STREAMED_PAGE_BYTES } from '../src/db/paging'
import { tasks } from '../src/db/schema'
import { StreamedArray, streamedJson } from '../src/http/streamed-json'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { signedInPerson } from './helpers/console'
import { expectCompressedLike } from './helpers/codings'
import { bodyOf, rawGet, readPaused } from './helpers/raw-page'
import { until } from './helpers/scripted-provider'

/**
 * Tasks, agents and spaces hold what their members write (metadata up to 64 KiB, descriptions,
 * system prompts and instructions up to 100,000 characters), so a page of 200 of them can be
 * tens of megabytes. A page that comes to more than STREAMED_PAGE_BYTES is read and sent a batch
 * at a time, as executions are (src/db/paging.ts largePage, src/http/streamed-json.ts): a client
 * that asks for one and reads nothing leaves about a batch in the server, not the page, until the
 * idle timeout closes its connection. What arrives is the same JSON, with the same paging, as the
 * same items read in small pages. On either backend.
 */

let t: TestApp
let a: Actor
/** Each list's items, newest first, as small pages give them (each list here comes to 1.4-2.6 MB). */
const all = { tasks: [] as any[], agents: [] as any[], spaces: [] as any[] }

const letters = (n: number, seed: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(97 + ((i * 7 + seed) % 26))).join('')

const list = (path: string, headers: Record<string, string> = {}) => t.app.handle(new Request(`http://localhost${path}`, { headers: { authorization: `Bearer ${a.token}`, ...headers } }))

/**
 * A response's body as text, `meanwhile` run after its first piece was read: a body made as it
 * is read shows what `meanwhile` changed in the items it had not read yet; a body made whole
 * before it was sent does not.
 */
async function readAround(res: Response, meanwhile: () => Promise<unknown>): Promise<string> {
  const parts: Uint8Array[] = []
  const reader = res.body!.getReader()
  const first = await reader.read()
  if (!first.done) parts.push(first.value)
  await meanwhile()
  for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value)
  return Buffer.concat(parts).toString()
}

/** Renames an item of a list (PATCH), `name` being the field. */
async function rename(path: string, field: 'title' | 'name', value: string) {
  const res = await t.req('PATCH', path, { token: a.token, body: { [field]: value } })
  expect(res.status).toBe(200)
}

/** Every item of a list, by small pages (each under STREAMED_PAGE_BYTES: made whole, as before). */
async function bySmallPages(path: string, key: 'agents' | 'spaces' | null): Promise<any[]> {
  const out: any[] = []
  let cursor = ''
  for (let n = 0; n < 40; n++) {
    const res = await list(`${path}?limit=5${cursor ? `&cursor=${cursor}` : ''}`)
    expect(res.status).toBe(200)
    const body = JSON.parse(await res.text())
    out.push(...(key ? body[key] : body))
    cursor = (key ? body.nextCursor : res.headers.get('x-next-cursor')) ?? ''
    if (!cursor) return out
  }
  throw new Error('too many pages')
}

beforeAll(async () => {
  t = await makeTestApp()
  a = await makeActor(t, { role: 'member' })
  const post = async (path: string, body: object) => {
    const res = await t.req('POST', path, { token: a.token, body })
    expect(res.status).toBe(path.endsWith('/secrets') ? 200 : 201)
    return res.body
  }
  // 30 tasks of about 86 KB: the largest metadata (64 KiB as JSON) and description allowed.
  for (let i = 0; i < 30; i++) await post('/api/v1/tasks', { title: `Task ${i}`, description: letters(20_000, i), metadata: { notes: letters(65_000, i), i } })
  // 15 agents and 15 spaces of about 100 KB each (system prompts, instructions).
  for (let i = 0; i < 15; i++) await post('/api/v1/agents', { name: `Agent ${i}`, systemPrompt: letters(100_000, i), tags: ['a', `t${i}`], visibility: 'organization' })
  for (let i = 0; i < 15; i++) {
    const space = await post('/api/v1/spaces', { name: `Space ${i}`, instructions: letters(100_000, i), visibility: 'organization' })
    if (i % 5 === 0) await post(`/api/v1/spaces/${space.space.id}/secrets`, { secrets: { API_KEY: 'x', [`TOKEN_${i}`]: 'y' } })
  }
  all.tasks = await bySmallPages('/api/v1/tasks', null)
  all.agents = await bySmallPages('/api/v1/agents', 'agents')
  all.spaces = await bySmallPages('/api/v1/spaces', 'spaces')
  expect([all.tasks.length, all.agents.length, all.spaces.length]).toEqual([30, 15, 15])
}, 120_000)

describe('a large page', () => {
  test('of tasks is the bytes of the same tasks read in small pages, with the same paging headers', async () => {
    const res = await list('/api/v1/tasks?limit=20')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json;charset=utf-8')
    const text = await res.text()
    expect(text.length).toBeGreaterThan(STREAMED_PAGE_BYTES)
    expect(text).toBe(JSON.stringify(all.tasks.slice(0, 20)))
    expect(res.headers.get('x-total-count')).toBe('30')
    expect(res.headers.get('x-total-count-estimate')).toBe('false')
    const cursor = res.headers.get('x-next-cursor')
    expect(cursor).toBeTruthy()
    expect(res.headers.get('link')).toBe(`</api/v1/tasks?limit=20&cursor=${cursor}>; rel="next"`)
    const next = await list(`/api/v1/tasks?limit=20&cursor=${cursor}`)
    expect(await next.text()).toBe(JSON.stringify(all.tasks.slice(20)))
    expect(next.headers.get('x-total-count')).toBe('30')
    expect(next.headers.get('x-next-cursor')).toBeNull()
  })

  test('of agents is the same object as small pages make, both arrays in full, every time it is asked for', async () => {
    for (let round = 0; round < 2; round++) {
      const res = await list('/api/v1/agents?limit=12')
      expect(res.status).toBe(200)
      const text = await res.text()
      const body = JSON.parse(text)
      expect(body.nextCursor).toBeTruthy()
      expect(text).toBe(JSON.stringify({ success: true, agents: all.agents.slice(0, 12), characters: all.agents.slice(0, 12), nextCursor: body.nextCursor, total: 15, totalIsEstimate: false }))
      const next = await t.req('GET', `/api/v1/agents?limit=12&cursor=${body.nextCursor}`, { token: a.token })
      expect(next.body.agents).toEqual(all.agents.slice(12))
      expect(next.body.total).toBe(15)
    }
  })

  test('of spaces is the same object as small pages make, secret names included', async () => {
    const res = await list('/api/v1/spaces?limit=15')
    const text = await res.text()
    expect(text).toBe(JSON.stringify({ success: true, spaces: all.spaces, nextCursor: null, total: 15, totalIsEstimate: false }))
    expect(all.spaces.filter((s) => s.secretKeys.length === 2)).toHaveLength(3)
  })

  test('pages by cursor and by offset as any page, large and small ones mixed', async () => {
    const seen: string[] = []
    let query = 'limit=13'
    for (let n = 0; n < 10; n++) {
      const res = await list(`/api/v1/tasks?${query}`)
      seen.push(...(JSON.parse(await res.text()) as { id: string }[]).map((x) => x.id))
      const cursor = res.headers.get('x-next-cursor')
      if (cursor === null) break
      query = `limit=13&cursor=${cursor}`
    }
    expect(seen).toEqual(all.tasks.map((x) => x.id))
    const offset = await list('/api/v1/tasks?limit=14&offset=3')
    expect(await offset.text()).toBe(JSON.stringify(all.tasks.slice(3, 17)))
    // A first page past offset 0 that does not end the list counts its total.
    expect(offset.headers.get('x-total-count')).toBe('30')
  })

  test('is compressed as it goes when the client accepts zstd or gzip', async () => {
    const plain = await (await list('/api/v1/agents?limit=15')).text()
    await expectCompressedLike((headers) => list('/api/v1/agents?limit=15', headers), plain)
  })

  test('is not what the web console reads: its lists show every agent and space from their short columns', async () => {
    const { c } = await signedInPerson(t, { role: 'member', org: 'acme' })
    const agentsPage = await c.get('/agents')
    expect(agentsPage.status).toBe(200)
    for (const x of all.agents) expect(agentsPage.text).toContain(`/agents/${x.id}/chat`)
    const spacesPage = await c.get('/spaces')
    expect(spacesPage.status).toBe(200)
    for (const x of all.spaces) expect(spacesPage.text).toContain(x.id)
  })

  test('is read a batch at a time as it is sent; a small page is made whole before it is sent', async () => {
    // The last item of each page is renamed once the page's first piece has been read, and back.
    const cases = [
      { path: '/api/v1/tasks', items: all.tasks, key: null, field: 'title' as const },
      { path: '/api/v1/agents', items: all.agents, key: 'agents' as const, field: 'name' as const },
      { path: '/api/v1/spaces', items: all.spaces, key: 'spaces' as const, field: 'name' as const },
    ]
    for (const c of cases) {
      for (const limit of [15, 5]) {
        const last = c.items[limit - 1]
        const text = await readAround(await list(`${c.path}?limit=${limit}`), () => rename(`${c.path}/${last.id}`, c.field, 'Renamed meanwhile'))
        await rename(`${c.path}/${last.id}`, c.field, last[c.field])
        const body = JSON.parse(text)
        const items: any[] = c.key ? body[c.key] : body
        expect(items.map((x) => x.id)).toEqual(c.items.slice(0, limit).map((x) => x.id))
        expect(items[limit - 1][c.field], `${c.path}?limit=${limit}`).toBe(limit === 15 ? 'Renamed meanwhile' : last[c.field])
      }
    }
  })
})

describe('a large page whose token is revoked while it is sent', () => {
  // Each batch is read when the body is pulled, so a slow reader of a page of tens of MB kept
  // getting rows read from the database after its token was revoked, to the page's end. Now the
  // body ends at the next batch once the revocation is seen (the watch over open requests,
  // src/auth/revocation-watch.ts, asked here at once rather than on its 1 s timer).
  for (const path of ['/api/v1/tasks?limit=30', '/api/v1/agents?limit=15', '/api/v1/spaces?limit=15']) {
    test(`${path.split('?')[0]}: the body ends early, nothing read after the revocation; unrevoked, it comes whole`, async () => {
      const read = async (revoke: boolean) => {
        const x = await makeToken(t, a, { name: `reader ${path} ${revoke}` })
        const res = await t.app.handle(new Request(`http://localhost${path}`, { headers: { authorization: `Bearer ${x.token}` } }))
        expect(res.status).toBe(200)
        const reader = res.body!.getReader()
        const parts: Uint8Array[] = []
        const first = await reader.read()
        parts.push(first.value!)
        if (revoke) {
          expect((await t.req('DELETE', `/api/v1/tokens/${x.id}`, { token: a.token })).status).toBe(200)
          await t.rt.revocations.check()
        }
        try {
          for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value)
        } catch {
          return { whole: false, bytes: Buffer.concat(parts).length }
        }
        return { whole: true, bytes: Buffer.concat(parts).length }
      }
      const whole = await read(false)
      expect(whole.whole).toBe(true)
      expect(whole.bytes).toBeGreaterThan(STREAMED_PAGE_BYTES)
      const cut = await read(true)
      expect(cut.whole).toBe(false)
      expect(cut.bytes).toBeLessThan(whole.bytes)
      expect(t.rt.revocations.size).toBe(0)
    })
  }
})

describe('content_bytes', () => {
  test("is each row's bytes of its large columns as the database stores them, and never in an answer", async () => {
    // Written here from the columns (src/db/schema/shared.ts, LARGE_COLUMNS), read by the database.
    const conn = t.rt.connection
    const pg = conn.dialect === 'pg'
    const json = (c: string) => (pg ? `${c}::text` : c)
    const expected = {
      tasks: `octet_length(description) + octet_length(${json('metadata')})`,
      agents: `coalesce(octet_length(system_prompt), 0) + coalesce(octet_length(description), 0) + ${['tags', 'advanced_tools', 'allowed_tools', 'disallowed_tools', 'mcp_types', 'mcp_instance_ids', 'subagent_ids'].map((c) => `octet_length(${json(c)})`).join(' + ')}`,
      spaces: `coalesce(octet_length(description), 0) + coalesce(octet_length(instructions), 0) + octet_length(${json('agent_refs')})`,
    }
    for (const [table, sum] of Object.entries(expected)) {
      const sql = `SELECT count(*) AS n, sum(CASE WHEN content_bytes = ${sum} THEN 1 ELSE 0 END) AS same, min(content_bytes) AS least FROM ${table}`
      const row = conn.dialect === 'pg' ? (await conn.client.unsafe(sql))[0]! : (t.db.$client.query(sql).get() as Record<string, unknown>)
      expect([Number(row.n), Number(row.same)], table).toEqual([15 + (table === 'tasks' ? 15 : 0), 15 + (table === 'tasks' ? 15 : 0)])
      // Each of them holds 20,000 to 100,000 characters: the sizes are real.
      expect(Number(row.least), table).toBeGreaterThan(20_000)
    }
    const answers = [JSON.stringify(all), await (await list('/api/v1/tasks?limit=200')).text(), await (await list('/api/v1/agents?limit=200')).text(), await (await list('/api/v1/spaces?limit=200')).text()]
    answers.push(JSON.stringify((await t.req('GET', `/api/v1/tasks/${all.tasks[0].id}`, { token: a.token })).body), JSON.stringify((await t.req('GET', `/api/v1/agents/${all.agents[0].id}`, { token: a.token })).body))
    for (const text of answers) expect(text).not.toMatch(/contentBytes|content_bytes/)
  })
})

describe('a page at the edge of its budget', () => {
  test('is read as any page when it is not large, though the row after it is past the budget', async () => {
    // Each task counts 100,000 bytes (its description, `{}` and 600 for the rest of the row): a page
    // of 10 comes to 1,000,000, within STREAMED_PAGE_BYTES, but read with the row that tells whether
    // more follow it is 1,100,000 and does not pass its statement's budget.
    const edge = await makeActor(t, { role: 'member', org: 'edge' })
    const start = t.clock.now() - 100_000
    const ids: string[] = []
    for (let i = 0; i < 12; i++) {
      const created = new Date(start + i * 1000)
      const id = newId('task')
      await t.db.insert(tasks).values({ id, organizationId: edge.organizationId, createdBy: edge.userId, title: `Task ${i}`, description: 'x'.repeat(100_000 - 600 - 2), metadata: {}, createdAt: created, updatedAt: created })
      ids.unshift(id)
    }
    expect(10 * 100_000).toBeLessThanOrEqual(STREAMED_PAGE_BYTES)
    expect(11 * 100_000).toBeGreaterThan(STREAMED_PAGE_BYTES)
    const res = await t.req('GET', '/api/v1/tasks?limit=10', { token: edge.token })
    expect(res.status).toBe(200)
    expect(res.body.map((x: { id: string }) => x.id)).toEqual(ids.slice(0, 10))
    expect(res.headers.get('x-total-count')).toBe('12')
    const next = await t.req('GET', `/api/v1/tasks?limit=10&cursor=${res.headers.get('x-next-cursor')}`, { token: edge.token })
    expect(next.body.map((x: { id: string }) => x.id)).toEqual(ids.slice(10))
    // A list with no row at all, read within its budget too.
    const none = await t.req('GET', '/api/v1/tasks?status=completed', { token: edge.token })
    expect(none.body).toEqual([])
    expect(none.headers.get('x-total-count')).toBe('0')
  })
})

/** tcp_wmem's or tcp_rmem's value `i` (0 min, 1 default, 2 max), where Linux says; else `fallback`. */
function kernelBuffer(name: 'tcp_wmem' | 'tcp_rmem', i: number, fallback: number): number {
  try {
    return Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[i]) || fallback
  } catch {
    return fallback
  }
}

describe('a client that reads nothing', () => {
  let big: Actor
  const ids: string[] = []
  /** About 186 KB of JSON a task: a description of control characters (six bytes each in JSON) and 64 KiB of metadata. */
  const description = '\u0001'.repeat(20_000)

  beforeAll(async () => {
    big = await makeActor(t, { role: 'member', org: 'big' })
    const start = t.clock.now() - 1_000_000
    for (let i = 0; i < 200; i++) {
      const created = new Date(start + i * 1000)
      const id = newId('task')
      await t.db.insert(tasks).values({ id, organizationId: big.organizationId, createdBy: big.userId, title: `Task ${i}`, description, metadata: { notes: letters(65_000, i) }, createdAt: created, updatedAt: created })
      ids.unshift(id)
    }
  }, 120_000)

  afterAll(async () => {
    await t.db.delete(tasks).where(eq(tasks.organizationId, big.organizationId))
  })

  // The server's log said nothing of such a page: its idle timeout closed the connection and the
  // body ended as one whose client went away. Its other early ends (a failure, the token revoked)
  // are logged as answer_ended_early (test/streamed-json-failures.test.ts).
  test('is dropped by the idle timeout, and the log says so (answer_ended_early: client_stopped_reading); a client that closes its connection itself is not', async () => {
    const app = t.app as unknown as { listen(o: object): unknown; stop(force?: boolean): Promise<unknown>; server: { port: number } | null }
    // An idle timeout of 6 s: Bun closes a silent connection up to a look (4 s) early or late (it
    // looks every 4 s). Short as it may be here: the server tells its own close from a client's
    // after 2 s of the client taking nothing (idleTimeoutOf: the timeout less a look; 10 s took 12 s).
    app.listen({ hostname: '127.0.0.1', port: 0, idleTimeout: 6 })
    const PAGE = '/api/v1/tasks?limit=200'
    const lines = () => t.logs.map((l) => JSON.parse(l))
    const before = lines().length
    const sockets: net.Socket[] = []
    try {
      // Closes its connection once the first bytes came: its access line, and no early end.
      const closing = rawGet(app.server!.port, PAGE, big.token)
      sockets.push(closing.socket)
      closing.answered.then(() => closing.socket.destroy())
      await until(() => lines().slice(before).some((l) => l.msg === 'request' && l.path === PAGE), 30_000)
      // Reads nothing after the first bytes: closed by the idle timeout.
      sockets.push(rawGet(app.server!.port, PAGE, big.token, { pause: true }).socket)
      await until(() => lines().slice(before).some((l) => l.msg === 'answer_ended_early'), 30_000)
      const early = lines().slice(before).filter((l) => l.msg === 'answer_ended_early')
      expect(early.map((l) => [l.method, l.path, l.reason.split(':')[0]])).toEqual([['GET', PAGE, 'client_stopped_reading']])
      expect(early[0].reason).toContain('the idle timeout (6 s) closed its connection')
      expect(early[0].bytes).toBeGreaterThan(0)
    } finally {
      for (const s of sockets) s.destroy()
      await app.stop(true)
    }
  }, 60_000)

  test('makes the server produce about a batch of a 37 MB page beyond what the kernel buffers, not the page', async () => {
    const app = t.app as unknown as { listen(o: object): unknown; stop(): Promise<unknown>; server: { port: number } | null }
    app.listen({ hostname: '127.0.0.1', port: 0 })
    try {
      const page = JSON.stringify((await t.req('GET', '/api/v1/tasks?limit=200', { token: big.token })).body).length
      // What may leave the server before the client reads: the kernel's send buffer (tcp_wmem's
      // maximum), the client's receive window (tcp_rmem's default) and what the client read before
      // it paused; in the server, a batch being written and one being made: each of about
      // STREAMED_BATCH_BYTES as the database counts them (a description's bytes: 6 of JSON each).
      const batchJson = 2.5 * STREAMED_BATCH_BYTES
      const bound = kernelBuffer('tcp_wmem', 2, 4 << 20) + 2 * kernelBuffer('tcp_rmem', 1, 128 << 10) + 3 * batchJson
      expect(page).toBeGreaterThan(2 * bound)
      // The first bytes show the server has answered; from then on the client reads nothing.
      // Time to fill every buffer there is; then the tasks are deleted. What the server had
      // produced by then arrives; the rest of the page is read only after the deletion: nothing.
      const read = await readPaused(app.server!.port, '/api/v1/tasks?limit=200', big.token, {
        meanwhile: async () => {
          await Bun.sleep(1000)
          await t.db.delete(tasks).where(eq(tasks.organizationId, big.organizationId))
        },
      })
      expect(read.how).toBe('end')
      const body = bodyOf(read.raw)
      const got = JSON.parse(body.toString()) as { id: string }[]
      expect(body.length).toBeLessThan(bound)
      expect(got.length).toBeGreaterThan(0)
      expect(got.length).toBeLessThan(ids.length / 2)
      expect(got.map((x) => x.id)).toEqual(ids.slice(0, got.length))
    } finally {
      await app.stop()
    }
  }, 60_000)
})

describe('streamedJson', () => {
  test('writes the bytes JSON.stringify writes for the whole value, reading a batch only when the body is pulled', async () => {
    let reads = 0
    const batches = (rows: unknown[][]) => async function* () {
      for (const b of rows) {
        reads++
        yield b
      }
    }
    const items = [[{ id: 1, text: 'é \u0001 "q"' }, { id: 2 }], [], [{ id: 3, at: new Date(0), gone: undefined }]]
    const tail = { n: 1, gone: undefined, f: () => 1, nested: { xs: [1, null], d: new Date(0) } }
    const value = { success: true, skipped: undefined, list: new StreamedArray(batches(items)), none: new StreamedArray(batches([])), ...tail }
    const expected = JSON.stringify({ success: true, skipped: undefined, list: items.flat(), none: [], ...tail })
    const res = await streamedJson(new Request('http://localhost/'), value, true)
    // Nothing is read before the body is asked for, then one batch a piece: no read-ahead.
    await Bun.sleep(10)
    expect(reads).toBe(0)
    const reader = res.body!.getReader()
    const first = await reader.read()
    await Bun.sleep(10)
    expect(reads).toBe(1)
    expect(new TextDecoder().decode(first.value)).toBe('{"success":true,"list":[{"id":1,"text":"é \\u0001 \\"q\\""},{"id":2}')
    const rest: Uint8Array[] = [first.value!]
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest.push(r.value)
    expect(Buffer.concat(rest).toString()).toBe(expected)
    expect(reads).toBe(3)
    // A bare array, and one with no items at all.
    expect(await (await streamedJson(new Request('http://localhost/'), new StreamedArray(batches(items)), false)).text()).toBe(JSON.stringify(items.flat()))
    expect(await (await streamedJson(new Request('http://localhost/'), new StreamedArray(batches([])), false)).text()).toBe('[]')
  })
})

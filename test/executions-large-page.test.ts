import { beforeAll, describe, expect, test } from 'bun:test'
import { watchEventLoop } from './helpers/event-loop'
import { eq } from 'drizzle-orm'
import { executions } from '../src/db/schema'
import { STREAMED_PAGE_BYTES } from '../src/db/paging'
import { TREE_MAX_BYTES, TREE_MAX_NODES } from '../src/modules/executions/service'
import { newId } from '../src/ids'
import { insertWriter, makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'
import { expectCompressedLike } from './helpers/codings'

/**
 * An execution holds a model's whole answer, so a page of executions can be tens of megabytes.
 * Such a page is read and sent in batches (src/db/paging.ts largePage, src/http/streamed-json.ts):
 * other requests run between its batches, and what arrives is the same JSON array, the same paging
 * headers and the same next page as a page of small executions. On either backend.
 */

let t: TestApp
let a: Actor
let agentId: string
/** The agent's executions, newest first: the BIG large ones, then the SMALL small ones. */
const ids: string[] = []
const ANSWER = 400_000
const BIG = 30
const SMALL = 20

function execution(i: number, answer: string) {
  // The large ones share one timestamp (ties are ordered by id): a page may end inside a tie.
  const created = new Date(Date.parse('2026-06-01T12:00:00.000Z') + Math.min(i, SMALL) * 1000)
  const chat = newId('exec')
  return {
    id: newId('exec'),
    organizationId: a.organizationId,
    userId: a.userId,
    agentId,
    agentName: 'Writer',
    agentVisibility: 'organization',
    chatId: chat,
    sessionId: chat,
    status: 'completed' as const,
    message: `Write chapter ${i}`,
    result: answer,
    messages: [
      { role: 'user' as const, content: `Write chapter ${i}`, timestamp: created.toISOString() },
      { role: 'assistant' as const, content: answer, timestamp: created.toISOString() },
    ],
    toolCalls: [{ tool: 'delegate', arguments: { agentId: 'char_x', message: 'research' }, result: `notes ${i}`, timestamp: created.toISOString() }],
    createdAt: created,
    updatedAt: created,
  }
}

beforeAll(async () => {
  t = await makeTestApp()
  a = await makeActor(t)
  agentId = await insertWriter(t, a, { systemPrompt: 'You write.' })
  // Oldest first: SMALL small ones, then BIG large ones (each answer differs: "…chapter i…").
  const rows = []
  for (let i = 0; i < SMALL; i++) rows.push(execution(i, `Chapter ${i}, short.`))
  for (let i = SMALL; i < SMALL + BIG; i++) rows.push(execution(i, `Chapter ${i}: ${'lorem ipsum "quoted" \\ \n'.repeat(ANSWER / 25)}`))
  for (const r of rows) await t.db.insert(executions).values(r)
  // The documented order, computed here: created_at, then id (as bytes), newest first.
  rows.sort((x, y) => y.createdAt.getTime() - x.createdAt.getTime() || (x.id < y.id ? 1 : x.id > y.id ? -1 : 0))
  ids.push(...rows.map((r) => r.id))
}, 60_000)

const list = (query: string, headers: Record<string, string> = {}) =>
  t.app.handle(new Request(`http://localhost/api/v1/executions?agentId=${agentId}&${query}`, { headers: { authorization: `Bearer ${a.token}`, ...headers } }))

async function one(id: string) {
  const r = await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })
  return r.body.execution
}

describe('a page of large executions', () => {
  test('is the same JSON array as executions read one by one, with the same paging headers', async () => {
    const res = await list('limit=20')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json;charset=utf-8')
    const text = await res.text()
    expect(text.length).toBeGreaterThan(8 * STREAMED_PAGE_BYTES)
    const page = JSON.parse(text)
    expect(page.map((e: { id: string }) => e.id)).toEqual(ids.slice(0, 20))
    // The same values as each execution read alone (keys inside messages and tool calls may come
    // in another order on PostgreSQL: jsonb keeps its own, the one-piece answer the schema's).
    expect(page).toEqual(await Promise.all(ids.slice(0, 20).map(one)))
    const cursor = res.headers.get('x-next-cursor')
    expect(cursor).toBeTruthy()
    expect(res.headers.get('link')).toContain(`cursor=${cursor}`)
  })

  test('the next page continues where it ended, also when it is a small one; the last has no cursor', async () => {
    const seen: string[] = []
    let query = 'limit=14'
    for (let n = 0; n < 10; n++) {
      const res = await list(query)
      expect(res.status).toBe(200)
      seen.push(...(JSON.parse(await res.text()) as { id: string }[]).map((e) => e.id))
      const cursor = res.headers.get('x-next-cursor')
      if (cursor === null) break
      query = `limit=14&cursor=${cursor}`
    }
    expect(seen).toEqual(ids)
  })

  test('offset works as on any page', async () => {
    const res = await list('limit=25&offset=3')
    expect((JSON.parse(await res.text()) as { id: string }[]).map((e) => e.id)).toEqual(ids.slice(3, 28))
  })

  test('a page that ends the list exactly has no next cursor', async () => {
    const res = await list(`limit=${ids.length}`)
    expect((JSON.parse(await res.text()) as unknown[]).length).toBe(ids.length)
    expect(res.headers.get('x-next-cursor')).toBeNull()
    expect(res.headers.get('link')).toBeNull()
  })

  test('compressed as it goes when the client accepts zstd or gzip', async () => {
    const plain = await (await list('limit=12')).text()
    await expectCompressedLike((headers) => list('limit=12', headers), plain)
  })

  test('other requests run while it is sent: the event loop is never held for the whole page', async () => {
    // A timer that fires whenever the loop is free; before batching, a page like this one was one
    // uninterrupted block of 100-250 ms here (the timer did not fire once while it was answered).
    const t0 = performance.now()
    const { value: text, longest, ticks } = await watchEventLoop(async () => (await list('limit=30')).text())
    const took = performance.now() - t0
    expect(JSON.parse(text)).toHaveLength(30)
    // About one tick a batch (30 here); how long each pause is depends on the machine's load.
    expect(ticks, `longest pause ${longest.toFixed(1)} ms of ${took.toFixed(1)} ms`).toBeGreaterThanOrEqual(10)
  })

  test('a page that starts among large ones and ends among small ones, by offset', async () => {
    // Read in batches; the offset applies to the first one only.
    const res = await list(`limit=15&offset=${BIG - 1}`)
    expect((JSON.parse(await res.text()) as { id: string }[]).map((e) => e.id)).toEqual(ids.slice(BIG - 1, BIG + 14))
  })

  test('a page of small executions is the same', async () => {
    const res = await list(`limit=5&offset=${BIG}`)
    expect(JSON.parse(await res.text())).toEqual(await Promise.all(ids.slice(BIG, BIG + 5).map(one)))
    expect(res.headers.get('x-next-cursor')).toBeTruthy()
  })
})

describe('rows deleted while a large page is sent', () => {
  test('leave the page shorter; it never runs past its own last row', async () => {
    const res = await list('limit=20')
    const reader = res.body!.getReader()
    const first = await reader.read()
    // The page's first rows are out; one of its last is deleted before they are read.
    const gone = ids[18]!
    await t.db.delete(executions).where(eq(executions.id, gone))
    const chunks = [first.value!]
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value)
    const page = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string }[]
    expect(page.map((e) => e.id)).toEqual(ids.slice(0, 20).filter((id) => id !== gone))
    // The next page starts after the 20th row, as its cursor said.
    const next = await list(`limit=3&cursor=${res.headers.get('x-next-cursor')}`)
    expect((JSON.parse(await next.text()) as { id: string }[]).map((e) => e.id)).toEqual(ids.slice(20, 23))
  })
})

describe('a token revoked while a large page is sent', () => {
  test('ends the body at the next batch: nothing read after the revocation is sent', async () => {
    const x = await makeToken(t, a, { name: 'slow reader' })
    const res = await t.app.handle(new Request(`http://localhost/api/v1/executions?agentId=${agentId}&limit=30`, { headers: { authorization: `Bearer ${x.token}` } }))
    const reader = res.body!.getReader()
    const first = await reader.read()
    expect(first.value!.length).toBeLessThan(BIG * ANSWER)
    expect((await t.req('DELETE', `/api/v1/tokens/${x.id}`, { token: a.token })).status).toBe(200)
    // The watch over open requests, asked at once rather than on its 1 s timer.
    await t.rt.revocations.check()
    let bytes = first.value!.length
    const rest = (async () => {
      for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length
    })()
    await expect(rest).rejects.toBeDefined()
    expect(bytes).toBeLessThan(BIG * ANSWER)
    expect(t.rt.revocations.size).toBe(0)
  })
})

describe('over a socket', () => {
  test('a large page goes out as it is read, chunked, never first read whole by the server', async () => {
    const app = t.app as unknown as { listen(o: object): unknown; stop(): Promise<unknown>; server: { port: number } | null }
    app.listen({ hostname: '127.0.0.1', port: 0 })
    try {
      const res = await fetch(`http://127.0.0.1:${app.server!.port}/api/v1/executions?agentId=${agentId}&limit=20`, { headers: { authorization: `Bearer ${a.token}` } })
      expect(res.status).toBe(200)
      expect(res.headers.get('transfer-encoding')).toBe('chunked')
      const reader = res.body!.getReader()
      // The first chunk is the page's first batch, not the whole page (about 8 MB here).
      const first = await reader.read()
      expect(first.value!.byteLength).toBeLessThan(6 * STREAMED_PAGE_BYTES)
      let size = first.value!.byteLength
      for (let r = await reader.read(); !r.done; r = await reader.read()) size += r.value.byteLength
      expect(size).toBeGreaterThan(6 * STREAMED_PAGE_BYTES)
    } finally {
      await app.stop()
    }
  })
})

describe('a delegation tree', () => {
  test(`holds at most ${TREE_MAX_NODES} executions and ${TREE_MAX_BYTES >> 20} MiB of their answers; the rest is counted in omittedChildren`, async () => {
    // Under the first large execution, 40 of the small ones' kind and 20 large ones (400 KB answers).
    const rootId = ids[0]!
    const big = `${'lorem ipsum '.repeat(40_000)}`
    const kids: string[] = []
    for (let i = 0; i < 60; i++) {
      const row = { ...execution(1000 + i, i < 20 ? big : `child ${i}`), parentExecutionId: rootId }
      await t.db.insert(executions).values(row)
      kids.push(row.id)
    }
    const res = await t.req('GET', `/api/v1/executions/${rootId}/tree`, { token: a.token })
    expect(res.status).toBe(200)
    const tree = res.body.tree
    expect(tree.hiddenChildren).toBe(0)
    expect(tree.children.length + tree.omittedChildren).toBe(60)
    // The budget of bytes stopped it: about 8 MiB of 20 large children (each answer counted twice).
    expect(tree.omittedChildren).toBeGreaterThan(0)
    expect(res.text.length).toBeLessThan(TREE_MAX_BYTES + 2 * 1024 * 1024)
    // Each child is readable alone.
    const left = kids.filter((k) => !tree.children.some((c: { id: string }) => c.id === k))
    expect((await t.req('GET', `/api/v1/executions/${left[0]}`, { token: a.token })).status).toBe(200)
  })
})

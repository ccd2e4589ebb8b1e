import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ClientIo } from '../src/cli/client/common'
import { MAX_PAGES } from '../src/client/pages'
import { run } from '../src/main'

/**
 * The client's walks over pages against a scripted server: a server that repeats its next cursor,
 * answers the same page for ever or pages without end makes a command fail (exit 5, not_teamday),
 * never loop.
 */

const TOKEN = 'td_' + 'B'.repeat(43)
const ORG = 'org_1'
const MEMBERS = `/api/v1/organizations/${ORG}/members`
let server: Server<unknown>
let base: string
let pages = 0
let page: (url: URL) => unknown = () => ({ members: [], nextCursor: null })

beforeAll(() => {
  server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch(req) {
      const url = new URL(req.url)
      if (url.pathname === '/api/v1/tokens/self') return Response.json({ token: { organizationId: ORG } })
      if (url.pathname === MEMBERS && req.method === 'GET') {
        pages++
        return Response.json(page(url))
      }
      if (url.pathname.startsWith(`${MEMBERS}/`)) return Response.json({ member: { email: 'found@example.com', role: 'viewer' }, revokedTokenIds: [] })
      return Response.json({ error: true, code: 'not_found', message: 'Not found' }, { status: 404 })
    },
  })
  base = `http://127.0.0.1:${server.port}`
})

afterAll(() => {
  server.stop(true)
})

async function cli(argv: string[]) {
  const out: string[] = []
  const err: string[] = []
  const io: ClientIo = { out: (s) => out.push(s + '\n'), err: (s) => err.push(s + '\n'), write: (s) => out.push(s), env: { TEAMDAY_URL: base, TEAMDAY_TOKEN: TOKEN, XDG_CONFIG_HOME: join(tmpdir(), `teamday-paging-${process.pid}`) } }
  const code = await run(argv, io)
  const r = { code, out: out.join(''), err: err.join(''), json: undefined as any }
  try {
    r.json = JSON.parse(r.out)
  } catch {}
  return r
}

const member = (n: number) => ({ userId: `user_${n}`, email: `m${n}@example.com`, role: 'member', name: null, joinedAt: '2026-12-01T00:00:00.000Z' })

describe('members set-role|remove by e-mail page through the members until found, and always stop', () => {
  test('a well-behaved server: the member on the third page is found', async () => {
    pages = 0
    page = (url) => {
      const n = Number(url.searchParams.get('cursor') ?? 0)
      return { members: [member(n)], nextCursor: n < 5 ? String(n + 1) : null }
    }
    const r = await cli(['members', 'set-role', 'm2@example.com', '--role', 'viewer'])
    expect(r.code, r.err).toBe(0)
    expect(pages).toBe(3)
    pages = 0
    const missing = await cli(['members', 'remove', 'nobody@example.com', '--json'])
    expect(missing.code).toBe(4)
    expect(missing.json.code).toBe('not_found')
    expect(pages).toBe(6)
  })

  const hostile: [string, (url: URL) => unknown, string][] = [
    ['the same page and the same cursor for ever', () => ({ members: [member(1)], nextCursor: 'again' }), 'already given'],
    ['the same page under a new cursor each time', (url) => ({ members: [member(1)], nextCursor: `c${Number(url.searchParams.get('cursor')?.slice(1) ?? 0) + 1}` }), 'nothing new'],
    ['empty pages with a next cursor', (url) => ({ members: [], nextCursor: `c${Number(url.searchParams.get('cursor')?.slice(1) ?? 0) + 1}` }), 'nothing new'],
    ['two cursors in turn', (url) => ({ members: [member(Number(url.searchParams.get('cursor') === 'a'))], nextCursor: url.searchParams.get('cursor') === 'a' ? 'b' : 'a' }), 'already given'],
    ['new members and cursors without end', (url) => {
      const n = Number(url.searchParams.get('cursor') ?? 0)
      return { members: [member(n)], nextCursor: String(n + 1) }
    }, `more than ${MAX_PAGES} pages`],
  ]
  for (const [name, answer, says] of hostile) {
    test(`${name}: exit 5, not_teamday, after a bounded number of pages`, async () => {
      page = answer
      for (const argv of [['members', 'set-role', 'who@example.com', '--role', 'viewer'], ['members', 'remove', 'who@example.com', '--json']]) {
        pages = 0
        const r = await cli(argv)
        expect(r.code, r.err).toBe(5)
        expect(r.out + r.err).toContain(says)
        if (argv.includes('--json')) expect(r.json.code).toBe('not_teamday')
        expect(pages).toBeLessThanOrEqual(MAX_PAGES)
      }
    })
  }
})

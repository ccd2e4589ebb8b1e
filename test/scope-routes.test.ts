// The scope × route table: for every route of the app (taken from its route list, so a new route
// without a requirement fails), the permission written in test/helpers/routes.ts is the one the
// route enforces. The caller is an organization admin, whose role allows everything: only the
// token's scopes decide. A token holding exactly that permission passes; a token holding every
// other permission is refused with 403 insufficient_scope naming it.
import { afterAll, describe, expect, test } from 'bun:test'
import { PERMISSIONS, type Permission } from '../src/auth/roles'
import { makeToken } from './helpers/app'
import { appRouteKeys, consolePath, ROUTE_REQUIREMENTS } from './helpers/routes'
import { makeWorld, REQUESTS } from './helpers/world'

const w = await makeWorld()
afterAll(() => w.close())

async function send(route: string, scopes?: string[]) {
  const token = (await makeToken(w.t, w.who.adminA, scopes ? { scopes } : {})).token
  const req = await REQUESTS[route]!(w, w.who.adminA)
  return w.t.req(route.split(' ')[0]!, req.path, { token, body: req.body })
}

/** x:write also grants x:read, so a token that must lack x:read lacks x:write too. */
function grantorsOf(p: Permission): Permission[] {
  const write = p.replace(/:read$/, ':write') as Permission
  return p.endsWith(':read') && PERMISSIONS.includes(write) ? [p, write] : [p]
}

/**
 * Routes that a token with the scope still may not use in this world (two organizations), by a
 * rule of their own after the scope's: /metrics is the whole server's figures, read with a token
 * only while the server hosts one organization (test/observability.test.ts has the 200).
 */
const PAST_THE_SCOPE: Record<string, string> = { 'GET /metrics': 'forbidden' }

describe('scope × route table (admin caller, so only the scope decides)', () => {
  for (const route of appRouteKeys(w.t.app)) {
    const need = ROUTE_REQUIREMENTS[route]
    if (need === undefined) {
      test(`${route} has a required permission in test/helpers/routes.ts`, () => {
        throw new Error(`no requirement for ${route}: add it to ROUTE_REQUIREMENTS in test/helpers/routes.ts`)
      })
      continue
    }
    if (need === 'console') {
      test(`${route} is a console page: an admin's bearer token changes nothing (sessions only)`, async () => {
        const [method, pattern] = route.split(' ') as [string, string]
        const path = consolePath(pattern)
        const form = method === 'POST' ? { raw: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' } } : {}
        const bare = await w.t.req(method, path, { ...form, ip: '127.0.0.1' })
        const withToken = await w.t.req(method, path, { ...form, ip: '127.0.0.1', token: w.who.adminA.token })
        expect({ status: withToken.status, location: withToken.headers.get('location') }).toEqual({ status: bare.status, location: bare.headers.get('location') })
        expect(withToken.status === 200 ? !/Sign out/.test(withToken.text) : true).toBe(true)
      })
      continue
    }
    if (need === 'public') {
      test(`${route} is public: answers without a token, and a token with an unrelated scope changes nothing`, async () => {
        const req = await REQUESTS[route]!(w, w.who.adminA)
        const bare = await w.t.req(route.split(' ')[0]!, req.path, { body: req.body })
        expect(bare.status).toBeLessThan(400)
        expect((await send(route, ['agents:read'])).status).toBe(bare.status)
      })
      continue
    }
    if (need === 'authenticated') {
      test(`${route} needs a valid token but no particular scope: each single scope passes`, async () => {
        for (const p of PERMISSIONS) expect({ scope: p, status: (await send(route, [p])).status }).toEqual({ scope: p, status: 200 })
      })
      continue
    }
    test(`${route} needs ${need}: passes with it alone and with "*", 403 insufficient_scope with every other scope`, async () => {
      const alone = await send(route, [need])
      const past = PAST_THE_SCOPE[route]
      if (past) {
        // Past the scope check, refused by the route's own rule in this world.
        expect({ with: need, status: alone.status, code: alone.body?.code }).toEqual({ with: need, status: 403, code: past })
        expect((await send(route)).body?.code).toBe(past)
      } else {
        expect({ with: need, status: alone.status, code: alone.body?.code }).toEqual({ with: need, status: alone.status, code: undefined })
        expect(alone.status).toBeLessThan(300)
        expect((await send(route)).status).toBeLessThan(300)
      }
      const others = PERMISSIONS.filter((p) => !grantorsOf(need).includes(p))
      const denied = await send(route, others)
      expect({ without: need, status: denied.status, code: denied.body?.code }).toEqual({ without: need, status: 403, code: 'insufficient_scope' })
      expect(denied.body.details.requiredScopes).toEqual([need])
      expect(denied.headers.get('www-authenticate')).toBe(`Bearer realm="teamday", error="insufficient_scope", scope="${need}"`)
      if (grantorsOf(need).length === 2) {
        // write implies read
        expect((await send(route, [grantorsOf(need)[1]!])).status).toBeLessThan(300)
      }
    })
  }
})

// A CLI access token (browser sign-in, `tdo_…`) is accepted by every authenticated route with
// the same role checks as a full personal access token of the same person: route by route, for
// each member of the world, the two answer the same status (but for rotating itself: a sign-in is
// no personal access token).
import { afterAll, describe, expect, test } from 'bun:test'
import { makeToken } from './helpers/app'
import { appRouteKeys, ROUTE_REQUIREMENTS } from './helpers/routes'
import { cliLogin, makeWorld, MEMBERS, REQUESTS } from './helpers/world'

const w = await makeWorld()
afterAll(() => w.close())

const cli = Object.fromEntries(await Promise.all(MEMBERS.map(async (m) => [m, (await cliLogin(w.t, w.who[m])).accessToken] as const)))

describe('a CLI access token answers like a full PAT of the same person', () => {
  for (const route of appRouteKeys(w.t.app)) {
    const need = ROUTE_REQUIREMENTS[route]
    if (need === undefined || need === 'public' || need === 'console') continue
    test(route, async () => {
      const method = route.split(' ')[0]!
      for (const m of MEMBERS) {
        // Fresh fixtures (memberA's, as in the authorization matrix) for each request.
        // A route that revokes its caller's token (DELETE /tokens/self) gets a new PAT and a new sign-in.
        const viaPat = await REQUESTS[route]!(w, w.who.memberA)
        const patToken = viaPat.freshToken ? (await makeToken(w.t, w.who[m])).token : w.who[m].token
        const pat = await w.t.req(method, viaPat.path, { token: patToken, body: viaPat.body })
        const viaCli = await REQUESTS[route]!(w, w.who.memberA)
        const cliToken = viaCli.freshToken ? (await cliLogin(w.t, w.who[m])).accessToken : cli[m]
        const res = await w.t.req(method, viaCli.path, { token: cliToken, body: viaCli.body })
        // The one difference, not a role's: a sign-in is no personal access token and is not rotated (409), where a PAT rotates itself.
        if (route === 'POST /api/v1/tokens/self/rotate') {
          expect({ member: m, pat: pat.status, cli: res.status, code: res.body.code }).toEqual({ member: m, pat: 201, cli: 409, code: 'invalid_state' })
          continue
        }
        expect({ member: m, status: res.status }).toEqual({ member: m, status: pat.status })
        if (res.status >= 400) expect(res.body.code).toBe(pat.body.code)
      }
    })
  }
})

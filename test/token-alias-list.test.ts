// GET /api/tokens/list (TeamDay CLI's `auth list-tokens`): the 200 newest tokens that are not
// revoked. The revoked ones are left out by the query, before the limit: read after it, a user with
// one working token behind 200 revoked ones (a CI job making and revoking a token per run) was
// answered `{"count":0,"tokens":[]}`.
import { describe, expect, test } from 'bun:test'
import { generateToken, hashToken, tokenHint } from '../src/auth/tokens'
import { personalAccessTokens, type PersonalAccessToken } from '../src/db/schema'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'

const DAY = 86_400_000

/** `n` tokens of `who`, revoked (`manual`), one a second from now on, written straight to the database in one statement. */
async function insertRevoked(t: TestApp, who: Actor, n: number): Promise<void> {
  const rows: PersonalAccessToken[] = []
  for (let i = 0; i < n; i++) {
    t.clock.advance(1000)
    const id = newId('pat')
    const token = generateToken()
    const at = new Date(t.clock.now())
    rows.push({
      id,
      userId: who.userId,
      organizationId: who.organizationId,
      tokenHash: hashToken(token),
      hint: tokenHint(token),
      nameEnc: t.ctx.box.seal(`ci run ${i}`, `pat.name:${id}`),
      scopes: ['*'],
      createdAt: at,
      expiresAt: new Date(at.getTime() + 90 * DAY),
      lastUsedAt: null,
      lastUsedIpEnc: null,
      lastUsedUaEnc: null,
      revokedAt: at,
      revokedBy: who.userId,
      revokedReason: 'manual',
      familyId: id,
      rotatedFromId: null,
      createdByTokenId: null,
      expiresLimitAt: null,
    })
  }
  await t.db.insert(personalAccessTokens).values(rows)
}

describe('GET /api/tokens/list', () => {
  test('lists the tokens that are not revoked, however many revoked ones are newer', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t, { token: { name: 'long-lived', expiresInDays: 365 } })
    t.clock.advance(1000)
    const short = await makeToken(t, a, { name: 'short', expiresInDays: 7 })
    t.clock.advance(8 * DAY)
    // Rotated with a grace period that has ended: revoked (its reason `rotated` keeps it in the live index).
    const gone = await makeToken(t, a, { name: 'rotated, grace over' })
    t.clock.advance(1000)
    const goneNext = await t.req('POST', `/api/v1/tokens/${gone.id}/rotate`, { token: a.token, body: { gracePeriodSeconds: 60 } })
    expect(goneNext.status).toBe(201)
    t.clock.advance(61_000)
    // Rotated with a grace period still running: active until it ends.
    const graced = await makeToken(t, a, { name: 'in grace' })
    t.clock.advance(1000)
    const gracedNext = await t.req('POST', `/api/v1/tokens/${graced.id}/rotate`, { token: a.token, body: { gracePeriodSeconds: 3600 } })
    expect(gracedNext.status).toBe(201)
    await insertRevoked(t, a, 205)

    const res = await t.req('GET', '/api/tokens/list', { token: a.token })
    expect(res.status).toBe(200)
    const listed = res.body.tokens.map((x: any) => [x.id, x.status])
    // Newest first: the successors, the one in grace, then the expired one and the caller's own.
    expect(listed).toEqual([
      [gracedNext.body.id, 'active'],
      [graced.id, 'active'],
      [goneNext.body.id, 'active'],
      [short.id, 'expired'],
      [a.tokenId, 'active'],
    ])
    expect(res.body.count).toBe(5)
    // The v1 list says the same of the active ones.
    const active = await t.req('GET', '/api/v1/tokens?status=active', { token: a.token })
    expect(active.body.tokens.map((x: any) => x.id)).toEqual([gracedNext.body.id, graced.id, goneNext.body.id, a.tokenId])
  })

  test('at most the 200 newest that are not revoked', async () => {
    const t = await makeTestApp({ config: { maxTokensPerUser: 300 } })
    const a = await makeActor(t)
    const made: string[] = [a.tokenId]
    for (let i = 0; i < 200; i++) {
      t.clock.advance(1000)
      made.push((await makeToken(t, a, { name: `kept ${i}` })).id)
    }
    await insertRevoked(t, a, 3)
    const res = await t.req('GET', '/api/tokens/list', { token: a.token })
    expect(res.body.count).toBe(200)
    expect(res.body.tokens.map((x: any) => x.id)).toEqual(made.slice(1).reverse())
  })
})

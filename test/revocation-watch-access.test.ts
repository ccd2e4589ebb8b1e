// The watch over open requests (src/auth/revocation-watch.ts) asks, on each tick, which tokens were
// revoked and, for requests watched with an access check, the current roles of their users and
// the spaces they name: a fixed number of statements per tick whatever the number of open
// requests, never one per request (nor per event sent: the streams do not ask).
import { describe, expect, test } from 'bun:test'
import { RevocationWatch } from '../src/auth/revocation-watch'
import type { Db } from '../src/db/connection'
import { makeActor, makeTestApp } from './helpers/app'

describe('RevocationWatch with access checks', () => {
  test('one tick over 60 open requests in 20 spaces reads three statements, and ends those whose check fails', async () => {
    const t = await makeTestApp()
    const owner = await makeActor(t, { role: 'admin' })
    const m = await makeActor(t, { role: 'member' })
    const spaces: string[] = []
    for (let i = 0; i < 20; i++) {
      const r = await t.req('POST', '/api/v1/spaces', { token: owner.token, body: { name: `S${i}`, visibility: i === 0 ? 'private' : 'organization' } })
      spaces.push(r.body.space.id)
    }
    let selects = 0
    const db = new Proxy(t.rt.db as object, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver)
        if (key === 'select' && typeof v === 'function') {
          return (...args: unknown[]) => {
            selects++
            return (v as (...a: unknown[]) => unknown).apply(target, args)
          }
        }
        return typeof v === 'function' ? v.bind(target) : v
      },
    }) as Db
    const watch = new RevocationWatch({ db, clock: t.clock, log: t.rt.log })
    const principal = { credential: 'pat' as const, tokenId: m.tokenId, organizationId: m.organizationId, userId: m.userId }
    const lost: string[] = []
    const unwatch: (() => void)[] = []
    for (let i = 0; i < 60; i++) {
      const spaceId = spaces[i % 20]!
      unwatch.push(
        watch.watch(principal, () => lost.push('revoked'), {
          spaceId,
          // The space rule for a member: open unless private (the member made none of them).
          allowed: (role, space) => role === 'member' && space !== undefined && space.visibility !== 'private',
          onLost: (why) => lost.push(`${spaceId}:${why}`),
        }),
      )
    }
    await watch.check()
    // The tokens (personal access tokens only here), the roles, the spaces.
    expect(selects).toBe(3)
    // The three requests in the private space ended; the others are still watched.
    expect(lost).toEqual([`${spaces[0]}:access_changed`, `${spaces[0]}:access_changed`, `${spaces[0]}:access_changed`])
    expect(watch.size).toBe(57)
    for (const u of unwatch) u()
    expect(watch.size).toBe(0)
    watch.stop()
  })
})

import { expect } from 'bun:test'
import type { Role } from '../../src/db/schema'
import { createLink } from '../../src/modules/users/links'
import { setPassword } from '../../src/modules/users/passwords'
import { makeActor, type Actor, type TestApp, type Res } from './app'

import { APPROVE_AFTER_MS } from '../../src/console/routes/cli'
export const PASSWORD = 'correct horse battery staple'

/** A browser-like client of the console on a test app: keeps its cookie, posts forms same-origin from loopback. */
export function consoleClient(t: TestApp, o: { ip?: string; headers?: Record<string, string> } = {}) {
  let cookie: string | null = null
  const send = async (method: string, path: string, form?: Record<string, string | string[]>, headers: Record<string, string> = {}): Promise<Res> => {
    const h: Record<string, string> = { 'sec-fetch-site': 'same-origin', ...o.headers, ...headers }
    if (cookie) h.cookie = cookie
    let raw: string | undefined
    if (form) {
      const p = new URLSearchParams()
      for (const [k, v] of Object.entries(form)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x)
      raw = p.toString()
      h['content-type'] = 'application/x-www-form-urlencoded'
    }
    const res = await t.req(method, path, { headers: h, raw, ip: o.ip ?? '127.0.0.1' })
    const set = res.headers.get('set-cookie')
    if (set) {
      const pair = set.split(';')[0]!
      cookie = pair.endsWith('=') ? null : pair
    }
    return res
  }
  return {
    get: (path: string, headers?: Record<string, string>) => send('GET', path, undefined, headers),
    post: (path: string, form: Record<string, string | string[]> = {}, headers?: Record<string, string>) => send('POST', path, form, headers),
    get cookie() {
      return cookie
    },
    set cookie(v: string | null) {
      cookie = v
    },
    async signIn(email: string, password = PASSWORD) {
      return send('POST', '/login', { email, password })
    },
  }
}

export type ConsoleClient = ReturnType<typeof consoleClient>

/** Gives an existing user a console password. */
export async function givePassword(t: TestApp, userId: string, password = PASSWORD) {
  await setPassword(t.ctx, userId, password)
}

/**
 * A person signed in to the console of `t`: a user with `role` in organization `org` and a token
 * (makeActor), a console password, and a client (`headers` on each request) whose sign-in
 * answered 303.
 */
export async function signedInPerson(t: TestApp, o: { role?: Role; org?: string; headers?: Record<string, string> } = {}): Promise<{ a: Actor; c: ConsoleClient }> {
  const a = await makeActor(t, { role: o.role, org: o.org })
  await givePassword(t, a.userId)
  const c = consoleClient(t, o.headers ? { headers: o.headers } : {})
  expect((await c.signIn(a.email)).status).toBe(303)
  return { a, c }
}

export { createLink }

/**
 * The fields of an Approve on a CLI sign-in's approval page (`path`), as a person sends them: the
 * page shown (its `shownAt`), then the app's clock a second on, since the server refuses an
 * Approve sent sooner after its page was rendered (double-clickjacking; src/console/routes/cli.tsx).
 */
export async function shownApproval(t: TestApp, c: ConsoleClient, path: string): Promise<{ decision: 'approve'; shownAt: string }> {
  const shown = await c.get(path)
  const stamp = /name="shownAt" value="([^"]+)"/.exec(shown.text)?.[1]
  if (stamp === undefined) throw new Error(`shownApproval: no approval form at ${path} (${shown.status})`)
  t.clock.advance(APPROVE_AFTER_MS)
  return { decision: 'approve', shownAt: stamp }
}

import { createLink } from '../../src/modules/users/links'
import { setPassword } from '../../src/modules/users/passwords'
import type { TestApp, Res } from './app'

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

export { createLink }

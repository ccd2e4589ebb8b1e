import type { TestApp } from './app'

/**
 * The most values any one statement bound while `fn` ran, on the app's database (SQLite: the `?`
 * of each statement compiled, which are its values; PostgreSQL: the parameters sent with each).
 * A page that binds one value per row of the organization (an IN list of every member's id) costs
 * O(organization) and fails past the database's limit (PostgreSQL: 65,535 parameters): a page's
 * statements bind a page's worth.
 */
export async function mostValuesBound(t: TestApp, fn: () => Promise<unknown>): Promise<number> {
  let most = 0
  const conn = t.rt.connection
  if (conn.dialect === 'pg') {
    const client = conn.client as unknown as { unsafe: (q: string, params?: unknown[], o?: unknown) => unknown }
    const own = Object.getOwnPropertyDescriptor(client, 'unsafe')
    const original = client.unsafe
    client.unsafe = function (this: unknown, q: string, params?: unknown[], o?: unknown) {
      most = Math.max(most, params?.length ?? 0)
      return original.call(this, q, params, o)
    }
    try {
      await fn()
    } finally {
      if (own) Object.defineProperty(client, 'unsafe', own)
      else delete (client as { unsafe?: unknown }).unsafe
    }
    return most
  }
  const raw = t.db.$client as unknown as Record<'prepare' | 'query', (sql: string, ...rest: unknown[]) => unknown>
  const originals = { prepare: raw.prepare, query: raw.query }
  for (const k of ['prepare', 'query'] as const) {
    raw[k] = function (this: unknown, sql: string, ...rest: unknown[]) {
      most = Math.max(most, sql.split('?').length - 1)
      return originals[k].call(this, sql, ...rest)
    }
  }
  try {
    await fn()
  } finally {
    raw.prepare = originals.prepare
    raw.query = originals.query
  }
  return most
}

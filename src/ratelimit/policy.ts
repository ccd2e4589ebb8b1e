/** A rate-limit policy: at most `limit` requests per `windowMs`. */
export interface RatePolicy {
  limit: number
  windowMs: number
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const

/**
 * Parses `N/Ms`, `N/Mm`, `N/Mh` (e.g. `600/60s`, `100/1m`); the window count may be omitted
 * (`600/s`). Returns 'off' for `off` / `0` / `none`, undefined when invalid.
 */
export function parseRatePolicy(value: string): RatePolicy | 'off' | undefined {
  const v = value.trim().toLowerCase()
  if (v === 'off' || v === 'none' || v === '0') return 'off'
  const m = /^(\d{1,9})\s*\/\s*(\d{0,7})\s*([smh])$/.exec(v)
  if (!m) return undefined
  const limit = Number(m[1])
  const windowMs = Number(m[2] || '1') * UNIT_MS[m[3] as keyof typeof UNIT_MS]
  if (limit < 1 || windowMs < 1000) return undefined
  return { limit, windowMs }
}

export function formatRatePolicy(p: RatePolicy | null): string {
  return p ? `${p.limit}/${p.windowMs / 1000}s` : 'off'
}

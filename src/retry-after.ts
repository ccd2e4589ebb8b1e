/**
 * A Retry-After value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as milliseconds from
 * `now`, never negative; null when absent or unreadable. Fractional seconds, which some model
 * providers send, are read too. Shared by the command line's client and the execution engine
 * (a provider's answer). A negative number (`-5`) is unreadable: Date.parse read it as the year
 * -5, a date long past, so a wait of 0 (below any back-off); every HTTP-date has letters (a day or
 * a month name).
 */
export function retryAfterMs(value: string | null | undefined, now: number): number | null {
  const v = value?.trim()
  if (!v) return null
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000)
  if (!/[A-Za-z]/.test(v)) return null
  const at = Date.parse(v)
  return Number.isNaN(at) ? null : Math.max(0, at - now)
}

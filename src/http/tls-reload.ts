import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Clock } from '../clock'
import { errorMessage } from '../errors'
import type { Logger } from '../logger'
import { listenAgain, retire } from './listen'
import { readTlsPair, tlsListenError, type TlsPair } from './tls-files'

/**
 * A renewed certificate served without a restart (`serve --tls-cert/--tls-key`): on SIGHUP, and
 * when the files' content changes (read every TEAMDAY_TLS_CHECK_MS), the files are read and
 * checked as at start; a pair that will not do is logged (`tls_reload_failed`) and the
 * certificate served until then goes on being served. A good one gets a listener of its own on
 * the same port (SO_REUSEPORT), and the previous listener is retired: it stops accepting a
 * quarter of a second later and lets what is in flight on it (event streams, synchronous
 * executes) end on the previous certificate (src/http/listen.ts listenAgain, retire). Bun's
 * `server.reload` ignores `tls` (tried with 1.4.5), and Bun has no other way to swap it.
 *
 * Loaded by `serve` only with TLS configured.
 */

/** A certificate ending within this many days is warned about, at start, after a reload and daily. */
export const EXPIRY_WARN_DAYS = 14
const DAY_MS = 24 * 3600_000
/** How long a retired listener's answers say `Connection: close` before it stops accepting. */
export const RETIRE_CLOSING_MS = 250

export type ReloadTrigger = 'SIGHUP' | 'file_changed'

/** The warning `pair` deserves at `now` (expired, or ending within EXPIRY_WARN_DAYS), or null. */
export function expiryWarning(pair: Pick<TlsPair, 'certFile' | 'validTo' | 'subject'>, now: number): { msg: string; fields: Record<string, unknown> } | null {
  const left = pair.validTo.getTime() - now
  const fields = { cert: resolve(pair.certFile), subject: pair.subject, notAfter: pair.validTo.toISOString() }
  if (left <= 0) {
    return { msg: 'tls_certificate_expired', fields: { ...fields, note: 'browsers and clients refuse this certificate: renew it, then send teamday SIGHUP (systemctl reload teamday) to serve the new files' } }
  }
  if (left <= EXPIRY_WARN_DAYS * DAY_MS) {
    const days = Math.floor(left / DAY_MS)
    return {
      msg: 'tls_certificate_expires_soon',
      fields: { ...fields, daysLeft: days, note: `the certificate served expires in ${days === 0 ? 'less than a day' : `${days} day${days === 1 ? '' : 's'}`}: renew it (certbot renews 30 days ahead: is its timer running?), then send teamday SIGHUP (systemctl reload teamday)` },
    }
  }
  return null
}

export interface TlsReloaderOptions {
  /** The pair served from the start. */
  pair: TlsPair
  /** The listening app: its `server` is replaced at each reload. */
  app: { server: Bun.Server<unknown> | null }
  log: Logger
  clock: Clock
  /** Told the pair served, at start and after each reload (the metrics' expiry gauge). */
  served?: (pair: TlsPair) => void
  /** How often the files are read to notice new content (ms); 0: only SIGHUP. */
  fileCheckMs: number
  closingMs?: number
}

export class TlsReloader {
  current: TlsPair
  /** Listeners replaced and still finishing what is in flight on them, with when they are done. */
  private readonly retiring = new Map<Bun.Server<unknown>, Promise<void>>()
  private chain: Promise<unknown> = Promise.resolve()
  private stopped = false
  private timers: ReturnType<typeof setInterval>[] = []
  /** The digest of the files' content last served, or last refused and said (not said again). */
  private seen: string
  /** Content found by a check that would not do, said only if the next check finds it unchanged (a renewal may be half-written). */
  private pending: string | null = null

  constructor(private readonly o: TlsReloaderOptions) {
    this.current = o.pair
    this.seen = digest(o.pair.cert, o.pair.key)
  }

  /** The start's expiry warning, the daily one, and the files' check. */
  start(): void {
    this.o.served?.(this.current)
    this.warnExpiry()
    const daily = setInterval(() => this.warnExpiry(), DAY_MS)
    this.timers.push(daily)
    if (this.o.fileCheckMs > 0) this.timers.push(setInterval(() => void this.checkFiles(), this.o.fileCheckMs))
    for (const t of this.timers) (t as { unref?: () => void }).unref?.()
  }

  /** Reads the files and serves them (one reload at a time); false when they would not do (said in the log). */
  reload(trigger: ReloadTrigger): Promise<boolean> {
    const next = this.chain.then(() => this.swap(trigger, true))
    this.chain = next.catch(() => {})
    return next
  }

  /** A stop: no more reloads or checks. */
  stop(): void {
    this.stopped = true
    for (const t of this.timers) clearInterval(t)
    this.timers = []
  }

  /** The retired listeners still draining, for the graceful stop (cut with the others when it times out). */
  stoppables(): { stop(closeActiveConnections?: boolean): Promise<unknown> }[] {
    return [...this.retiring].map(([server, done]) => ({ stop: (force?: boolean) => (force ? server.stop(true) : done) }))
  }

  private warnExpiry(): void {
    const w = expiryWarning(this.current, this.o.clock.now())
    if (w) this.o.log.warn(w.msg, w.fields)
  }

  private checkFiles(): Promise<boolean> | void {
    if (this.stopped) return
    let d: string
    try {
      d = digest(readFileSync(this.current.certFile, 'utf8'), readFileSync(this.current.keyFile, 'utf8'))
    } catch {
      // Unreadable for now (a renewal replacing the files): a SIGHUP says why; the next check looks again.
      return
    }
    if (d === this.seen) return
    const next = this.chain.then(() => this.swap('file_changed', d === this.pending))
    this.chain = next.catch(() => {})
    return next
  }

  private async swap(trigger: ReloadTrigger, sayFailure: boolean): Promise<boolean> {
    if (this.stopped) return false
    const { certFile, keyFile } = this.current
    const fields = { trigger, cert: resolve(certFile), key: resolve(keyFile) }
    const refused = (error: string, content: string | null) => {
      if (!sayFailure) {
        if (content !== null) this.pending = content
        return false
      }
      if (content !== null) this.seen = content
      this.pending = null
      this.o.log.error('tls_reload_failed', { ...fields, error, note: 'the certificate served until now is still served: fix the files, then send SIGHUP again' })
      return false
    }
    let pair: TlsPair
    try {
      pair = readTlsPair(certFile, keyFile)
    } catch (e) {
      // What the files held, if they can be read (a check that finds them again unchanged says so once).
      return refused(errorMessage(e), contentDigest(certFile, keyFile))
    }
    const content = digest(pair.cert, pair.key)
    const server = this.o.app.server
    if (!server) return false
    let started: Bun.Server<unknown>
    try {
      started = listenAgain(server, { cert: pair.cert, key: pair.key })
    } catch (e) {
      return refused(errorMessage(tlsListenError(e, pair) ?? e), content)
    }
    // The app's server is the new one from now on; requests still in flight on the old one are
    // fine with it: Bun's requestIP and timeout act on the request's own connection, whichever
    // server they are asked of (checked with Bun 1.4.5).
    this.o.app.server = started
    const { closed, drained } = retire(server, this.o.closingMs ?? RETIRE_CLOSING_MS)
    const done = drained.catch((e: unknown) => this.o.log.warn('http_stop_failed', { error: errorMessage(e) })).finally(() => this.retiring.delete(server))
    this.retiring.set(server, done)
    this.current = pair
    this.seen = content
    this.pending = null
    // Said once the old listener no longer accepts: from then on every new connection gets the new certificate.
    await closed
    this.o.log.info('tls_reloaded', { ...fields, subject: pair.subject, notAfter: pair.validTo.toISOString(), serial: pair.serial, fingerprint256: pair.fingerprint256 })
    this.o.served?.(pair)
    this.warnExpiry()
    return true
  }
}

/** A digest of the two files' content (what is kept to notice a change: not the key itself). */
function digest(cert: string, key: string): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('hex')
}

function contentDigest(certFile: string, keyFile: string): string | null {
  try {
    return digest(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'))
  } catch {
    return null
  }
}

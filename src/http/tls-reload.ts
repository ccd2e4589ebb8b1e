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
 * checked as at start; a pair that will not do (a file missing or unreadable included) is logged
 * (`tls_reload_failed`; by the check once it finds the same fault twice in a row, then not again
 * until it changes) and the certificate served until then goes on being served. Files that hold
 * what is served already change nothing (`tls_unchanged`). A new good pair gets a listener of its own on
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
  /** The digest of the content served (a swap that finds the files holding it again changes nothing). */
  private served: string
  /**
   * What the files held at the last reload (filesState: their digest, or which one could not be
   * read and why): served, or refused and said. A check that finds the same again does nothing.
   */
  private seen: string
  /** What a check found that would not do, said only if the next check finds it unchanged (a renewal may be half-written). */
  private pending: string | null = null
  /** Reloads queued or running: a check meanwhile queues none (it looks again at its next turn). */
  private busy = 0

  constructor(private readonly o: TlsReloaderOptions) {
    this.current = o.pair
    this.served = digest(o.pair.cert, o.pair.key)
    this.seen = this.served
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

  /**
   * Reads the files and serves them (one reload at a time); false when they would not do (said in
   * the log). Files that hold the certificate and key already served change nothing (`tls_unchanged`).
   */
  reload(trigger: ReloadTrigger): Promise<boolean> {
    return this.queue(trigger)
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

  private queue(trigger: ReloadTrigger): Promise<boolean> {
    this.busy++
    const next = this.chain.then(() => this.swap(trigger)).finally(() => this.busy--)
    this.chain = next.catch(() => {})
    return next
  }

  private checkFiles(): Promise<boolean> | void {
    // While a reload is queued or running, nothing: what the files hold then is compared once it is over.
    if (this.stopped || this.busy > 0) return
    // An unreadable file (a renewal replacing it, a permission changed) is a state as any content:
    // said, as a pair that will not do, once the next check finds it the same.
    if (filesState(this.current.certFile, this.current.keyFile) !== this.seen) return this.queue('file_changed')
    // As before: a fault found once meanwhile (and not said) is forgotten, to be found twice again.
    this.pending = null
  }

  private async swap(trigger: ReloadTrigger): Promise<boolean> {
    if (this.stopped) return false
    const { certFile, keyFile } = this.current
    const fields = { trigger, cert: resolve(certFile), key: resolve(keyFile) }
    const refused = (error: string, state: string) => {
      // A check says what it found only when the check before found the same (not a file mid-write); a SIGHUP always.
      if (trigger === 'file_changed' && state !== this.pending) {
        this.pending = state
        return false
      }
      this.seen = state
      this.pending = null
      this.o.log.error('tls_reload_failed', { ...fields, error, note: 'the certificate served until now is still served: fix the files, then send SIGHUP again' })
      return false
    }
    let pair: TlsPair
    try {
      pair = readTlsPair(certFile, keyFile)
    } catch (e) {
      return refused(errorMessage(e), filesState(certFile, keyFile))
    }
    const content = digest(pair.cert, pair.key)
    if (content === this.served) {
      // The files hold what is served already (a second SIGHUP, one sent during the start, files
      // put back after a failure): no new listener. Said for a SIGHUP and after a failure said.
      const wasRefused = this.seen !== this.served
      this.seen = content
      this.pending = null
      const said = { ...fields, subject: pair.subject, notAfter: pair.validTo.toISOString(), serial: pair.serial, fingerprint256: pair.fingerprint256, note: 'the files hold the certificate and key already served: nothing to reload' }
      if (trigger === 'SIGHUP' || wasRefused) this.o.log.info('tls_unchanged', said)
      else this.o.log.debug('tls_unchanged', said)
      return true
    }
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
    this.served = content
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

/**
 * What the two files hold now: their content's digest, or which of them cannot be read and why
 * (its error code), so that a file missing or unreadable is told apart from another fault.
 */
function filesState(certFile: string, keyFile: string): string {
  const texts: string[] = []
  for (const [file, which] of [
    [certFile, 'certificate'],
    [keyFile, 'key'],
  ] as const) {
    try {
      texts.push(readFileSync(file, 'utf8'))
    } catch (e) {
      const code = (e as { code?: unknown } | null)?.code
      return `unreadable ${which}: ${typeof code === 'string' ? code : errorMessage(e)}`
    }
  }
  return digest(texts[0]!, texts[1]!)
}

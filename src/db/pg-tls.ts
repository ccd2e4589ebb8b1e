import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'

/**
 * A PostgreSQL URL's TLS parameters, as libpq reads them, turned into postgres-js's `ssl` option.
 * postgres-js reads `sslmode` itself but not as libpq does, and sends every other parameter it
 * does not know to the server as a setting:
 *
 * - `sslrootcert=/path/ca.pem` (how managed databases' guides say to verify them) failed every
 *   connection with the server's "unrecognized configuration parameter sslrootcert"; so did
 *   `sslcert`, `sslkey` (a client certificate) and `sslcrl`. Here they are files read at start.
 * - `allow` failed against a server without TLS ("Client network socket disconnected before
 *   secure TLS connection was established"), where libpq connects without it: taken as `prefer`
 *   (TLS when the server offers it, else none; libpq's `allow` tries without TLS first: either
 *   way nothing is verified, and neither fails where the other connects).
 * - `verify-ca` with `sslrootcert` checked the server's host name too (node's default, libpq's
 *   `verify-full`): only the chain against that root is checked now. Without a root certificate
 *   (which libpq refuses) the host name is still checked: the system's CAs vouch for any public name.
 * - `require` with `sslrootcert` verifies the chain, as libpq does (`verify-ca`).
 *
 * A URL without any of these parameters gets no TLS, as before (postgres-js's default); one with
 * some of them but no `sslmode` gets libpq's default, `prefer`. `sslrootcert=system` alone is the
 * system's CAs with `verify-full`, as libpq 16 and postgres-js read it; with a weaker mode it is
 * refused at start, as libpq refuses it. A client certificate
 * (`sslcert`, `sslkey`) is presented over TLS, which it then requires, in every mode but `disable`.
 */
export type PgTls = false | 'prefer' | 'require' | ConnectionOptions

/** The URL parameters read here (removed from the URL postgres-js gets). */
const TLS_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslcrl', 'sslpassword'] as const

export interface PgTlsSettings {
  /** The URL without the parameters read here. */
  url: string
  /** postgres-js's `ssl`; undefined when the URL says nothing of TLS (the driver's default: none). */
  ssl: PgTls | undefined
}

/** A file a TLS parameter names, read now: a missing or unreadable one is said at start, by name. */
function readTlsFile(param: string, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message
    throw new Error(`the database URL's ${param}=${path} cannot be read (${why})`)
  }
}

/** Reads the TLS parameters of `url` (a postgres:// URL the configuration accepted). */
export function pgTlsSettings(url: string): PgTlsSettings {
  const q = url.indexOf('?')
  if (q < 0) return { url, ssl: undefined }
  const hash = url.indexOf('#', q)
  const query = new URLSearchParams(url.slice(q + 1, hash < 0 ? undefined : hash))
  const given = new Map<string, string>()
  for (const name of TLS_PARAMS) {
    const v = query.get(name)
    if (v !== null) given.set(name, v)
    query.delete(name)
  }
  if (given.size === 0) return { url, ssl: undefined }
  const rest = query.toString()
  const stripped = url.slice(0, q) + (rest ? `?${rest}` : '') + (hash < 0 ? '' : url.slice(hash))
  return { url: stripped, ssl: tlsOption(given) }
}

function tlsOption(given: Map<string, string>): PgTls {
  const root = given.get('sslrootcert')
  // Without sslmode, libpq's default (prefer), or verify-full for the system's CAs.
  const mode = given.get('sslmode') ?? (root === 'system' ? 'verify-full' : 'prefer')
  if (mode === 'disable') return false
  const files: ConnectionOptions = {}
  if (root !== undefined && root !== 'system') files.ca = readTlsFile('sslrootcert', root)
  const cert = given.get('sslcert')
  const key = given.get('sslkey')
  const crl = given.get('sslcrl')
  const pass = given.get('sslpassword')
  if (cert !== undefined) files.cert = readTlsFile('sslcert', cert)
  if (key !== undefined) files.key = readTlsFile('sslkey', key)
  if (crl !== undefined) files.crl = readTlsFile('sslcrl', crl)
  if (pass !== undefined) files.passphrase = pass
  // libpq takes the system's CAs only with verify-full: a weaker mode would trust any public
  // certificate for any name (with nothing verified, or the chain alone). Refused at start, as there.
  if (root === 'system' && mode !== 'verify-full') throw new Error(`the database URL's sslrootcert=system needs sslmode=verify-full (it has sslmode=${mode}: the system's CAs vouch for any public name, so the host name must be checked too)`)
  const verified = mode === 'verify-ca' || mode === 'verify-full' || (mode === 'require' && root !== undefined)
  if (!verified) {
    const client = files.cert !== undefined || files.key !== undefined
    // Nothing verified. A client certificate is presented over TLS, which is then required
    // (postgres-js falls back to no TLS only for its own `prefer`).
    if (client) return { ...files, rejectUnauthorized: false }
    return mode === 'require' ? 'require' : 'prefer'
  }
  const checked: ConnectionOptions = { ...files, rejectUnauthorized: true }
  // verify-ca (and require with a root certificate): the chain against that root, not the host
  // name. Without a root certificate of its own (libpq then refuses to connect) the chain is the
  // system's CAs, which vouch for any public name: the host name is checked too, as before.
  if (mode !== 'verify-full' && files.ca !== undefined) checked.checkServerIdentity = () => undefined
  return checked
}

import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { ConfigError } from '../config-error'

/**
 * HTTPS served by teamday itself (--tls-cert / --tls-key, TEAMDAY_TLS_CERT / TEAMDAY_TLS_KEY).
 * Loaded by `serve` only when they are set: a start without TLS evaluates none of this.
 */

/** What Bun.serve's `tls` takes, read and checked, and what a start line may say of it (never the key). */
export interface TlsPair {
  cert: string
  key: string
  certFile: string
  keyFile: string
  /** The certificate's subject and its end of validity (its first one: the server's own, before the chain). */
  subject: string
  validTo: Date
  /** The certificate's serial number (hex) and SHA-256 fingerprint: which one is served (public, as any client sees them). */
  serial: string
  fingerprint256: string
}

const CERT_BEGIN = /-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----/
const KEY_BEGIN = /-----BEGIN (?:RSA |EC |DSA )?PRIVATE KEY-----/
const ENCRYPTED = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: *4, *ENCRYPTED/

/**
 * Reads and checks the certificate and key files, as `serve` starts (before the database is
 * opened): a file missing or unreadable, one that is not PEM, an encrypted key (no passphrase
 * can be given) and a key that is not the certificate's are refused with a ConfigError (exit 2)
 * naming the file and why. No message holds a byte of the key file: only its path, and reasons
 * written here (OpenSSL's own texts are not passed on).
 */
export function readTlsPair(certFile: string, keyFile: string): TlsPair {
  const cert = readPem(certFile, 'certificate', '--tls-cert, TEAMDAY_TLS_CERT')
  const key = readPem(keyFile, 'private key', '--tls-key, TEAMDAY_TLS_KEY')
  if (!CERT_BEGIN.test(cert)) {
    throw new ConfigError(`the TLS certificate file ${certFile} (--tls-cert, TEAMDAY_TLS_CERT) is not a PEM certificate: no "-----BEGIN CERTIFICATE-----" line${KEY_BEGIN.test(cert) || ENCRYPTED.test(cert) ? ' (it holds a private key: are the two files swapped?)' : ''}`)
  }
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch {
    throw new ConfigError(`the TLS certificate file ${certFile} (--tls-cert, TEAMDAY_TLS_CERT) has a "-----BEGIN CERTIFICATE-----" line, but what follows is not a certificate that can be read (cut short, or not base64)`)
  }
  if (ENCRYPTED.test(key)) {
    throw new ConfigError(
      `the TLS key file ${keyFile} (--tls-key, TEAMDAY_TLS_KEY) is encrypted with a passphrase, which teamday cannot be given: write it out unencrypted, readable only by the service's user (openssl pkey -in ${keyFile} -out KEY.pem; chmod 600 KEY.pem)`,
    )
  }
  if (!KEY_BEGIN.test(key)) {
    throw new ConfigError(`the TLS key file ${keyFile} (--tls-key, TEAMDAY_TLS_KEY) is not a PEM private key: no "-----BEGIN PRIVATE KEY-----" line${CERT_BEGIN.test(key) ? ' (it holds a certificate: are the two files swapped?)' : ''}`)
  }
  let privateKey: ReturnType<typeof createPrivateKey>
  try {
    privateKey = createPrivateKey(key)
  } catch {
    throw new ConfigError(`the TLS key file ${keyFile} (--tls-key, TEAMDAY_TLS_KEY) has a "-----BEGIN PRIVATE KEY-----" line, but what follows is not a private key that can be read (cut short, or not base64)`)
  }
  if (!x509.checkPrivateKey(privateKey)) throw mismatch(certFile, keyFile)
  return { cert, key, certFile, keyFile, subject: x509.subject.replace(/\n/g, ', '), validTo: new Date(x509.validTo), serial: x509.serialNumber, fingerprint256: x509.fingerprint256 }
}

/** The key is not the certificate's: the message for it (also for Bun's own ERR_OSSL_X509_KEY_VALUES_MISMATCH). */
export function mismatch(certFile: string, keyFile: string): ConfigError {
  return new ConfigError(
    `the TLS key file ${keyFile} (--tls-key, TEAMDAY_TLS_KEY) is not the private key of the certificate in ${certFile} (--tls-cert, TEAMDAY_TLS_CERT): their public keys differ. Give the key the certificate was issued for (certbot: privkey.pem beside fullchain.pem)`,
  )
}

/**
 * What Bun.serve threw for the files' contents (an OpenSSL error: `ERR_OSSL_…`), as a ConfigError
 * naming the files; null for any other error. readTlsPair catches these first; this is for what
 * only Bun's own reading finds (a chain it refuses).
 */
export function tlsListenError(e: unknown, pair: Pick<TlsPair, 'certFile' | 'keyFile'>): ConfigError | null {
  const code = (e as { code?: unknown })?.code
  if (typeof code !== 'string' || !code.startsWith('ERR_OSSL_')) return null
  if (code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH') return mismatch(pair.certFile, pair.keyFile)
  return new ConfigError(`the TLS files ${pair.certFile} (--tls-cert) and ${pair.keyFile} (--tls-key) were refused by the TLS library (${code}): check that the certificate file holds the certificate (and its chain) and the key file its private key, both PEM`)
}

/** A file's text, or a ConfigError naming it, the setting and why it cannot be read. */
function readPem(file: string, what: string, setting: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (e) {
    const code = (e as { code?: string }).code
    const why =
      code === 'ENOENT'
        ? `there is no such file (looked for ${resolve(file)})`
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied: the file must be readable by the user teamday runs as'
          : code === 'EISDIR'
            ? 'it is a directory, not a file'
            : `it cannot be read (${code ?? 'unreadable'})`
    return fail(`cannot read the TLS ${what} file ${file} (${setting}): ${why}`)
  }
}

function fail(message: string): never {
  throw new ConfigError(message)
}

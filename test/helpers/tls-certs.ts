import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Throwaway TLS files for tests of `serve --tls-cert/--tls-key`, made with openssl (P-256 keys:
 * a few milliseconds each) in `dir`: a private CA, two server certificates it signed for
 * localhost and 127.0.0.1 (as a LAN install's internal CA would issue them), a key that belongs
 * to no certificate, and an encrypted copy of the first key.
 */
export interface TestCerts {
  ca: string
  caFile: string
  certFile: string
  keyFile: string
  cert2File: string
  key2File: string
  ca2: string
  ca2File: string
  strayKeyFile: string
  encryptedKeyFile: string
  /** Self-signed with strayKeyFile's key, its notAfter a day before its notBefore: expired. */
  expiredCertFile: string
}

function openssl(args: string[], cwd: string): void {
  const r = Bun.spawnSync(['/usr/bin/openssl', ...args], { cwd, stdout: 'pipe', stderr: 'pipe' })
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr.toString()}`)
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

/** A CA (`name`.ca.pem) and a server certificate it signed (`name`.cert.pem, `name`.key.pem). */
function caAndServer(dir: string, name: string): void {
  openssl(['req', '-x509', ...EC, '-keyout', `${name}.ca-key.pem`, '-out', `${name}.ca.pem`, '-days', '2', '-subj', `/CN=teamday test CA ${name}`], dir)
  openssl(['req', ...EC, '-keyout', `${name}.key.pem`, '-out', `${name}.csr`, '-subj', '/CN=localhost'], dir)
  writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${name}.ca.pem`, '-CAkey', `${name}.ca-key.pem`, '-CAcreateserial', '-out', `${name}.cert.pem`, '-days', '1', '-extfile', `${name}.ext`], dir)
}

export async function makeTestCerts(dir: string): Promise<TestCerts> {
  caAndServer(dir, 'one')
  caAndServer(dir, 'two')
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'stray.key.pem'], dir)
  openssl(['pkey', '-in', 'one.key.pem', '-aes256', '-passout', 'pass:secret-pass', '-out', 'encrypted.key.pem'], dir)
  openssl(['req', '-new', '-key', 'stray.key.pem', '-subj', '/CN=localhost', '-out', 'expired.csr'], dir)
  openssl(['x509', '-req', '-in', 'expired.csr', '-signkey', 'stray.key.pem', '-days', '-1', '-out', 'expired.cert.pem'], dir)
  const at = (f: string) => join(dir, f)
  return {
    ca: await Bun.file(at('one.ca.pem')).text(),
    caFile: at('one.ca.pem'),
    certFile: at('one.cert.pem'),
    keyFile: at('one.key.pem'),
    cert2File: at('two.cert.pem'),
    key2File: at('two.key.pem'),
    ca2: await Bun.file(at('two.ca.pem')).text(),
    ca2File: at('two.ca.pem'),
    strayKeyFile: at('stray.key.pem'),
    encryptedKeyFile: at('encrypted.key.pem'),
    expiredCertFile: at('expired.cert.pem'),
  }
}

/** The base64 lines of a PEM file's body (what must never be printed of a key). */
export async function pemBodyLines(file: string): Promise<string[]> {
  return (await Bun.file(file).text()).split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))
}

/**
 * A PostgreSQL URL's TLS parameters read as libpq reads them (src/db/pg-tls.ts). postgres-js sent
 * `sslrootcert` (and `sslcert`, `sslkey`, `sslcrl`) to the server as settings, so a URL written as
 * managed databases' guides say (`?sslmode=verify-full&sslrootcert=/path/ca.pem`) failed every
 * connection with "unrecognized configuration parameter"; `sslmode=allow` required TLS (libpq
 * connects without it when the server has none); `verify-ca` checked the host name as well; a
 * server without TLS under `sslmode=require` was "not answering". The mapping is checked as data;
 * the test server (which has no TLS) checks what a connection does with it.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ConnectionOptions } from 'node:tls'
import { describeDatabase, loadConfig } from '../src/config'
import { ConfigError } from '../src/config-error'
import { openPostgres } from '../src/db/pg'
import { pgTlsSettings } from '../src/db/pg-tls'
import { databaseUnavailable } from '../src/db/unavailable'
import { needPostgres, PG_ADMIN_URL } from './helpers/pg'

const dir = mkdtempSync(join(tmpdir(), 'teamday-pg-tls-'))
const ca = join(dir, 'ca.pem')
writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n')
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const BASE = 'postgres://u:p@db.example:5432/app'

describe('TLS parameters of a PostgreSQL URL', () => {
  test('none: the URL as it is, and the driver default (no TLS)', () => {
    expect(pgTlsSettings(BASE)).toEqual({ url: BASE, ssl: undefined })
    expect(pgTlsSettings(`${BASE}?application_name=x`)).toEqual({ url: `${BASE}?application_name=x`, ssl: undefined })
  })

  test('each sslmode, and the parameters libpq reads leave the URL (the others stay)', () => {
    expect(pgTlsSettings(`${BASE}?sslmode=disable`)).toEqual({ url: BASE, ssl: false })
    expect(pgTlsSettings(`${BASE}?sslmode=allow`).ssl).toBe('prefer')
    expect(pgTlsSettings(`${BASE}?sslmode=prefer`).ssl).toBe('prefer')
    expect(pgTlsSettings(`${BASE}?sslmode=require&options=-csearch_path%3Dapp`)).toEqual({ url: `${BASE}?options=-csearch_path%3Dapp`, ssl: 'require' })
    const full = pgTlsSettings(`${BASE}?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}&connect_timeout=5`)
    expect(full.url).toBe(`${BASE}?connect_timeout=5`)
    const f = full.ssl as ConnectionOptions
    expect([f.rejectUnauthorized, String(f.ca).includes('not really'), f.checkServerIdentity]).toEqual([true, true, undefined])
  })

  test('verify-ca checks the chain, not the host name; so does require with a root certificate', () => {
    for (const mode of ['verify-ca', 'require']) {
      const s = pgTlsSettings(`${BASE}?sslmode=${mode}&sslrootcert=${ca}`).ssl as ConnectionOptions
      expect([mode, s.rejectUnauthorized, typeof s.checkServerIdentity]).toEqual([mode, true, 'function'])
      expect(s.checkServerIdentity!('db.example', {} as any)).toBeUndefined()
    }
    // verify-ca without a root certificate of its own (libpq refuses it): the system's CAs vouch
    // for any public name, so the host name is checked too (a chain-only check of the system's CAs
    // let any public certificate, for any name, through).
    const sys = pgTlsSettings(`${BASE}?sslmode=verify-ca`).ssl as ConnectionOptions
    expect([sys.rejectUnauthorized, sys.ca, sys.checkServerIdentity]).toEqual([true, undefined, undefined])
  })

  test('sslrootcert=system with a mode weaker than verify-full is refused at start, as libpq refuses it', () => {
    for (const mode of ['prefer', 'require', 'verify-ca', 'allow']) {
      expect(() => loadConfig({ TEAMDAY_DATABASE_URL: `${BASE}?sslmode=${mode}&sslrootcert=system` })).toThrow(`the database URL's sslrootcert=system needs sslmode=verify-full (it has sslmode=${mode}`)
    }
    expect(pgTlsSettings(`${BASE}?sslmode=verify-full&sslrootcert=system`).ssl).toEqual({ rejectUnauthorized: true })
  })

  test("the database as messages name it masks the URL's secrets: its password, and libpq's password and sslpassword parameters", () => {
    expect(describeDatabase('postgres://u:pw@db:5432/app?sslmode=verify-full&sslkey=/k.pem&sslpassword=s3cret&password=p4ss')).toBe(
      'postgres://u:***@db:5432/app?sslmode=verify-full&sslkey=%2Fk.pem&sslpassword=***&password=***',
    )
  })

  test('sslrootcert=system alone is verify-full on the system CAs; a client certificate makes TLS required', () => {
    expect(pgTlsSettings(`${BASE}?sslrootcert=system`).ssl).toEqual({ rejectUnauthorized: true })
    const client = pgTlsSettings(`${BASE}?sslcert=${ca}&sslkey=${ca}`).ssl as ConnectionOptions
    expect([client.rejectUnauthorized, String(client.cert).includes('not really'), String(client.key).includes('not really')]).toEqual([false, true, true])
    // Some TLS parameter but no sslmode: libpq's default, prefer (a revocation list matters only when verifying).
    expect(pgTlsSettings(`${BASE}?sslcrl=${ca}`).ssl).toBe('prefer')
  })

  test('a TLS file that cannot be read is refused at start (exit 2), by name; under sslmode=disable it is not read', () => {
    const url = `${BASE}?sslmode=verify-full&sslrootcert=${join(dir, 'missing.pem')}`
    let err: unknown
    try {
      loadConfig({ TEAMDAY_DATABASE_URL: url })
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as Error).message).toBe(`the database URL's sslrootcert=${join(dir, 'missing.pem')} cannot be read (no such file) (--db, TEAMDAY_DATABASE_URL or TEAMDAY_DB)`)
    expect(pgTlsSettings(`${BASE}?sslmode=disable&sslrootcert=${join(dir, 'missing.pem')}`).ssl).toBe(false)
  })
})

const HAVE_PG = await needPostgres('test/pg-tls.test.ts')

describe.skipIf(!HAVE_PG)('TLS parameters against a server without TLS (the test server)', () => {
  const withParams = (params: string) => `${PG_ADMIN_URL}${PG_ADMIN_URL.includes('?') ? '&' : '?'}${params}`
  const firstStatement = async (url: string) => {
    const conn = openPostgres(url, { pool: 1, statementTimeoutMs: 5000 } as Parameters<typeof openPostgres>[1])
    try {
      return await (conn.db as any).execute('SELECT 1 AS one').then(
        (r: unknown) => ({ ok: true as const, r }),
        (e: Error) => ({ ok: false as const, e }),
      )
    } finally {
      await conn.close()
    }
  }

  test('sslmode=allow and prefer connect without TLS; sslrootcert is not sent to the server as a setting', async () => {
    for (const params of ['sslmode=allow', 'sslmode=prefer', `sslmode=prefer&sslrootcert=${encodeURIComponent(ca)}`, `sslmode=disable&sslrootcert=${encodeURIComponent(ca)}`]) {
      const r = await firstStatement(withParams(params))
      expect([params, r.ok ? 'connected' : (r as { e: Error }).e.message]).toEqual([params, 'connected'])
    }
  })

  test('sslmode=require: a 503 that says the server offers no TLS, not that it does not answer', async () => {
    const r = await firstStatement(withParams('sslmode=require'))
    expect(r.ok).toBe(false)
    expect(databaseUnavailable((r as { e: Error }).e)).toStartWith('The database ended the connection during the TLS handshake: it does not offer TLS')
  })
})

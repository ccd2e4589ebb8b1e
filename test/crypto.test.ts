import { afterAll, describe, expect, spyOn, test } from 'bun:test'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../src/config'
import { createLogger } from '../src/logger'
import { createRuntime, sqliteConnection } from '../src/runtime'
import { personalAccessTokens } from '../src/db/schema'
import { generateKey, loadSecretBox } from '../src/crypto/keys'
import { DecryptionError, isSealed, SecretBox } from '../src/crypto/secretbox'
import { unsealedAuditText } from '../src/audit/log'
import { openDatabase } from '../src/db/client'
import { embeddedMigrations, runMigrations } from '../src/db/migrate'
import { readKeyCheck, verifyEncryptionKey, WrongKeyError } from '../src/db/settings'

const key = () => crypto.getRandomValues(new Uint8Array(32))

describe('AES-256-GCM secret box', () => {
  test('round trip, with a fresh IV each time', () => {
    const box = new SecretBox(key())
    const a = box.seal('CI Pipeline ✓', 'pat.name:pat_1')
    const b = box.seal('CI Pipeline ✓', 'pat.name:pat_1')
    expect(a).not.toBe(b)
    expect(a).toMatch(/^v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+$/)
    expect(a).not.toContain('CI Pipeline')
    expect(box.open(a, 'pat.name:pat_1')).toBe('CI Pipeline ✓')
    expect(box.open(b, 'pat.name:pat_1')).toBe('CI Pipeline ✓')
  })

  test('isSealed: what seal writes (an empty text too), not a text of the same shape an earlier build stored as it was', () => {
    const box = new SecretBox(key())
    for (const plain of ['', 'x', '203.0.113.7', 'ü'.repeat(300)]) expect(isSealed(box.seal(plain, 'audit.ua:e1'))).toBe(true)
    // A user agent or address the audit log kept unsealed before 2026-11-23 is read as written.
    for (const text of ['v1.2.3', 'v1.abcdef01.x', 'v1.ABCDEF01.' + 'A'.repeat(40), 'v1.abcdef01.' + '+'.repeat(40), 'v1..', 'curl/8.5.0']) {
      expect({ text, sealed: isSealed(text) }).toEqual({ text, sealed: false })
      expect(unsealedAuditText(text)).toBe(text)
    }
  })

  test('a tampered ciphertext is rejected, never garbage', () => {
    const box = new SecretBox(key())
    const sealed = box.seal('secret name', 'aad')
    const [v, id, data] = sealed.split('.') as [string, string, string]
    const raw = Buffer.from(data, 'base64url')
    for (const i of [0, 13, raw.length - 1]) {
      const copy = Buffer.from(raw)
      copy[i]! ^= 0x01
      expect(() => box.open(`${v}.${id}.${copy.toString('base64url')}`, 'aad')).toThrow(DecryptionError)
    }
    expect(() => box.open(`${v}.${id}.${raw.subarray(0, 20).toString('base64url')}`, 'aad')).toThrow(DecryptionError)
    expect(() => box.open('plain text', 'aad')).toThrow(DecryptionError)
  })

  test('a ciphertext moved to another row (other AAD) is rejected', () => {
    const box = new SecretBox(key())
    const sealed = box.seal('name', 'pat.name:pat_1')
    expect(() => box.open(sealed, 'pat.name:pat_2')).toThrow(/tampered|belongs elsewhere/)
  })

  test('a wrong key is rejected with a message naming the key id', () => {
    const a = new SecretBox(key())
    const b = new SecretBox(key())
    const sealed = a.seal('x', 'aad')
    expect(() => b.open(sealed, 'aad')).toThrow(DecryptionError)
    expect(() => b.open(sealed, 'aad')).toThrow(a.currentKeyId)
  })

  test('openOrNull (addresses and user agents shown on pages): the value, or null for none and for what cannot be opened', () => {
    const a = new SecretBox(key())
    const b = new SecretBox(key())
    const sealed = a.seal('203.0.113.7', 'session.ip:ses_1')
    expect(a.openOrNull(sealed, 'session.ip:ses_1')).toBe('203.0.113.7')
    expect(a.openOrNull(null, 'session.ip:ses_1')).toBeNull()
    expect(b.openOrNull(sealed, 'session.ip:ses_1')).toBeNull()
    expect(a.openOrNull(sealed, 'session.ip:ses_2')).toBeNull()
    expect(a.openOrNull('not sealed', 'session.ip:ses_1')).toBeNull()
  })

  test('a key with the same id but other bytes fails authentication', () => {
    const a = new SecretBox(key())
    const sealed = a.seal('x', 'aad')
    const forged = sealed.replace(/^v1\.[0-9a-f]{8}/, `v1.${new SecretBox(key()).currentKeyId}`)
    expect(() => new SecretBox(key()).open(forged, 'aad')).toThrow(DecryptionError)
  })

  test('rotation: a box with the old key as previous opens old values and seals with the new', () => {
    const oldKey = key()
    const newKey = key()
    const sealedOld = new SecretBox(oldKey).seal('x', 'aad')
    const rotated = new SecretBox(newKey, [oldKey])
    expect(rotated.open(sealedOld, 'aad')).toBe('x')
    expect(rotated.isStale(sealedOld)).toBe(true)
    expect(rotated.isStale(rotated.seal('y', 'aad'))).toBe(false)
  })

  test('opened values are kept in memory only when small: a large one (a stored idempotent response) is decrypted again on each open', () => {
    // Found by a soak: 1,500 replays of idempotent task creates (~85 KB responses) held 278 MB
    // after a full GC, since the cache of opened values was bounded by count (10,000) alone.
    const box = new SecretBox(key())
    const decrypt = spyOn(box as unknown as { decrypt: (sealed: string, aad: string) => string }, 'decrypt')
    const small = box.seal('203.0.113.7', 'pat.ip:pat_1')
    expect(box.open(small, 'pat.ip:pat_1')).toBe('203.0.113.7')
    expect(box.open(small, 'pat.ip:pat_1')).toBe('203.0.113.7')
    expect(decrypt).toHaveBeenCalledTimes(1)
    const body = JSON.stringify({ success: true, description: 'd'.repeat(20_000), metadata: { blob: 'm'.repeat(60_000) } })
    const large = box.seal(body, 'idem:idem_1')
    expect(box.open(large, 'idem:idem_1')).toBe(body)
    expect(box.open(large, 'idem:idem_1')).toBe(body)
    expect(decrypt).toHaveBeenCalledTimes(3)
  })

  test('keys must be 32 bytes', () => {
    expect(() => new SecretBox(new Uint8Array(16))).toThrow('32 bytes')
  })
})

describe('keyed digest (SecretBox.digest)', () => {
  test('stable for one key and purpose; another key or purpose gives another; the value is not in it', () => {
    const k1 = crypto.getRandomValues(new Uint8Array(32))
    const k2 = crypto.getRandomValues(new Uint8Array(32))
    const a = new SecretBox(k1)
    const d = a.digest('ip:203.0.113.77', 'rate-limit')
    expect(d).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(new SecretBox(k1).digest('ip:203.0.113.77', 'rate-limit')).toBe(d) // another instance, the same key
    expect(a.digest('ip:203.0.113.78', 'rate-limit')).not.toBe(d)
    expect(a.digest('ip:203.0.113.77', 'other')).not.toBe(d)
    expect(new SecretBox(k2).digest('ip:203.0.113.77', 'rate-limit')).not.toBe(d)
    // Not a plain hash of the value (which anyone could compute for every IPv4 address).
    expect(d).not.toBe(new Bun.CryptoHasher('sha256').update('ip:203.0.113.77').digest('base64url'))
    expect(d).not.toContain('203.0.113.77')
  })
})

describe('server key loading', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-keys-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('TEAMDAY_ENCRYPTION_KEY must be base64 of 32 bytes', () => {
    expect(() => loadSecretBox({ encryptionKey: 'c2hvcnQ=', previousEncryptionKeys: [], keyFile: '' })).toThrow(ConfigError)
    const k = generateKey()
    expect(loadSecretBox({ encryptionKey: k, previousEncryptionKeys: [], keyFile: '' }).source).toBe('env')
  })

  test('without a key, a key file is created 0600 once and reused', () => {
    const keyFile = join(dir, 'sub', 'teamday.key')
    const first = loadSecretBox({ previousEncryptionKeys: [], keyFile })
    expect(first.source).toBe('created')
    expect(existsSync(keyFile)).toBe(true)
    expect(statSync(keyFile).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'sub')).mode & 0o777).toBe(0o700)
    expect(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64').length).toBe(32)
    const second = loadSecretBox({ previousEncryptionKeys: [], keyFile })
    expect(second.source).toBe('file')
    expect(second.box.open(first.box.seal('x', 'a'), 'a')).toBe('x')
  })

  // Found probing the binary with its key file on a full disk (2026-12-05): the start failed with a
  // bare "ENOSPC: no space left on device, write" and left an empty key file, which every later
  // start refused ("must be base64 of exactly 32 bytes (got 0); generate one with openssl").
  test('a key file that cannot be written whole: a clear error naming it, and nothing left behind', () => {
    const sub = join(dir, 'full')
    const keyFile = join(sub, 'teamday.key')
    const real = require('node:fs') as typeof import('node:fs')
    // The disk fills as the key is written (or, second, the folder refuses the link).
    const cases = [
      { what: 'writeSync', error: Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }), says: 'no space left on its disk' },
      { what: 'linkSync', error: Object.assign(new Error('EROFS: read-only file system, link'), { code: 'EROFS' }), says: 'its folder is on a read-only file system' },
      // A FAT folder (found 2026-12-06): no chmod (ENOSYS under FUSE), no hard links (EPERM).
      { what: 'chmodSync', error: Object.assign(new Error('ENOSYS: function not implemented, chmod'), { code: 'ENOSYS' }), says: 'its file system keeps no file modes or hard links (vfat, exFAT, some network shares), so it cannot hold a key file only its owner may read (ENOSYS)' },
      { what: 'linkSync', error: Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' }), says: 'its file system keeps no file modes or hard links (vfat, exFAT, some network shares), so it cannot hold a key file only its owner may read (EPERM)' },
      // The folder refuses the file itself: a permission.
      { what: 'openSync', error: Object.assign(new Error('EACCES: permission denied, open'), { code: 'EACCES' }), says: 'permission denied (its folder must be writable by the user teamday runs as)' },
    ]
    for (const { what, error, says } of cases) {
      const fs = {
        openSync: real.openSync,
        writeSync: real.writeSync,
        fsyncSync: real.fsyncSync,
        closeSync: real.closeSync,
        chmodSync: real.chmodSync,
        linkSync: real.linkSync,
        unlinkSync: real.unlinkSync,
        [what]: () => {
          throw error
        },
      }
      let thrown: unknown
      try {
        loadSecretBox({ previousEncryptionKeys: [], keyFile }, { fs } as Parameters<typeof loadSecretBox>[1])
      } catch (e) {
        thrown = e
      }
      expect(thrown).toBeInstanceOf(Error)
      expect((thrown as Error).message).toStartWith(`cannot write the new encryption key file ${keyFile}: ${says}; nothing was written there.`)
      expect(real.readdirSync(sub)).toEqual([])
    }
    // Space again: the next start writes it.
    expect(loadSecretBox({ previousEncryptionKeys: [], keyFile }).source).toBe('created')
    expect(Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'base64').length).toBe(32)
    expect(real.readdirSync(sub)).toEqual(['teamday.key'])
  })

  test('a key file that holds no key (empty, cut short) is refused as damaged: restore it from the backup', () => {
    const keyFile = join(dir, 'damaged.key')
    for (const content of ['', 'aGVsbG8=\n']) {
      writeFileSync(keyFile, content, { mode: 0o600 })
      expect(() => loadSecretBox({ previousEncryptionKeys: [], keyFile })).toThrow(ConfigError)
      expect(() => loadSecretBox({ previousEncryptionKeys: [], keyFile })).toThrow(`the encryption key file ${keyFile} holds no key (${content === '' ? 'it is empty' : '5 bytes, not 32'}): it is damaged, or not a key file. Restore it from your backup`)
      // Nothing overwrote it.
      expect(readFileSync(keyFile, 'utf8')).toBe(content)
    }
  })

  test('a key file others may read is used, with a warning naming the file, who may read it and the fix; a start logs it', async () => {
    const keyFile = join(dir, 'loose.key')
    writeFileSync(keyFile, generateKey() + '\n', { mode: 0o600 })
    expect(loadSecretBox({ previousEncryptionKeys: [], keyFile }).warning).toBeUndefined()
    chmodSync(keyFile, 0o644)
    const loose = loadSecretBox({ previousEncryptionKeys: [], keyFile })
    expect(loose.source).toBe('file')
    expect(loose.warning).toBe(`the key file ${keyFile} is readable or writable by all users (mode 0644): whoever reads it can open every sealed secret and token name; chmod 600 ${keyFile}`)
    chmodSync(keyFile, 0o640)
    expect(loadSecretBox({ previousEncryptionKeys: [], keyFile }).warning).toContain('by its group (mode 0640)')
    const logs: string[] = []
    const rt = await createRuntime(loadConfig({}, { dbPath: join(dir, 'loose.db'), keyFile }), { log: createLogger('info', (l) => logs.push(l)) })
    await rt.close()
    expect(logs.filter((l) => l.includes('"key_file_permissions"'))).toHaveLength(1)
  })

  test('a database refuses to open under another key', async () => {
    const conn = openDatabase(join(dir, 'k.db'))
    runMigrations(conn)
    const { db } = conn
    const k1 = key()
    await verifyEncryptionKey(db, new SecretBox(k1), Date.now())
    await verifyEncryptionKey(db, new SecretBox(k1), Date.now()) // same key: fine
    await expect(verifyEncryptionKey(db, new SecretBox(key()), Date.now())).rejects.toThrow(WrongKeyError)
    await expect(verifyEncryptionKey(db, new SecretBox(key()), Date.now())).rejects.toThrow('TEAMDAY_ENCRYPTION_KEY')
    conn.close()
  })

  test('a rotation never moves the key check: the new key alone is refused until the old one is listed again', async () => {
    const conn = openDatabase(join(dir, 'rotated.db'))
    runMigrations(conn)
    const { db } = conn
    const [k1, k2] = [key(), key()]
    await verifyEncryptionKey(db, new SecretBox(k1), Date.now())
    const check = await readKeyCheck(db)
    // The data (here a token name) stays sealed under k1: nothing re-seals it.
    const sealedName = new SecretBox(k1).seal('deploy bot', 'pat.name:pat_1')
    await verifyEncryptionKey(db, new SecretBox(k2, [k1]), Date.now())
    expect(await readKeyCheck(db)).toBe(check)
    await expect(verifyEncryptionKey(db, new SecretBox(k2), Date.now())).rejects.toThrow(WrongKeyError)
    await expect(verifyEncryptionKey(db, new SecretBox(k2), Date.now())).rejects.toThrow('TEAMDAY_ENCRYPTION_KEYS_PREVIOUS')
    expect(new SecretBox(k2, [k1]).open(sealedName, 'pat.name:pat_1')).toBe('deploy bot')
    conn.close()
  })

  // A start refused for its key had migrated the database first: the older binary it came from
  // then refused it ("migrated by a newer teamday"), and the refusal did not say so.
  test('a database with migrations to apply is checked against the key first: a missing or wrong key leaves it unmigrated', async () => {
    const file = join(dir, 'older.db')
    const conn = openDatabase(file)
    const all = embeddedMigrations()
    ;(conn.sync as any).dialect.migrate(all.slice(0, -1), (conn.sync as any).session, { migrationsFolder: '' })
    const k1 = generateKey()
    await verifyEncryptionKey(conn.db, new SecretBox(Buffer.from(k1, 'base64')), Date.now())
    const applied = () => (conn.client.query('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number }).n
    expect(applied()).toBe(all.length - 1)
    const start = (env: Record<string, string>) => createRuntime(loadConfig(env, { dbPath: file, keyFile: join(dir, 'older-no-such.key') }), { log: createLogger('silent') })
    await expect(start({})).rejects.toThrow('no encryption key')
    expect(existsSync(join(dir, 'older-no-such.key'))).toBe(false)
    await expect(start({ TEAMDAY_ENCRYPTION_KEY: generateKey() })).rejects.toThrow(WrongKeyError)
    expect(applied()).toBe(all.length - 1)
    const rt = await start({ TEAMDAY_ENCRYPTION_KEY: k1 })
    expect(rt.migrationsApplied).toBe(1)
    await rt.close()
    expect(applied()).toBe(all.length)
    conn.close()
  })

  // Stamped with whatever key came (a new key file, or a wrong key), the sealed data became unreadable for good.
  test('a database whose key check is missing while it holds sealed data: a key that does not open it is refused, and no key file is made', async () => {
    const file = join(dir, 'unchecked-sealed.db')
    const keyFile = join(dir, 'unchecked-sealed.key')
    const k1 = generateKey()
    const start = (env: Record<string, string>) => createRuntime(loadConfig(env, { dbPath: file, keyFile }), { log: createLogger('silent') })
    const rt = await start({ TEAMDAY_ENCRYPTION_KEY: k1 })
    // A token (its name sealed under k1), written without its user and organization.
    sqliteConnection(rt).client.exec('PRAGMA foreign_keys = OFF')
    const token = { id: 'pat_sealed1', userId: 'user_x', organizationId: 'org_x', tokenHash: 'h'.repeat(64), hint: 'td_a…b', scopes: ['*'], createdAt: new Date(), expiresAt: new Date(Date.now() + 86_400_000), familyId: 'pat_sealed1' }
    await rt.db.insert(personalAccessTokens).values({ ...token, nameEnc: rt.box.seal('deploy', 'pat.name:pat_sealed1') }).run()
    sqliteConnection(rt).client.run("DELETE FROM settings WHERE key = 'encryption_key_check'")
    await rt.close()
    await expect(start({})).rejects.toThrow('no encryption key')
    expect(existsSync(keyFile)).toBe(false)
    await expect(start({ TEAMDAY_ENCRYPTION_KEY: generateKey() })).rejects.toThrow('its key check is missing')
    const right = await start({ TEAMDAY_ENCRYPTION_KEY: k1 })
    expect(await readKeyCheck(right.db)).toBeDefined()
    await right.close()
  })

  test('store: false (commands that must not write) leaves a database without a check as it is; the first check stored stays', async () => {
    const conn = openDatabase(join(dir, 'unchecked.db'))
    runMigrations(conn)
    const { db } = conn
    const [k1, k2] = [key(), key()]
    await verifyEncryptionKey(db, new SecretBox(k1), Date.now(), { store: false })
    expect(await readKeyCheck(db)).toBeUndefined()
    await verifyEncryptionKey(db, new SecretBox(k1), Date.now())
    const check = await readKeyCheck(db)
    // Another key is refused and leaves the stored check as it was.
    await expect(verifyEncryptionKey(db, new SecretBox(k2), Date.now())).rejects.toThrow(WrongKeyError)
    expect(await readKeyCheck(db)).toBe(check)
    conn.close()
  })
})

import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto'

/**
 * AES-256-GCM "secret box" with key ids, for data at rest.
 * Sealed form: `v1.<keyId>.<base64url(iv[12] | ciphertext | tag[16])>`.
 * The key id (first 8 hex chars of SHA-256 of the key) picks the key on open, so keys can
 * rotate: seal always uses the current key, open accepts any key in the ring.
 * `aad` binds a ciphertext to its place (e.g. "pat.name:pat_123"): moved to another row it fails.
 */
export class DecryptionError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DecryptionError'
  }
}

export const KEY_BYTES = 32

/**
 * Whether a stored value has the sealed form (`v1.<keyId>.<data>`), whatever key sealed it. A
 * column sealed since some build may still hold what an earlier build wrote there as it was (the
 * audit log's address, user agent and details before 2026-11-23's sealing): that is no sealed
 * value under any key, and its reader tells the two apart with this.
 */
export function isSealed(value: string): boolean {
  const parts = value.split('.')
  // The shape alone let a user agent such as `v1.2.3`, kept as it was by such a build, pass for
  // one (then opened under "key 2": a 500): a key id is 8 hex digits, and the data at least the
  // IV and the tag in base64url.
  return parts.length === 3 && parts[0] === 'v1' && KEY_ID.test(parts[1]!) && parts[2]!.length >= SEALED_DATA_MIN_CHARS && BASE64URL.test(parts[2]!)
}
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_ID = /^[0-9a-f]{8}$/
const BASE64URL = /^[A-Za-z0-9_-]+$/
/** An empty plaintext's data: the IV and the tag, in base64url without padding. */
const SEALED_DATA_MIN_CHARS = Math.ceil(((IV_BYTES + TAG_BYTES) * 4) / 3)

export function keyIdOf(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8)
}

/** Opened values kept in memory, keyed by the exact sealed text and its AAD (see open()). */
const OPEN_CACHE_MAX = 10_000
/**
 * The largest entry kept (AAD, sealed text and plaintext together, in characters): the values read
 * on every request (a token's last address, names, user agents of at most 512 characters) are far
 * below it. A stored idempotent response can be hundreds of kilobytes and is seldom replayed
 * twice; kept, 10,000 of them would pin gigabytes (a soak measured 278 MB after a full GC for
 * 1,500 replays of ~85 KB task responses). The cache so holds at most about 40 million characters.
 */
const OPEN_CACHE_ENTRY_MAX = 4096

export class SecretBox {
  private readonly keys = new Map<string, Buffer>()
  private readonly opened = new Map<string, string>()
  readonly currentKeyId: string

  constructor(current: Uint8Array, previous: Uint8Array[] = []) {
    for (const k of [current, ...previous]) {
      if (k.length !== KEY_BYTES) throw new Error(`encryption keys must be ${KEY_BYTES} bytes (got ${k.length})`)
      this.keys.set(keyIdOf(k), Buffer.from(k))
    }
    this.currentKeyId = keyIdOf(current)
  }

  /**
   * A keyed digest of `value` for `purpose` (HMAC-SHA-256 under a subkey of the current key):
   * a stable name for a value that must not be stored in clear and is never read back, such as a
   * client address in a shared rate-limit counter's key. Unlike a plain hash it cannot be
   * reversed by trying every IPv4 address. Changes when the current key does.
   */
  digest(value: string, purpose: string): string {
    return this.digestUnder(this.currentKeyId, value, purpose)
  }

  /** Whether the ring holds keys besides the current one (a key rotation under way). */
  get hasPreviousKeys(): boolean {
    return this.keys.size > 1
  }

  /** digest under every key of the ring, the current one first: what a value digested before a key rotation was stored as. */
  digests(value: string, purpose: string): string[] {
    return [...this.keys.keys()].map((id) => this.digestUnder(id, value, purpose))
  }

  private digestUnder(keyId: string, value: string, purpose: string): string {
    let key = this.digestKeys.get(keyId)
    if (key === undefined) this.digestKeys.set(keyId, (key = createHmac('sha256', this.keys.get(keyId)!).update('teamday digest v1').digest()))
    return createHmac('sha256', key).update(purpose).update('\u0000').update(value).digest('base64url')
  }

  private readonly digestKeys = new Map<string, Buffer>()

  seal(plaintext: string, aad: string): string {
    const key = this.keys.get(this.currentKeyId)!
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    cipher.setAAD(Buffer.from(aad, 'utf8'))
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    const tag = cipher.getAuthTag()
    return `v1.${this.currentKeyId}.${Buffer.concat([iv, ct, tag]).toString('base64url')}`
  }

  /**
   * Decrypts and authenticates. Small results are cached by (AAD, sealed text): every seal has
   * a fresh random IV, so a sealed text is never reused for another plaintext and the cache
   * needs no invalidation; the key ring is fixed for the box's lifetime.
   */
  open(sealed: string, aad: string): string {
    const cacheKey = `${aad}\u0000${sealed}`
    const hit = this.opened.get(cacheKey)
    if (hit !== undefined) return hit
    const plain = this.decrypt(sealed, aad)
    if (cacheKey.length + plain.length > OPEN_CACHE_ENTRY_MAX) return plain
    if (this.opened.size >= OPEN_CACHE_MAX) this.opened.delete(this.opened.keys().next().value!)
    this.opened.set(cacheKey, plain)
    return plain
  }

  /**
   * A sealed value shown to a person (an address, a user agent): null when there is none, or when
   * it cannot be opened (sealed under a key no longer configured), instead of failing the page.
   */
  openOrNull(sealed: string | null, aad: string): string | null {
    if (sealed === null) return null
    try {
      return this.open(sealed, aad)
    } catch (e) {
      if (e instanceof DecryptionError) return null
      throw e
    }
  }

  private decrypt(sealed: string, aad: string): string {
    const parts = sealed.split('.')
    if (parts.length !== 3 || parts[0] !== 'v1') throw new DecryptionError('not a sealed value (expected v1.<keyId>.<data>)')
    const [, keyId, data] = parts as [string, string, string]
    const key = this.keys.get(keyId)
    if (!key) {
      throw new DecryptionError(
        `value was encrypted with key ${keyId}, which is not configured (current key ${this.currentKeyId}); ` +
          'set TEAMDAY_ENCRYPTION_KEY to that key, or list it in TEAMDAY_ENCRYPTION_KEYS_PREVIOUS',
      )
    }
    const raw = Buffer.from(data, 'base64url')
    if (raw.length < IV_BYTES + TAG_BYTES) throw new DecryptionError('sealed value is truncated')
    const iv = raw.subarray(0, IV_BYTES)
    const tag = raw.subarray(raw.length - TAG_BYTES)
    const ct = raw.subarray(IV_BYTES, raw.length - TAG_BYTES)
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv)
      decipher.setAAD(Buffer.from(aad, 'utf8'))
      decipher.setAuthTag(tag)
      return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8')
    } catch {
      throw new DecryptionError(`authentication failed for value under key ${keyId}: it was tampered with or belongs elsewhere`)
    }
  }

  /** True when the value is sealed under an older key and should be re-sealed. */
  isStale(sealed: string): boolean {
    return sealed.split('.')[1] !== this.currentKeyId
  }

  /**
   * The value sealed again under the current key, with the same AAD (`teamday rekey`). Opened
   * without entering the cache: a rekey walks every sealed value of the database once, and
   * keeping them would hold up to 10,000 plaintexts in memory for nothing. Throws
   * DecryptionError when no configured key opens it.
   */
  reseal(sealed: string, aad: string): string {
    return this.seal(this.decrypt(sealed, aad), aad)
  }
}

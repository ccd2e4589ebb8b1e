import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** A challenge or a salt: 32 random bytes, base64url (43 characters). */
export const PROOF_TOKEN = '^[A-Za-z0-9_-]{43}$'
const TOKEN = new RegExp(PROOF_TOKEN)

export const newProofToken = (): string => randomBytes(32).toString('base64url')

export interface SameDatabaseProof {
  /** Chosen by the answering process, afresh for every answer. */
  salt: string
  /** HMAC-SHA256, keyed with the database's identity, of the challenge and the salt. */
  proof: string
}

/**
 * A database's identity (a random value in its settings, src/db/settings.ts stampDatabaseId),
 * used only to show another process that both serve the same live database (`serve
 * --reuse-port`, src/cli/admin/port-holder.ts), never shown itself.
 *
 * The prober writes a fresh random nonce into its own database, under a probe name of its own
 * (src/db/settings.ts putLiveProbe), and sends a fresh random challenge with that name. The
 * answering process reads the name in ITS database: found, it answers a fresh salt and a keyed
 * hash of challenge and salt under its identity and the nonce it read; not found (or expired), the
 * same shape keyed with random bytes, which proves nothing. Only a process that reads the very
 * row just written (the same live database, not a copy or a dump restored elsewhere, which keep
 * the identity) and holds the same identity can answer; the answer reveals nothing of either, and
 * to anyone who does not know the nonce every answer looks alike, whether the name exists or not.
 */
export class DatabaseIdentity {
  readonly #id: string

  constructor(id: string) {
    this.#id = id
  }

  /** The answer to a challenge (a well-formed one: the route validates it), with the nonce the probe's name holds here, if any. */
  prove(challenge: string, nonce: string | undefined, salt: string = newProofToken()): SameDatabaseProof {
    // Not found: keyed with bytes nobody knows, computed just as a real one (shape and cost alike).
    const key = nonce === undefined ? randomBytes(32).toString('base64url') : nonce
    return { salt, proof: this.#mac(key, challenge, salt) }
  }

  /** Whether an answer to `challenge` was made with this identity and `nonce` (the same live database). */
  proves(challenge: string, nonce: string, answer: unknown): boolean {
    const a = answer as Partial<SameDatabaseProof> | null
    if (typeof a?.salt !== 'string' || typeof a.proof !== 'string' || !TOKEN.test(a.salt) || !TOKEN.test(a.proof)) return false
    return timingSafeEqual(Buffer.from(this.#mac(nonce, challenge, a.salt)), Buffer.from(a.proof))
  }

  #mac(nonce: string, challenge: string, salt: string): string {
    return createHmac('sha256', `${this.#id}\n${nonce}`).update(`teamday same-database proof v2\n${challenge}\n${salt}`).digest('base64url')
  }
}

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
 * used only to show another process that both serve the same database (`serve --reuse-port`,
 * src/cli/admin/port-holder.ts), never shown itself.
 *
 * The prober sends a fresh random challenge; the answer is a fresh salt and a keyed hash of both.
 * Only a process that holds the same identity can make or check it; it reveals nothing of the
 * identity, and with its own salt in every answer, two servers' answers to one challenge cannot
 * be compared by anyone else either (whether two addresses serve one database stays unknown).
 */
export class DatabaseIdentity {
  readonly #id: string

  constructor(id: string) {
    this.#id = id
  }

  /** The answer to a challenge (a well-formed one: the route validates it). */
  prove(challenge: string, salt: string = newProofToken()): SameDatabaseProof {
    return { salt, proof: this.#mac(challenge, salt) }
  }

  /** Whether an answer to `challenge` was made with this identity (the same database). */
  proves(challenge: string, answer: unknown): boolean {
    const a = answer as Partial<SameDatabaseProof> | null
    if (typeof a?.salt !== 'string' || typeof a.proof !== 'string' || !TOKEN.test(a.salt) || !TOKEN.test(a.proof)) return false
    return timingSafeEqual(Buffer.from(this.#mac(challenge, a.salt)), Buffer.from(a.proof))
  }

  #mac(challenge: string, salt: string): string {
    return createHmac('sha256', this.#id).update(`teamday same-database proof v1\n${challenge}\n${salt}`).digest('base64url')
  }
}

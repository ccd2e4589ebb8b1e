/**
 * How console passwords are hashed: argon2id through Bun.password. The parameters are the
 * runtime's (Config.passwordHashing, src/config.ts): a server always uses PASSWORD_HASHING; the
 * test harness (test/helpers/app.ts) builds its runtimes with a cheap cost, so that tests that
 * give people passwords do not spend most of their time hashing, and its tests of the hash
 * itself (the cost, the re-hash of an older one) ask for these.
 */
export interface PasswordHashing {
  algorithm: 'argon2id'
  /** KiB of memory per hash. */
  memoryCost: number
  /** Passes over that memory. */
  timeCost: number
}

/**
 * The OWASP minimum for argon2id: m = 19 MiB, t = 2, p = 1. Measured on the 2-core build machine:
 * ~40 ms per verify when quiet, ~120 ms under load from other processes; Bun's default
 * (m = 64 MiB) took 160-280 ms. Sign-in throttling (src/console/throttle.ts) runs before any
 * hashing, so an attacker cannot spend the server's CPU faster than the throttle allows.
 */
export const PASSWORD_HASHING: Readonly<PasswordHashing> = Object.freeze({ algorithm: 'argon2id', memoryCost: 19_456, timeCost: 2 })

/** How a hash made with `p` begins (its PHC string names its parameters): one that begins otherwise is re-hashed at sign-in. */
export function hashPrefix(p: PasswordHashing): string {
  return `$argon2id$v=19$m=${p.memoryCost},t=${p.timeCost},p=1$`
}

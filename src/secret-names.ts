/**
 * The rule for secret names, alone in a file without imports: the server checks it
 * (validateSecretKeys, src/modules/spaces/secrets.ts) and the client CLI checks it before it
 * sends (`teamday spaces secrets set|delete`), without loading the server.
 */

export const SECRET_KEY_PATTERN = /^[A-Z][A-Z0-9_]*$/
export const MAX_KEY_LENGTH = 128
/** The most secrets one request sets or deletes (the API's limit; the client says it before sending). */
export const MAX_KEYS_PER_REQUEST = 100

/** The rule in words, for error messages. */
export const SECRET_KEY_RULE = `UPPER_SNAKE_CASE (A-Z, 0-9, _; starting with a letter), at most ${MAX_KEY_LENGTH} characters`

export function isSecretKey(key: string): boolean {
  return key.length <= MAX_KEY_LENGTH && SECRET_KEY_PATTERN.test(key)
}

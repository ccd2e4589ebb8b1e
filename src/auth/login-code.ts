/**
 * The short, human-comparable form of a CLI login code, shown by `teamday login` in the terminal
 * and on the approval page: 8 characters of the code's SHA-256 in an alphabet without look-alikes
 * (no 0/O, 1/I/L), as `XXXX-XXXX`. It only helps a person see that the page in front of them is
 * about the terminal in front of them; it is not a secret and grants nothing.
 */
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789'

export function loginCodeDisplay(code: string): string {
  const digest = new Uint8Array(Bun.CryptoHasher.hash('sha256', code) as Uint8Array)
  let out = ''
  for (let i = 0; i < 8; i++) out += ALPHABET[digest[i]! % ALPHABET.length]
  return `${out.slice(0, 4)}-${out.slice(4)}`
}

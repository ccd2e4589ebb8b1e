/**
 * `value` with `fn` applied to every string in it, object keys included. Arrays and plain
 * objects are walked, to `maxDepth` levels (deeper ones are kept as they are); anything else
 * (numbers, dates, class instances) is kept. Copy on write: what nothing changed in comes back
 * as it is, and the input is never mutated. The one walk of token redaction
 * (src/auth/tokens.ts) and of the engine's NUL replacement (src/engine/store.ts).
 */
export function mapStrings<T>(value: T, fn: (s: string) => string, maxDepth = Infinity): T {
  return walk(value, fn, maxDepth, 0) as T
}

function walk(value: unknown, fn: (s: string) => string, maxDepth: number, depth: number): unknown {
  if (typeof value === 'string') return fn(value)
  if (value === null || typeof value !== 'object' || depth > maxDepth) return value
  if (Array.isArray(value)) {
    let out: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const y = walk(value[i], fn, maxDepth, depth + 1)
      if (y !== value[i]) (out ??= [...value])[i] = y
    }
    return out ?? value
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  let changed = false
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    const key = fn(k)
    const y = walk(v, fn, maxDepth, depth + 1)
    if (key !== k || y !== v) changed = true
    out[key] = y
  }
  return changed ? out : value
}

/**
 * `c` and every character of the same case class: those that one-character upper and lower
 * casing connect to it, in either direction, transitively. So σ, ς and Σ are one class (ς's
 * upper case is Σ, whose lower case is σ), as are s, S and ſ, k, K and the Kelvin sign, ß and ẞ,
 * i, I, ı and İ;
 * a character without another case is its own class. Built on first use from the runtime's
 * Unicode tables (about 20 ms, once: 3,000 characters in classes of two or more).
 */
export function caseClass(c: string): readonly string[] {
  classes ??= caseClasses()
  return classes.get(c) ?? [c]
}

let classes: Map<string, readonly string[]> | undefined

function caseClasses(): Map<string, readonly string[]> {
  const parent = new Map<string, string>()
  const root = (x: string): string => {
    let r = x
    while (parent.get(r) !== r) r = parent.get(r)!
    return r
  }
  const join = (a: string, b: string) => {
    if (!parent.has(a)) parent.set(a, a)
    if (!parent.has(b)) parent.set(b, b)
    parent.set(root(a), root(b))
  }
  const oneCharacter = (s: string) => s.length === 1 || (s.length === 2 && s.codePointAt(0)! > 0xffff)
  for (let cp = 0; cp <= 0x1ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue
    const c = String.fromCodePoint(cp)
    for (const v of [c.toUpperCase(), c.toLowerCase()]) if (v !== c && oneCharacter(v)) join(c, v)
  }
  // The one character whose simple lower case (UnicodeData) is one character where the full one
  // the runtime gives is two: İ (U+0130) → i, where toLowerCase() gives i and a combining dot.
  // Without it, "istanbul" did not find "İstanbul".
  join('\u0130', 'i')
  const members = new Map<string, string[]>()
  for (const c of parent.keys()) {
    const r = root(c)
    const list = members.get(r)
    if (list) list.push(c)
    else members.set(r, [c])
  }
  const out = new Map<string, readonly string[]>()
  for (const list of members.values()) for (const c of list) out.set(c, list)
  return out
}

/**
 * Controls (C0, C1) and the bidirectional formatting characters (embeddings, overrides, isolates,
 * marks): in a name others read, they reorder or hide the text shown around it ("admin@example.com"
 * spelled backwards behind U+202E).
 */
const REORDERING = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u
/**
 * Nothing a reader would see: white space, format (zero-width) characters, combining marks with
 * nothing to combine with (U+034F, variation selectors), and the characters fonts draw as blanks
 * (the Hangul fillers U+115F, U+1160, U+3164, U+FFA0 and the Braille blank U+2800).
 */
const BLANK = /^[\s\p{Cf}\p{Mn}\p{Me}\u115F\u1160\u3164\uFFA0\u2800]*$/u

/**
 * REORDERING's characters as the body of a character class without Unicode property escapes
 * (\p{Cc} is U+0000-U+001F and U+007F-U+009F): a JSON Schema pattern is ECMA-262 without the u flag.
 */
const REORDERING_CLASS = '\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069'

/** The longest display name of a person, once trimmed (src/modules/members/service.ts, validatePersonName). */
export const MAX_PERSON_NAME_LENGTH = 100

/** At least one character other than white space: what is left after trim() is not empty (JSON Schema `pattern`, unanchored). */
export const NOT_ONLY_SPACES_PATTERN = '\\S'

/** Empty, or at least one character other than white space: never only spaces (JSON Schema `pattern`). */
export const EMPTY_OR_NOT_ONLY_SPACES_PATTERN = '^$|\\S'

/**
 * A name as the service takes it (JSON Schema `pattern`, for the OpenAPI document): once trimmed,
 * 1 to `max` characters, none of them a control or bidirectional formatting character (the
 * first rule of nameTrouble; its second, a visible character, is said in words). `optional`: a
 * name that is empty once trimmed passes too (it means no name).
 */
export function namePattern(max: number, optional = false): string {
  const c = REORDERING_CLASS
  const name = `[^\\s${c}](?:[^${c}]{0,${max - 2}}[^\\s${c}])?`
  // Optional: the closing \s* inside the optional group. `^\s*(?:name)?\s*$` has two \s* side by
  // side without a name, and a client's validator backtracks in time quadratic in a run of spaces.
  return optional ? `^\\s*(?:${name}\\s*)?$` : `^\\s*(?:${name})\\s*$`
}

/** What is wrong with a name people read (a token's, a person's), or null. Zero-width joiners inside emoji stay allowed. */
export function nameTrouble(name: string): string | null {
  if (REORDERING.test(name)) return 'must not contain control or bidirectional formatting characters'
  if (BLANK.test(name)) return 'must contain a visible character'
  return null
}

/**
 * The one form of an e-mail address this server stores, looks up and compares: trimmed, NFKC
 * (the composed and decomposed é are one character; full-width ＡＮＮＡ, ligatures such as ﬁ and
 * the Kelvin sign are the letters a person reads), lower case (Unicode's: ẞ is ß, Σ at the end of
 * a word is ς as a Greek writes it; İ, a Turkish keyboard's capital i, is i and not i with a
 * combining dot, which no address may hold), then NFC again (lower-casing can leave a decomposed form).
 * Used by every path that takes an address from a person: sign-in and its throttle, members
 * added, a profile's e-mail, the admin and client CLIs. Nothing else is folded: ß is not ss,
 * ı is not i, so two addresses spelt differently stay two.
 */
export function emailKey(email: string): string {
  return email.trim().normalize('NFKC').toLowerCase().replaceAll('i\u0307', 'i').normalize('NFC')
}

/**
 * The form addresses were stored in before emailKey (trimmed and lower-cased only): a look-up
 * tries it too when it differs, so an account stored then with a full-width or compatibility
 * character is still found as its address was typed.
 */
export function legacyEmailKey(email: string): string {
  return email.trim().toLowerCase()
}

/**
 * A name people choose (an agent's, a space's, a token's, a person's) as it is stored: trimmed and
 * in NFC, so that the same name typed with a composed é or a decomposed one (e and U+0301, as
 * macOS file names and some keyboards give it) is one text: found by the same search (an agent
 * list's `q`), equal in a comparison, counted the same against a length limit.
 */
export function cleanName(name: string): string {
  return name.trim().normalize('NFC')
}

/**
 * The first `n` UTF-16 units of `s` (what `s.slice(0, n)` gives), one fewer where the cut would
 * split a surrogate pair: a value echoed in a message, cut to a length, never ends in half an
 * emoji (a lone surrogate, written `\ud83d` in the JSON answer, which strict JSON parsers refuse
 * and PostgreSQL's jsonb cannot store).
 */
export function cutText(s: string, n: number): string {
  if (s.length <= n) return s
  const last = s.charCodeAt(n - 1)
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? n - 1 : n)
}

/**
 * `s` cut to its first `n` characters (cutText) with `mark` after (`...`, or `…` where a value is
 * quoted in a message: a field's name, a key, a coding), when it is longer; else `s`.
 */
export function clipped(s: string, n: number, mark: '...' | '…' = '...'): string {
  return s.length > n ? `${cutText(s, n)}${mark}` : s
}

/** Any control or format character (zero-width, bidirectional): never part of an e-mail address. */
export const HIDDEN_CHARACTER = /[\p{Cc}\p{Cf}]/u

/**
 * `s` without the run of `ch` (one character) at its end: what `s.replace(/ch+$/, '')` gives, by a
 * scan. That expression tries every start of a long run that does not reach the end (`///…/x`),
 * each to the end of the run: time quadratic in the run, on the event loop.
 */
export function trimEndChar(s: string, ch: string): string {
  let end = s.length
  while (end > 0 && s[end - 1] === ch) end--
  return end === s.length ? s : s.slice(0, end)
}

/** `s` without the runs of `ch` (one character) at its start and end: `s.replace(/^ch+|ch+$/g, '')`, by a scan. */
export function trimChar(s: string, ch: string): string {
  let start = 0
  while (start < s.length && s[start] === ch) start++
  return trimEndChar(s.slice(start), ch)
}

/**
 * A variable's value, or undefined when it is unset, empty or only white space (`VAR= ` in an env
 * or compose file, a CI secret holding a space): the one rule of blank-is-unset, for the server's
 * configuration (src/config.ts) and the client's (src/client/config.ts) alike.
 */
export function unlessBlank(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value : undefined
}

/**
 * A URL setting as an error message may quote it: without its user and password, query and
 * fragment (`https://ops:pass@host/?token=…` → `https://host/`), which may hold secrets; null
 * when it does not parse as a URL and holds `@`, `?` or `#` (what is a password there cannot be
 * told), so that the message quotes nothing.
 */
export function quotableUrl(raw: string): string | null {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    return /[@?#]/.test(raw) ? null : raw
  }
  // Without a host the text may be one typed without its scheme (`ops:pass@host` reads as scheme
  // `ops:` and path `pass@host`): what is a password there cannot be told either.
  if (u.host === '' && /[@?#]/.test(raw)) return null
  if (!u.username && !u.password && !u.search && !u.hash) return raw
  u.username = ''
  u.password = ''
  u.search = ''
  u.hash = ''
  return u.href
}

import { recordAuditOnce } from '../audit/log'
import type { Ctx } from '../context'
import { AppError, type ErrorCode } from '../errors'
import { basePathOf } from '../http/base-path'
import { authRowNow, touchLastUsed, type AuthRow } from './lookup'
import type { CountedHits, CountedLookup } from './pg-lookup'
import type { Principal } from './principal'
import { revocationInForce } from './revoked'
import { ACCESS_TOKEN_PREFIX, checkTokenFormat, hashToken, stopsAt, TOKEN_PREFIX } from './tokens'

export const MAX_AUTH_HEADER_BYTES = 8 * 1024

/** Space, tab, CR, LF: what is trimmed around the header's value (not `\s`, which is every Unicode space). */
const isEdgeSpace = (c: number) => c === 32 || c === 9 || c === 13 || c === 10

/** `s` without spaces, tabs, CRs and LFs at either end (linear: a regex anchored at the end is quadratic on a long run of them). */
function trimEdges(s: string): string {
  let start = 0
  let end = s.length
  while (start < end && isEdgeSpace(s.charCodeAt(start))) start++
  while (end > start && isEdgeSpace(s.charCodeAt(end - 1))) end--
  return s.slice(start, end)
}

/**
 * The header's value as the client wrote it. Bun gives header bytes as Latin-1 characters, so a
 * Unicode space that curl or a shell sends as UTF-8 (a no-break space: C2 A0) reads as two
 * characters (`Â` and U+00A0): `Bearer<NBSP>td_…` looked like the scheme `BearerÂ`, and was
 * told to use "Bearer". Bytes that are valid UTF-8 are read as UTF-8 (a token is ASCII: such a
 * header is refused either way; this only picks the right reason).
 */
function asSent(header: string): string {
  if (!/[^\x00-\x7f]/.test(header) || /[^\x00-\xff]/.test(header)) return header
  const utf8 = Buffer.from(header, 'latin1').toString('utf8')
  return utf8.includes('\ufffd') ? header : utf8
}

/** Between the scheme and the token: one or more spaces or tabs (RFC 7235's 1*SP, tabs tolerated). */
const SEPARATOR = /^[ \t]+/

/**
 * `Bearer `, then a token of either kind's shape (`td_` or `tdo_` and 43 token characters), and
 * nothing else: what credentialsOf would take apart to that same token.
 */
const PLAIN_BEARER = /^Bearer (tdo?_[A-Za-z0-9_-]{43})$/

/** Where the console makes tokens, as the messages name it: atPublicPaths puts a sub-path before it. */
const TOKENS_PAGE = 'Personal Access Tokens, /settings/tokens)'
const FIX = `Create a new token in the web console (Settings → Profile → ${TOKENS_PAGE} or on the server (\`teamday tokens create --email … --name …\`), and send it as "Authorization: Bearer td_…"; from a terminal, sign in with \`teamday login\` (TeamDay's CLI: \`teamday auth login\`).`
/** An unset variable expands to nothing: `-H "Authorization: Bearer $TEAMDAY_TOKEN"` sends "Bearer " alone. */
const EMPTY_VARIABLE = 'If the token comes from a variable ("Bearer $TEAMDAY_TOKEN"), it is empty or unset in this shell: export TEAMDAY_TOKEN="td_…" first.'

/**
 * The placeholders of TeamDay's docs' examples (`td_your-token-here`, `td_your-actual-token-here`)
 * and the German page's sample token ("Ihr Token sieht so aus"), sent before being replaced.
 */
const DOCS_PLACEHOLDER = /^td_(?:your[-_][A-Za-z0-9_-]*|AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdE)$/i

/** A variable's name where its value belongs: `$TEAMDAY_TOKEN`, `${TEAMDAY_TOKEN}` (sh), `$env:TEAMDAY_TOKEN` (PowerShell), `%TEAMDAY_TOKEN%` (cmd). */
const VARIABLE_NAME = /^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$env:[A-Za-z_][A-Za-z0-9_]*|%[A-Za-z_][A-Za-z0-9_]*%)$/i

/** A value kept in its quotes (a Docker --env-file, a systemd EnvironmentFile or a CI variable keeps them). */
const QUOTED = /^(["'`]).+\1$/s

/**
 * What happened when a malformed token is one of the docs' examples sent as copied: a
 * placeholder, a variable the shell did not expand (single quotes), or a value in its quotes.
 * Each was "it does not start with td_" or "td_ followed by exactly 43 characters", which sent
 * people to make a new token; `reason` names the case (`details.reason`). Null for any other.
 */
function docsExampleSaid(credentials: string): { reason: string; message: string } | null {
  if (DOCS_PLACEHOLDER.test(credentials)) return { reason: 'placeholder', message: `this is the example token of the docs, not a token: replace it with your own. ${FIX}` }
  if (VARIABLE_NAME.test(credentials)) {
    return {
      reason: 'unexpanded_variable',
      message:
        'the name of a variable was sent, not its value: the shell did not replace it (single quotes keep $TEAMDAY_TOKEN as it is written). Write the header as "Authorization: Bearer $TEAMDAY_TOKEN" in double quotes, after export TEAMDAY_TOKEN="td_…" (PowerShell: $env:TEAMDAY_TOKEN="td_…", then "Authorization: Bearer $env:TEAMDAY_TOKEN").',
    }
  }
  if (QUOTED.test(credentials)) {
    return {
      reason: 'quoted',
      message: 'the token is in quotes; send it without them ("Authorization: Bearer td_…"). A Docker --env-file, a systemd EnvironmentFile or a CI variable keeps quotes written around a value: write TEAMDAY_TOKEN=td_… there, without quotes.',
    }
  }
  return null
}

const CLI_SIGN_IN = 'Sign in again from your terminal (`teamday login`, or `teamday auth login` with TeamDay\'s CLI)'
const REFRESH = '(POST /api/auth/cli/refresh)'
const CLI_FIX = `${CLI_SIGN_IN}, or refresh the access token ${REFRESH}.`

/**
 * A refusal of authentication with the paths it names (the console's token page, the CLI's
 * refresh) as clients reach them: under a sub-path (TEAMDAY_PUBLIC_URL=https://example.com/teamday),
 * with its prefix (src/http/base-path.ts); they sent people to the root, another site of the host.
 * Any other error as it is.
 */
export function atPublicPaths(e: unknown, publicUrl: string | undefined): unknown {
  if (!(e instanceof AppError) || e.status !== 401) return e
  const base = basePathOf(publicUrl)
  if (base === '') return e
  e.message = e.message.replace(TOKENS_PAGE, TOKENS_PAGE.replace(' /', ` ${base}/`)).replace(REFRESH, REFRESH.replace(' /', ` ${base}/`))
  return e
}

/** RFC 6750 challenge. ASCII only: Bun refuses non-ASCII header values. */
export function bearerChallenge(error: 'invalid_token' | 'insufficient_scope' | null, description?: string): string {
  let v = 'Bearer realm="teamday"'
  if (error) v += `, error="${error}"`
  if (description) v += `, error_description="${description.replace(/["\\]/g, '').replace(/[^\x20-\x7e]/g, '')}"`
  return v
}

function unauthorized(code: ErrorCode, message: string, description: string, details?: unknown): AppError {
  // A request with no credentials at all gets a bare challenge (RFC 6750 §3.1).
  const challenge = code === 'missing_token' ? bearerChallenge(null) : bearerChallenge('invalid_token', description)
  return new AppError(code, message, { headers: { 'www-authenticate': challenge }, details })
}

/** U+00A0 for a no-break space: the character named, never the token around it. */
const codePoint = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`

/**
 * A character no Authorization header of ours holds, found where the scheme, its separator or the
 * token is: whitespace other than spaces and tabs (a no-break space, another Unicode space, a
 * space inside the token), an invisible character (a zero-width space U+200B, a word joiner, a
 * BOM, a soft hyphen: pasted with the token from a document or a chat), a control character (DEL)
 * or any other non-ASCII one.
 * Named by its code point; the token is never echoed.
 */
const strayCharacter = (c: string) => {
  // Format characters first: a BOM (U+FEFF) is whitespace to a regular expression, invisible to whoever pasted it.
  const what = /\p{Cf}/u.test(c)
    ? `an invisible character (${codePoint(c)}, such as a zero-width space pasted with the token from a document or a chat; only spaces or tabs may separate "Bearer" from the token)`
    : /\s/.test(c)
      ? `whitespace${c === ' ' ? '' : ` (${codePoint(c)})`} (only spaces or tabs may separate "Bearer" from the token, and only spaces, tabs, CR and LF may surround the header's value; a no-break space or another Unicode space may not, nor may any space inside the token)`
      : /\p{Cc}/u.test(c)
        ? `a control character (${codePoint(c)}; "Bearer", the spaces or tabs after it and the token are all printable)`
        : `a character that is not ASCII (${codePoint(c)}; "Bearer", the spaces or tabs after it and the token are all ASCII)`
  return unauthorized('malformed_token', `Invalid token format: it contains ${what}. ${FIX}`, 'Malformed token', { reason: 'invalid_characters' })
}

/** The first character of `s` that is not printable ASCII (a whole code point), or null. */
const firstStray = (s: string) => /[^!-~]/u.exec(s)?.[0] ?? null

const noLongerMember = (cli: boolean) =>
  unauthorized(
    'membership_revoked',
    cli
      ? 'Invalid token: its user is no longer a member of the organization this CLI sign-in was for. Ask an organization admin to add you again, then sign in again from your terminal (`teamday login`, or `teamday auth login` with TeamDay\'s CLI).'
      : 'Invalid token: its user is no longer a member of the organization the token was created in. Ask an organization admin to add you again, then create a new token.',
    'User no longer a member of the organization',
  )

/**
 * Finds a token by kind and hash. `now`: the time of the request. The answer's `now` is the time
 * its validity is judged by. A look-up may also count the request against its rate-limit budgets
 * when the token is valid (PostgreSQL: src/auth/pg-lookup.ts, one round trip for both).
 */
export type TokenLookup = (ctx: Ctx, kind: AuthRow['kind'], hash: string, now: number) => CountedLookup | Promise<CountedLookup>

/**
 * The plain look-up (src/auth/lookup.ts): counts nothing; validity judged once it has answered.
 * The organization's agents version comes with the token's row, from the same statement. A
 * promise only when the read is one (not on SQLite's synchronous path).
 */
export const plainLookup: TokenLookup = (ctx, kind, hash) => {
  const found = authRowNow(ctx.db, kind, hash)
  return found instanceof Promise ? found.then((row) => plainAnswer(ctx, row)) : plainAnswer(ctx, found)
}

function plainAnswer(ctx: Ctx, row: Readonly<AuthRow> | undefined): CountedLookup {
  return row === undefined ? { row, now: ctx.clock.now() } : { row, now: ctx.clock.now(), agentsVersion: row.agentsVersion }
}

export interface Authenticated {
  principal: Principal
  /** The request's rate-limit hits, when the look-up counted them (else the caller counts). */
  counted?: CountedHits
}

/**
 * Reads `Authorization: Bearer td_…` and returns the principal, or throws a 401 AppError with a
 * code for each way it can fail. Order (as documented): format → existence, revocation, expiry,
 * membership → (the route checks permission). The token itself never appears in an error.
 * `ctx` is the request's, before anyone is known (its origin and request id go into the audit
 * events and the token's last use).
 *
 * Whitespace policy: the scheme is case-insensitive (RFC 7235); one or more spaces or tabs
 * separate it from the token, and spaces, tabs, CR and LF around the token (a trailing newline
 * pasted from a file) are trimmed. Any other whitespace (a no-break space U+00A0, U+2003, a
 * vertical tab…), wherever it is, and whitespace inside the token make the token malformed.
 */
export async function authenticate(ctx: Ctx, header: string | null, lookup: TokenLookup = plainLookup): Promise<Authenticated> {
  // The header as clients send it passes every check of credentialsOf with the token as it is:
  // one match instead of them (the token's own format and checksum are checked below either way).
  const credentials = (header !== null && PLAIN_BEARER.exec(header)?.[1]) || credentialsOf(header)
  // A CLI session's access token (`tdo_…`): the same checks, one rule for both kinds.
  const cli = credentials.startsWith(ACCESS_TOKEN_PREFIX)
  const problem = checkTokenFormat(credentials, cli ? ACCESS_TOKEN_PREFIX : TOKEN_PREFIX)
  if (problem === 'checksum_mismatch') {
    throw unauthorized('invalid_token_checksum', `Invalid token: its checksum does not match, so it was copied incorrectly or altered. ${FIX}`, 'Token checksum mismatch')
  }
  if (problem) {
    const example = docsExampleSaid(credentials)
    if (example) throw unauthorized('malformed_token', `Invalid token format: ${example.message}`, 'Malformed token', { reason: example.reason })
    const why = {
      missing_prefix: 'it does not start with "td_"',
      wrong_length: 'it must be "td_" followed by exactly 43 characters',
      invalid_characters: 'it contains characters a TeamDay token never has',
    }[problem]
    throw unauthorized('malformed_token', `Invalid token format: ${why}. ${FIX}`, 'Malformed token', { reason: problem })
  }

  const hash = hashToken(credentials)
  const looked = lookup(ctx, cli ? 'cli' : 'pat', hash, ctx.clock.now())
  const { row, now, counted, agentsVersion } = looked instanceof Promise ? await looked : looked
  const fix = cli ? CLI_FIX : FIX
  if (!row) throw unauthorized('invalid_token', `Invalid or expired token: this token is not recognised. ${fix}`, 'Unknown token')
  // In force once committed, whatever the clock of the instance that made it (src/auth/revoked.ts).
  if (revocationInForce(row, now)) {
    // Revoked because its user left the organization (and not back since): that is what to say.
    if (row.revokedReason === 'membership_removed' && !row.role) throw noLongerMember(cli)
    // A revoked CLI session's refresh token is revoked with it: signing in again is the only way.
    throw unauthorized('token_revoked', cli ? `Invalid token: its CLI session has been revoked (signed out). ${CLI_SIGN_IN}.` : `Invalid token: this token has been revoked. ${FIX}`, 'Token revoked')
  }
  if (cli && row.expiresAt.getTime() <= now) {
    // Access tokens expire every 15 minutes by design: the client refreshes; nothing to audit.
    throw unauthorized('token_expired', `Invalid or expired token: this access token expired on ${row.expiresAt.toISOString()}. ${CLI_FIX}`, 'Token expired')
  }
  if (row.expiresAt.getTime() <= now) {
    // Someone still uses it: worth knowing (at most one event per token per minute). Alone, not
    // in a transaction: nothing is written with it (the request is refused either way), so an
    // event that cannot be written is logged (audit_write_failed) and the answer is the same 401.
    await recordAuditOnce(ctx, `expired_used:${row.id}`, {
      type: 'token.expired_used',
      organizationId: row.organizationId,
      source: 'api',
      actor: { userId: row.userId, tokenId: row.id },
      tokenId: row.id,
      details: { expiredAt: row.expiresAt.toISOString() },
    })
    throw unauthorized('token_expired', `Invalid or expired token: this token expired on ${row.expiresAt.toISOString()}. ${FIX}`, 'Token expired')
  }
  if (!row.role) throw noLongerMember(cli)
  const touched = touchLastUsed(ctx, row)
  if (touched) await touched
  const principal: Principal = {
    userId: row.userId,
    email: row.email,
    organizationId: row.organizationId,
    role: row.role,
    tokenId: row.id,
    tokenExpiresAt: stopsAt(row, now),
    scopes: row.scopes,
    credential: row.kind,
  }
  if (agentsVersion !== undefined) principal.agentsVersion = agentsVersion
  return counted ? { principal, counted } : { principal }
}

/**
 * The token of an Authorization header, or the 401 for what is wrong with the header around it
 * (the token's own format is authenticate's to check).
 */
function credentialsOf(header: string | null): string {
  const value = header === null ? '' : trimEdges(asSent(header))
  if (value === '') {
    throw unauthorized('missing_token', `Authentication required: no token was sent. ${FIX}`, 'No token')
  }
  if (header!.length > MAX_AUTH_HEADER_BYTES) {
    throw unauthorized('authorization_header_too_large', `Invalid token: the Authorization header is over ${MAX_AUTH_HEADER_BYTES} bytes. ${FIX}`, 'Authorization header too large')
  }
  // Two Authorization headers reach the app as one, joined by ", " (`Bearer td_a, Bearer td_b`;
  // `Bearer td_a, ` when the second is empty). Neither a scheme nor a token has a comma.
  if (value.includes(',')) {
    throw unauthorized('malformed_token', `Invalid authorization header: it has a comma, so more than one was sent (they arrive joined by a comma), or a comma was typed; send exactly one "Authorization: Bearer td_…". ${FIX}`, 'Malformed token', { reason: 'several_headers' })
  }
  // A scheme is printable ASCII: it ends at whitespace and at any other character, so that
  // `Bearer<ZWSP>td_…` reads as Bearer and a stray character, not as the scheme "Bearer<ZWSP>td_…".
  // Only spaces and tabs separate it from the token.
  const scheme = /^[!-~]*/.exec(value)![0]
  const rest = value.slice(scheme.length)
  const credentials = rest.replace(SEPARATOR, '')
  if (scheme.toLowerCase() !== 'bearer') {
    // A Unicode space or an invisible character before the scheme (`<NBSP>Bearer td_…`,
    // `<ZWSP>Bearer td_…`, pasted from a document) leaves no scheme at all, and one inside it
    // (`Bea<ZWSP>rer`) cuts it short: say what is wrong (that character), not "only Bearer is accepted".
    if (scheme === '') throw strayCharacter(firstStray(value)!)
    const word = /^\S*/.exec(value)![0]
    if (rest !== '' && !/^[ \t]/.test(rest) && word.replace(/[^!-~]/gu, '').toLowerCase().startsWith('bearer')) throw strayCharacter(firstStray(rest)!)
    // `Bearer: td_…`: the header's own colon written twice.
    if (scheme.toLowerCase() === 'bearer:') {
      throw unauthorized('malformed_token', `Invalid authorization header: "Bearer:" has a colon; send "Authorization: Bearer td_…" (a space, no colon, after Bearer). ${FIX}`, 'Malformed token', { reason: 'invalid_characters' })
    }
    if (scheme.startsWith(TOKEN_PREFIX)) {
      throw unauthorized('missing_bearer_scheme', `Invalid authorization header: the token must follow the word "Bearer", as in "Authorization: Bearer td_…".`, 'Missing Bearer scheme')
    }
    throw unauthorized('unsupported_auth_scheme', `Invalid authorization scheme: only "Bearer" tokens are accepted. ${FIX}`, 'Unsupported authorization scheme')
  }
  if (credentials === '') {
    throw unauthorized('empty_bearer_token', `Invalid authorization header: "Bearer" was sent without a token. ${EMPTY_VARIABLE} ${FIX}`, 'No token after Bearer')
  }
  // `Bearer Bearer td_…`: the word pasted with the token where a client adds it itself (Swagger
  // UI's Authorize dialog, an SDK's token option). Said as such, not as whitespace in the token.
  if (/^bearer([ \t]|$)/i.test(credentials)) {
    throw unauthorized('malformed_token', `Invalid token format: the word "Bearer" was sent twice ("Bearer Bearer td_…"). Send the token alone where the client adds "Bearer" itself (Swagger UI's Authorize dialog, an SDK's token setting). ${FIX}`, 'Malformed token', { reason: 'bearer_twice' })
  }
  // Whitespace, an invisible character (`Bearer <ZWSP>td_…` was missing_prefix, `Bearer td_…<ZWSP>`
  // wrong_length) or another non-ASCII one: named as such, same code and reason.
  const stray = firstStray(credentials)
  if (stray !== null) throw strayCharacter(stray)
  return credentials
}

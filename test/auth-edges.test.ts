// Edges of authentication found by mutation testing (npm run mutate): exact boundaries, the exact
// challenge and messages a client reads, and what the token helpers guarantee.
import { beforeAll, describe, expect, test } from 'bun:test'
import { authenticate, MAX_AUTH_HEADER_BYTES } from '../src/auth/authenticate'
import { loginCodeDisplay } from '../src/auth/login-code'
import { randomBase62 } from '../src/auth/random'
import { ACCESS_TOKEN_PREFIX, checkTokenFormat, checksum, generateToken, redactTokens, REFRESH_TOKEN_PREFIX } from '../src/auth/tokens'
import { eq } from 'drizzle-orm'
import { connect } from 'node:net'
import { memberships } from '../src/db/schema'
import { decideLogin } from '../src/modules/cli-auth/service'
import { requestAuthorizer } from '../src/auth/plugin'
import type { Actor as ContextActor } from '../src/actor'
import { requestContexts } from '../src/http/context'
import { makeActor, makeTestApp, makeToken, type Actor, type TestApp } from './helpers/app'

const DAY = 86_400_000
let t: TestApp
let admin: Actor

beforeAll(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
}, 60_000)

const withHeader = (authorization: string) => t.req('GET', '/api/v1/tokens', { headers: { authorization } })

describe('whitespace in the Authorization header: only spaces and tabs separate, only spaces, tabs, CR and LF are trimmed', () => {
  // The separator was `\s+` and the token was trim()med: a no-break space (U+00A0) after
  // "Bearer" was accepted, where README says spaces or tabs.
  test.each([
    ['a no-break space after Bearer', (tok: string) => `Bearer\u00a0${tok}`],
    ['a space, then a no-break space', (tok: string) => `Bearer \u00a0${tok}`],
    ['a no-break space after the token', (tok: string) => `Bearer ${tok}\u00a0`],
    ['a vertical tab after Bearer', (tok: string) => `Bearer\u000b${tok}`],
    ['a form feed after Bearer', (tok: string) => `Bearer\u000c${tok}`],
    ['a form feed after the token', (tok: string) => `Bearer ${tok}\u000c`],
    ['a space inside the token', (tok: string) => `Bearer ${tok.slice(0, 10)} ${tok.slice(10)}`],
  ])('%s: 401 malformed_token (invalid_characters), saying so', async (_name, header) => {
    const res = await withHeader(header(admin.token))
    expect([res.status, res.body.code, res.body.details]).toEqual([401, 'malformed_token', { reason: 'invalid_characters' }])
    expect(res.body.message).toStartWith('Invalid token format: it contains whitespace')
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="teamday", error="invalid_token", error_description="Malformed token"')
  })

  test('two Authorization headers (joined by a comma on the way in): 401 saying so, not "contains whitespace"', async () => {
    for (const header of [`Bearer ${admin.token}, Bearer ${admin.token}`, `Bearer ${admin.token},bearer td_x`]) {
      const res = await withHeader(header)
      expect([res.status, res.body.code, res.body.details]).toEqual([401, 'malformed_token', { reason: 'several_headers' }])
      expect(res.body.message).toContain('more than one was sent')
      expect(res.text).not.toContain(admin.token)
    }
  })

  // Bun hands header bytes over as Latin-1 characters: a Unicode space that curl or a shell sends
  // as UTF-8 arrived as two or three characters, and `Bearer<NBSP>td_…` was told to use "Bearer"
  // (unsupported_auth_scheme), `Bearer <EM SPACE>td_…` that its token lacked the prefix.
  test.each([
    ['a no-break space (C2 A0) after Bearer', (tok: string) => `Bearer\u00c2\u00a0${tok}`],
    ['an em space (E2 80 83) after Bearer', (tok: string) => `Bearer\u00e2\u0080\u0083${tok}`],
    ['a space, then an ideographic space (E3 80 80)', (tok: string) => `Bearer \u00e3\u0080\u0080${tok}`],
    ['an em space after the token', (tok: string) => `Bearer ${tok}\u00e2\u0080\u0083`],
  ])('%s, as UTF-8 bytes: 401 malformed_token (invalid_characters)', async (_name, header) => {
    const res = await withHeader(header(admin.token))
    expect([res.status, res.body.code, res.body.details]).toEqual([401, 'malformed_token', { reason: 'invalid_characters' }])
    expect(res.text).not.toContain(admin.token)
  })

  // The scheme ran to the first whitespace, and a zero-width space is none: `Bearer<ZWSP>td_…` was
  // the scheme "Bearer<ZWSP>td_…" (unsupported_auth_scheme, "only Bearer tokens are accepted"),
  // `Bearer <ZWSP>td_…` a token without its prefix, `Bearer td_…<ZWSP>` one of the wrong length.
  test.each([
    ['a zero-width space (E2 80 8B) instead of the space after Bearer', (tok: string) => `Bearer\u00e2\u0080\u008b${tok}`, 'an invisible character (U+200B'],
    ['a zero-width space after the space', (tok: string) => `Bearer \u00e2\u0080\u008b${tok}`, 'an invisible character (U+200B'],
    ['a zero-width space after the token', (tok: string) => `Bearer ${tok}\u00e2\u0080\u008b`, 'an invisible character (U+200B'],
    ['a word joiner (E2 81 A0) after Bearer', (tok: string) => `bearer\u00e2\u0081\u00a0${tok}`, 'an invisible character (U+2060'],
    ['a soft hyphen (one byte, AD) after Bearer', (tok: string) => `Bearer\u00ad${tok}`, 'an invisible character (U+00AD'],
    ['a BOM (EF BB BF) after Bearer', (tok: string) => `Bearer\u00ef\u00bb\u00bf${tok}`, 'an invisible character (U+FEFF'],
    ['a no-break space (one byte, A0) after Bearer', (tok: string) => `Bearer\u00a0${tok}`, 'whitespace (U+00A0)'],
    ['a letter that is not ASCII (C3 A9) in the token', (tok: string) => `Bearer ${tok.slice(0, 20)}\u00c3\u00a9${tok.slice(21)}`, 'a character that is not ASCII (U+00E9'],
    // DEL is ASCII: a control character, not a character "that is not ASCII".
    ['DEL (7F) after Bearer', (tok: string) => `Bearer\u007f${tok}`, 'a control character (U+007F'],
    ['DEL (7F) in the token', (tok: string) => `Bearer ${tok.slice(0, 20)}\u007f${tok.slice(21)}`, 'a control character (U+007F'],
  ])('%s: 401 malformed_token (invalid_characters), naming the character, not the token', async (_name, header, said) => {
    const res = await withHeader(header(admin.token))
    expect([res.status, res.body.code, res.body.details]).toEqual([401, 'malformed_token', { reason: 'invalid_characters' }])
    expect(res.body.message).toStartWith(`Invalid token format: it contains ${said}`)
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="teamday", error="invalid_token", error_description="Malformed token"')
    expect(res.text).not.toContain(admin.token)
    expect(res.text).not.toContain(admin.token.slice(3, 30))
  })

  test('over a real socket, the bytes as curl sends them: the same answers', async () => {
    const served = t.app as unknown as { listen(o: object): unknown; stop(): Promise<unknown>; server: { port: number } | null }
    served.listen({ hostname: '127.0.0.1', port: 0 })
    const port = served.server!.port
    try {
      const send = (header: Buffer) =>
        new Promise<string>((resolve, reject) => {
          const head = Buffer.from(`GET /api/v1/tokens HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\nAuthorization: `)
          const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.concat([head, header, Buffer.from('\r\n\r\n')])))
          let got = ''
          socket.on('data', (c) => (got += c.toString('latin1')))
          socket.on('close', () => resolve(got))
          socket.on('error', reject)
        })
      const tok = Buffer.from(admin.token)
      for (const [name, bytes, said] of [
        ['ZWSP', Buffer.concat([Buffer.from('Bearer\u200b', 'utf8'), tok]), 'an invisible character (U+200B'],
        ['space ZWSP', Buffer.concat([Buffer.from('Bearer \u200b', 'utf8'), tok]), 'an invisible character (U+200B'],
        ['NBSP as UTF-8', Buffer.concat([Buffer.from('Bearer\u00a0', 'utf8'), tok]), 'whitespace (U+00A0)'],
        ['NBSP as one byte', Buffer.concat([Buffer.from('Bearer\u00a0', 'latin1'), tok]), 'whitespace (U+00A0)'],
      ] as const) {
        const answer = await send(bytes)
        const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))
        expect([name, answer.split('\r\n')[0], body.code, body.details]).toEqual([name, 'HTTP/1.1 401 Unauthorized', 'malformed_token', { reason: 'invalid_characters' }])
        expect(body.message).toStartWith(`Invalid token format: it contains ${said}`)
        expect(answer).not.toContain(admin.token.slice(3, 30))
      }
    } finally {
      await served.stop()
    }
  })

  test('two Authorization headers, one of them empty, or a stray comma: several_headers too (it was wrong_length or unsupported_auth_scheme)', async () => {
    for (const header of [`Bearer ${admin.token}, `, `, Bearer ${admin.token}`, `Bearer ${admin.token},`]) {
      const res = await withHeader(header)
      expect([header, res.status, res.body.code, res.body.details]).toEqual([header, 401, 'malformed_token', { reason: 'several_headers' }])
      expect(res.text).not.toContain(admin.token)
    }
  })

  // Swagger UI adds "Bearer " itself: a token pasted with it was told "it contains whitespace".
  test('Bearer twice (the word pasted where the client adds it): malformed_token (bearer_twice), saying so', async () => {
    for (const header of [`Bearer Bearer ${admin.token}`, `bearer BEARER\t${admin.token}`, 'Bearer Bearer']) {
      const res = await withHeader(header)
      expect([res.status, res.body.code, res.body.details]).toEqual([401, 'malformed_token', { reason: 'bearer_twice' }])
      expect(res.body.message).toContain('the word "Bearer" was sent twice')
      expect(res.text).not.toContain(admin.token.slice(3))
    }
  })

  // It was unsupported_auth_scheme ("only Bearer tokens are accepted"), to someone who sent Bearer.
  test('a Unicode space before the scheme: malformed_token (invalid_characters), saying whitespace', async () => {
    for (const header of [`\u00a0Bearer ${admin.token}`, `\u00c2\u00a0Bearer ${admin.token}`, ` \u00a0 Bearer ${admin.token}`]) {
      const res = await withHeader(header)
      expect([res.status, res.body.code, res.body.details]).toEqual([401, 'malformed_token', { reason: 'invalid_characters' }])
      expect(res.body.message).toStartWith('Invalid token format: it contains whitespace (U+00A0)')
    }
    // A zero-width space and a BOM are no spaces to a regular expression: the same code, said as invisible.
    for (const [header, at] of [[`\u00e2\u0080\u008bBearer ${admin.token}`, 'U+200B'], [`\u00ef\u00bb\u00bfBearer ${admin.token}`, 'U+FEFF'], [`Bea\u00e2\u0080\u008brer ${admin.token}`, 'U+200B']]) {
      const res = await withHeader(header!)
      expect([res.status, res.body.code, res.body.details]).toEqual([401, 'malformed_token', { reason: 'invalid_characters' }])
      expect(res.body.message).toStartWith(`Invalid token format: it contains an invisible character (${at}`)
    }
    const colon = await withHeader(`Bearer: ${admin.token}`)
    expect([colon.status, colon.body.code, colon.body.details]).toEqual([401, 'malformed_token', { reason: 'invalid_characters' }])
    expect(colon.body.message).toContain('"Bearer:" has a colon')
    const other = await withHeader(`Basic ${Buffer.from('a:b').toString('base64')}`)
    expect([other.status, other.body.code]).toEqual([401, 'unsupported_auth_scheme'])
  })

  test('Unicode spaces a header cannot carry over HTTP/1.1 (beyond Latin-1) are refused the same way', async () => {
    for (const space of ['\u2003', '\u3000', '\u2028', '\ufeff', '\u1680', '\u200b', '\u2060']) {
      const code = await authenticate(t.ctx, `Bearer${space}${admin.token}`).then(
        () => 'accepted',
        (e) => e.code,
      )
      expect([space, code]).toEqual([space, 'malformed_token'])
    }
  })

  test('spaces and tabs, in any number and mix, separate; spaces, tabs, CR and LF around it are trimmed', async () => {
    for (const header of [`Bearer \t \t${admin.token}`, `\t Bearer\t${admin.token} \t`]) expect((await withHeader(header)).status).toBe(200)
    for (const header of [`\r\n Bearer ${admin.token}\r\n`, `Bearer  ${admin.token}\n`]) expect((await authenticate(t.ctx, header)).principal.userId).toBe(admin.userId)
  })
})

describe('the 401 answer', () => {
  test('the challenge names the cause in error_description, exactly', async () => {
    const revoked = await makeToken(t, admin)
    await t.req('DELETE', `/api/v1/tokens/${revoked.id}`, { token: admin.token })
    const res = await withHeader(`Bearer ${revoked.token}`)
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="teamday", error="invalid_token", error_description="Token revoked"')
  })

  test('a malformed token\'s message says what is wrong with it', async () => {
    const tok = admin.token
    expect((await withHeader(`Bearer ${tok.slice(3)}`)).body.message).toContain('it does not start with "td_"')
    expect((await withHeader(`Bearer ${tok.slice(0, -1)}`)).body.message).toContain('exactly 43 characters')
    expect((await withHeader(`Bearer ${tok.slice(0, -1)}!`)).body.message).toContain('characters a TeamDay token never has')
  })

  test(`an Authorization header of exactly ${MAX_AUTH_HEADER_BYTES} bytes is read; one byte more is refused as too large`, async () => {
    const at = (n: number) => `Bearer ${'a'.repeat(n - 7)}`
    expect(at(MAX_AUTH_HEADER_BYTES).length).toBe(MAX_AUTH_HEADER_BYTES)
    expect((await withHeader(at(MAX_AUTH_HEADER_BYTES))).body.code).toBe('malformed_token')
    expect((await withHeader(at(MAX_AUTH_HEADER_BYTES + 1))).body.code).toBe('authorization_header_too_large')
  })

  test('a token is refused from the very millisecond it expires, and its use is audited with the expiry date', async () => {
    const m = await makeActor(t)
    const tok = await makeToken(t, m, { expiresInDays: 7 })
    t.clock.advance(7 * DAY - 1)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: tok.token })).status).toBe(200)
    t.clock.advance(1)
    const res = await t.req('GET', '/api/v1/tokens/self', { token: tok.token })
    expect(res.body.code).toBe('token_expired')
    const audit = await t.req('GET', `/api/v1/audit-events?type=token.expired_used&tokenId=${tok.id}`, { token: admin.token })
    expect(audit.body.events[0].details).toEqual({ expiredAt: new Date(t.clock.now()).toISOString() })
  })
})

describe('a revocation scheduled for later (a rotation\'s grace period)', () => {
  test('the old token works until the very millisecond its grace period ends, then is revoked', async () => {
    const m = await makeActor(t)
    const old = await makeToken(t, m)
    const res = await t.req('POST', `/api/v1/tokens/${old.id}/rotate`, { token: old.token, body: { gracePeriodSeconds: 60 } })
    expect(res.status).toBe(201)
    t.clock.advance(60_000 - 1)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: old.token })).status).toBe(200)
    t.clock.advance(1)
    expect((await t.req('GET', '/api/v1/tokens/self', { token: old.token })).body.code).toBe('token_revoked')
  })
})

describe('"Bearer " and a token-shaped word, the header as clients send it (read by one match: src/auth/authenticate.ts)', () => {
  // The shortcut takes `Bearer td_…` / `Bearer tdo_…` with 43 characters of [A-Za-z0-9_-]; the
  // token's own format and checksum are still checked, and every other header (another case of
  // the scheme, more spaces, a trailing newline) takes the general parse: the same answers.
  test.each([
    ['a PAT', (tok: string) => `Bearer ${tok}`],
    ['the scheme in lower case', (tok: string) => `bearer ${tok}`],
    ['two spaces after Bearer', (tok: string) => `Bearer  ${tok}`],
    ['a tab after Bearer', (tok: string) => `Bearer\t${tok}`],
    ['a trailing CRLF', (tok: string) => `Bearer ${tok}\r\n`],
  ])('%s: 200', async (_name, header) => {
    expect((await withHeader(header(admin.token))).status).toBe(200)
  })

  test('a word of the shape whose characters or checksum are wrong is refused as in the general parse', async () => {
    const body = admin.token.slice(3)
    const cases: [string, string, unknown][] = [
      // `-` and `_` fit the shape, not a checksum made of base62.
      [`Bearer td_${body.slice(0, 42)}-`, 'invalid_token_checksum', undefined],
      [`Bearer td_${'_'.repeat(43)}`, 'invalid_token_checksum', undefined],
      // An access token is base62 only.
      [`Bearer tdo_${body.slice(0, 42)}_`, 'malformed_token', { reason: 'invalid_characters' }],
      // One character short or long: the general parse's wrong_length.
      [`Bearer td_${body.slice(0, 42)}`, 'malformed_token', { reason: 'wrong_length' }],
      [`Bearer td_${body}x`, 'malformed_token', { reason: 'wrong_length' }],
      // A valid checksum under another prefix than the one it was made with: unknown.
      [`Bearer tdo_${body}`, 'invalid_token', undefined],
    ]
    for (const [header, code, details] of cases) {
      const res = await withHeader(header)
      expect([header, res.status, res.body.code, res.body.details]).toEqual([header, 401, code, details])
    }
  })
})

describe('a CLI session\'s access token (tdo_)', () => {
  /** Browser sign-in as the CLI does it: initiate, approve as `who`, poll once. */
  async function cliAccessToken(who: Actor): Promise<string> {
    const { body } = await t.req('POST', '/api/auth/cli/initiate')
    await decideLogin(t.ctx, body.code, { userId: who.userId, organizationId: who.organizationId }, 'approve')
    const res = await t.req('GET', `/api/auth/cli/poll?code=${body.code}`)
    expect(res.body.accessToken).toMatch(/^tdo_/)
    return res.body.accessToken
  }
  const expiredUses = async (id: string) =>
    (await t.req('GET', `/api/v1/audit-events?type=token.expired_used&tokenId=${id}`, { token: admin.token })).body.events.length

  test('is refused from the very millisecond it expires, with the advice to refresh or sign in again, and no audit event (expiry every 15 minutes is normal)', async () => {
    const m = await makeActor(t)
    const access = await cliAccessToken(m)
    const self = await t.req('GET', '/api/v1/tokens/self', { token: access })
    expect(self.status).toBe(200)
    const expires = Date.parse(self.headers.get('teamday-token-expiration')!)
    t.clock.advance(expires - t.clock.now() - 1)
    expect((await t.req('GET', '/api/v1/agents', { token: access })).status).toBe(200)
    t.clock.advance(1)
    const res = await t.req('GET', '/api/v1/agents', { token: access })
    expect(res.body.code).toBe('token_expired')
    expect(res.body.message).toBe(`Invalid or expired token: this access token expired on ${new Date(expires).toISOString()}. Sign in again from your terminal (\`teamday login\`, or \`teamday auth login\` with TeamDay's CLI), or refresh the access token (POST /api/auth/cli/refresh).`)
    expect(await expiredUses(self.body.id)).toBe(0)
  })

  test('of a user whose membership row is gone (not through removal, which revokes): 401 membership_revoked', async () => {
    const m = await makeActor(t)
    const access = await cliAccessToken(m)
    expect((await t.req('GET', '/api/v1/agents', { token: access })).status).toBe(200)
    await t.db.delete(memberships).where(eq(memberships.userId, m.userId)).run()
    const res = await t.req('GET', '/api/v1/agents', { token: access })
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('membership_revoked')
  })
})

describe('a personal access token of a user whose membership row is gone', () => {
  test('is refused with 401 membership_revoked (removal through the API revokes it too, and answers the same code)', async () => {
    const m = await makeActor(t)
    expect((await t.req('GET', '/api/v1/agents', { token: m.token })).status).toBe(200)
    await t.db.delete(memberships).where(eq(memberships.userId, m.userId)).run()
    const res = await t.req('GET', '/api/v1/agents', { token: m.token })
    expect(res.status).toBe(401)
    expect(res.body.code).toBe('membership_revoked')
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="teamday", error="invalid_token", error_description="User no longer a member of the organization"')
  })
})

describe('what an accepted request carries', () => {
  test('every authenticated answer says when its token expires (Teamday-Token-Expiration)', async () => {
    const tok = await makeToken(t, admin, { expiresInDays: 30 })
    const expires = new Date(t.clock.now() + 30 * DAY).toISOString()
    expect((await t.req('GET', '/api/v1/tokens/self', { token: tok.token })).headers.get('teamday-token-expiration')).toBe(expires)
    expect((await t.req('GET', '/api/v1/agents', { token: tok.token })).headers.get('teamday-token-expiration')).toBe(expires)
  })

  test('a role that may not is told which permission it lacks (403 forbidden, details)', async () => {
    const viewer = await makeActor(t, { role: 'viewer' })
    const res = await t.req('POST', '/api/v1/agents', { token: viewer.token, body: { name: 'x' } })
    expect(res.status).toBe(403)
    expect(res.body).toMatchObject({ code: 'forbidden', details: { requiredPermission: 'agents:write', role: 'viewer' } })
  })
})

describe('the authorizer (src/auth/plugin.ts)', () => {
  test('the context it authenticates in acts for nobody (anonymous), for a valid, a refused and a missing token alike', async () => {
    const contexts = requestContexts(t.rt, () => null)
    const asked: ContextActor[] = []
    const authorizer = requestAuthorizer({ contextOf: (actor, request, set) => (asked.push(actor), contexts.of(actor, request, set)) })
    const ask = (headers: Record<string, string>) => authorizer.principal(new Request('http://localhost/api/v1/tokens', { headers }), { headers: {} }, 'tokens:read')
    expect((await ask({ authorization: `Bearer ${admin.token}` })).userId).toBe(admin.userId)
    await expect(ask({ authorization: 'Bearer td_nope' })).rejects.toMatchObject({ code: 'malformed_token' })
    await expect(ask({})).rejects.toMatchObject({ code: 'missing_token' })
    expect(asked).toEqual([{ kind: 'anonymous', via: 'api' }, { kind: 'anonymous', via: 'api' }, { kind: 'anonymous', via: 'api' }])
  })

  test('the memo of Teamday-Token-Expiration strings is bounded: at 1000 distinct expiry dates it starts over, and every answer stays right', async () => {
    // On SQLite whatever the suite's backend: the memo is the plugin's, the database only serves the tokens.
    const app = await makeTestApp({ dbPath: ':memory:', config: { maxTokensPerUser: 2000 } })
    const owner = await makeActor(app, { role: 'admin' })
    const tokens: { token: string; expires: string }[] = []
    for (let i = 0; i < 1001; i++) {
      // One millisecond apart: 1001 distinct expiry instants.
      app.clock.advance(1)
      tokens.push({ token: (await makeToken(app, owner)).token, expires: new Date(app.clock.now() + 90 * DAY).toISOString() })
    }
    const contexts = requestContexts(app.rt, () => null)
    const authorizer = requestAuthorizer({ contextOf: contexts.of })
    // Which maps of ISO strings are emptied, at what size, after how many requests.
    const cleared: { size: number; after: number }[] = []
    let done = 0
    const clear = Map.prototype.clear
    Map.prototype.clear = function (this: Map<unknown, unknown>) {
      const first = this.values().next().value
      if (typeof first === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(first)) cleared.push({ size: this.size, after: done })
      return clear.call(this)
    }
    try {
      for (const { token, expires } of [...tokens, tokens[0]!]) {
        const set = { headers: {} as Record<string, string | number> }
        await authorizer.principal(new Request('http://localhost/api/v1/tokens', { headers: { authorization: `Bearer ${token}` } }), set, 'tokens:read')
        expect(set.headers['teamday-token-expiration']).toBe(expires)
        done++
      }
    } finally {
      Map.prototype.clear = clear
    }
    // The 1001st distinct date finds 1000 remembered: they are dropped, then it is remembered.
    expect(cleared).toEqual([{ size: 1000, after: 1000 }])
  }, 60_000)
})

describe('token helpers', () => {
  test('a valid token with anything before "td_" is missing its prefix, not a checksum error', () => {
    const tok = generateToken()
    expect(checkTokenFormat(`x${tok}`)).toBe('missing_prefix')
    expect(checkTokenFormat(` ${tok}`)).toBe('missing_prefix')
  })

  test('the checksum is the CRC32 of the 37 random characters in base62, most significant first (known answers)', () => {
    // Computed independently (Python: zlib.crc32, then six base62 digits), as a secret scanner would.
    expect(checksum('a'.repeat(37))).toBe('2sN54l')
    expect(checksum('Tm9wZSwgbm90IGEgcmVhbCB0b2tlbiBhdCBhb')).toBe('21p8zb')
  })

  test('the short form of a CLI login code is its SHA-256\'s first 8 bytes, each mod 31 in A-Z 2-9 without look-alikes, as XXXX-XXXX (known answers)', () => {
    // Computed independently: Python's hashlib.sha256(code).digest()[:8], each byte % 31 into the alphabet.
    expect(loginCodeDisplay('abc')).toBe('A6ZF-WBYU')
    expect(loginCodeDisplay(`tdc_${'A'.repeat(43)}`)).toBe('RN9A-W6YK')
  })

  test('a CLI token (tdo_, tdr_) is checked like a PAT: its own prefix, exactly 43 characters, base62 only, then the checksum', () => {
    const access = generateToken(ACCESS_TOKEN_PREFIX)
    expect(checkTokenFormat(access, ACCESS_TOKEN_PREFIX)).toBeNull()
    expect(checkTokenFormat(`${access}A`, ACCESS_TOKEN_PREFIX)).toBe('wrong_length')
    expect(checkTokenFormat(`${ACCESS_TOKEN_PREFIX}A${access.slice(4)}`, ACCESS_TOKEN_PREFIX)).toBe('wrong_length')
    expect(checkTokenFormat(`${access.slice(0, -1)}!`, ACCESS_TOKEN_PREFIX)).toBe('invalid_characters')
    // A well-formed body behind another prefix is not this kind of token.
    expect(checkTokenFormat(`${REFRESH_TOKEN_PREFIX}${access.slice(4)}`, ACCESS_TOKEN_PREFIX)).toBe('missing_prefix')
  })

  test('redaction covers the CLI\'s secrets too (tdo_, tdr_, tdc_), keeping the prefix, and no other td?_ word', () => {
    const body = randomBase62(43)
    for (const prefix of ['tdo_', 'tdr_', 'tdc_']) expect(redactTokens(`x ${prefix}${body} y`)).toBe(`x ${prefix}…[redacted] y`)
    expect(redactTokens(`tdx_${body}`)).toBe(`tdx_${body}`)
  })

  test('redaction walks arrays and objects 64 levels deep, arrays and null-prototype objects included, and stops on cycles', () => {
    const tok = generateToken()
    const nest = (levels: number) => {
      let v: unknown = [tok]
      for (let i = 1; i < levels; i++) v = [v]
      return v
    }
    const innermost = (v: unknown): unknown => (Array.isArray(v) && Array.isArray(v[0]) ? innermost(v[0]) : (v as unknown[])[0])
    // The array at depth 64 (65 arrays) is still walked; one at depth 65 is returned as it is.
    expect(innermost(redactTokens(nest(65)))).toBe('td_…[redacted]')
    expect(innermost(redactTokens(nest(66)))).toBe(tok)
    const bare = Object.create(null) as Record<string, unknown>
    bare.secret = tok
    expect(redactTokens(bare)).toEqual({ secret: 'td_…[redacted]' })
    const loop: unknown[] = [tok]
    loop.push(loop)
    expect((redactTokens(loop) as unknown[])[0]).toBe('td_…[redacted]')
  })

  test('redaction removes the whole token, and leaves short td_ words alone', () => {
    const tok = generateToken()
    const out = redactTokens(`path /api/v1/tokens/${tok}/rotate`)
    expect(out).toBe('path /api/v1/tokens/td_…[redacted]/rotate')
    expect(out).not.toContain(tok.slice(3, 10))
    expect(redactTokens('td_short and td_1234567890abcde')).toBe('td_short and td_1234567890abcde')
  })

  test('every base62 character is equally likely (no modulo bias), over 620 000 draws', () => {
    const counts = new Map<string, number>()
    for (const c of randomBase62(620_000)) counts.set(c, (counts.get(c) ?? 0) + 1)
    expect(counts.size).toBe(62)
    // 10 000 expected each, standard deviation ~100: a fair source stays well within 5 %; a byte
    // kept at 248 or above would make "0"…"7" about 25 % more likely.
    for (const [c, n] of counts) expect({ c, fair: Math.abs(n - 10_000) < 500 }).toEqual({ c, fair: true })
  })
})

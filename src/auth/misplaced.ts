import { AppError } from '../errors'

/** A token of this server (a personal access token, or a terminal's access token), alone in a value or inside one. */
const TOKEN_IN = /(?:^|[^A-Za-z0-9_-])tdo?_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/

/** The console's session cookie (src/console/http.ts COOKIE, `__Host-` prefixed over HTTPS). */
const SESSION_COOKIE = /(?:^|;)[ \t]*(?:__Host-)?teamday_session=[^;\s]/

/** A header's or parameter's name, as it may be quoted in a message: a short plain one, else none. */
const QUOTABLE = /^[A-Za-z0-9_.-]{1,40}$/

const HOW = 'send it as "Authorization: Bearer td_…" (the word Bearer, a space, then the token), the only place this API reads a token.'

/**
 * The 401 of a request with no Authorization header (`missing_token`, src/auth/authenticate.ts),
 * told where the credential it did send went: a token in another header (X-API-Key, Token) or in
 * the URL's query, or a console sign-in's cookie, each of which the API does not read. "No token
 * was sent" was not what happened (TeamDay's docs: "Use `Authorization: Bearer` header").
 * The token is never quoted; a header or parameter is named only when its name is short and plain.
 * `e` as it is when the request holds none of these.
 */
export function missingTokenSaid(request: Request, e: AppError): AppError {
  let where: string | null = null
  for (const [name, value] of request.headers) {
    if (name === 'authorization' || name === 'cookie') continue
    if (TOKEN_IN.test(value)) {
      where = QUOTABLE.test(name) ? `the ${name} header` : 'another header'
      break
    }
  }
  if (where === null) {
    const q = request.url.indexOf('?')
    if (q >= 0) {
      for (const [name, value] of new URLSearchParams(request.url.slice(q + 1))) {
        if (TOKEN_IN.test(value)) {
          where = `the URL (query parameter${QUOTABLE.test(name) ? ` ${name}` : ''})`
          break
        }
      }
      if (where !== null) {
        return new AppError(
          'missing_token',
          `Authentication required: no Authorization header was sent; the token in ${where} is not read there. A URL is no place for a token: proxies, server logs and browser history keep it (rotate this token if the URL went beyond your machine). Instead, ${HOW}`,
          { headers: e.headers },
        )
      }
    }
  }
  if (where !== null) return new AppError('missing_token', `Authentication required: no Authorization header was sent; the token in ${where} is not read there. Instead, ${HOW}`, { headers: e.headers })
  if (SESSION_COOKIE.test(request.headers.get('cookie') ?? '')) {
    return new AppError('missing_token', `Authentication required: no token was sent; a console sign-in does not authenticate the API. ${e.message.replace(/^Authentication required: no token was sent\. /, '')}`, { headers: e.headers })
  }
  return e
}

import { prefersHtml } from '../http/accept'
import { trimEndChar } from '../text'
import { routeMatcher, type ErrorAnswer, type ErrorRenderer } from '../http/errors'
import { pathStart } from '../http/url-path'
import { ASSETS } from './assets'
import { CROSS_ORIGIN, page, safeNext } from './http'
import { errorText, type Messages } from './i18n'
import { refusedPage } from './routes/auth'
import { anonymousNav } from './routes/settings'
import { ErrorPage } from './views/errors'

type Route = { method: string; path: string }

/** The title of an error page, by its status. */
function titleOf(t: Messages, status: number): string {
  if (status === 400) return t.errBadRequestTitle
  if (status === 403) return t.notAllowedTitle
  if (status === 404) return t.notFoundTitle
  if (status === 405) return t.errMethodTitle
  if (status === 413) return t.errTooLargeTitle
  if (status === 414) return t.errUriTooLongTitle
  if (status === 422) return t.errInvalidTitle
  if (status === 429) return t.errTooManyTitle
  if (status === 503) return t.errUnavailableTitle
  if (status >= 500) return t.errServerTitle
  return t.errTitle
}

/** A request's path as sent (still percent-encoded, as Elysia matches routes), and its query. */
function targetOf(url: string): { path: string; query: string } {
  const start = Math.max(0, pathStart(url))
  const rest = url.slice(start)
  const q = rest.indexOf('?')
  const hash = rest.indexOf('#')
  const end = hash < 0 ? rest.length : hash
  return q < 0 || q > end ? { path: rest.slice(0, end) || '/', query: '' } : { path: rest.slice(0, q) || '/', query: rest.slice(q, end) }
}

/** A path one segment shorter: `/spaces/x/secrets` → `/spaces/x`, `/agents` → `/`. */
const parent = (path: string) => path.slice(0, trimEndChar(path, '/').lastIndexOf('/')) || '/'

/**
 * `path` up to the end of its `n`th segment (a run of characters other than `/`), or `path`
 * itself when it has no more: one pass. parent() of the cut is where parent() steps from `path`
 * arrive once `n` segments are left, skipping the deeper paths between.
 */
function firstSegments(path: string, n: number): string {
  let seen = 0
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) !== 47 && (i === 0 || path.charCodeAt(i - 1) === 47) && ++seen > n) return path.slice(0, i)
  }
  return path
}

/**
 * The console's error pages (issue: console URLs answered with the API's JSON error). Given the
 * routes the console registered (`owned`, read once they are all there), an error on a console
 * page's path (any method: a 405 too), raised before its handler ran (the URL's NUL and length
 * rules, the body limit, a body the reader refused) or by Elysia's validation of its parameters,
 * or thrown by it unhandled (500, 503), is answered as a console page: the status kept, the
 * console's headers, the message in the visitor's language, a link back. The console's files
 * (ASSETS) are not pages; everything else (/api/…, /swagger…, unknown paths) keeps the envelope.
 */
export function consoleErrorPages(owned: () => readonly Route[]): ErrorRenderer {
  let pages: { re: RegExp; get: boolean }[] | undefined
  const assets = new Set(ASSETS.map((a) => a.path))
  const matched = () =>
    (pages ??= owned()
      .filter((r) => !assets.has(r.path))
      .map((r) => ({ re: routeMatcher(r.path), get: r.method === 'GET' })))
  const hasPage = (path: string) => matched().some((p) => p.get && p.re.test(path))
  /**
   * How deep a path can be and still be a page (or above one): a page's route of s slashes
   * matches a path of s slashes, or s + 1 (a trailing one); a path up to the end of its
   * segment j has at least j - 1. So no page is deeper than the deepest route's slashes + 2
   * segments (unbounded when a route ends in `*`), and backOf's walk up starts there: a step
   * at a time from the full path was quadratic in its segments (8 KiB of `/a`: ~5 ms).
   */
  let deepest: number | undefined
  const pageDepth = () =>
    (deepest ??= owned()
      .filter((r) => !assets.has(r.path) && r.method === 'GET')
      .reduce((most, r) => Math.max(most, r.path.includes('*') ? Infinity : r.path.split('/').length + 1), 1))
  // The first segments of the console's pages (`settings`, `agents`, `login`…): the console's part of the URL space.
  let sections: Set<string> | undefined
  // `path.split('/')[1] ?? ''` without the array (a path of 4,000 segments made 4,000 strings).
  const firstSegment = (path: string) => {
    const start = path.indexOf('/')
    if (start < 0) return ''
    const end = path.indexOf('/', start + 1)
    return path.slice(start + 1, end < 0 ? path.length : end)
  }
  /**
   * A path no route has (`/settings//`, `/settings/nope`, `/agents/x/chat/more`), in one of the
   * console's sections, asked for by a browser (Accept prefers HTML): the console's 404 page, where
   * it got the API's JSON 404. A path of slashes only is the console's too (its home is `/`).
   * Clients that ask for JSON (or say nothing) keep the envelope, and so do other paths (the API's).
   */
  const consoleSection = (path: string) => {
    sections ??= new Set(
      owned()
        .filter((r) => !assets.has(r.path))
        .map((r) => firstSegment(r.path))
        .filter((s) => s !== ''),
    )
    return /^\/+$/.test(path) || sections.has(firstSegment(path))
  }

  /**
   * Where the page's link leads: for a refused form, the page it came from (the GET of its
   * action, which names the chat it belongs to) or the nearest page above it; for a page, the
   * same page without its query when the query was refused, else the nearest page above it.
   */
  const backOf = (path: string, query: string, form: boolean): string => {
    let to = form && hasPage(path) ? path + query : query && !form ? path : parent(path)
    while (to !== '/' && !hasPage(to.split('?')[0]!)) to = parent(firstSegments(to.split('?')[0]!, pageDepth()))
    return safeNext(to) ?? '/'
  }

  const render = async (e: ErrorAnswer, path: string, query: string): Promise<Response> => {
    const nav = anonymousNav(e.request)
    const form = e.request.method !== 'GET' && e.request.method !== 'HEAD'
    // The API's "No route … See /swagger" means nothing to a visitor of a page.
    const message = e.code === 'route_not_found' ? nav.t.errNoSuchPage : errorText(nav.lang, { message: e.message, code: e.code, status: e.status })
    const html = await (<ErrorPage nav={nav} title={titleOf(nav.t, e.status)} message={message} requestId={e.requestId} back={backOf(path, query, form)} form={form} />)
    return page(html, { status: e.status, headers: e.headers })
  }
  // Null at once for a path that is not a console page's (the API's errors stay synchronous).
  return (e: ErrorAnswer) => {
    const { path, query } = targetOf(e.request.url)
    if (!matched().some((p) => p.re.test(path))) {
      if (e.code !== 'route_not_found' || !consoleSection(path) || !prefersHtml(e.request.headers.get('accept'))) return null
    }
    // A form from another site (src/console/index.ts, crossOriginGuard): its own page, as before the body is read.
    if ((e.details as { reason?: unknown } | undefined)?.reason === CROSS_ORIGIN) return refusedPage(e.request)
    return render(e, path, query)
  }
}

/**
 * Hosting under a sub-path (`TEAMDAY_PUBLIC_URL=https://example.com/teamday`, a reverse proxy's
 * `location /teamday/`): the one place that knows the base path, and the only code that adds it
 * or takes it away.
 *
 * Inside, every path is the server's own (`/settings/profile`, `/api/v1/spaces/…`): routes, views,
 * redirects, `safeNext`, the access log. At the edge:
 * - coming in, a request whose path starts with the base path is routed without it (`strip`), so
 *   both proxy styles work: nginx `proxy_pass http://up/;` (trailing slash: it strips the prefix)
 *   and `proxy_pass http://up;` (it keeps it), as Grafana's serve_from_sub_path; a request
 *   without it (curl of the server itself, a health check) is served as before;
 * - going out, every address the server gives a browser or client carries it: a `Location` that
 *   is a path (redirects, the API's 201, a list's `Link`), and the `href`, `src`, `action`,
 *   `formaction` and `data-href` (an address a page's script uses) of a console page that are
 *   paths (`page`, through an HTML parser: Bun's HTMLRewriter, never a regular expression over
 *   the markup), Swagger UI's files and its document's URL (docs.ts), an agent's `chatUrl`. Links within a page (`#main`), query-only links (`?page=2`) and
 *   scheme-relative ones (`//host/…`) are left as they are.
 * With no path in the public URL (or none set) all of this is the identity, and costs nothing.
 * Under one, a page's rewrite costs about 0.4 ms for 22 KB with a hundred forms (measured here).
 */
export interface BasePath {
  /** `/teamday` (no trailing slash), or '' at the root. */
  readonly path: string
  /** `path` with the base path before it when `path` is a path (`/…`, not `//…`); else as it is. */
  href(path: string): string
  /** Routes `request` without the base path when its path starts with it (`/teamday`, `/teamday/…`). */
  strip(request: Request): void
  /** A console page's markup with the base path before each of its path-valued links. */
  page(html: string): string
}

/**
 * The first segments of the server's own paths (test/base-path.test.ts checks the app's routes
 * against it): a public URL's path may not start with one. Under `https://example.com/api`, a
 * request for `/api/v1/agents` would be routed as `/v1/agents`.
 */
export const SERVED_SEGMENTS = ['agents', 'api', 'cli', 'console', 'favicon.ico', 'login', 'logout', 'metrics', 'org', 'set-password', 'settings', 'setup', 'spaces', 'swagger'] as const

/** The served segment a public URL's path (`/api/x`) starts with, or null. */
export function servedSegmentOf(path: string): string | null {
  const first = path.split('/')[1] ?? ''
  return (SERVED_SEGMENTS as readonly string[]).find((s) => s === first.toLowerCase()) ?? null
}

/** The path of a TEAMDAY_PUBLIC_URL (as config.ts keeps it: no trailing slash), or '' for none. */
export function basePathOf(publicUrl: string | undefined): string {
  if (publicUrl === undefined) return ''
  const path = new URL(publicUrl).pathname
  return path === '/' ? '' : path.replace(/\/$/, '')
}

/** Whether `value` is an absolute path of this server (one leading `/`, not a scheme-relative `//host`). */
function isServerPath(value: string): boolean {
  return value.charCodeAt(0) === 47 && value.charCodeAt(1) !== 47 && value.charCodeAt(1) !== 92
}

/**
 * The attributes of a page that name an address a browser goes to or loads; `data-href`, one a
 * page's script compares with or goes to (the chat page's sign-in page, src/console/assets.ts).
 */
const LINK_ATTRIBUTES = ['href', 'src', 'action', 'formaction', 'data-href'] as const

const IDENTITY: BasePath = { path: '', href: (p) => p, strip: () => {}, page: (html) => html }

export function basePath(publicUrl: string | undefined): BasePath {
  const base = basePathOf(publicUrl)
  if (base === '') return IDENTITY
  const href = (value: string) => (isServerPath(value) ? base + value : value)
  const rewriter = new HTMLRewriter().on(LINK_ATTRIBUTES.map((a) => `[${a}^="/"]`).join(','), {
    element(el) {
      for (const name of LINK_ATTRIBUTES) {
        const value = el.getAttribute(name)
        if (value !== null && isServerPath(value)) el.setAttribute(name, base + value)
      }
    },
  })
  return {
    path: base,
    href,
    strip(request) {
      const url = request.url
      // The path starts after `scheme://host`; a relative URL (Bun's without a usable Host) at 0.
      const start = url.charCodeAt(0) === 47 ? 0 : url.indexOf('/', url.indexOf('//') + 2)
      if (start < 0 || !url.startsWith(base, start)) return
      const after = url.charCodeAt(start + base.length)
      // `/teamday`, `/teamday/…`, `/teamday?…`; not `/teamdayx`.
      if (!(Number.isNaN(after) || after === 47 || after === 63)) return
      // A client's base URL with a trailing slash (`https://host/teamday/` + `/api/v1/spaces`, as
      // TeamDay's CLI joins them) through a proxy that keeps the prefix: `/teamday//api/v1/spaces`.
      // Its slashes merged, as the server merges them at the root (shortHostsRouted, src/http/listen.ts,
      // which ran before the prefix was taken off).
      let from = start + base.length
      while (url.charCodeAt(from) === 47 && url.charCodeAt(from + 1) === 47) from++
      const rest = url.slice(from)
      const stripped = url.slice(0, start) + (rest === '' || rest.charCodeAt(0) === 63 ? '/' + rest : rest)
      Object.defineProperty(request, 'url', { value: stripped, configurable: true })
    },
    page: (html) => rewriter.transform(html),
  }
}

import { Elysia, type AnyElysia } from 'elysia'
// Swagger UI is embedded in the binary: the docs work with no network at all.
import bundlePath from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }
import cssPath from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' }
import type { Config } from '../config'
import { TOKEN_SCAN_REGEX } from '../auth/tokens'
import { acceptedCoding, compressedFile } from './compression'
import { generatorView } from './openapi-generator-view'
import { publishDocument } from './openapi-publish'
import { validHost } from './host'
import { versionedHref } from './asset-href'
import { ASSET_HREF } from '../console/assets'
import { basePathOf, type BasePath } from './base-path'
import swaggerUi from 'swagger-ui-dist/package.json' with { type: 'json' }

export const DOCS_PATH = '/swagger'
/** The OpenAPI version of the document (the generator's default). */
const OPENAPI_VERSION = '3.1.2'
const GENERATOR_INFO: Record<string, string> = { title: 'Elysia Documentation', description: 'Development documentation', version: '0.0.0' }
const ASSETS = `${DOCS_PATH}/assets`

const description = `Self-hosted server for the TeamDay v1 API.

Authenticate with a Personal Access Token: \`Authorization: Bearer td_…\`. Click Authorize and paste
a token: create one in the web console (Settings → Profile → Personal Access Tokens, after the
one-time set-up link the first \`teamday serve\` prints), on the server with
\`teamday tokens create --email … --name …\`, or with \`POST /api/v1/tokens\` and a token you have.

Tokens are \`td_\` + 43 base62 characters (the last 6 are a CRC32 checksum), matched by
\`${TOKEN_SCAN_REGEX.source}\`. Every error has the same JSON envelope with a stable \`code\`.

JSON bodies (error envelopes included) of 1 KiB or more are sent zstd- or gzip-compressed when the request's \`Accept-Encoding\`
allows it (\`Content-Encoding\`, \`Vary: accept-encoding\`); without that header they are sent as they are.

String lengths (\`minLength\`, \`maxLength\`) are counted in UTF-16 code units, as JavaScript counts
them, where JSON Schema counts characters: a character beyond U+FFFF (most emoji) counts 2, so 200 of
them are over a \`maxLength\` of 200. Limits given in bytes (a secret's value) count UTF-8 bytes.`

/**
 * The Swagger UI page, served by us rather than the OpenAPI plugin so that it needs no inline
 * script: its settings travel as a JSON data block, read by an embedded init script. That lets
 * the page carry a CSP like the console's (scripts only from this origin). The pasted token is
 * not kept in localStorage (persistAuthorization: false): any script on the origin could read it.
 */
// deepLinking: an operation opened is in the address (#/Tokens/postApiV1Tokens), to share or bookmark.
const SWAGGER_SETTINGS = { dom_id: '#swagger-ui', url: `${DOCS_PATH}/json`, validatorUrl: 'none', persistAuthorization: false, deepLinking: true }
// The init script, beside the settings:
// - dark mode: Swagger UI has a dark style (html.dark-mode) but nothing that turns it on; it
//   follows the system's setting, as the console does (the page was white in dark mode);
// - the server "Try it out" calls: Swagger UI takes the first of `servers`, which is
//   TEAMDAY_PUBLIC_URL when set; a page opened at another name of this server (127.0.0.1 where
//   the public URL says localhost, the address a proxy passes on) sent every request cross-origin,
//   which CORS (off by default) blocks: "Failed to fetch". The entry that is this page's own
//   origin, when there is one, is chosen instead; under a sub-path (src/http/base-path.ts) that
//   origin with the base path, which the document's URL in the settings starts with
//   (`/teamday/swagger/json`): the entry of the origin alone sent the calls to the proxy's root.
const SWAGGER_INIT = `(function () {
  var dark = window.matchMedia('(prefers-color-scheme: dark)');
  var scheme = function () { document.documentElement.classList.toggle('dark-mode', dark.matches); };
  scheme();
  dark.addEventListener('change', scheme);
  var settings = JSON.parse(document.getElementById('swagger-settings').textContent);
  settings.onComplete = function () {
    var servers = (window.ui.specSelectors.servers() || []).map(function (s) { return s.get('url'); });
    var own = location.origin + settings.url.slice(0, settings.url.length - ${JSON.stringify(`${DOCS_PATH}/json`)}.length);
    if (servers.indexOf(own) > 0) window.ui.oas3Actions.setSelectedServer(own);
  };
  window.ui = SwaggerUIBundle(settings);
})();
`
export const DOCS_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

/**
 * The page's files by addresses that change with them (`?v=`, ignored by the routes), as the
 * console's: cached a day (Swagger UI's) or an hour (the init script), they were the previous
 * version's for that long after an upgrade. Swagger UI's by its package version (hashing the
 * 1.7 MB bundle would read it at start), the init script by its content.
 */
const PAGE_FILES = {
  css: `${ASSETS}/swagger-ui.css?v=${swaggerUi.version}`,
  bundle: `${ASSETS}/swagger-ui-bundle.js?v=${swaggerUi.version}`,
  init: versionedHref(`${ASSETS}/swagger-init.js`, SWAGGER_INIT),
}

/** The console's icon (src/console/assets.ts), named by the page: under a sub-path, the browser's guess, /favicon.ico at the root, is another site's. */
const FAVICON_HREF = ASSET_HREF['/favicon.ico']!

/**
 * Beside Swagger UI's style (the CSP allows inline style, which Swagger UI itself needs): at 320 px
 * an operation's responses tables (Code, Description, Links) were 364 px wide, as wide as their
 * longest line, and the whole page scrolled sideways. Laid out to the width there is (the code
 * blocks in them scroll on their own), without the Links column: always "No links" here (the
 * document has none).
 */
const PAGE_STYLE = [
  '.swagger-ui .responses-table{table-layout:fixed;width:100%}',
  '.swagger-ui .responses-table .response-col_status{width:4.5em}',
  '.swagger-ui .responses-table .response-col_links{display:none}',
  // Swagger UI's dark style has no rule for the responses' header tables (X-Request-Id,
  // RateLimit-*): their cells stayed its light theme's text colour, 1.5:1 on the dark ground.
  'html.dark-mode .swagger-ui table.headers td{color:#e4e6e6}',
].join('')

/**
 * `href`: a path of this server as browsers reach it (BasePath.href, src/http/base-path.ts), for
 * the page's files and the document's URL: under a sub-path, Swagger UI loaded `/swagger/json`
 * from the proxy's root.
 */
export function swaggerPage(title: string, href: (path: string) => string = (path) => path): string {
  const esc = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  // JSON inside <script type=application/json>: only "</" could end the block early.
  const settings = JSON.stringify({ ...SWAGGER_SETTINGS, url: href(SWAGGER_SETTINGS.url) }).replace(/</g, '\\u003c')
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>${esc(title)}</title>
  <link rel="icon" href="${href(FAVICON_HREF)}" />
  <link rel="stylesheet" href="${href(PAGE_FILES.css)}" />
  <style>${PAGE_STYLE}</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script type="application/json" id="swagger-settings">${settings}</script>
  <script src="${href(PAGE_FILES.bundle)}"></script>
  <script src="${href(PAGE_FILES.init)}"></script>
</body>
</html>
`
}

/**
 * `servers` of the document served for a request: TEAMDAY_PUBLIC_URL first when set (where browsers
 * reach this server, as CLI sign-in and console links say: behind a TLS proxy not declared as
 * trusted, the request's own origin was http://, and Swagger UI's "Try it out" from the https page
 * was blocked as mixed content), and the request's origin second when it names another host;
 * else this server as the client reached it. Behind a reverse proxy
 * (TEAMDAY_TRUSTED_PROXY_HOPS or TEAMDAY_TRUSTED_PROXIES set), the proxy's X-Forwarded-Proto and
 * X-Forwarded-Host (first values, when well-formed) say what that was.
 */
export function servedServers(request: Request, behindProxy = false, publicUrl?: string) {
  if (publicUrl !== undefined) {
    // The page opened at another name of this server (http://127.0.0.1:8080 where the public URL
    // says http://localhost:8080): that origin second, so that "Try it out" can stay same-origin
    // (CORS is off by default). Not the same host in another scheme: that is the proxy's side.
    // Under a sub-path with it (the page's links carry it, so it was reached with it; the server
    // serves a request with the prefix as one without: src/http/base-path.ts).
    const reached = requestOrigin(request, behindProxy)
    const pub = new URL(publicUrl)
    const other = new URL(reached).host !== pub.host
    return [{ url: publicUrl, description: 'This server' }, ...(other ? [{ url: reached + basePathOf(publicUrl), description: 'This server, as this page reached it' }] : [])]
  }
  return [{ url: requestOrigin(request, behindProxy), description: 'This server' }]
}

function requestOrigin(request: Request, behindProxy: boolean): string {
  const url = new URL(request.url)
  let origin = url.origin
  if (behindProxy) {
    const proto = request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase()
    const host = request.headers.get('x-forwarded-host')?.split(',')[0]?.trim()
    const scheme = proto === 'http' || proto === 'https' ? proto : url.protocol.slice(0, -1)
    origin = `${scheme}://${host && validHost(host) ? host : url.host}`
  }
  return origin
}
/** `servers` of the committed document, which does not know where it will be served. */
export const relativeServers = [{ url: '/', description: 'The server that serves this document' }]

/**
 * The docs: Swagger UI's page and assets, and the OpenAPI document of `documented()` (the app,
 * once it has all its routes) at /swagger/json. The document is made by @elysiajs/openapi's
 * generator on its first request, which is also when that package is first evaluated: a start
 * does not pay for it (1–2 ms of evaluating serve's modules in the binary, markers).
 */
export function docsPlugin(config: Config, documented: () => AnyElysia, base?: BasePath) {
  // Swagger UI's files: compressed when the browser accepts it (every browser does), else as they are.
  const asset = (path: string, type: string) => {
    const packed = compressedFile(path)
    const headers: Record<string, string> = { 'content-type': type, 'cache-control': 'public, max-age=86400', ...(config.compression ? { vary: 'accept-encoding' } : {}) }
    return async ({ request }: { request: Request }) => {
      const coding = config.compression ? acceptedCoding(request.headers.get('accept-encoding')) : null
      if (coding === null) return new Response(Bun.file(path), { headers })
      return new Response(await packed(coding), { headers: { ...headers, 'content-encoding': coding } })
    }
  }
  // The page: `no-cache`, a copy is asked for again at each use (1 KB; no validator to answer 304
  // with, as the API has none). It is the same for everyone and holds nothing secret (the token
  // pasted into Authorize is never in it, nor kept), but it names this build's versioned files
  // (PAGE_FILES): a copy kept after an upgrade loaded the previous version's. Not `no-store`, as
  // the console's pages (which hold a person's data): the page may stay in the back/forward cache.
  // It had none at all, so how long a cache kept it was each cache's guess.
  const html = swaggerPage('TeamDay API (self-hosted)', base?.href)
  const page = () =>
    new Response(html, {
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-cache',
        'content-security-policy': DOCS_CSP,
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'cross-origin-opener-policy': 'same-origin',
      },
    })
  const behindProxy = config.trustedProxyHops > 0 || config.trustedProxies.length > 0
  const documentation = {
    info: {
      title: 'TeamDay API (self-hosted)',
      version: config.version,
      description,
      license: { name: 'MIT', identifier: 'MIT' },
      // Self-hosted: whoever runs this server (the project has no canonical URL to name here).
      contact: { name: 'The administrators of this server' },
    },
    tags: [
      { name: 'Agents', description: 'AI agents (characters): create, list, update, archive, execute' },
      { name: 'Executions', description: 'Agent runs: status, messages, delegation trees, cancel' },
      { name: 'Spaces', description: 'Workspaces, their agents and secrets' },
      { name: 'Tasks', description: 'Tasks for agents and people' },
      { name: 'Organizations', description: 'Organization-wide secrets (environment variables)' },
      { name: 'Members', description: 'The members of your organization and their roles (organization admins)' },
      { name: 'Tokens', description: 'Personal Access Tokens: create, list, rotate, revoke' },
      { name: 'CLI sign-in', description: 'Browser sign-in for command-line tools (TeamDay CLI `auth login`, `teamday login`): initiate, poll, refresh, revoke' },
      { name: 'Credentials', description: 'Report leaked tokens for revocation (no authentication)' },
      { name: 'Audit', description: 'Security audit log (organization admins)' },
      { name: 'Public', description: 'Public agent directory (no authentication)' },
      { name: 'System', description: 'Health and metadata' },
    ],
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'td_ personal access token or tdo_ CLI access token',
          description: 'Personal Access Token: td_ followed by 43 characters; or a CLI access token from browser sign-in (tdo_ followed by 43 characters, 15 minutes, the role of the person who approved). In Swagger UI\'s Authorize dialog, paste the token alone: the word Bearer is added for you.',
        },
      },
    },
  }
  // The published document: what the generator's own plugin served (its toFullSchema), key order
  // included, mapped by publishDocument. Byte-identical to the one the plugin made (the committed
  // openapi/openapi.json test). The routes do not change once the app is made: made once.
  let document: Promise<any> | undefined
  const makeDocument = async () => {
    const { toOpenAPISchema } = await import('@elysiajs/openapi')
    const { paths, components } = toOpenAPISchema(generatorView(documented()), { paths: [DOCS_PATH, `${DOCS_PATH}/json`, '/'] }, undefined, undefined, OPENAPI_VERSION)
    return publishDocument({
      ...documentation,
      openapi: OPENAPI_VERSION,
      // The generator's defaults first, then ours over them: its key order.
      info: { ...GENERATOR_INFO, ...documentation.info },
      paths,
      components: { ...documentation.components, schemas: components.schemas },
    }, [])
  }
  return new Elysia({ name: 'teamday-docs' })
    .get(`${ASSETS}/swagger-ui-bundle.js`, asset(bundlePath, 'text/javascript; charset=utf-8'), { detail: { hide: true } })
    .get(`${ASSETS}/swagger-ui.css`, asset(cssPath, 'text/css; charset=utf-8'), { detail: { hide: true } })
    .get(`${ASSETS}/swagger-init.js`, () => new Response(SWAGGER_INIT, { headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=3600' } }), { detail: { hide: true } })
    .get(DOCS_PATH, page, { detail: { hide: true } })
    .get(`${DOCS_PATH}/`, page, { detail: { hide: true } })
    // This server as the client reached it in `servers`.
    .get(
      `${DOCS_PATH}/json`,
      async ({ request, set }) => {
        const { openapi, info, servers: _, ...rest } = await (document ??= makeDocument())
        // `servers` comes from this request's Host (or a trusted proxy's X-Forwarded-Host, which
        // caches do not key on): a copy kept by a cache on the way sent the next reader's "Try it
        // out", bearer token and all, to whatever host the request that filled it named.
        set.headers['cache-control'] = 'no-store'
        return { openapi, info, servers: servedServers(request, behindProxy, config.publicUrl), ...rest }
      },
      { detail: { hide: true } },
    )
}

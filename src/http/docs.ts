import { openapi } from '@elysiajs/openapi'
import { Elysia } from 'elysia'
// Swagger UI is embedded in the binary: the docs work with no network at all.
import bundlePath from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }
import cssPath from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' }
import type { Config } from '../config'
import { TOKEN_SCAN_REGEX } from '../auth/tokens'
import { publishDocument } from './openapi-publish'

export const DOCS_PATH = '/swagger'
const ASSETS = `${DOCS_PATH}/assets`

const description = `Self-hosted server for the TeamDay v1 API.

Authenticate with a Personal Access Token: \`Authorization: Bearer td_…\`. Click Authorize and paste
a token (the first \`teamday serve\` prints one; more with \`teamday tokens create\` or \`POST /api/v1/tokens\`).

Tokens are \`td_\` + 43 base62 characters (the last 6 are a CRC32 checksum), matched by
\`${TOKEN_SCAN_REGEX.source}\`. Every error has the same JSON envelope with a stable \`code\`.`

const HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/

/**
 * `servers` of the document served for a request: this server as the client reached it. Behind
 * a reverse proxy (TEAMDAY_TRUSTED_PROXY_HOPS or TEAMDAY_TRUSTED_PROXIES set), the proxy's
 * X-Forwarded-Proto and X-Forwarded-Host (first values, when well-formed) say what that was.
 */
export function servedServers(request: Request, behindProxy = false) {
  const url = new URL(request.url)
  let origin = url.origin
  if (behindProxy) {
    const proto = request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase()
    const host = request.headers.get('x-forwarded-host')?.split(',')[0]?.trim()
    const scheme = proto === 'http' || proto === 'https' ? proto : url.protocol.slice(0, -1)
    origin = `${scheme}://${host && HOST.test(host) ? host : url.host}`
  }
  return [{ url: origin, description: 'This server' }]
}
/** `servers` of the committed document, which does not know where it will be served. */
export const relativeServers = [{ url: '/', description: 'The server that serves this document' }]

export function docsPlugin(config: Config) {
  const asset = (path: string, type: string) => () =>
    new Response(Bun.file(path), { headers: { 'content-type': type, 'cache-control': 'public, max-age=86400' } })
  // The generator caches its document until the routes change; so does this, per generated document.
  let published: { from: unknown; doc: any } | undefined
  const behindProxy = config.trustedProxyHops > 0 || config.trustedProxies.length > 0
  return new Elysia({ name: 'teamday-docs' })
    // Applies to the routes of the openapi plugin below (used after it), which serve the document.
    .onAfterHandle(({ path, request, response }) => {
      if (path !== `${DOCS_PATH}/json` || !response || typeof response !== 'object' || response instanceof Response) return
      if (published?.from !== response) published = { from: response, doc: publishDocument(response, []) }
      const { openapi, info, servers: _, ...rest } = published.doc
      return { openapi, info, servers: servedServers(request, behindProxy), ...rest }
    })
    .get(`${ASSETS}/swagger-ui-bundle.js`, asset(bundlePath, 'text/javascript; charset=utf-8'), { detail: { hide: true } })
    .get(`${ASSETS}/swagger-ui.css`, asset(cssPath, 'text/css; charset=utf-8'), { detail: { hide: true } })
    .get('/', ({ redirect }) => redirect(DOCS_PATH, 302), { detail: { hide: true } })
    .use(
      openapi({
        path: DOCS_PATH,
        specPath: `${DOCS_PATH}/json`,
        provider: 'swagger-ui',
        swagger: {
          // Absolute, so the page also finds its spec when opened as /swagger/ (the default is relative).
          url: `${DOCS_PATH}/json`,
          cdn: `${ASSETS}/swagger-ui-bundle.js`,
          theme: `${ASSETS}/swagger-ui.css`,
          // The default sends the spec's URL to validator.swagger.io for a badge: no calls out.
          validatorUrl: 'none',
          persistAuthorization: true,
          autoDarkMode: false,
        } as any,
        exclude: { paths: [DOCS_PATH, `${DOCS_PATH}/json`, '/'] },
        documentation: {
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
                bearerFormat: 'td_ personal access token',
                description: 'Personal Access Token: td_ followed by 43 characters',
              },
            },
          },
        },
      }),
    )
}

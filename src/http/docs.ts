import { openapi } from '@elysiajs/openapi'
import { Elysia } from 'elysia'
// Swagger UI is embedded in the binary: the docs work with no network at all.
import bundlePath from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }
import cssPath from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' }
import type { Config } from '../config'
import { TOKEN_SCAN_REGEX } from '../auth/tokens'

export const DOCS_PATH = '/swagger'
const ASSETS = `${DOCS_PATH}/assets`

const description = `Self-hosted server for the TeamDay v1 API.

Authenticate with a Personal Access Token: \`Authorization: Bearer td_…\`. Click Authorize and paste
a token (the first \`teamday serve\` prints one; more with \`teamday tokens create\` or \`POST /api/v1/tokens\`).

Tokens are \`td_\` + 43 base62 characters (the last 6 are a CRC32 checksum), matched by
\`${TOKEN_SCAN_REGEX.source}\`. Every error has the same JSON envelope with a stable \`code\`.`

export function docsPlugin(config: Config) {
  const asset = (path: string, type: string) => () =>
    new Response(Bun.file(path), { headers: { 'content-type': type, 'cache-control': 'public, max-age=86400' } })
  return new Elysia({ name: 'teamday-docs' })
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
          info: { title: 'TeamDay API (self-hosted)', version: config.version, description },
          tags: [
            { name: 'Agents', description: 'AI agents (characters): create, list, update, archive, execute' },
            { name: 'Executions', description: 'Agent runs: status, messages, delegation trees, cancel' },
            { name: 'Spaces', description: 'Workspaces, their agents and secrets' },
            { name: 'Tasks', description: 'Tasks for agents and people' },
            { name: 'Organizations', description: 'Organization-wide secrets (environment variables)' },
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
                description: 'Personal Access Token: td_ followed by 43 characters; or a CLI access token from browser sign-in (tdo_ followed by 43 characters, 15 minutes, the role of the person who approved)',
              },
            },
          },
        },
      }),
    )
}

import { Elysia, t } from 'elysia'
import { API_V1, type RouteKit } from '../../http/context'
import { DeleteSecretsBody, secretBodyErrors, secretModels, SetSecretsBody } from '../spaces/secrets-model'
import { authErrors, bodyErrors, errorResponse, named, sharedModels } from '../shared-models'
import { deleteOrgSecrets, listOrgSecrets, setOrgSecrets } from './service'
import { RESPONSE_DESCRIPTIONS } from '../../http/openapi-publish'

const OrgParams = t.Object({ orgId: t.String({ description: 'Your organization id (org_…)', examples: ['org_9Tr4Kx2LmQ7vB1nZ8wYc'] }) })

const forbidden = errorResponse(
  403,
  'forbidden',
  'Forbidden: `orgId` is not your token\'s organization ("Access denied to this organization"), or your role may not do this (viewers read nothing here; only admins write).',
  'Access denied to this organization: your token belongs to another organization (forbidden).',
)

const notFound = errorResponse(
  404,
  'not_found',
  'Not found: `orgId` holds the NUL character (`%00`), which no id or slug does (another organization\'s id is 403).',
  'Not found: no id or slug contains the NUL character (%00).',
)

/** The named OpenAPI models of these routes (also registered once by createApp: src/app.ts). */
export const organizationsApiModels = { ...sharedModels, ...secretModels, ...named({ OrganizationForbidden: forbidden, OrganizationNotFound: notFound }) }

export function organizationsModule({ auth, ctx }: RouteKit) {
  return new Elysia({ prefix: `${API_V1}/organizations`, tags: ['Organizations'] })
    .use(auth)
    .model(organizationsApiModels)
    .get('/:orgId/env', async ({ principal, params, request, set }) => ({ success: true as const, ...(await listOrgSecrets(ctx(principal, request, set), params.orgId)) }), {
      auth: 'spaces:read',
      params: OrgParams,
      response: { 200: 'OrgSecretNames', ...authErrors, 403: 'OrganizationForbidden', 404: 'OrganizationNotFound' },
      detail: {
        summary: 'List organization secret names',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The names of the organization\'s secrets, sorted, and how many there are; never a value.' },
        description:
          'The names of the organization\'s secrets (environment variables of every execution), sorted; never the values. Members and admins. Another organization\'s id is 403 "Access denied to this organization".',
      },
    })
    .post('/:orgId/env', async ({ principal, params, body, request, set }) => ({ success: true as const, keys: await setOrgSecrets(ctx(principal, request, set), params.orgId, body.secrets) }), {
      auth: 'secrets:write',
      params: OrgParams,
      body: SetSecretsBody,
      response: { 200: 'SecretKeysResult', ...bodyErrors, ...secretBodyErrors, ...authErrors, 403: 'OrganizationForbidden', 404: 'OrganizationNotFound' },
      detail: {
        summary: 'Set organization secrets',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The organization secrets are stored: `keys` lists the names set.' },
        description:
          'Creates or replaces organization secrets. Values are encrypted with AES-256-GCM and never returned; a space secret of the same name wins in that space. Admins only.',
      },
    })
    .delete('/:orgId/env', async ({ principal, params, body, request, set }) => ({ success: true as const, deleted: await deleteOrgSecrets(ctx(principal, request, set), params.orgId, body.keys) }), {
      auth: 'secrets:write',
      params: OrgParams,
      body: DeleteSecretsBody,
      response: { 200: 'SecretsDeleted', ...bodyErrors, ...secretBodyErrors, ...authErrors, 403: 'OrganizationForbidden', 404: 'OrganizationNotFound' },
      detail: {
        summary: 'Delete organization secrets',
        [RESPONSE_DESCRIPTIONS]: { 200: 'The named organization secrets are gone: `deleted` lists those that were there.' },
        description: 'Deletes the named organization secrets (JSON body `{keys: [...]}`). Names that do not exist are ignored; `deleted` lists those removed. Admins only.',
      },
    })
}

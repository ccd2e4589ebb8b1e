import { Type } from '@sinclair/typebox'
import { t } from 'elysia'
import { serviceRule } from '../../http/openapi-publish'
import { errorResponse, named, successField } from '../shared-models'
import { MAX_KEY_LENGTH, MAX_KEYS_PER_REQUEST, MAX_VALUE_BYTES, SECRET_KEY_PATTERN } from './secrets'

/** Request and response shapes shared by space secrets and organization secrets (env). */

/**
 * The key rule in the document: `propertyNames` is a JSON Schema keyword TypeBox does not check,
 * so the service's own check (validateSecretKeys) answers, with the bad key's position, after the
 * access checks; a body the reader or this validation refuses (whose errors name `secrets.<key>`)
 * is told so instead when a key is bad (secretNamesFirst, src/http/secret-fields.ts). A value's
 * `maxLength` is checked by the validator too; it counts UTF-16 code units, an upper bound of the
 * real limit (65536 bytes in UTF-8, checked by the service).
 */
const SecretKeyNames = { pattern: SECRET_KEY_PATTERN.source, maxLength: MAX_KEY_LENGTH }

/** A body without `secrets` (`{"keys": [...]}`, the DELETE's shape, or the secrets at the top level). */
export const SECRETS_REQUIRED = 'secrets is required: an object of KEY: "value" strings, e.g. {"secrets": {"API_KEY": "value"}} (deleting takes {"keys": ["API_KEY"]} with DELETE)'

export const SetSecretsBody = t.Object(
  {
    secrets: t.Record(
      t.String(),
      t.String({
        maxLength: MAX_VALUE_BYTES,
        description: `A value: at most ${MAX_VALUE_BYTES} bytes (64 KiB) in UTF-8`,
        error: `secrets values must be strings of at most ${MAX_VALUE_BYTES} bytes (64 KiB) in UTF-8`,
      }),
      {
        propertyNames: SecretKeyNames,
        ...serviceRule({ minProperties: 1, maxProperties: MAX_KEYS_PER_REQUEST }),
        description: `KEY → value. Keys are UPPER_SNAKE_CASE (${SECRET_KEY_PATTERN.source}, at most ${MAX_KEY_LENGTH} characters); values are strings of at most 64 KiB (${MAX_VALUE_BYTES} bytes in UTF-8); 1 to ${MAX_KEYS_PER_REQUEST} keys per request. Existing keys are replaced.`,
        // What the validator says of `secrets` itself: it is missing (not an object is refused as
        // the body is read, src/http/body.ts; its keys and their number are the service's).
        error: SECRETS_REQUIRED,
      },
    ),
  },
  { examples: [{ secrets: { OPENAI_API_KEY: 'sk-…', GITHUB_TOKEN: 'ghp_…' } }] },
)

export const DeleteSecretsBody = t.Object(
  {
    keys: t.Array(t.String({ ...serviceRule(SecretKeyNames) }), {
      minItems: 1,
      maxItems: 100,
      description: `Names of the secrets to delete, each UPPER_SNAKE_CASE (${SECRET_KEY_PATTERN.source}, at most ${MAX_KEY_LENGTH} characters; another name is 422). Names that do not exist are ignored.`,
      error: 'keys must be an array of 1-100 secret names',
    }),
  },
  { examples: [{ keys: ['GITHUB_TOKEN'] }] },
)

export const SecretKeysResult = t.Object(
  { success: successField, keys: t.Array(t.String(), { description: 'The keys written, sorted' }) },
  { examples: [{ success: true, keys: ['GITHUB_TOKEN', 'OPENAI_API_KEY'] }] },
)

export const SecretsDeleted = t.Object(
  { success: successField, deleted: t.Array(t.String(), { description: 'The keys that existed and were deleted, sorted' }) },
  { examples: [{ success: true, deleted: ['GITHUB_TOKEN'] }] },
)

export const SpaceSecretNames = t.Object(
  {
    success: successField,
    spaceId: t.String({ description: 'The space (space_…)' }),
    secrets: t.Array(t.String(), { description: 'Secret names, sorted. Never the values.' }),
    count: Type.Integer({ description: 'How many names are listed' }),
  },
  { examples: [{ success: true, spaceId: 'space_8Kq2LmX9vB3nR8kT1wYz', secrets: ['GITHUB_TOKEN', 'OPENAI_API_KEY'], count: 2 }] },
)

export const OrgSecretNames = t.Object(
  {
    success: successField,
    organizationId: t.String({ description: 'The organization (org_…)' }),
    secrets: t.Array(t.String(), { description: 'Secret names, sorted. Never the values.' }),
    count: Type.Integer({ description: 'How many names are listed' }),
  },
  { examples: [{ success: true, organizationId: 'org_9Tr4Kx2LmQ7vB1nZ8wYc', secrets: ['ANTHROPIC_API_KEY'], count: 1 }] },
)

const secretsInvalid = {
  422: errorResponse(
    422,
    'validation_failed',
    'Validation failed: a key is not UPPER_SNAKE_CASE, a value is not a string or over 64 KiB, or too many keys. The message names a valid key, and an invalid one by its position only (it may be a value pasted as a name); never a value.',
    'Validation failed: secrets has invalid key 2 of 2 (not shown: it may be a value pasted as a name): keys must be UPPER_SNAKE_CASE (A-Z, 0-9, _; starting with a letter), at most 128 characters',
    [{ field: 'secrets', message: 'key 2 of 2 must be UPPER_SNAKE_CASE, at most 128 characters' }],
  ),
}

/** Named in the OpenAPI document; routes refer to them by name. */
export const secretModels = named({ SecretKeysResult, SecretsDeleted, SpaceSecretNames, OrgSecretNames, SecretsInvalid: secretsInvalid[422] })
export const secretBodyErrors = { 422: 'SecretsInvalid' } as const

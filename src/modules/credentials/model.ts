import { Type } from '@sinclair/typebox'
import { t } from 'elysia'
import { TOKEN_SCAN_REGEX } from '../../auth/tokens'
import { named, successField } from '../shared-models'

export const MAX_CREDENTIALS = 1000

export const RevokeCredentialsBody = t.Object(
  {
    credentials: t.Array(t.String({ maxLength: 200, error: 'credentials must be strings of at most 200 characters' }), {
      minItems: 1,
      maxItems: MAX_CREDENTIALS,
      description: `Strings found in public places that look like TeamDay tokens (${TOKEN_SCAN_REGEX.source}), 1-${MAX_CREDENTIALS}.`,
      error: `credentials must be an array of 1-${MAX_CREDENTIALS} strings of at most 200 characters`,
    }),
  },
  { examples: [{ credentials: ['td_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789x048dSn'] }] },
)

export const RevokeCredentialsAccepted = t.Object(
  {
    success: successField,
    received: Type.Integer({ description: 'How many strings were received (not how many matched)' }),
  },
  { examples: [{ success: true, received: 1 }] },
)

/** Named in the OpenAPI document; routes refer to them by name. */
export const credentialModels = named({ RevokeCredentialsAccepted })

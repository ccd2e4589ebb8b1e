import type { Role } from '../db/schema'

/** Who is calling: resolved from the bearer token on every request. */
export interface Principal {
  userId: string
  email: string
  organizationId: string
  role: Role
  tokenId: string
  tokenExpiresAt: Date
  scopes: string[]
}

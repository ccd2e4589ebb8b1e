import type { Role } from '../db/schema'

/** Who is calling: resolved from the bearer token on every request. */
export interface Principal {
  userId: string
  email: string
  organizationId: string
  role: Role
  /** The PAT's id; for a CLI access token, its CLI session's id (stable across refreshes). */
  tokenId: string
  /** What authenticated the request: a personal access token, or a CLI session's access token. */
  credential: 'pat' | 'cli'
  tokenExpiresAt: Date
  scopes: string[]
}

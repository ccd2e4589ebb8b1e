import type { Role } from '../db/schema'

/**
 * Who a service acts for: a bearer token's principal, or a person signed in to the console
 * (src/console/session.ts). A console session has no token (`tokenId` null) and every scope
 * (`*`): like the UI of the TeamDay docs it may do what the person's role allows.
 */
export interface Caller {
  userId: string
  email: string
  organizationId: string
  role: Role
  /** The calling token; null for a console session. */
  tokenId: string | null
  scopes: string[]
}

/** Who is calling: resolved from the bearer token on every request. */
export interface Principal extends Caller {
  /** The PAT's id; for a CLI access token, its CLI session's id (stable across refreshes). */
  tokenId: string
  tokenExpiresAt: Date
  /** What authenticated the request: a personal access token, or a CLI session's access token. */
  credential: 'pat' | 'cli'
  /**
   * The organization's agents version (src/db/versions.ts), when the token look-up read it in
   * its own statement (both look-ups do: src/auth/lookup.ts, src/auth/pg-lookup.ts), as of this
   * request; else read it.
   */
  agentsVersion?: string
  /**
   * Set when the request is an agent run's own (its `teamday_api` tool's): the run, and the scopes
   * of the credential that started it. `scopes` above is then already the intersection of the
   * token's scopes and these (src/auth/plugin.ts, narrowed): what the request may really do.
   */
  run?: { executionId: string; starterScopes: string[] }
}

import type { Role } from '../db/schema'

/**
 * Whom a visibility rule is asked about: a request's principal, or (for delegation, at run time)
 * the user who started the run with their current role. The access rules of each resource
 * (`<resource>/access.ts`) take nothing else.
 */
export interface Viewer {
  userId: string
  organizationId: string
  role: Role
}

import type { Caller, Principal } from './auth/principal'

/**
 * Who a service call acts for: a request's token (its principal), a console session, the admin CLI working on the
 * database file, an unauthenticated request (a leaked-credential report, a failed
 * authentication), or the server itself (start-up, the execution engine).
 */
export type Actor =
  | { kind: 'token'; principal: Principal }
  /** A person signed in to the console (web pages only; never /api/v1). */
  | { kind: 'session'; principal: Caller; sessionId: string }
  | { kind: 'operator' }
  /**
   * Nobody authenticated: a request to the API without a (valid) token — a CLI sign-in's refresh
   * or logout, a leak report, a failed authentication — or a console page nobody is signed in to
   * (sign-in, set-up links). Its events record `via` as their source (`api`, `console`).
   */
  | { kind: 'anonymous'; via: 'api' | 'console' }
  | { kind: 'system' }

/** Where a request came from, for the audit log. The address is looked up when first asked for (a system call). */
export interface Origin {
  ip(): string | null
  readonly userAgent: string | null
}

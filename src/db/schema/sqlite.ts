import { sql } from 'drizzle-orm'
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'
import { AGENT_VISIBILITIES, CLI_LOGIN_STATES, ASSIGNEE_TYPES, EXECUTION_STATUSES, ROLES, SPACE_TYPES, SPACE_VISIBILITIES, TASK_PRIORITIES, TASK_STATUSES, type AgentRef, type ExecutionMessage, type StoredExecutionMessage, type ExecutionToolCall, type HistoryTrimmed, contentBytes } from './shared'

export * from './shared'

// Timestamps are integer milliseconds since the epoch (drizzle maps them to Date).
const timestamp = (name: string) => integer(name, { mode: 'timestamp_ms' })

export const organizations = sqliteTable('organizations', {
  id: text('id').primaryKey(),
  slug: text('slug').notNull(),
  name: text('name').notNull(),
  createdAt: timestamp('created_at').notNull(),
}, (t) => [uniqueIndex('organizations_slug_unique').on(t.slug)])

export const users = sqliteTable('users', {
  id: text('id').primaryKey(),
  // Stored lower-cased; the unique index makes e-mail the login identity.
  email: text('email').notNull(),
  name: text('name'),
  createdAt: timestamp('created_at').notNull(),
  /** argon2id PHC string (Bun.password, src/modules/users/passwords.ts); null: no password yet (console sign-in impossible). */
  passwordHash: text('password_hash'),
  passwordChangedAt: timestamp('password_changed_at'),
  lastSignInAt: timestamp('last_sign_in_at'),
}, (t) => [uniqueIndex('users_email_unique').on(t.email)])

export const memberships = sqliteTable('memberships', {
  id: text('id').primaryKey(),
  organizationId: text('organization_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  role: text('role', { enum: ROLES }).notNull(),
  createdAt: timestamp('created_at').notNull(),
  updatedAt: timestamp('updated_at').notNull(),
}, (t) => [
  uniqueIndex('memberships_org_user_unique').on(t.organizationId, t.userId),
  index('memberships_user_idx').on(t.userId),
  // The member list, newest first (src/modules/members).
  index('memberships_org_time_idx').on(t.organizationId, t.createdAt, t.id),
])

/**
 * Personal access tokens. Nothing derived from the secret is stored except its SHA-256
 * (for lookup) and a display hint (first 4 + last 4 characters of the token body).
 * The name and last-used IP / user agent are AES-256-GCM ciphertexts ("v1.<keyId>.<b64>").
 */
export const personalAccessTokens = sqliteTable('personal_access_tokens', {
  id: text('id').primaryKey(),
  userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  organizationId: text('organization_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  tokenHash: text('token_hash').notNull(),
  hint: text('hint').notNull(),
  nameEnc: text('name_enc').notNull(),
  scopes: text('scopes', { mode: 'json' }).$type<string[]>().notNull().default(sql`'["*"]'`),
  createdAt: timestamp('created_at').notNull(),
  expiresAt: timestamp('expires_at').notNull(),
  lastUsedAt: timestamp('last_used_at'),
  lastUsedIpEnc: text('last_used_ip_enc'),
  lastUsedUaEnc: text('last_used_ua_enc'),
  /** When the token stops working. In the future while a rotation's grace period runs. */
  revokedAt: timestamp('revoked_at'),
  revokedBy: text('revoked_by'),
  /** Why: manual | rotated (a grace period, ending at revoked_at) | rotated_now (a rotation without grace) | leak_report | family_reuse | admin_cli | creator_revoked | membership_removed */
  revokedReason: text('revoked_reason'),
  /** Rotation family: the id of the first token of the chain (its own id when never rotated). */
  familyId: text('family_id'),
  rotatedFromId: text('rotated_from_id'),
  /**
   * The token whose request created this one (a rotation's successor: the token that rotated it);
   * null when made by the admin CLI or the first-start bootstrap. Revoking a token for a leak also revokes,
   * transitively, the tokens it created.
   */
  createdByTokenId: text('created_by_token_id'),
  /**
   * The latest this token, and any token it makes or rotates into, may expire: set when another
   * token or a terminal's sign-in made or rotated it (the earliest of that maker's expiry, the
   * maker's own limit and, on rotation, the old token's limit); kept when it rotates itself; null
   * when a person made or rotated it (the console, the admin CLI), and on rows from before 0031.
   */
  expiresLimitAt: timestamp('expires_limit_at'),
}, (t) => [
  uniqueIndex('pat_token_hash_unique').on(t.tokenHash),
  index('pat_family_idx').on(t.familyId),
  index('pat_created_by_idx').on(t.createdByTokenId),
  // Token lists, newest first (src/db/paging.ts): the caller's own, or the organization's.
  index('pat_user_org_idx').on(t.userId, t.organizationId, t.createdAt, t.id),
  index('pat_org_idx').on(t.organizationId, t.createdAt, t.id),
  // A user's tokens in every organization, newest first: the admin CLI's `tokens list --email`,
  // a page at a time (it read and sorted every token of the user: 5,000 tokens 820 KB, 220 ms).
  index('pat_user_time_idx').on(t.userId, t.createdAt, t.id),
  // The same lists of the tokens that may still work (status active or expired; the console's
  // token page lists the active ones), and the count of a user's working tokens against
  // TEAMDAY_MAX_TOKENS_PER_USER at every creation: without the revoked history, which stays for
  // good and which a filter on the two above walked row by row. Their statements name the
  // predicate as a literal (liveTokenSql, src/modules/tokens/access.ts): a bound parameter never
  // matches it on SQLite.
  index('pat_user_org_live_idx').on(t.userId, t.organizationId, t.createdAt, t.id).where(sql`revoked_at IS NULL OR revoked_reason = 'rotated'`),
  index('pat_org_live_idx').on(t.organizationId, t.createdAt, t.id).where(sql`revoked_at IS NULL OR revoked_reason = 'rotated'`),
  // The active and expired lists by expiry: the tokens that may still work, by when they expire.
  // Whether a token has expired depends on the time, so no index holds the expired ones in list
  // order: where the organization's working tokens are mostly unexpired (or mostly expired), a walk
  // of the two above in list order reads them all to find the few of the other status, and
  // PostgreSQL read the whole table instead (100,000 tokens: 150 ms a page of the expired ones).
  // Here the few are a range (expires_at <= now, or > now) and PostgreSQL picks by its statistics.
  index('pat_user_org_expiry_idx').on(t.userId, t.organizationId, t.expiresAt).where(sql`revoked_at IS NULL OR revoked_reason = 'rotated'`),
  index('pat_org_expiry_idx').on(t.organizationId, t.expiresAt).where(sql`revoked_at IS NULL OR revoked_reason = 'rotated'`),
  // The revoked lists, newest first: the revoked history alone (revokedSql's first term), where a
  // walk of pat_user_org_idx / pat_org_idx read every working token too (PostgreSQL read the table).
  index('pat_user_org_revoked_idx').on(t.userId, t.organizationId, t.createdAt, t.id).where(sql`revoked_at IS NOT NULL`),
  index('pat_org_revoked_idx').on(t.organizationId, t.createdAt, t.id).where(sql`revoked_at IS NOT NULL`),
])

/**
 * Browser sign-in for command-line tools (TeamDay CLI's `auth login`, our `teamday login`).
 * A login code lives 300 s and is used once: only its SHA-256 is stored. The requesting CLI's
 * address and user agent are sealed like a token's last-used IP. pending → approved | denied;
 * approved → delivered when the first poll takes the tokens (the CLI session is created then).
 */
export const cliLoginCodes = sqliteTable('cli_login_codes', {
  id: text('id').primaryKey(),
  codeHash: text('code_hash').notNull(),
  state: text('state', { enum: CLI_LOGIN_STATES }).notNull().default('pending'),
  requestIpEnc: text('request_ip_enc'),
  requestUaEnc: text('request_ua_enc'),
  createdAt: timestamp('created_at').notNull(),
  expiresAt: timestamp('expires_at').notNull(),
  /** Who approved or denied it, and for which organization (approved). */
  userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
  organizationId: text('organization_id').references(() => organizations.id, { onDelete: 'cascade' }),
  decidedAt: timestamp('decided_at'),
  /** The CLI session made when the tokens were delivered. */
  sessionId: text('session_id'),
}, (t) => [
  uniqueIndex('cli_login_codes_hash_unique').on(t.codeHash),
  index('cli_login_codes_expires_idx').on(t.expiresAt),
])

/**
 * One approval = one CLI session: its refresh token (90 days, hashed, not rotated) and the
 * short-lived access tokens it hands out. Revoking the session stops all of them at once.
 */
export const cliSessions = sqliteTable('cli_sessions', {
  id: text('id').primaryKey(),
  userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  organizationId: text('organization_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  refreshTokenHash: text('refresh_token_hash').notNull(),
  refreshExpiresAt: timestamp('refresh_expires_at').notNull(),
  /** The device: the user agent and address of the CLI that asked for the login code (sealed). */
  userAgentEnc: text('user_agent_enc'),
  createdIpEnc: text('created_ip_enc'),
  createdAt: timestamp('created_at').notNull(),
  lastUsedAt: timestamp('last_used_at'),
  lastUsedIpEnc: text('last_used_ip_enc'),
  revokedAt: timestamp('revoked_at'),
  revokedBy: text('revoked_by'),
  /** manual | logout | membership_removed | leak_report | code_reused | password_changed | signed_out_everywhere */
  revokedReason: text('revoked_reason'),
}, (t) => [
  uniqueIndex('cli_sessions_refresh_unique').on(t.refreshTokenHash),
  index('cli_sessions_user_idx').on(t.userId, t.organizationId, t.createdAt, t.id),
])

/** Access tokens (`tdo_…`, 15 minutes) of a CLI session; only their SHA-256 is stored. */
export const cliAccessTokens = sqliteTable('cli_access_tokens', {
  id: text('id').primaryKey(),
  sessionId: text('session_id').notNull().references(() => cliSessions.id, { onDelete: 'cascade' }),
  tokenHash: text('token_hash').notNull(),
  createdAt: timestamp('created_at').notNull(),
  expiresAt: timestamp('expires_at').notNull(),
}, (t) => [
  uniqueIndex('cli_access_tokens_hash_unique').on(t.tokenHash),
  index('cli_access_tokens_session_idx').on(t.sessionId, t.expiresAt),
])

const json = <T>(name: string) => text(name, { mode: 'json' }).$type<T>()
const stringList = (name: string) => json<string[]>(name).notNull().default(sql`'[]'`)

export const agents = sqliteTable('agents', {
  id: text('id').primaryKey(),
  organizationId: text('organization_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  /** The creator. */
  userId: text('user_id').notNull().references(() => users.id),
  name: text('name').notNull(),
  /** Unique in the organization; never looks like an id (src/modules/slugs.ts). */
  slug: text('slug').notNull(),
  role: text('role'),
  systemPrompt: text('system_prompt'),
  description: text('description'),
  category: text('category'),
  visibility: text('visibility', { enum: AGENT_VISIBILITIES }).notNull().default('private'),
  model: text('model'),
  tags: stringList('tags'),
  advancedTools: stringList('advanced_tools'),
  allowedTools: stringList('allowed_tools'),
  disallowedTools: stringList('disallowed_tools'),
  mcpTypes: stringList('mcp_types'),
  mcpInstanceIds: stringList('mcp_instance_ids'),
  subagentIds: stringList('subagent_ids'),
  maxTurns: integer('max_turns'),
  archived: integer('archived', { mode: 'boolean' }).notNull().default(false),
  archivedAt: timestamp('archived_at'),
  createdAt: timestamp('created_at').notNull(),
  updatedAt: timestamp('updated_at').notNull(),
  /** The bytes of its large columns (src/db/schema/shared.ts, contentBytes): what a list's page of it sizes. */
  contentBytes: integer('content_bytes').notNull().generatedAlwaysAs(contentBytes('agents', 'sqlite'), { mode: 'virtual' }),
}, (t) => [
  // Every list is ordered by (created_at, id) on an index that starts with its equality
  // filters (src/db/paging.ts): active agents, all agents (archived=true), active ones by
  // visibility or category; the public directory across organizations.
  index('agents_org_idx').on(t.organizationId, t.archived, t.createdAt, t.id),
  index('agents_org_time_idx').on(t.organizationId, t.createdAt, t.id),
  index('agents_org_visibility_idx').on(t.organizationId, t.archived, t.visibility, t.createdAt, t.id),
  index('agents_org_category_idx').on(t.organizationId, t.archived, t.category, t.createdAt, t.id),
  index('agents_visibility_idx').on(t.visibility, t.archived, t.createdAt, t.id),
  uniqueIndex('agents_org_slug_unique').on(t.organizationId, t.slug),
])

export const spaces = sqliteTable('spaces', {
  id: text('id').primaryKey(),
  organizationId: text('organization_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  createdBy: text('created_by').notNull().references(() => users.id),
  name: text('name').notNull(),
  /** Unique in the organization; never looks like an id (src/modules/slugs.ts). */
  slug: text('slug').notNull(),
  description: text('description'),
  visibility: text('visibility', { enum: SPACE_VISIBILITIES }).notNull().default('private'),
  type: text('type', { enum: SPACE_TYPES }).notNull().default('empty'),
  instructions: text('instructions'),
  agentRefs: json<AgentRef[]>('agent_refs').notNull().default(sql`'[]'`),
  archived: integer('archived', { mode: 'boolean' }).notNull().default(false),
  archivedAt: timestamp('archived_at'),
  createdAt: timestamp('created_at').notNull(),
  updatedAt: timestamp('updated_at').notNull(),
  /** The bytes of its large columns (src/db/schema/shared.ts, contentBytes): what a list's page of it sizes. */
  contentBytes: integer('content_bytes').notNull().generatedAlwaysAs(contentBytes('spaces', 'sqlite'), { mode: 'virtual' }),
}, (t) => [
  // Active spaces, and all of them (archived=true), newest first.
  index('spaces_org_idx').on(t.organizationId, t.archived, t.createdAt, t.id),
  index('spaces_org_time_idx').on(t.organizationId, t.createdAt, t.id),
  uniqueIndex('spaces_org_slug_unique').on(t.organizationId, t.slug),
])

/**
 * Organization and space secrets (environment variables for executions). `scope` is 'org' or
 * the space id; values are AES-256-GCM ciphertexts bound to (scope, key). Never returned.
 */
export const secrets = sqliteTable('secrets', {
  id: text('id').primaryKey(),
  organizationId: text('organization_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  spaceId: text('space_id').references(() => spaces.id, { onDelete: 'cascade' }),
  scope: text('scope').notNull(),
  key: text('key').notNull(),
  valueEnc: text('value_enc').notNull(),
  createdBy: text('created_by').notNull(),
  createdAt: timestamp('created_at').notNull(),
  updatedAt: timestamp('updated_at').notNull(),
}, (t) => [uniqueIndex('secrets_scope_key_unique').on(t.organizationId, t.scope, t.key)])

export const tasks = sqliteTable('tasks', {
  id: text('id').primaryKey(),
  organizationId: text('organization_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  createdBy: text('created_by').notNull().references(() => users.id),
  title: text('title').notNull(),
  description: text('description'),
  status: text('status', { enum: TASK_STATUSES }).notNull().default('pending'),
  priority: text('priority', { enum: TASK_PRIORITIES }).notNull().default('medium'),
  assignedTo: text('assigned_to'),
  assigneeType: text('assignee_type', { enum: ASSIGNEE_TYPES }),
  spaceId: text('space_id').references(() => spaces.id, { onDelete: 'set null' }),
  dueDate: timestamp('due_date'),
  completedAt: timestamp('completed_at'),
  metadata: json<Record<string, unknown>>('metadata').notNull().default(sql`'{}'`),
  createdAt: timestamp('created_at').notNull(),
  updatedAt: timestamp('updated_at').notNull(),
  /** The bytes of its large columns (src/db/schema/shared.ts, contentBytes): what a list's page of it sizes. */
  contentBytes: integer('content_bytes').notNull().generatedAlwaysAs(contentBytes('tasks', 'sqlite'), { mode: 'virtual' }),
}, (t) => [
  // The task list, newest first, unfiltered and by each filter.
  index('tasks_org_idx').on(t.organizationId, t.createdAt, t.id),
  index('tasks_org_status_idx').on(t.organizationId, t.status, t.createdAt, t.id),
  index('tasks_org_priority_idx').on(t.organizationId, t.priority, t.createdAt, t.id),
  index('tasks_org_assignee_idx').on(t.organizationId, t.assignedTo, t.createdAt, t.id),
  index('tasks_org_space_idx').on(t.organizationId, t.spaceId, t.createdAt, t.id),
])

/** Security-relevant events: token lifecycle, scope denials, secret changes. Never a secret. */
export const auditEvents = sqliteTable('audit_events', {
  id: text('id').primaryKey(),
  organizationId: text('organization_id').references(() => organizations.id, { onDelete: 'cascade' }),
  type: text('type').notNull(),
  actorUserId: text('actor_user_id'),
  actorTokenId: text('actor_token_id'),
  /** How the actor acted: api | cli | leak_report | system */
  source: text('source').notNull(),
  tokenId: text('token_id'),
  targetType: text('target_type'),
  targetId: text('target_id'),
  ip: text('ip'),
  userAgent: text('user_agent'),
  requestId: text('request_id'),
  details: json<Record<string, unknown>>('details'),
  createdAt: timestamp('created_at').notNull(),
}, (t) => [
  // The audit log, newest first: of an organization, by type, token or actor; all (admin CLI).
  index('audit_org_time_idx').on(t.organizationId, t.createdAt, t.id),
  index('audit_org_type_idx').on(t.organizationId, t.type, t.createdAt, t.id),
  index('audit_token_idx').on(t.tokenId, t.createdAt, t.id),
  index('audit_actor_idx').on(t.organizationId, t.actorUserId, t.createdAt, t.id),
  index('audit_time_idx').on(t.createdAt, t.id),
  // The operator's `teamday audit list` of every organization (no --org) by type or by person,
  // newest first: the organization's indexes above start with it, so the page or its count sorted
  // every match (a person's 100,000 events: 230 ms).
  index('audit_type_time_idx').on(t.type, t.createdAt, t.id),
  index('audit_actor_time_idx').on(t.actorUserId, t.createdAt, t.id),
])

/** Stored first responses of requests sent with an Idempotency-Key, replayed for 24 h. */
export const idempotencyKeys = sqliteTable('idempotency_keys', {
  id: text('id').primaryKey(),
  tokenId: text('token_id').notNull(),
  /** The key's SHA-256 (hex; keyDigest in src/idempotency/service.ts), never the key as sent. */
  keyHash: text('key').notNull(),
  method: text('method').notNull(),
  path: text('path').notNull(),
  requestHash: text('request_hash').notNull(),
  /** in_progress | committed | answer_lost | completed (src/idempotency/service.ts) */
  state: text('state').notNull(),
  responseStatus: integer('response_status'),
  responseBody: text('response_body'),
  responseHeaders: json<Record<string, string>>('response_headers'),
  createdAt: timestamp('created_at').notNull(),
  expiresAt: timestamp('expires_at').notNull(),
}, (t) => [
  uniqueIndex('idempotency_token_key_unique').on(t.tokenId, t.keyHash),
  index('idempotency_expires_idx').on(t.expiresAt),
])

/**
 * Console sign-in sessions (src/console/session.ts). The cookie carries a 256-bit random value;
 * only its SHA-256 is stored. The IP and user agent are AES-256-GCM ciphertexts like a token's.
 * Sessions authenticate console pages only, never /api/v1.
 */
export const sessions = sqliteTable('sessions', {
  id: text('id').primaryKey(),
  secretHash: text('secret_hash').notNull(),
  userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  /** The organization the console shows (the switcher changes it); membership is re-checked on every request. */
  organizationId: text('organization_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  createdAt: timestamp('created_at').notNull(),
  lastSeenAt: timestamp('last_seen_at').notNull(),
  /** The absolute end (created + 7 days); the idle end is lastSeenAt + 12 h. */
  expiresAt: timestamp('expires_at').notNull(),
  ipEnc: text('ip_enc'),
  userAgentEnc: text('user_agent_enc'),
  /**
   * When its owner last typed their password on it after the sign-in (a "Confirm access" step,
   * src/console/sudo.ts); null: not since the sign-in, which createdAt is. Nullable: an older
   * binary's sessions (a rolling upgrade) have none.
   */
  passwordConfirmedAt: timestamp('password_confirmed_at'),
}, (t) => [uniqueIndex('sessions_secret_hash_unique').on(t.secretHash), index('sessions_user_idx').on(t.userId)])

/**
 * One-time links: the first start's `/setup/<secret>` and the "set your password" link an admin
 * hands to a new member. Only the SHA-256 of the secret is stored; a link works once, until expiresAt.
 */
export const oneTimeLinks = sqliteTable('one_time_links', {
  id: text('id').primaryKey(),
  secretHash: text('secret_hash').notNull(),
  userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
  organizationId: text('organization_id').references(() => organizations.id, { onDelete: 'cascade' }),
  /** setup (first start) | set_password (a member added in the console, or a reset) */
  purpose: text('purpose').notNull(),
  createdAt: timestamp('created_at').notNull(),
  expiresAt: timestamp('expires_at').notNull(),
  usedAt: timestamp('used_at'),
}, (t) => [uniqueIndex('one_time_links_secret_hash_unique').on(t.secretHash), index('one_time_links_user_idx').on(t.userId)])

/**
 * Sign-in failures per key (`acct:<sha256 of the e-mail>` or `ip:<address>`), shared by every
 * instance: after N failures within the window the key is locked until lockedUntil.
 */
export const signInFailures = sqliteTable('sign_in_failures', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull(),
  windowStart: timestamp('window_start').notNull(),
  lockedUntil: timestamp('locked_until'),
})

/**
 * Rate-limit and auth-failure counters shared by every instance on PostgreSQL (one upsert per
 * hit: src/ratelimit/pg-store.ts). Unused on SQLite, where one process serves the database and
 * counts in memory (src/ratelimit/store.ts); kept in both schemas so they stay one schema.
 */
export const rateLimitCounters = sqliteTable('rate_limit_counters', {
  key: text('key').primaryKey(),
  count: integer('count').notNull(),
  resetAt: timestamp('reset_at').notNull(),
}, (t) => [index('rate_limit_reset_idx').on(t.resetAt)])

/** Server-wide settings, e.g. the encryption key check value. */
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
  updatedAt: timestamp('updated_at').notNull(),
})

export type Organization = typeof organizations.$inferSelect
export type User = typeof users.$inferSelect
export type Membership = typeof memberships.$inferSelect
export type PersonalAccessToken = typeof personalAccessTokens.$inferSelect
export type Agent = typeof agents.$inferSelect
export type Space = typeof spaces.$inferSelect
export type Secret = typeof secrets.$inferSelect
export type Task = typeof tasks.$inferSelect
export type AuditEvent = typeof auditEvents.$inferSelect
export type IdempotencyKey = typeof idempotencyKeys.$inferSelect
export type Session = typeof sessions.$inferSelect
export type OneTimeLink = typeof oneTimeLinks.$inferSelect
export type CliLoginCode = typeof cliLoginCodes.$inferSelect
export type CliSession = typeof cliSessions.$inferSelect
export type CliAccessToken = typeof cliAccessTokens.$inferSelect

/**
 * Agent runs. `messages` holds this execution's own turns (the user message and the answer);
 * a session (`sessionId`, equal to `chatId` unless given apart) is the chain of executions
 * sharing it, which is how a later execute continues the conversation.
 */
export const executions = sqliteTable('executions', {
  id: text('id').primaryKey(),
  organizationId: text('organization_id').notNull().references(() => organizations.id, { onDelete: 'cascade' }),
  userId: text('user_id').notNull().references(() => users.id),
  /** The agent that ran; null for the built-in default assistant (POST /api/v1/execute: src/engine/assistant.ts). */
  agentId: text('agent_id').references(() => agents.id, { onDelete: 'cascade' }),
  /** Copied at start: the agent may be renamed or archived later. */
  agentName: text('agent_name').notNull(),
  /** The agent's visibility at start (members see executions of organization-visible agents). */
  agentVisibility: text('agent_visibility').notNull(),
  spaceId: text('space_id').references(() => spaces.id, { onDelete: 'set null' }),
  chatId: text('chat_id').notNull(),
  sessionId: text('session_id').notNull(),
  status: text('status', { enum: EXECUTION_STATUSES }).notNull().default('pending'),
  message: text('message').notNull(),
  result: text('result'),
  error: text('error'),
  /** Why it failed, as an error code: bad_gateway | gateway_timeout | ... */
  errorCode: text('error_code'),
  model: text('model'),
  provider: text('provider'),
  messages: json<StoredExecutionMessage[]>('messages').notNull().default(sql`'[]'`),
  toolCalls: json<ExecutionToolCall[]>('tool_calls').notNull().default(sql`'[]'`),
  parentExecutionId: text('parent_execution_id'),
  rootExecutionId: text('root_execution_id'),
  delegationDepth: integer('delegation_depth').notNull().default(0),
  /**
   * A delegated child: it runs at once inside its parent's slot, so it is never queued, claimed
   * or counted against TEAMDAY_MAX_CONCURRENT_EXECUTIONS (src/engine/queue.ts). Top-level runs
   * (from the API, with or without a parentExecutionId) are false.
   */
  delegated: integer('delegated', { mode: 'boolean' }).notNull().default(false),
  startedAt: timestamp('started_at'),
  completedAt: timestamp('completed_at'),
  executionTime: integer('execution_time'),
  tokensInput: integer('tokens_input').notNull().default(0),
  tokensOutput: integer('tokens_output').notNull().default(0),
  /**
   * The instance running (or queueing) it and until when its lease holds; the instance renews it
   * while it works. An execution whose lease lapsed (its instance died) is failed by any other
   * instance on the database, or by the next start (src/engine/leases.ts): on either database,
   * as several processes may serve one SQLite file (--reuse-port).
   */
  instanceId: text('instance_id'),
  leaseExpiresAt: timestamp('lease_expires_at'),
  createdAt: timestamp('created_at').notNull(),
  updatedAt: timestamp('updated_at').notNull(),
  /**
   * Creation order, strictly increasing (created_at alone ties within a millisecond): the queue's
   * last tie-breaker (src/engine/queue.ts). PostgreSQL: an identity column. SQLite: the new row's
   * rowid-to-be, computed in the INSERT itself (src/engine/store.ts `insertExecution`); DEFAULT 0
   * only lets the column be added to a table with rows (migration 0011 sets them to their rowid).
   */
  seq: integer('seq').notNull().default(0),
  /** The bytes of its large columns (src/db/schema/shared.ts, contentBytes): what a list's page of it sizes. */
  contentBytes: integer('content_bytes').notNull().generatedAlwaysAs(contentBytes('executions', 'sqlite'), { mode: 'virtual' }),
  /**
   * The token whose request started it (a personal access token's id, or a CLI sign-in's:
   * `Principal.tokenId`); a delegated child has its root's; null from the console. A leak report
   * of that token cancels its runs still under way (src/modules/executions/leaked.ts).
   */
  tokenId: text('token_id'),
  /**
   * The most its `teamday_api` calls may do (src/auth/plugin.ts, runLimit): the scopes of the
   * credential that started it (`*` from the console), intersected along a delegation (a child:
   * its parent's, and for an execute through `teamday_api` also that call's token's). A call
   * needs them as well as the space's TEAMDAY_TOKEN's. Null before this migration: no limit.
   */
  scopeLimit: text('scope_limit', { mode: 'json' }).$type<string[]>(),
  /**
   * Set when the run continued a session whose earlier turns did not all fit in
   * TEAMDAY_MAX_HISTORY_CHARS (src/engine/run.ts): what was sent and what was left out, as its
   * log's `history_trimmed` event says. Null when nothing was left out.
   */
  historyTrimmed: text('history_trimmed', { mode: 'json' }).$type<HistoryTrimmed>(),
  /**
   * Who wrote what steered the run (src/engine/prepare.ts, Job.writtenBy: its agent's creator, its
   * space's when it had instructions, a child's parent's writers, the writers of the session's
   * turns it sent), as they were when it ran: a later run that continues its session counts them
   * (src/engine/store.ts, turnWriters), whatever the agent and the space say by then. Null before
   * this migration (the agent's and the space's as they are now are asked instead).
   */
  writtenBy: text('written_by', { mode: 'json' }).$type<string[]>(),
}, (t) => [
  // The execution list, newest first, unfiltered and by each filter (the parent index also
  // serves delegation trees).
  index('executions_org_time_idx').on(t.organizationId, t.createdAt, t.id),
  index('executions_org_agent_idx').on(t.organizationId, t.agentId, t.createdAt, t.id),
  index('executions_org_status_idx').on(t.organizationId, t.status, t.createdAt, t.id),
  index('executions_org_space_idx').on(t.organizationId, t.spaceId, t.createdAt, t.id),
  index('executions_parent_idx').on(t.parentExecutionId, t.createdAt, t.id),
  // A session's completed turns newest first, what a run continuing it weighs and sends (src/engine/store.ts, sessionHistory).
  index('executions_session_history_idx').on(t.organizationId, t.userId, t.sessionId, t.status, t.createdAt, t.seq),
  // Chats (src/modules/chats/): a user's top-level executions newest first, and one chat's executions.
  index('executions_org_user_time_idx').on(t.organizationId, t.userId, t.delegated, t.createdAt, t.id),
  index('executions_org_user_chat_idx').on(t.organizationId, t.userId, t.chatId, t.delegated, t.createdAt, t.seq),
  index('executions_status_idx').on(t.status),
  index('executions_lease_idx').on(t.status, t.leaseExpiresAt),
  index('executions_token_idx').on(t.tokenId, t.status),
  // Retention (src/housekeeping/): the finished top-level runs that ended before a cut-off
  // (root_execution_id IS NULL, by completed_at), and the members of one delegation tree.
  index('executions_root_completed_idx').on(t.rootExecutionId, t.completedAt),
  // The queue (src/engine/queue.ts): waiting top-level executions by organization, oldest
  // first, and the running ones counted, globally and per organization (all covered); and an
  // organization's latest top-level start (its turn in the fair order).
  index('executions_queue_idx').on(t.status, t.delegated, t.organizationId, t.createdAt, t.seq),
  index('executions_org_started_idx').on(t.organizationId, t.delegated, t.startedAt),
  // The waiting top-level executions only, in queue order: PostgreSQL's claim walks them here
  // (its estimate of pending rows with a lease set misleads it on executions_queue_idx; the
  // queue's statements name the predicate as literals there, src/engine/queue.ts). SQLite keeps
  // executions_queue_idx (a bound parameter never matches a partial index's WHERE there).
  index('executions_waiting_idx').on(t.organizationId, t.createdAt, t.seq, t.leaseExpiresAt).where(sql`status = 'pending' AND delegated = 0`),
])

/** Per-execution event log: started, tool calls, delegation, provider errors. Never a secret. */
export const executionLogs = sqliteTable('execution_logs', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  executionId: text('execution_id').notNull().references(() => executions.id, { onDelete: 'cascade' }),
  level: text('level').notNull(),
  event: text('event').notNull(),
  data: json<Record<string, unknown>>('data'),
  createdAt: timestamp('created_at').notNull(),
}, (t) => [index('execution_logs_exec_idx').on(t.executionId, t.id)])

export type Execution = typeof executions.$inferSelect
export type ExecutionLog = typeof executionLogs.$inferSelect

import { sql } from 'drizzle-orm'
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

// Timestamps are integer milliseconds since the epoch (drizzle maps them to Date).
const timestamp = (name: string) => integer(name, { mode: 'timestamp_ms' })

export const ROLES = ['admin', 'member', 'viewer'] as const
export type Role = (typeof ROLES)[number]

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
  revokedAt: timestamp('revoked_at'),
  revokedBy: text('revoked_by'),
}, (t) => [
  uniqueIndex('pat_token_hash_unique').on(t.tokenHash),
  index('pat_user_org_idx').on(t.userId, t.organizationId),
  index('pat_org_idx').on(t.organizationId),
])

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

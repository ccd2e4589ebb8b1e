import { and, eq, inArray, isNull, sql } from 'drizzle-orm'
import { recordAudit } from '../../audit/log'
import { audited, callerOf, withTx, type Ctx } from '../../context'
import { DecryptionError } from '../../crypto/secretbox'
import { prepared } from '../../db/prepared'
import { secrets } from '../../db/schema'
import { AppError, invalidField } from '../../errors'
import { newId } from '../../ids'
import { secretNamesRefusal } from '../../http/secret-fields'
import { MAX_KEYS_PER_REQUEST } from '../../secret-names'

/**
 * The secret store shared by organization secrets (scope 'org') and space secrets (scope = the
 * space id): environment variables for executions. Values are sealed with the server's secret
 * box under an AAD binding them to (organization, scope, key): a ciphertext copied to another
 * row does not open. No function here returns or logs a value, except resolveSecrets, which is
 * for the execution engine only.
 */

export { MAX_KEY_LENGTH, MAX_KEYS_PER_REQUEST, SECRET_KEY_PATTERN } from '../../secret-names'
export const MAX_VALUE_BYTES = 64 * 1024
export const MAX_SECRETS_PER_SCOPE = 500

export type SecretScope = { kind: 'org' } | { kind: 'space'; spaceId: string }

const scopeName = (s: SecretScope) => (s.kind === 'org' ? 'org' : s.spaceId)
const aad = (organizationId: string, scope: string, key: string) => `secret:${organizationId}:${scope}:${key}`

/**
 * Checks key names (never values): UPPER_SNAKE_CASE, at most 128 characters. A name failing the
 * rule is told by its position, never shown: it is often a value pasted into the name's field
 * (`sk-live-…`), and the 422 goes back through proxies, logs and the console's page.
 */
export function validateSecretKeys(keys: string[], field: string): void {
  if (keys.length === 0) throw invalidField(field, `${field} must name at least one key`)
  if (keys.length > MAX_KEYS_PER_REQUEST) throw invalidField(field, `${field} may hold at most ${MAX_KEYS_PER_REQUEST} keys per request (got ${keys.length})`)
  const refused = secretNamesRefusal(keys, field)
  if (refused) throw refused
}

/** Checks a `{KEY: value}` map. Messages name keys and limits, never a value. */
export function validateSecretValues(values: Record<string, string>): void {
  const keys = Object.keys(values)
  validateSecretKeys(keys, 'secrets')
  for (const k of keys) {
    const v = values[k]
    if (typeof v !== 'string') throw invalidField(`secrets.${k}`, `secrets.${k} must be a string`)
    if (Buffer.byteLength(v, 'utf8') > MAX_VALUE_BYTES) {
      throw invalidField(`secrets.${k}`, `secrets.${k} is too large: values are at most ${MAX_VALUE_BYTES} bytes (64 KiB)`)
    }
  }
}

function namesQuery(ctx: Ctx) {
  return prepared(ctx.db, 'secrets.names', () =>
    ctx.db
      .select({ key: secrets.key })
      .from(secrets)
      .where(and(eq(secrets.organizationId, sql.placeholder('org')), eq(secrets.scope, sql.placeholder('scope'))))
      .prepare(),
  )
}

/**
 * The key names of one scope, sorted as set and delete return theirs: by code unit, here and not
 * by the database, whose ORDER BY follows its collation on PostgreSQL (a database created with
 * en-US sorts `A_B` before `AB`; C and SQLite after).
 */
export async function listSecretNames(ctx: Ctx, organizationId: string, scope: SecretScope): Promise<string[]> {
  const rows = await namesQuery(ctx).all({ org: organizationId, scope: scopeName(scope) })
  return rows.map((r) => r.key).sort()
}

/** Key names of several spaces at once (for a page of spaces), sorted per space. */
export async function secretNamesBySpace(ctx: Ctx, organizationId: string, spaceIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(spaceIds.map((id) => [id, []]))
  if (spaceIds.length === 0) return out
  const rows = await ctx.db
    .select({ scope: secrets.scope, key: secrets.key })
    .from(secrets)
    .where(and(eq(secrets.organizationId, organizationId), inArray(secrets.scope, spaceIds)))
    .all()
  for (const r of rows) out.get(r.scope)?.push(r.key)
  // As listSecretNames: by code unit, whatever the database's collation.
  for (const keys of out.values()) keys.sort()
  return out
}

/**
 * Creates or replaces secrets (upsert by key) in one transaction and records a `secret.set`
 * audit event naming the keys. Returns the keys written, sorted.
 */
export async function setSecrets(ctx: Ctx, organizationId: string, scope: SecretScope, values: Record<string, string>): Promise<string[]> {
  const principal = callerOf(ctx)
  validateSecretValues(values)
  const name = scopeName(scope)
  const keys = Object.keys(values).sort()
  const now = new Date(ctx.clock.now())
  // The count against the cap, the writes and their audit event commit together.
  await withTx(ctx, async (tx) => {
    const rows = await tx.db
      .select({ key: secrets.key })
      .from(secrets)
      .where(and(eq(secrets.organizationId, organizationId), eq(secrets.scope, name)))
      .all()
    const existing = new Set(rows.map((r) => r.key))
    const added = keys.filter((k) => !existing.has(k)).length
    if (existing.size + added > MAX_SECRETS_PER_SCOPE) {
      throw invalidField('secrets', `secrets: at most ${MAX_SECRETS_PER_SCOPE} secrets per ${scope.kind === 'org' ? 'organization' : 'space'} (${existing.size} exist, ${added} new)`)
    }
    await tx.db
      .insert(secrets)
      .values(
        keys.map((key) => ({
          id: newId('sec'),
          organizationId,
          spaceId: scope.kind === 'space' ? scope.spaceId : null,
          scope: name,
          key,
          valueEnc: tx.box.seal(values[key]!, aad(organizationId, name, key)),
          createdBy: principal.userId,
          createdAt: now,
          updatedAt: now,
        })),
      )
      .onConflictDoUpdate({
        target: [secrets.organizationId, secrets.scope, secrets.key],
        set: { valueEnc: sql`excluded.value_enc`, updatedAt: now },
      })
      .run()
    await recordAudit(tx, {
      organizationId,
      type: 'secret.set',
      targetType: scope.kind === 'org' ? 'organization' : 'space',
      targetId: scope.kind === 'org' ? organizationId : scope.spaceId,
      details: { keys },
    })
  })
  return keys
}

/**
 * Deletes the named secrets. Keys that do not exist are ignored (deleting is idempotent).
 * Returns the keys actually deleted; records `secret.deleted` when there were any.
 */
export async function deleteSecrets(ctx: Ctx, organizationId: string, scope: SecretScope, keys: string[]): Promise<string[]> {
  validateSecretKeys(keys, 'keys')
  const deleted = await audited(
    ctx,
    async (tx) =>
      (
        await tx.db
          .delete(secrets)
          .where(and(eq(secrets.organizationId, organizationId), eq(secrets.scope, scopeName(scope)), inArray(secrets.key, [...new Set(keys)])))
          .returning({ key: secrets.key })
          .all()
      )
        .map((r) => r.key)
        .sort(),
    (keys) =>
      keys.length > 0
        ? { organizationId, type: 'secret.deleted', targetType: scope.kind === 'org' ? 'organization' : 'space', targetId: scope.kind === 'org' ? organizationId : scope.spaceId, details: { keys } }
        : null,
  )
  return deleted
}

/**
 * One space secret's value, opened now, or null when the space has no secret of that name (the
 * organization's is not looked at). For the execution engine only, as resolveSecrets.
 */
export async function openSpaceSecret(ctx: Pick<Ctx, 'db' | 'box'>, organizationId: string, spaceId: string, key: string): Promise<string | null> {
  const row = await ctx.db
    .select({ valueEnc: secrets.valueEnc })
    .from(secrets)
    .where(and(eq(secrets.organizationId, organizationId), eq(secrets.scope, spaceId), eq(secrets.key, key)))
    .get()
  return row ? openSecret(ctx, organizationId, spaceId, key, row.valueEnc) : null
}

/** A secret's value opened, or `decryption_failed` naming it (the server key changed). */
function openSecret(ctx: Pick<Ctx, 'box'>, organizationId: string, scope: string, key: string, valueEnc: string): string {
  try {
    return ctx.box.open(valueEnc, aad(organizationId, scope, key))
  } catch (e) {
    if (e instanceof DecryptionError) {
      throw new AppError('decryption_failed', `Secret ${key} could not be decrypted; the server encryption key may have changed. Ask the server operator to check TEAMDAY_ENCRYPTION_KEY.`)
    }
    throw e
  }
}

/**
 * The environment of an execution: the organization's secrets, then the space's on top (the
 * space wins on conflict), decrypted. For the execution engine only: never return it to a client.
 */
export async function resolveSecrets(ctx: Pick<Ctx, 'db' | 'box'>, organizationId: string, spaceId: string | null): Promise<Record<string, string>> {
  const rows = await ctx.db
    .select({ scope: secrets.scope, key: secrets.key, valueEnc: secrets.valueEnc })
    .from(secrets)
    .where(
      and(
        eq(secrets.organizationId, organizationId),
        spaceId === null ? and(eq(secrets.scope, 'org'), isNull(secrets.spaceId)) : inArray(secrets.scope, ['org', spaceId]),
      ),
    )
    .all()
  const env: Record<string, string> = {}
  // Organization first, so a space's value replaces it.
  rows.sort((a, b) => (a.scope === 'org' ? 0 : 1) - (b.scope === 'org' ? 0 : 1))
  for (const r of rows) env[r.key] = openSecret(ctx, organizationId, r.scope, r.key, r.valueEnc)
  return env
}

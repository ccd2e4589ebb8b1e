import { and, eq, getTableName, sql, type SQL, type SQLWrapper } from 'drizzle-orm'
import type { Db } from '../db/connection'
import { dialect, memberships, type Role } from '../db/schema'
import { AppError } from '../errors'

/** The role `userId` holds now in `organizationId`; undefined when they are no member there. */
export async function roleIn(db: Db, organizationId: string, userId: string): Promise<Role | undefined> {
  const m = await db.select({ role: memberships.role }).from(memberships).where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId))).get()
  return m?.role
}

/** 401 membership_revoked for a request whose user was removed from the organization while it ran. */
export function noLongerMemberMeanwhile(): AppError {
  return new AppError('membership_revoked', 'Invalid token: its user is no longer a member of the organization the token was created in (removed while this request ran). Nothing was changed.', {
    // bearerChallenge's answer (src/auth/authenticate.ts, which this cannot import: it needs the context).
    headers: { 'www-authenticate': 'Bearer realm="teamday", error="invalid_token", error_description="User no longer a member of the organization"' },
  })
}

/**
 * A condition of a single write outside any transaction (a task's create or update naming no
 * space or assignee: src/modules/tasks/service.ts): that `userId` is still a member of
 * `organizationId`, in the write's own statement, as currentActor (src/auth/revoked.ts) asks inside a transaction.
 * PostgreSQL: the membership is read `FOR KEY SHARE` (a removal's DELETE conflicts with it): a
 * removal under way is waited for and its outcome seen (READ COMMITTED re-reads the row after
 * the wait: gone, the write writes nothing); a removal after it waits for the write's commit.
 * SQLite: nothing to add, its one writer runs the statement whole.
 */
export function stillMemberSql(organizationId: SQLWrapper, userId: SQLWrapper): SQL {
  const [open, and, close] = memberSqlParts()
  return sql`${open}${organizationId}${and}${userId}${close}`
}

/**
 * stillMemberSql's text around its two values, written once per dialect: an update builds it per
 * request, and drizzle's rendering of a table and its columns cost ~25 µs there.
 */
let memberParts: { dialect: string; parts: [SQL, SQL, SQL] } | undefined
function memberSqlParts(): [SQL, SQL, SQL] {
  if (memberParts?.dialect !== dialect) {
    const m = memberships
    const q = (name: string) => `"${name}"`
    memberParts = {
      dialect,
      parts: [
        sql.raw(`exists (select 1 from ${q(getTableName(m))} where ${q(m.organizationId.name)} = `),
        sql.raw(` and ${q(m.userId.name)} = `),
        sql.raw(dialect === 'pg' ? ' for key share)' : ')'),
      ],
    }
  }
  return memberParts.parts
}

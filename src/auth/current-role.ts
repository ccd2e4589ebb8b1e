import { and, eq, getTableName, sql, type SQL, type SQLWrapper } from 'drizzle-orm'
import type { Actor } from '../actor'
import type { Db } from '../db/connection'
import { dialect, memberships, type Role } from '../db/schema'
import { AppError } from '../errors'

/** The role `userId` holds now in `organizationId`; undefined when they are no member there. */
export async function roleIn(db: Db, organizationId: string, userId: string): Promise<Role | undefined> {
  const m = await db.select({ role: memberships.role }).from(memberships).where(and(eq(memberships.organizationId, organizationId), eq(memberships.userId, userId))).get()
  return m?.role
}

/**
 * The actor with the role its user holds now, read through `db` (a transaction's handle): a
 * request's role was read when it authenticated, and a demotion or removal may have committed
 * since. A transaction that decides by the role (who may manage members, whose secret this is)
 * decides by this one, so no write authorized by a role the user has lost commits after the
 * change that took it (on PostgreSQL requests of one user run in parallel, on any instance: an
 * admin being removed could re-add themselves with a request already in flight). No longer a
 * member: 401 membership_revoked, as their next request gets. Other actors as they are.
 */
export async function withCurrentRole(db: Db, actor: Actor): Promise<Actor> {
  if (actor.kind !== 'token' && actor.kind !== 'session') return actor
  const p = actor.principal
  const role = await roleIn(db, p.organizationId, p.userId)
  if (role === undefined) throw noLongerMemberMeanwhile()
  if (role === p.role) return actor
  return { ...actor, principal: { ...actor.principal, role } } as Actor
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
 * `organizationId`, in the write's own statement, as withCurrentRole asks inside a transaction.
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

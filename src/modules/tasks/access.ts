import { and, eq, or, type SQL } from 'drizzle-orm'
import { isOrgAdmin } from '../../auth/roles'
import { tasks, type Task } from '../../db/schema'
import { inVisibleSpace, inVisibleSpaceSql, type SpaceAccess } from '../spaces/access'
import type { Viewer } from '../viewer'

/**
 * Who may see and change a task. Tasks are organization-wide, except that a task inherits the
 * visibility of its space: one in a space the viewer may not see is hidden (lists leave it out,
 * a get is 404), the same as the space itself.
 */

export type TaskAccess = Pick<Task, 'organizationId' | 'spaceId'>

/** `space`: the task's space (spaces/access.ts spaceAccessOf), when it has one. */
export function canSeeTask(v: Viewer, task: TaskAccess, space: SpaceAccess | undefined): boolean {
  return task.organizationId === v.organizationId && inVisibleSpace(v, task.spaceId, space)
}

/** Visible, and the viewer created it, is its assignee, or is an organization admin. */
export function canEditTask(v: Viewer, task: TaskAccess & Pick<Task, 'createdBy' | 'assignedTo'>, space: SpaceAccess | undefined): boolean {
  return canSeeTask(v, task, space) && (isOrgAdmin(v.role) || task.createdBy === v.userId || task.assignedTo === v.userId)
}

/** The rule as a list condition on `tasks` (undefined for admins). Binds `user`. */
export function visibleTasksSql(admin: boolean): SQL | undefined {
  return inVisibleSpaceSql(tasks.spaceId, admin)
}

/**
 * canEditTask as a condition on `tasks` for the caller `user` (undefined for admins): a write
 * judged on the task as it was read lands only where the rule still holds when it is written.
 */
export function editableTaskSql(admin: boolean, user: string): SQL | undefined {
  if (admin) return undefined
  return and(inVisibleSpaceSql(tasks.spaceId, false, user), or(eq(tasks.createdBy, user), eq(tasks.assignedTo, user)))
}

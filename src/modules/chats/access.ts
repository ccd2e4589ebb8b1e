import { and, eq, sql, type Placeholder, type SQL } from 'drizzle-orm'
import { executions } from '../../db/schema'
import { visibleExecutionsSql } from '../executions/access'

/**
 * Who may see a chat. A chat is read from executions: those that share a `chatId`. It is
 * private to the user who started it: a caller's chat is made of their own top-level executions
 * with that chatId (a delegated child belongs to its parent's run, not to the chat), and of those
 * only the ones they may open (executions/access.ts: one in a space hidden from them since is
 * left out). Admins too see only their own chats here: they read other users' runs through
 * /executions. Another user's chat, and another organization's, is therefore 404 (a chatId is a
 * client's string: two users' executions may carry the same one, and each sees only their own).
 *
 * As SQL on `executions` (or an alias of it: `x`), binding `org` and `user`.
 */
export function chatExecutionsSql(admin: boolean, x: typeof executions = executions): SQL {
  const ph = sql.placeholder
  return and(conversationTurnsSql(ph('org'), ph('user'), x), visibleExecutionsSql(admin, x))!
}

/**
 * The executions that can be turns of a user's conversations, the one rule of what a chat shows
 * (chatExecutionsSql) and of the earlier turns a run continuing it sends its model
 * (src/engine/store.ts sessionHistory): the user's own, in the organization, top-level. A
 * delegated child (a `delegate` call's, or an execute a run made through `teamday_api`, whatever
 * `chatId` it was given) belongs to its parent's run: it is not in the chat, and its message and
 * answer never go to the model as the user's earlier turns. `organizationId` and `userId`: values,
 * or placeholders bound later.
 */
export function conversationTurnsSql(organizationId: string | Placeholder, userId: string | Placeholder, x: typeof executions = executions): SQL {
  return and(eq(x.organizationId, organizationId), eq(x.userId, userId), eq(x.delegated, false))!
}

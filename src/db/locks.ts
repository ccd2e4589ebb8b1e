import { connectionOf, type Db } from './connection'

/**
 * A SELECT of rows that a write later in the same transaction depends on (the space a task is
 * filed under, the agent it is assigned to): the check and the write are then one step against
 * any change of those rows (an archive, a visibility change), on both databases.
 *
 * - PostgreSQL: the rows are read `FOR SHARE`, held until the transaction ends. A change of them
 *   (an UPDATE, in a transaction or not) waits for this transaction; one under way is waited for
 *   here, and the read then sees its outcome (READ COMMITTED reads the row's latest version
 *   after a row-lock wait). Not `FOR KEY SHARE` (what a foreign-key check takes): an archive
 *   changes no key column, its UPDATE takes `FOR NO KEY UPDATE`, which `FOR KEY SHARE` lets
 *   through; that is how a probe filed 37 tasks in a space archived before they were inserted.
 * - SQLite: nothing to add. The transaction is BEGIN IMMEDIATE (src/db/connection.ts): it holds
 *   the database's one write lock from its start, so its reads see the latest commit of every
 *   process and no other write commits before it ends.
 *
 * Outside a transaction the lock would end with the statement: refused, as a mistake.
 */
export function forShare<Q>(tx: Db, query: Q): Q {
  const conn = connectionOf(tx)
  if (!conn.isTransaction(tx)) throw new Error('forShare: a row lock outside a transaction ends with its statement; read through the handle withTx hands you')
  return conn.dialect === 'pg' ? (query as unknown as { for(strength: 'share'): Q }).for('share') : query
}

/**
 * A SELECT of the row a write later in the same transaction changes or deletes, when that write
 * was judged on what it read: on PostgreSQL read `FOR UPDATE` (the lock the write takes anyway,
 * taken at the read), so no other change of the row commits between the two; on SQLite nothing
 * to add (forShare). forShare would not do: two transactions sharing the row and then writing it
 * wait for each other (a deadlock).
 */
export function forUpdate<Q>(tx: Db, query: Q): Q {
  const conn = connectionOf(tx)
  if (!conn.isTransaction(tx)) throw new Error('forUpdate: a row lock outside a transaction ends with its statement; read through the handle withTx hands you')
  return conn.dialect === 'pg' ? (query as unknown as { for(strength: 'update'): Q }).for('update') : query
}

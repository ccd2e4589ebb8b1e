/**
 * Opens a SQLite database as another user, as a start does, and writes to it: for tests of what a
 * start says about files that user may not write (modes mean nothing to root). Run as root:
 * `bun test/helpers/sqlite-as-user.ts UID FILE`. The modules are loaded first, as root (the
 * checkout may not be readable by that user); then the process becomes UID (group too, no
 * supplementary groups). Prints JSON: { ok: true }, or { message } of the error a start reports
 * (sqliteStartError).
 */
import { openDatabase, sqliteStartError } from '../../src/db/client'

const [uid, file] = [Number(process.argv[2]), process.argv[3]!]
process.setgroups?.([])
process.setgid!(uid)
process.setuid!(uid)
try {
  const conn = openDatabase(file)
  try {
    conn.client.exec('CREATE TABLE IF NOT EXISTS as_user_probe (x INTEGER)')
    conn.client.exec('INSERT INTO as_user_probe VALUES (1)')
  } finally {
    conn.close()
  }
  console.log(JSON.stringify({ ok: true }))
} catch (e) {
  const told = sqliteStartError(file, e)
  console.log(JSON.stringify({ message: told instanceof Error ? told.message : String(told) }))
}

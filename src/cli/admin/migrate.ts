import { describeDatabase } from '../../config'
import { withRuntime } from './runtime'
import type { Run } from '../spec'

/** `teamday migrate`: opening the database applies pending migrations; says how many. */
export function migrate({ values, io }: Run<{ db?: string }>): Promise<void> {
  return withRuntime(io, values.db, (rt) => {
    io.out(rt.migrationsApplied > 0 ? `applied ${rt.migrationsApplied} migration(s) to ${describeDatabase(rt.config.dbPath)}` : `${describeDatabase(rt.config.dbPath)} is up to date`)
  }, { create: true })
}

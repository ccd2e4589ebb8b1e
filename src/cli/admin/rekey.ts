import { describeDatabase } from '../../config'
import { rekeyDatabase } from '../../db/rekey'
import { table } from '../common'
import { withRuntime } from './runtime'
import type { Run } from '../spec'

/**
 * `teamday rekey`: finishes a key rotation (README: Rotating the key). Opening the database
 * already refuses a key ring that does not open its key check; the re-sealing itself refuses,
 * rolled back, any value no configured key opens (src/db/rekey.ts). Neither creates nor migrates.
 */
export function rekey({ values, io }: Run<{ db?: string }>): Promise<void> {
  return withRuntime(io, values.db, async (rt) => {
    const report = await rekeyDatabase(rt.connection, rt.box, rt.clock.now())
    const name = describeDatabase(rt.config.dbPath)
    io.out(table(report.resealed, ['table', 'values']))
    if (report.total === 0) {
      io.out(`nothing to re-seal: every sealed value of ${name} is under the current key ${report.keyId}`)
    } else {
      io.out(`re-sealed ${report.total} value(s) of ${name} under the current key ${report.keyId}, in one transaction`)
    }
    // Only when old keys are configured: with none, there is nothing to drop.
    if (rt.config.previousEncryptionKeys.length > 0) {
      io.out(
        'the old keys may now be dropped: remove TEAMDAY_ENCRYPTION_KEYS_PREVIOUS wherever teamday runs (every instance, admin commands) and restart; ' +
          'keep the old keys as long as you keep backups taken before this run',
      )
    }
  })
}

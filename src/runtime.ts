import type { Config } from './config'
import { loadSecretBox } from './crypto/keys'
import { closeDatabase, openDatabase } from './db/client'
import { runMigrations } from './db/migrate'
import { verifyEncryptionKey } from './db/settings'
import { systemClock, type Clock, type Deps } from './deps'
import { createLogger, type Logger } from './logger'

/**
 * Opens the database named by the config, applies pending migrations, loads the encryption
 * key and proves it matches the database. Shared by `serve` and the admin commands.
 */
export function openRuntime(config: Config, opts: { logger?: Logger; clock?: Clock } = {}): Deps & { keySource: string; migrationsApplied: number; close(): void } {
  const logger = opts.logger ?? createLogger(config.logLevel)
  const clock = opts.clock ?? systemClock
  const db = openDatabase(config.dbPath, { rowCache: config.cache })
  try {
    const { applied } = runMigrations(db)
    const { box, source } = loadSecretBox(config)
    verifyEncryptionKey(db, box, clock.now())
    return { db, box, clock, logger, config, keySource: source, migrationsApplied: applied, close: () => closeDatabase(db) }
  } catch (e) {
    closeDatabase(db)
    throw e
  }
}

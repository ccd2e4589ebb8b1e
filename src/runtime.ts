import type { Config } from './config'
import { loadSecretBox, type KeySource } from './crypto/keys'
import { closeDatabase, openDatabase } from './db/client'
import { runMigrations } from './db/migrate'
import { verifyEncryptionKey } from './db/settings'
import { systemClock, type Clock, type Deps } from './deps'
import { createLogger, type Logger } from './logger'

/**
 * Opens the database named by the config, applies pending migrations, loads the encryption
 * key and proves it matches the database. Shared by `serve` and the admin commands.
 * `create: false`: neither the database nor a key file is created (admin commands other than
 * serve, migrate and users create).
 */
export function openRuntime(config: Config, opts: { logger?: Logger; clock?: Clock; create?: boolean } = {}): Deps & { keySource: KeySource; migrationsApplied: number; close(): void } {
  const logger = opts.logger ?? createLogger(config.logLevel)
  const clock = opts.clock ?? systemClock
  const db = openDatabase(config.dbPath, { rowCache: config.cache, create: opts.create })
  try {
    const { applied } = runMigrations(db)
    const { box, source } = loadSecretBox(config, { create: opts.create })
    verifyEncryptionKey(db, box, clock.now())
    return { db, box, clock, logger, config, keySource: source, migrationsApplied: applied, close: () => closeDatabase(db) }
  } catch (e) {
    closeDatabase(db)
    throw e
  }
}

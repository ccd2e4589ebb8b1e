import type { Config } from './config'
import type { SecretBox } from './crypto/secretbox'
import type { DB } from './db/client'
import type { ModelProviders } from './engine/providers'
import type { Logger } from './logger'

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }

/** What services need; built once in main.ts (or a test helper) and injected everywhere. */
export interface Deps {
  db: DB
  box: SecretBox
  clock: Clock
  logger: Logger
  config: Config
  /** Model provider clients; built from the config when absent (tests point the config at doubles). */
  providers?: ModelProviders
}

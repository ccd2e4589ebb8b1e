import type { Config } from './config'
import type { SecretBox } from './crypto/secretbox'
import type { DB } from './db/client'
import type { ModelProviders } from './engine/providers'
import type { PeerAddress } from './http/client-address'
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
  /**
   * The socket peer's address of a request. createApp asks its own server (Bun's requestIP)
   * when absent; in-process callers of app.handle() say where their request came from.
   */
  peerAddress?: PeerAddress
}

// Preloaded by bun test (bunfig.toml): when the whole run ends, the PostgreSQL databases this
// process created for tests are dropped (test/helpers/pg.ts).
import { afterAll } from 'bun:test'
import { dropTestDatabases } from './pg'

afterAll(async () => {
  await dropTestDatabases()
}, 240_000)

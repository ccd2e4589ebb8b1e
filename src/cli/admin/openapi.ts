import { writeFileSync } from 'node:fs'
import type { Run } from '../spec'

/** The OpenAPI document of this build, generated from the routes (no database file needed). */
export async function openapiDocument(): Promise<unknown> {
  const [{ loadConfig }, { createApp }, { SecretBox }, { openDatabase }, { runMigrations }, { systemClock }, { createLogger }] = await Promise.all([
    import('../../config'),
    import('../../app'),
    import('../../crypto/secretbox'),
    import('../../db/client'),
    import('../../db/migrate'),
    import('../../deps'),
    import('../../logger'),
  ])
  const config = loadConfig({}, { dbPath: ':memory:' })
  const db = openDatabase(':memory:')
  runMigrations(db)
  const app = createApp({ db, box: new SecretBox(crypto.getRandomValues(new Uint8Array(32))), clock: systemClock, logger: createLogger('silent'), config })
  const res = await app.handle(new Request('http://localhost/swagger/json'))
  db.$client.close()
  return res.json()
}

/** `teamday openapi [--out FILE]`: the document on stdout, or written to FILE. */
export async function openapi({ values, io }: Run<{ out?: string }>): Promise<void> {
  const json = JSON.stringify(await openapiDocument(), null, 2) + '\n'
  if (values.out) {
    writeFileSync(values.out, json)
    io.out(`wrote ${values.out}`)
  } else io.out(json)
}

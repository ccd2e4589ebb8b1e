import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Run } from '../spec'

/** The OpenAPI document of this build, generated from the routes (no database file needed). */
export async function openapiDocument(): Promise<unknown> {
  const [{ loadConfig }, { createApp }, { createRuntime }, { createLogger }, { relativeServers }] = await Promise.all([
    import('../../config'),
    import('../../app'),
    import('../../runtime'),
    import('../../logger'),
    import('../../http/docs'),
  ])
  // An in-memory database with an ephemeral key: nothing is read or written anywhere.
  const rt = await createRuntime(loadConfig({}, { dbPath: ':memory:' }), { log: createLogger('silent') })
  try {
    const res = await createApp(rt).handle(new Request('http://localhost/swagger/json'))
    // Served, the document names the server it came from; committed, it is relative.
    return { ...((await res.json()) as object), servers: relativeServers }
  } finally {
    await rt.close()
  }
}

/** `teamday openapi [--out FILE]`: the document on stdout, or written to FILE. */
export async function openapi({ values, io }: Run<{ out?: string }>): Promise<void> {
  const json = JSON.stringify(await openapiDocument(), null, 2) + '\n'
  if (values.out) {
    try {
      writeFileSync(values.out, json)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      const why = code === 'EISDIR' ? `it is a folder: give a file's path (--out ${join(values.out, 'openapi.json')})` : code === 'ENOENT' ? 'its folder does not exist' : (e as Error).message
      throw new Error(`cannot write ${values.out} (--out): ${why}`)
    }
    io.out(`wrote ${values.out}`)
  } else io.out(json)
}

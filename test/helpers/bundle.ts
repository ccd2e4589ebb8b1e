import { resolve } from 'node:path'

const root = resolve(import.meta.dir, '../..')

/** One module of a bundle's graph: what it imports. */
export interface BundleInput {
  imports: { path: string; kind: string; external?: boolean }[]
}

/**
 * The module graph the bundler makes of an entry point of the compiled binary (paths relative to
 * the repository), with the build's `define`s (scripts/build.ts) as given.
 */
export async function bundleInputs(entry: string, define: Record<string, string>): Promise<Record<string, BundleInput>> {
  const r = await Bun.build({
    entrypoints: [resolve(root, entry)],
    root,
    target: 'bun',
    metafile: true,
    define: Object.fromEntries(Object.entries({ ...define, TEAMDAY_COMMIT: 'test' }).map(([k, v]) => [k, JSON.stringify(v)])),
  })
  if (!r.success) throw new Error(r.logs.join('\n'))
  return r.metafile!.inputs as Record<string, BundleInput>
}

/**
 * Which test files can behave differently on the PostgreSQL pass (TEAMDAY_TEST_DATABASE=postgres):
 * those that read the backend choice (ON_PG, sqliteOnly, TEAMDAY_TEST_DATABASE), themselves or
 * through a test module they import or run (a relative import, or a test-local .ts file whose
 * path they name: a child they spawn). The others run the same code on either pass, so .ci/run
 * runs them once, in the first pass. Prints one path a line, relative to the repository:
 * the dependent files, or with `--independent` the others.
 *
 * test/helpers/pg.ts defines the markers and also what PostgreSQL-only tests use (HAVE_PG, the
 * admin URL, …): importing it makes a file dependent only when the file itself names a marker.
 * Every other test module that names one makes all its importers dependent (conservative: a file
 * that imports test/helpers/app.ts runs on both passes, whichever of its functions it calls).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, dirname, join, relative, resolve } from 'node:path'

/** What reads the backend choice. */
const MARKERS = /\bON_PG\b|\bsqliteOnly\b|TEAMDAY_TEST_DATABASE/

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}

/** Every test file under `root`/test, with whether it may depend on the backend. */
export function backendDependence(root: string): { file: string; dependent: boolean }[] {
  const test = join(root, 'test')
  const pgHelper = join(test, 'helpers', 'pg.ts')
  const isFile = (p: string) => p.startsWith(test + '/') && existsSync(p) && statSync(p).isFile()
  const local = (from: string, spec: string): string | null => {
    const base = resolve(dirname(from), spec)
    for (const p of [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')]) if (isFile(p)) return p
    return null
  }
  /** Every test module by its file name. */
  const byName = new Map<string, string[]>()
  for (const f of walk(test)) byName.set(basename(f), [...(byName.get(basename(f)) ?? []), f])
  /** The test-local modules `file` imports, or names by path (a script it runs). */
  const edges = (file: string, text: string): string[] => {
    const out: string[] = []
    for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const p = local(file, m[1]!)
      if (p) out.push(p)
    }
    for (const m of text.matchAll(/['"`]([\w./-]+\.tsx?)['"`]/g)) {
      for (const p of [resolve(dirname(file), m[1]!), resolve(root, m[1]!), resolve(test, m[1]!)]) if (p !== file && isFile(p)) out.push(p)
      // A path put together from pieces (`join(dir, 'helpers', 'x.ts')`): any test module of that name.
      for (const p of byName.get(basename(m[1]!)) ?? []) if (p !== file) out.push(p)
    }
    return out.filter((p) => p !== pgHelper)
  }
  /** Per module: whether it names a marker itself, and what it reaches. */
  const modules = new Map<string, { marked: boolean; edges: string[] }>()
  const moduleOf = (file: string) => {
    let m = modules.get(file)
    if (!m) {
      const text = readFileSync(file, 'utf8')
      m = { marked: file !== pgHelper && MARKERS.test(text), edges: edges(file, text) }
      modules.set(file, m)
    }
    return m
  }
  /** Whether a module that names a marker is reachable from `file` (itself included). */
  const dependent = (file: string): boolean => {
    const seen = new Set([file])
    const todo = [file]
    for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
      const m = moduleOf(f)
      if (m.marked) return true
      for (const e of m.edges) if (!seen.has(e)) (seen.add(e), todo.push(e))
    }
    return false
  }
  return walk(test)
    .filter((f) => /\.test\.tsx?$/.test(f))
    .sort()
    .map((f) => ({ file: relative(root, f), dependent: dependent(f) }))
}

if (import.meta.main) {
  const want = !process.argv.includes('--independent')
  for (const { file, dependent } of backendDependence(resolve(import.meta.dir, '..'))) if (dependent === want) console.log(file)
}

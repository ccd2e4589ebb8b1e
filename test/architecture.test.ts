import { describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

/**
 * The layering of src/ (README, "Architecture"), read from the import lines: the layers below
 * the resources never reach up into them, and no file reaches itself through others.
 */

const SRC = resolve(import.meta.dir, '..', 'src')

/** `import … from '…'`, `export … from '…'`, `import '…'` and `import('…')`, type-only ones included. */
const IMPORT = /^\s*(?:import|export)\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return /\.tsx?$/.test(name) && !name.endsWith('.d.ts') ? [path] : []
  })
}

/** Each file of src/ (relative path) → the files of src/ it imports, and the packages it imports. */
function importGraph(): Map<string, { files: string[]; packages: string[] }> {
  const graph = new Map<string, { files: string[]; packages: string[] }>()
  for (const file of sourceFiles(SRC)) {
    const files: string[] = []
    const packages: string[] = []
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2] ?? m[3])!
      if (!spec.startsWith('.')) {
        packages.push(spec)
        continue
      }
      const base = resolve(dirname(file), spec)
      const target = [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')].find((c) => existsSync(c) && statSync(c).isFile())
      if (target?.startsWith(SRC)) files.push(relative(SRC, target))
    }
    graph.set(relative(SRC, file), { files, packages })
  }
  return graph
}

/** Strongly connected components of more than one file (Tarjan), and files importing themselves. */
function cycles(graph: Map<string, { files: string[] }>): string[][] {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const found: string[][] = []
  const visit = (v: string) => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v)?.files ?? []) {
      if (w === v) found.push([v])
      else if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1) found.push(component.sort())
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return found
}

const graph = importGraph()

/** `from → to` for every import of a file under `from` of a file under `to`. */
const arrows = (from: string, to: string) =>
  [...graph].flatMap(([file, { files }]) => (file.startsWith(from) ? files.filter((f) => f.startsWith(to)).map((f) => `${file} → ${f}`) : []))

describe('the layers of src/', () => {
  test('the import graph is read (a sanity check of the parser)', () => {
    expect(graph.size).toBeGreaterThan(50)
    expect(graph.get('app.ts')!.files).toContain('modules/tokens/index.ts')
    expect(graph.get('auth/plugin.ts')!.packages).toContain('elysia')
    // A type-only import is an arrow too.
    expect(graph.get('context.ts')!.files).toContain('auth/principal.ts')
  })

  for (const below of ['auth/', 'audit/', 'db/']) {
    test(`${below} imports nothing from modules/`, () => {
      expect(arrows(below, 'modules/')).toEqual([])
    })
  }

  test('db/ imports nothing from cache/, http/, engine/ or auth/', () => {
    expect([...arrows('db/', 'cache/'), ...arrows('db/', 'http/'), ...arrows('db/', 'engine/'), ...arrows('db/', 'auth/')]).toEqual([])
  })

  test('the runtime and the service context know no resource and no HTTP', () => {
    for (const file of ['runtime.ts', 'context.ts']) {
      expect([...arrows(file, 'modules/'), ...arrows(file, 'http/'), ...arrows(file, 'app.ts')]).toEqual([])
    }
  })

  test("the engine knows no HTTP, and of the resources only their access rules (delegation re-checks the sub-agent)", () => {
    expect([...arrows('engine/', 'http/'), ...arrows('engine/', 'app.ts')]).toEqual([])
    expect(arrows('engine/', 'modules/').filter((a) => !/→ modules\/\w+\/access\.ts$/.test(a))).toEqual([])
  })

  test('services never see Elysia: only route and schema files of modules/ import it', () => {
    const routeOrSchema = /(^|\/)(index|public|model|[\w-]+-models?|query-params)\.ts$/
    const offenders = [...graph]
      .filter(([file, { packages }]) => file.startsWith('modules/') && !routeOrSchema.test(file) && packages.some((p) => p === 'elysia' || p.startsWith('elysia/')))
      .map(([file]) => file)
    expect(offenders).toEqual([])
  })

  test('no import cycles anywhere in src/', () => {
    expect(cycles(graph)).toEqual([])
  })
})

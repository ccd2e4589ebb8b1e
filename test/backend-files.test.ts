import { describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { backendDependence } from '../scripts/backend-files'

/** A repository of test files: path → text. */
function repo(files: Record<string, string>): { root: string; dependent: Record<string, boolean>; done(): void } {
  const root = mkdtempSync(join(tmpdir(), 'backend-files-'))
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
  }
  const dependent = Object.fromEntries(backendDependence(root).map((r) => [r.file, r.dependent]))
  return { root, dependent, done: () => rmSync(root, { recursive: true, force: true }) }
}

describe('which test files the PostgreSQL pass runs (scripts/backend-files.ts)', () => {
  test('a file is dependent when it, or a test module it reaches, reads the backend choice', () => {
    const r = repo({
      'test/helpers/pg.ts': "export const ON_PG = process.env.TEAMDAY_TEST_DATABASE === 'postgres'\nexport const HAVE_PG = true\nexport function sqliteOnly(r: string) { return ON_PG }\n",
      'test/helpers/app.ts': "import { ON_PG } from './pg'\nexport const app = ON_PG\n",
      'test/helpers/world.ts': "import { app } from './app'\nexport const world = app\n",
      'test/helpers/plain.ts': 'export const plain = 1\n',
      'test/helpers/cycle-a.ts': "import './cycle-b'\nimport { app } from './app'\n",
      'test/helpers/cycle-b.ts': "import './cycle-a'\n",
      'test/helpers/child.ts': 'console.log(process.env.TEAMDAY_TEST_DATABASE)\n',
      'test/fixtures/page.tsx': 'export const page = 1\n',
      'test/direct.test.ts': "import { ON_PG } from './helpers/pg'\ntest('x', () => ON_PG)\n",
      'test/skip.test.ts': "import { sqliteOnly } from './helpers/pg'\ntest.skipIf(sqliteOnly('files'))('x', () => {})\n",
      'test/env.test.ts': "test('x', () => process.env.TEAMDAY_TEST_DATABASE)\n",
      'test/through-app.test.ts': "import { app } from './helpers/app'\n",
      'test/two-steps.test.ts': "import { world } from './helpers/world.ts'\n",
      'test/dynamic.test.ts': "const m = await import('./helpers/app')\n",
      'test/side-effect.test.ts': "import './helpers/app'\n",
      'test/in-cycle.test.ts': "import './helpers/cycle-b'\n",
      'test/spawns.test.ts': "Bun.spawn([process.execPath, join(import.meta.dir, 'helpers/child.ts')])\n",
      'test/helpers/child2.ts': 'console.log(process.env.TEAMDAY_TEST_DATABASE)\n',
      'test/spawns-pieces.test.ts': "Bun.spawn([process.execPath, join(import.meta.dir, 'helpers', 'child2.ts')])\n",
      'test/pg-only.test.ts': "import { HAVE_PG } from './helpers/pg'\nimport { plain } from './helpers/plain'\n",
      'test/plain.test.ts': "import { plain } from './helpers/plain'\nimport { page } from './fixtures/page'\nimport { x } from '../src/x'\n",
      'test/browser/page.test.tsx': "import { app } from '../helpers/app'\n",
    })
    try {
      expect(r.dependent).toEqual({
        'test/browser/page.test.tsx': true,
        'test/direct.test.ts': true,
        'test/dynamic.test.ts': true,
        'test/env.test.ts': true,
        'test/in-cycle.test.ts': true,
        'test/pg-only.test.ts': false,
        'test/plain.test.ts': false,
        'test/side-effect.test.ts': true,
        'test/skip.test.ts': true,
        'test/spawns.test.ts': true,
        'test/spawns-pieces.test.ts': true,
        'test/through-app.test.ts': true,
        'test/two-steps.test.ts': true,
      })
    } finally {
      r.done()
    }
  })

  test('on this repository: the shared harness makes a file dependent; unit and PostgreSQL-only files are not', () => {
    const rows = backendDependence(join(import.meta.dir, '..'))
    const of = (f: string) => rows.find((r) => r.file === f)?.dependent
    // Through test/helpers/app.ts (its apps are on the backend the pass chose).
    expect(of('test/agents.test.ts')).toBe(true)
    expect(of('test/list-plans.test.ts')).toBe(true)
    // Neither an app of the harness nor a marker: the same code on both passes.
    expect(of('test/token-format.test.ts')).toBe(false)
    expect(of('test/pg-driver-stress.test.ts')).toBe(false)
    // Most of the suite runs on both passes (a sanity bound on the analysis, not a target).
    const dependent = rows.filter((r) => r.dependent).length
    expect(dependent).toBeGreaterThan(rows.length / 2)
  })
})

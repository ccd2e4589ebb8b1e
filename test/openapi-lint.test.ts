import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeTestApp } from './helpers/app'

/**
 * Issue 14: the document passes Redocly CLI's built-in `recommended` rules with no errors and no
 * warnings, as people's pipelines run it. Redocly runs in an empty folder (no redocly.yaml, no
 * ignore file can apply) on the committed file and on what a running server serves.
 */

const ROOT = join(import.meta.dir, '..')
const REDOCLY = join(ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js')

interface LintResult {
  totals: { errors: number; warnings: number; ignored: number }
  problems: { ruleId: string; message: string; location: { pointer: string }[] }[]
}

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'teamday-lint-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function lint(name: string, doc: string): Promise<LintResult> {
  const file = join(dir, name)
  writeFileSync(file, doc)
  // Bun runs the CLI (the project's runtime; no Node needed). cwd: the empty folder.
  const proc = Bun.spawn([process.execPath, REDOCLY, 'lint', file, '--format', 'json', '--max-problems', '1000'], {
    cwd: dir,
    stdout: 'pipe',
    stderr: 'pipe',
    env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
  })
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()])
  await proc.exited
  const start = out.indexOf('{')
  if (start < 0) throw new Error(`redocly printed no JSON (exit ${proc.exitCode}): ${out}\n${err}`)
  return JSON.parse(out.slice(start)) as LintResult
}

/** The problems, one line each, so a failure says what to fix. */
const summary = (r: LintResult) => r.problems.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)

describe('redocly lint (recommended rules, no ignore file)', () => {
  test(
    'the committed openapi/openapi.json and the served /swagger/json: 0 errors, 0 warnings',
    async () => {
      const { app, rt } = await makeTestApp()
      const served = await app.handle(new Request('http://teamday.internal:3000/swagger/json'))
      expect(served.status).toBe(200)
      const [committed, live] = await Promise.all([
        lint('committed.json', readFileSync(join(ROOT, 'openapi', 'openapi.json'), 'utf8')),
        lint('served.json', await served.text()),
      ])
      rt.close()
      for (const result of [committed, live]) {
        expect(summary(result)).toEqual([])
        expect(result.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 })
      }
    },
    60_000,
  )

  test(
    'the linter is live: the document as Elysia generates it, before publishing, fails',
    async () => {
      // The same document with one of the leaks this issue removed put back: redocly must see it.
      const doc = JSON.parse(readFileSync(join(ROOT, 'openapi', 'openapi.json'), 'utf8'))
      doc.components.schemas.Agent.properties.role.nullable = true
      delete doc.servers
      const result = await lint('leaky.json', JSON.stringify(doc))
      expect(summary(result)).toContainEqual(expect.stringContaining('struct: Property `nullable` is not expected here.'))
      expect(summary(result)).toContainEqual(expect.stringContaining('no-empty-servers'))
      expect(result.totals.errors).toBeGreaterThanOrEqual(2)
    },
    60_000,
  )
})

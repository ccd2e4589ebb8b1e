/**
 * `npm install` over a node_modules whose postgres was patched with an older version of
 * patches/postgres+3.4.9.patch (it grew three times) left the older driver: patch-package takes
 * the new patch as one it cannot apply, prints an error and, outside CI, exits 0. The postinstall
 * (scripts/patches.mjs) now checks that every patched package carries its patch as it is now and
 * fails the install with how to fix it. In a sandbox project: the repository's postinstall, its
 * patches, patch-package, and a copy of the installed driver made pristine or "older-patched" by
 * undoing hunks of the patch.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
// @ts-expect-error: a plain Node script, without types
import { hunks, missingPatches } from '../scripts/patches.mjs'

type Hunk = { file: string; before: string; after: string; added: string[] }
const ROOT = resolve(import.meta.dir, '..')
const PATCH = 'postgres+3.4.9.patch'
const all = hunks(readFileSync(join(ROOT, 'patches', PATCH), 'utf8')) as Hunk[]
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** A project with the repository's postinstall and patches, and the installed driver with `undone` hunks taken back out. */
function sandbox(undone: Hunk[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-patches-'))
  dirs.push(dir)
  const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'sandbox', version: '1.0.0', private: true, type: 'module', scripts: { postinstall: scripts.postinstall } }))
  cpSync(join(ROOT, 'patches'), join(dir, 'patches'), { recursive: true })
  cpSync(join(ROOT, 'scripts'), join(dir, 'scripts'), { recursive: true })
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(join(ROOT, 'node_modules/patch-package'), join(dir, 'node_modules/patch-package'))
  cpSync(join(ROOT, 'node_modules/postgres'), join(dir, 'node_modules/postgres'), { recursive: true })
  for (const h of undone) {
    const path = join(dir, h.file)
    const text = readFileSync(path, 'utf8')
    expect(text).toContain(h.after)
    writeFileSync(path, text.replace(h.after, h.before))
  }
  return dir
}

const run = (dir: string, cmd: string, args: string[]) => spawnSync(cmd, args, { cwd: dir, encoding: 'utf8', timeout: 60_000 })

describe('npm install applies patches/ and fails when an installed package does not carry them', () => {
  test('the Docker build has the postinstall script where npm ci runs it', () => {
    const postinstall = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.postinstall as string
    expect(postinstall).toBe('node scripts/patches.mjs')
    const docker = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
    const copied = docker.indexOf('COPY scripts/patches.mjs ./scripts/patches.mjs')
    expect(copied).toBeGreaterThan(0)
    expect(copied).toBeLessThan(docker.indexOf('RUN npm ci'))
  })

  test('the installed driver carries every hunk of the patch', () => {
    expect(all.length).toBeGreaterThan(5)
    expect(new Set(all.map((h) => h.file)).size).toBe(6)
    expect(missingPatches(ROOT)).toEqual([])
  })

  test('a pristine driver: the postinstall patches it and succeeds', () => {
    const dir = sandbox(all)
    expect(missingPatches(dir).length).toBe(all.length)
    const r = run(dir, 'npm', ['run', 'postinstall'])
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(missingPatches(dir)).toEqual([])
  }, 60_000)

  test('a driver patched with an older version of the patch: patch-package alone leaves it; the postinstall fails, naming what is missing and how to fix it', () => {
    // An older patch: the same, less the last hunk of each file.
    const last = [...new Map(all.map((h) => [h.file, h])).values()]
    const dir = sandbox(last)
    // patch-package alone: an error on its output, the driver left as it was (and, outside CI
    // as ci-info sees it, exit status 0: the install went on as if patched).
    const alone = run(dir, 'node', [join(dir, 'node_modules/patch-package/index.js')])
    expect(alone.stdout + alone.stderr).toContain('Failed to apply patch for package postgres')
    expect(missingPatches(dir).length).toBe(last.length)

    const r = run(dir, 'npm', ['run', 'postinstall'])
    expect(r.status).not.toBe(0)
    expect(r.stderr).toContain('the installed packages do not carry the patches in patches/')
    for (const h of last) expect(r.stderr).toContain(`${PATCH}: ${h.file} lacks the change`)
    expect(r.stderr).toContain('rm -rf node_modules/postgres && npm install')
  }, 60_000)
})

import { describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { executableFormat, readHead, RELEASE_TARGETS } from '../scripts/formats'

/**
 * The release build (scripts/build.ts, `npm run build:all`): the header check it and
 * test/smoke/release.ts apply to each file, on synthetic headers and on a real executable; the
 * flags every build passes; the workflow that publishes them.
 */

function elf(machine: number, cls = 2): Uint8Array {
  const b = new Uint8Array(64)
  b.set([0x7f, 0x45, 0x4c, 0x46, cls, 1, 1])
  new DataView(b.buffer).setUint16(18, machine, true)
  return b
}

function macho(cpu: number): Uint8Array {
  const b = new Uint8Array(32)
  const v = new DataView(b.buffer)
  v.setUint32(0, 0xfeedfacf, true)
  v.setUint32(4, cpu, true)
  return b
}

function pe(machine: number, at = 0x80): Uint8Array {
  const b = new Uint8Array(at + 24)
  const v = new DataView(b.buffer)
  b.set([0x4d, 0x5a])
  v.setUint32(0x3c, at, true)
  v.setUint32(at, 0x50450000)
  v.setUint16(at + 4, machine, true)
  return b
}

describe('executable formats', () => {
  test('each platform header is told apart', () => {
    expect(executableFormat(elf(0x3e))).toBe('elf-x86-64')
    expect(executableFormat(elf(0xb7))).toBe('elf-aarch64')
    expect(executableFormat(macho(0x01000007))).toBe('macho-x86-64')
    expect(executableFormat(macho(0x0100000c))).toBe('macho-arm64')
    expect(executableFormat(pe(0x8664))).toBe('pe-x86-64')
  })

  test('other machines, 32-bit files, truncated headers and text are not taken for a release file', () => {
    expect(executableFormat(elf(0x28))).toBeNull() // 32-bit ARM
    expect(executableFormat(elf(0x3e, 1))).toBeNull() // ELF32
    expect(executableFormat(macho(0x00000007))).toBeNull() // 32-bit x86
    expect(executableFormat(pe(0x014c))).toBeNull() // i386
    expect(executableFormat(pe(0x8664).subarray(0, 0x84))).toBeNull() // PE header cut off
    expect(executableFormat(new TextEncoder().encode('#!/bin/sh\necho teamday\n'))).toBeNull()
    expect(executableFormat(new Uint8Array(0))).toBeNull()
  })

  test('a real executable: the Bun running this test', () => {
    const expected = process.platform === 'linux' ? (process.arch === 'x64' ? 'elf-x86-64' : 'elf-aarch64') : process.platform === 'darwin' ? (process.arch === 'x64' ? 'macho-x86-64' : 'macho-arm64') : 'pe-x86-64'
    expect(executableFormat(readHead(process.execPath))).toBe(expected)
  })

  test('five release files, one per platform, each with its own format', () => {
    expect(RELEASE_TARGETS.map((t) => t.file)).toEqual(['teamday-linux-x64', 'teamday-linux-arm64', 'teamday-darwin-arm64', 'teamday-darwin-x64', 'teamday-windows-x64.exe'])
    expect(new Set(RELEASE_TARGETS.map((t) => t.format)).size).toBe(5)
  })
})

describe('the build', () => {
  const root = join(import.meta.dir, '..')
  const script = readFileSync(join(root, 'scripts/build.ts'), 'utf8')
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

  test('no .env or bunfig.toml autoloading, the commit stamped in, never --minify', () => {
    expect(script).toContain("'--no-compile-autoload-dotenv'")
    expect(script).toContain("'--no-compile-autoload-bunfig'")
    expect(script).toContain('--define=TEAMDAY_COMMIT=')
    expect(script).not.toMatch(/'--minify'/)
    expect(pkg.scripts.build).toBe('bun scripts/build.ts')
    expect(pkg.scripts['build:all']).toBe('bun scripts/build.ts --all')
  })

  test('npm start hands the process over to the server (exec), so signals reach it', () => {
    expect(pkg.scripts.start).toStartWith('exec bun ')
    expect(pkg.scripts.dev).toContain('exec bun ')
  })

  test('the release workflow: on a version tag, tests, builds every target, publishes them with SHA256SUMS', () => {
    const wf = readFileSync(join(root, '.github/workflows/release.yml'), 'utf8')
    expect(wf).toMatch(/tags:\s*\n\s*- 'v\*'/)
    expect(wf).toContain('npm test')
    expect(wf).toContain('npm run build:all')
    expect(wf).toContain('bun test/smoke/release.ts dist')
    for (const t of RELEASE_TARGETS) expect(wf).toContain(`dist/${t.file}`)
    expect(wf).toContain('dist/SHA256SUMS')
  })
})

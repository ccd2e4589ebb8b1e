/**
 * Checks what `npm run build:all` produced: every release file exists with the executable
 * format of its platform (ELF x86-64/aarch64, Mach-O x86-64/arm64, PE x86-64), SHA256SUMS
 * lists each with its real checksum, and the Linux x64 one runs and names its commit.
 * Not a bun test file: run it after `npm run build:all` with
 *
 *   bun test/smoke/release.ts [dist]
 *
 * Prints one `ok - …` / `not ok - …` line per check, then `N passed, M failed`; exit 1 on failure.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { executableFormat, readHead, RELEASE_TARGETS } from '../../scripts/formats'

const dist = resolve(process.argv[2] ?? 'dist')
let passed = 0
let failed = 0

function check(name: string, cond: boolean, detail?: unknown): void {
  if (cond) passed++
  else failed++
  console.log(`${cond ? 'ok' : 'not ok'} - ${name}${cond || detail === undefined ? '' : `: ${JSON.stringify(detail)}`}`)
}

const sumsFile = join(dist, 'SHA256SUMS')
const sums = new Map<string, string>()
if (existsSync(sumsFile)) {
  for (const line of readFileSync(sumsFile, 'utf8').split('\n').filter(Boolean)) {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line)
    if (m) sums.set(m[2]!, m[1]!)
    else check(`SHA256SUMS line in sha256sum format`, false, line)
  }
}
check('SHA256SUMS lists exactly the release files', [...sums.keys()].sort().join(',') === RELEASE_TARGETS.map((t) => t.file).sort().join(','), [...sums.keys()])

for (const t of RELEASE_TARGETS) {
  const path = join(dist, t.file)
  if (!existsSync(path)) {
    check(`${t.file} exists`, false)
    continue
  }
  const format = executableFormat(readHead(path))
  check(`${t.file} is ${t.format}`, format === t.format, format)
  const sum = new Bun.CryptoHasher('sha256').update(readFileSync(path)).digest('hex')
  check(`${t.file} matches its SHA256SUMS line`, sums.get(t.file) === sum, { listed: sums.get(t.file), actual: sum })
}

// The one this machine can run: its version names the commit it was built from.
const linux = join(dist, 'teamday-linux-x64')
if (existsSync(linux) && process.platform === 'linux' && process.arch === 'x64') {
  const r = spawnSync(linux, ['--version'], { encoding: 'utf8', timeout: 10_000 })
  const git = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' })
  const expected = git.status === 0 ? git.stdout.trim() : 'unknown'
  check(`teamday-linux-x64 --version names the commit (${expected})`, r.status === 0 && new RegExp(`^teamday \\d+\\.\\d+\\.\\d+ \\(commit ${expected}(-dirty)?\\)\\n$`).test(r.stdout), r.stdout || r.stderr)
}

console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)

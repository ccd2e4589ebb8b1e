/**
 * The executables, with `bun build --compile`:
 *
 *   bun scripts/build.ts         (npm run build)      dist/teamday: Linux x64, glibc
 *   bun scripts/build.ts --all   (npm run build:all)  dist/teamday-{linux-x64,linux-arm64,darwin-arm64,
 *                                                     darwin-x64,windows-x64.exe} and dist/SHA256SUMS
 *
 * Every build: the commit stamped in with --define (git, or TEAMDAY_COMMIT / GITHUB_SHA, else
 * "unknown"), no autoloading of .env or bunfig.toml from the directory the binary runs in, and
 * never --minify (Elysia reads handler source; see DESIGN.md). Other targets need Bun's runtime
 * for that platform, which bun downloads once from the npm registry (@oven/bun-<target>) into its
 * cache: without that, the build of that target fails and says so.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { executableFormat, readHead, RELEASE_TARGETS } from './formats'
import { STARTUP_JIT_POLICY } from '../src/jit-policy'

const root = resolve(import.meta.dir, '..')
const dist = join(root, 'dist')

function commit(): string {
  const fromEnv = process.env.TEAMDAY_COMMIT || process.env.GITHUB_SHA
  if (fromEnv) return fromEnv.slice(0, 12)
  const git = (...args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8' })
  const head = git('rev-parse', '--short=12', 'HEAD')
  if (head.status !== 0 || !head.stdout.trim()) return 'unknown'
  const dirty = git('status', '--porcelain', '--untracked-files=no').stdout.trim() !== ''
  return `${head.stdout.trim()}${dirty ? '-dirty' : ''}`
}

function build(target: string, outfile: string, stamp: string): void {
  const args = [
    'build',
    '--compile',
    `--target=${target}`,
    '--compile-exec-argv=--max-http-header-size=131072',
    '--minify-whitespace',
    '--minify-syntax',
    '--bytecode',
    // Start-up code stays in the interpreter longer; `serve` sets the normal policy back once
    // started (src/jit-policy.ts).
    `--compile-jit-policy=${STARTUP_JIT_POLICY}`,
    // The binary reads no .env or bunfig.toml of the directory it runs in: `--env-file FILE` instead.
    '--no-compile-autoload-dotenv',
    '--no-compile-autoload-bunfig',
    `--define=TEAMDAY_COMMIT=${JSON.stringify(stamp)}`,
    // Two entry points: the command line, and the admin commands with the server, which the
    // command line imports by this path only when an admin command runs (src/cli/admin-bundle.ts).
    `--define=TEAMDAY_ADMIN_ENTRY=${JSON.stringify('admin-entry.js')}`,
    // A third: the AI SDK (half of the server's code), which the admin bundle requires by this
    // path on the first execution only (src/engine/sdk.ts): a start does not load it.
    `--define=TEAMDAY_SDK_ENTRY=${JSON.stringify('engine/sdk-entry.js')}`,
    'src/main.ts',
    'src/admin-entry.ts',
    'src/engine/sdk-entry.ts',
    '--outfile',
    outfile,
  ]
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) {
    const cross = target !== 'bun-linux-x64' || process.arch !== 'x64' || process.platform !== 'linux'
    console.error(
      `\nerror: building ${outfile} (${target}) failed (bun build exited ${r.status ?? r.signal}).` +
        (cross
          ? `\nCross-compiling needs Bun's runtime for ${target}, which bun downloads once from the npm registry` +
            ' (package @oven/bun-<os>-<arch>, the same version as this Bun) into ~/.bun/install/cache.' +
            ' Without access to the npm registry only this machine\'s own target builds (npm run build).'
          : ''),
    )
    process.exit(1)
  }
}

const sha256 = (path: string) => new Bun.CryptoHasher('sha256').update(readFileSync(path)).digest('hex')

const stamp = commit()
mkdirSync(dist, { recursive: true })
if (!process.argv.includes('--all')) {
  build('bun-linux-x64', join(dist, 'teamday'), stamp)
} else {
  rmSync(join(dist, 'SHA256SUMS'), { force: true })
  const sums: string[] = []
  for (const t of RELEASE_TARGETS) {
    const out = join(dist, t.file)
    build(t.target, out, stamp)
    const format = executableFormat(readHead(out))
    if (format !== t.format) {
      console.error(`error: ${out} is ${format ?? 'not an executable this script knows'}, expected ${t.format}`)
      process.exit(1)
    }
    // The format of `sha256sum`: `sha256sum -c SHA256SUMS` checks them in dist/.
    sums.push(`${sha256(out)}  ${t.file}`)
  }
  writeFileSync(join(dist, 'SHA256SUMS'), sums.join('\n') + '\n')
  console.log(`\n${RELEASE_TARGETS.length} executables (commit ${stamp}) and dist/SHA256SUMS:\n${sums.join('\n')}`)
}

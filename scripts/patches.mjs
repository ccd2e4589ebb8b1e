// `npm install`'s postinstall: applies patches/ (patch-package), then checks that every installed
// package a patch is for carries that patch as it is now, and fails loudly when not.
//
// patch-package takes a package whose files no longer match a patch as "cannot apply", prints an
// error and, outside CI, exits 0: `npm install` over a node_modules patched with an older version
// of patches/postgres+3.4.9.patch (the patch grew: 84b587e, 6feb15d, 272a641) succeeded and left
// the driver with the older fixes, silently (the sandbox of test/patches.test.ts). Plain Node: it
// runs before anything else of the project can.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * A patch's hunks, each as the lines it expects (`before`: context and removed lines) and those
 * it leaves (`after`: context and added lines), joined by newlines, with the file they are in and
 * the lines it adds (`added`).
 */
export function hunks(patchText) {
  const out = []
  let file = null
  let hunk = null
  const lines = patchText.split('\n')
  const close = () => {
    if (hunk) out.push({ file: hunk.file, before: hunk.before.join('\n'), after: hunk.after.join('\n'), added: hunk.added })
    hunk = null
  }
  for (const line of lines) {
    if (line.startsWith('diff --git ')) {
      close()
      file = null
    } else if (line.startsWith('+++ ')) {
      file = line.slice(4).replace(/^b\//, '')
    } else if (line.startsWith('@@')) {
      close()
      if (file !== null) hunk = { file, before: [], after: [], added: [] }
    } else if (hunk) {
      if (line.startsWith('\\')) continue
      const text = line.slice(1)
      if (line.startsWith(' ') || line === '') {
        hunk.before.push(text)
        hunk.after.push(text)
      } else if (line.startsWith('-')) hunk.before.push(text)
      else if (line.startsWith('+')) {
        hunk.after.push(text)
        hunk.added.push(text)
      }
    }
  }
  close()
  return out
}

/**
 * What is missing from the packages installed under `root` for the patches in `root/patches`:
 * one line per hunk whose result is not in its file (or a file that is not there).
 */
export function missingPatches(root) {
  const dir = join(root, 'patches')
  if (!existsSync(dir)) return []
  const problems = []
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.patch')).sort()) {
    for (const h of hunks(readFileSync(join(dir, name), 'utf8'))) {
      const path = join(root, h.file)
      if (!existsSync(path)) {
        problems.push(`${name}: ${h.file} is not there`)
        continue
      }
      const text = readFileSync(path, 'utf8')
      if (text.includes(h.after)) continue
      const first = (h.added.find((l) => l.trim() !== '') ?? h.after.split('\n')[0]).trim()
      problems.push(`${name}: ${h.file} lacks the change that adds "${first}"${text.includes(h.before) ? ' (the file has the unpatched text there)' : ' (the file holds something else there: an older version of the patch?)'}`)
    }
  }
  return problems
}

/** The message that ends an install whose patched packages do not carry their patches. */
export function failureMessage(problems) {
  // patches/<name>+<version>.patch; a scoped name is @scope+name.
  const packages = [...new Set(problems.map((p) => p.slice(0, p.indexOf('.patch:')).replace(/\+[^+]*$/, '').replace('+', '/')))]
  return [
    '',
    'ERROR: the installed packages do not carry the patches in patches/:',
    ...problems.map((p) => `  - ${p}`),
    '',
    'A package patched with an older version of its patch is not patched again (patch-package',
    'cannot apply the new patch over the old one). Install it afresh, and the postinstall',
    'applies the patch as it is now:',
    '',
    `  rm -rf ${packages.map((p) => `node_modules/${p}`).join(' ')} && npm install`,
    '',
    '(or `npm ci`, which installs every package afresh).',
    '',
  ].join('\n')
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.cwd()
  const require = createRequire(join(root, 'package.json'))
  const applied = spawnSync(process.execPath, [require.resolve('patch-package/index.js')], { stdio: 'inherit' })
  const problems = missingPatches(root)
  if (problems.length > 0) {
    console.error(failureMessage(problems))
    process.exit(1)
  }
  process.exit(applied.status ?? 1)
}

import { describe, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

/**
 * @kitajs/html escapes attributes but not children: `<td>{name}</td>` would be raw HTML. Its
 * ts-html-plugin's `xss-scan` finds every such interpolation without `safe`; it must find none
 * in the console, and it must find the one in the deliberately unsafe fixture (so a scan that
 * silently checks nothing fails here).
 */
const root = join(import.meta.dir, '..')
const bin = join(root, 'node_modules/.bin/xss-scan')
const consoleFiles = ['src/console/views', 'src/console/routes'].flatMap((d) => readdirSync(join(root, d)).filter((f) => f.endsWith('.tsx')).map((f) => join(d, f)))

async function scan(files: string[]) {
  const p = Bun.spawn([bin, '--simplified', ...files], { cwd: root, stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  return { code, text: out + err }
}

const FIXTURE = 'test/fixtures/xss-unsafe.tsx'

describe('XSS scan of the console (xss-scan)', () => {
  test(
    'no unescaped interpolation in any console view; the unsafe fixture is caught',
    async () => {
      expect(consoleFiles.length).toBeGreaterThan(4)
      // One scan of both: each run type-checks the whole program (most of this test's time), and
      // every finding names its file, so the fixture's error tells nothing about the views'.
      const { code, text } = await scan([...consoleFiles, FIXTURE])
      const errors = text.split('\n').filter((l) => l.includes('error'))
      // Exit 0: clean; 2: warnings only (an unneeded `safe`); 1: an XSS-prone interpolation (here the fixture's).
      expect(code).toBe(1)
      expect(errors.filter((l) => !l.startsWith(`${FIXTURE}(`))).toEqual([])
      expect(errors.filter((l) => l.startsWith(`${FIXTURE}(`) && l.includes('K601')).length).toBeGreaterThan(0)
    },
    180_000,
  )
})

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

describe('XSS scan of the console (xss-scan)', () => {
  test(
    'no unescaped interpolation in any console view; the unsafe fixture is caught',
    async () => {
      expect(consoleFiles.length).toBeGreaterThan(4)
      const [mine, fixture] = await Promise.all([scan(consoleFiles), scan(['test/fixtures/xss-unsafe.tsx'])])
      // Exit 0: clean; 2: warnings only (an unneeded `safe`); 1: an XSS-prone interpolation.
      expect({ code: mine.code === 1 ? 1 : 0, errors: mine.text.split('\n').filter((l) => l.includes('error')) }).toEqual({ code: 0, errors: [] })
      expect(fixture.code).toBe(1)
      expect(fixture.text).toContain('K601')
    },
    180_000,
  )
})

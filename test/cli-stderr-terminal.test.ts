/**
 * What the command line writes on stderr reaches a terminal as written: Bun's console.error
 * painted every line red there, so `using database …` (every admin command), `created task …`
 * and the link and code of `teamday login` read as errors.
 */
import { afterAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const dir = mkdtempSync(join(tmpdir(), 'teamday-stderr-tty-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

test('an admin command on a terminal: its stderr line carries no colour', async () => {
  const chunks: string[] = []
  const decoder = new TextDecoder()
  const db = join(dir, 'teamday.db')
  const proc = Bun.spawn([process.execPath, '--no-env-file', resolve('src/main.ts'), 'migrate', '--db', db], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    terminal: { cols: 300, rows: 20, data: (_t, data) => void chunks.push(decoder.decode(data, { stream: true })) },
  })
  expect(await proc.exited).toBe(0)
  // The terminal's last bytes may arrive just after the exit.
  for (let i = 0; i < 50 && !chunks.join('').includes('migration'); i++) await Bun.sleep(20)
  const text = chunks.join('')
  expect(text).toContain(`using new database ${db}`)
  expect(text).not.toContain('\u001b[')
})

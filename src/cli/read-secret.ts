import { UsageError } from './common'

/**
 * Reads a secret without it ever being an argument: on a terminal, asked (twice) with echo off;
 * otherwise the first line of stdin. `stdin` is injectable for tests.
 */
export async function readSecret(prompt: string, again: string, stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (stdin.isTTY) {
    const first = await askHidden(prompt, stdin)
    const second = await askHidden(again, stdin)
    if (first !== second) throw new UsageError('the two passwords differ; nothing was changed')
    return first
  }
  const chunks: Buffer[] = []
  for await (const c of stdin) chunks.push(Buffer.from(c))
  const text = Buffer.concat(chunks).toString('utf8')
  const line = text.split(/\r?\n/)[0] ?? ''
  if (!line) throw new UsageError('no password on stdin: pipe it in (printf %s "$PW" | teamday users set-password --email E) or run this in a terminal')
  return line
}

function askHidden(prompt: string, stdin: NodeJS.ReadStream): Promise<string> {
  process.stderr.write(prompt)
  return new Promise((resolve, reject) => {
    let value = ''
    stdin.setRawMode(true)
    stdin.resume()
    const done = (err?: Error) => {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.off('data', onData)
      process.stderr.write('\n')
      if (err) reject(err)
      else resolve(value)
    }
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done()
        if (ch === '\u0003') return done(new UsageError('cancelled'))
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else value += ch
      }
    }
    stdin.on('data', onData)
  })
}

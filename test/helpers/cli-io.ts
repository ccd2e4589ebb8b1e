import type { ClientIo } from '../../src/cli/common'

/**
 * An Io for running `teamday` in process that records what the command writes: stdout (`out`
 * lines and `write` as is) and stderr, each line ended by a newline. `more`: the rest of the Io
 * (stdin, say).
 */
export function recordingIo(env: ClientIo['env'], more: Partial<ClientIo> = {}): { io: ClientIo; out: () => string; err: () => string } {
  const out: string[] = []
  const err: string[] = []
  const line = (s: string) => (s.endsWith('\n') ? s : s + '\n')
  const io: ClientIo = {
    out: (s) => out.push(line(s)),
    err: (s) => err.push(line(s)),
    write: (s) => out.push(s),
    env,
    ...more,
  }
  return { io, out: () => out.join(''), err: () => err.join('') }
}

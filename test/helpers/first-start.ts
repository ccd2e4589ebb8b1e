/**
 * The first start prints a one-time set-up link, no token (issue 16). Tests that start a real
 * server and need a token make one the way an operator would: `teamday tokens create` on the
 * server's database (admin commands work beside a running server).
 */
export const SETUP_LINK = /\/setup\/[0-9A-Za-z]{43}/

export function adminTokenVia(command: string[], db: string | null, opts: { cwd?: string; env?: Record<string, string | undefined> } = {}): string {
  const args = [...command, 'tokens', 'create', '--email', 'admin@localhost', '--name', `test ${Date.now()}`, ...(db ? ['--db', db] : [])]
  const r = Bun.spawnSync(args, { cwd: opts.cwd, env: opts.env as Record<string, string> | undefined, stdout: 'pipe', stderr: 'pipe' })
  const out = r.stdout.toString().trim()
  if (r.exitCode !== 0 || !/^td_[A-Za-z0-9]{43}$/.test(out)) throw new Error(`tokens create failed (${r.exitCode}): ${out} ${r.stderr.toString()}`)
  return out
}

#!/usr/bin/env bun
import './production-mode' // first: before anything imports Elysia
// The entry point. The command line (src/cli/run.ts) loads only the code of the command that
// runs. The server, drizzle, Elysia and the model SDKs are reachable only from the admin entry
// (src/admin-entry.ts), a second bundle in the compiled binary: a client command (cron, CI),
// `--version` and `help` never load them.
import { versionLine } from './build-info'
import type { ClientIo } from './cli/common'

/** `teamday ARGV`, with the command line loaded on first use; resolves to the exit code. */
export async function run(argv: string[], io?: ClientIo): Promise<number> {
  const cli = await import('./cli/run')
  return cli.run(argv, io)
}

if (import.meta.main) {
  // No top-level await: the --bytecode build compiles to CommonJS.
  const argv = process.argv.slice(2)
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version')) {
    // What scripts ask most often, answered before any command code is evaluated; a write that
    // fails (`> /dev/full`) is an error, as for every other command (console.log dropped it).
    // Bun's own writer: no node: module is evaluated for it (test/client-startup.test.ts).
    Bun.write(Bun.stdout, `${versionLine()}\n`).then(
      () => process.exit(0),
      (e: { code?: string; message?: string }) => {
        if (e?.code === 'EPIPE') process.exit(0)
        void Bun.write(Bun.stderr, `error: could not write to standard output (${e?.code ?? e?.message})\n`).finally(() => process.exit(1))
      },
    )
  } else void run(argv).then((code) => process.exit(code))
}

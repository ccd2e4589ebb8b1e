#!/usr/bin/env bun
import './production-mode' // first: before anything imports Elysia
// The entry point: hands argv to the command registry (src/cli/registry.ts), which loads only
// the code of the command that runs: a client command (cron, CI) never evaluates the server,
// drizzle, Elysia or the model SDKs; `--version` and `help` load nothing.
import { run } from './cli/run'

export { run }
export { openapiDocument } from './cli/admin/openapi'

if (import.meta.main) {
  // No top-level await: the --bytecode build compiles to CommonJS.
  void run(process.argv.slice(2)).then((code) => process.exit(code))
}

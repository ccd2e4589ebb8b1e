import { afterAll, describe, expect, test } from 'bun:test'
import { bundleInputs, type BundleInput } from './helpers/bundle'

/**
 * What a client command (`teamday health`, `agents list`, `whoami`… run from cron or CI) loads:
 * the command line's own bundle of the compiled binary (src/main.ts; the server is the second
 * bundle, src/admin-entry.ts). Read from the bundler's module graph: a heavy import (a package,
 * a node: module, the server's config) cannot come back into it without this failing. Each
 * node: module costs a compiled client command a measurable share of its start (README,
 * Performance; bench/startup.ts): node:fs alone about 170 page faults, as many as fetch.
 */

const graph = () => bundleInputs('src/main.ts', { TEAMDAY_ADMIN_ENTRY: 'admin-entry.js' })

/** The modules evaluated from `roots` through static imports, and the packages/builtins they import statically. */
function closure(inputs: Record<string, BundleInput>, roots: string[]): { modules: string[]; externals: string[] } {
  const seen = new Set<string>()
  const externals = new Set<string>()
  const todo = [...roots]
  while (todo.length) {
    const m = todo.pop()!
    if (seen.has(m)) continue
    if (!inputs[m]) throw new Error(`${m} is not in the command line's bundle`)
    seen.add(m)
    for (const i of inputs[m]!.imports) {
      if (i.kind !== 'import-statement' && i.kind !== 'require-call') continue
      if (i.external) externals.add(i.path)
      else todo.push(i.path)
    }
  }
  return { modules: [...seen].sort(), externals: [...externals].sort() }
}

// The modules a client command may evaluate: the command line, the HTTP client, and some leaves
// (the redaction of tokens in error output, src/auth/redact.ts and src/auth/token-text.ts, and the text helper they use; the rule for secret names, src/secret-names.ts, which the server checks too;
// the shape of an execute's result, src/execute-result.ts, which the server answers with; a database URL's
// secret parts, src/database-secrets.ts, which the server masks).
const CLIENT_PATH = /^src\/(cli\/(client\/)?[a-z-]+\.ts|client\/[a-z-]+\.ts|build-info\.ts|config-error\.ts|production-mode\.ts|main\.ts|auth\/redact\.ts|auth\/token-text\.ts|text\.ts|retry-after\.ts|secret-names\.ts|execute-result\.ts|database-secrets\.ts)$/

describe('what a client command loads', () => {
  test('the command line bundle holds no package and no server module; only `login` may import a node: module statically', async () => {
    const inputs = await graph()
    const all = Object.keys(inputs)
    expect(all.filter((m) => m.includes('node_modules'))).toEqual([])
    expect(all.filter((m) => !CLIENT_PATH.test(m) && m !== 'src/auth/login-code.ts')).toEqual([])
    const staticBuiltins = all.flatMap((m) => inputs[m]!.imports.filter((i) => i.external && i.kind === 'import-statement').map((i) => `${m} -> ${i.path}`))
    // `login` spawns the browser; `--env-file` reads its file: neither runs unless asked for.
    expect(staticBuiltins.sort()).toEqual(['src/cli/client/login.ts -> child_process', 'src/cli/env-file.ts -> fs'])
  })

  test('`--version`, `health`, `whoami` and the resource commands evaluate no node: module and not src/config.ts', async () => {
    const inputs = await graph()
    const commands = ['status', 'agents', 'tasks', 'spaces', 'executions', 'tokens', 'members', 'audit'].map((c) => `src/cli/client/${c}.ts`)
    const { modules, externals } = closure(inputs, ['src/main.ts', 'src/cli/run.ts', ...commands])
    expect(externals).toEqual([])
    expect(modules).not.toContain('src/config.ts')
    expect(modules).toContain('src/client/http.ts')
    // The warning of a database password given as an argument (src/cli/run.ts) reads the
    // server's list of a URL's secret parameters, from its own module (it had its own copy).
    expect(inputs['src/cli/run.ts']!.imports.map((i) => i.path)).toContain('src/database-secrets.ts')
    expect(inputs['src/database-secrets.ts']!.imports).toEqual([])
    // `--version` itself evaluates only these before it prints.
    expect(closure(inputs, ['src/main.ts']).modules).toEqual(['src/build-info.ts', 'src/main.ts', 'src/production-mode.ts'])
  })
})

/**
 * JavaScriptCore writes some built-ins in JavaScript (Array.prototype.map, filter, find, some,
 * every…) and compiles each from its source on its first call: ~0.1 M instructions apiece, as
 * much as twenty of the command line's own functions, where a whole `teamday health` is ~10 M
 * (docs/performance.md, Thirty-sixth session). The common client commands call none of them:
 * JSC lists every code block it links with BUN_JSC_dumpGeneratedBytecodes, built-ins included.
 */
const JS_BUILTINS = ['every', 'filter', 'find', 'findIndex', 'findLast', 'findLastIndex', 'flat', 'flatMap', 'forEach', 'map', 'reduce', 'reduceRight', 'some']

describe('the built-ins a client command compiles', () => {
  const agent = { id: 'char_1', name: 'Reviewer', role: 'Developer', visibility: 'organization', model: null, archived: false, updatedAt: '2026-12-06T00:00:00.000Z' }
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (req) => {
      const path = new URL(req.url).pathname
      if (path === '/api/health') return Response.json({ status: 'ok', version: '0.1.0' })
      if (path === '/api/v1/agents') return Response.json({ agents: [agent, { ...agent, id: 'char_2' }], total: 2 })
      if (path === '/api/v1/tokens/self') return Response.json({ token: { id: 'pat_1', name: 'ci', email: 'a@b.c', role: 'admin', scopes: ['agents:read'], tokenScopes: ['agents:read'] } })
      return Response.json({ error: true, statusCode: 404, code: 'not_found', message: 'no' }, { status: 404 })
    },
  })
  const url = `http://127.0.0.1:${server.port}`
  afterAll(() => server.stop(true))

  /** The names of the code blocks `teamday ARGS` linked, and its exit code. */
  async function codeBlocks(args: string[]): Promise<{ names: Set<string>; exitCode: number }> {
    const p = Bun.spawn([process.execPath, '--no-env-file', 'src/main.ts', ...args], {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', TEAMDAY_TOKEN: `td_${'a'.repeat(43)}`, BUN_JSC_dumpGeneratedBytecodes: '1' },
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [out, err, exitCode] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
    const names = new Set<string>()
    for (const m of `${out}\n${err}`.matchAll(/^([^\s#]+)#[A-Za-z0-9]{6}:\[/gm)) names.add(m[1]!)
    return { names, exitCode }
  }

  for (const args of [['health'], ['agents', 'list'], ['whoami']]) {
    test(`teamday ${args.join(' ')}`, async () => {
      const { names, exitCode } = await codeBlocks([...args, '--url', url])
      expect(exitCode).toBe(0)
      // The dump works: the command's own functions are in it.
      expect(names.has('tokenArgumentError')).toBe(true)
      expect(JS_BUILTINS.filter((b) => names.has(b))).toEqual([])
    })
  }
})

/**
 * BUN_CONFIG_VERBOSE_FETCH in the server's environment (an operator debugging a provider): Bun
 * prints every request that fetch sends, headers included, on the process's output, which is
 * the service's log. With `curl` it printed the model provider's API key in full (OpenAI's
 * `Authorization: Bearer sk-…`, Anthropic's `x-api-key`); with `1` Bun hides `Authorization`
 * but printed Anthropic's `x-api-key`. The provider's requests say `verbose: false`
 * (src/engine/provider-fetch.ts), as the client's do (test/client-robustness.test.ts). The
 * variable is read when the process starts: a server of its own, from source.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { adminTokenVia, SETUP_LINK } from './helpers/first-start'
import { startProviderDouble } from './helpers/providers'
import { startServer } from './helpers/spawn'

const root = join(import.meta.dir, '..')
const dir = mkdtempSync(join(tmpdir(), 'teamday-verbose-fetch-'))
const double = startProviderDouble()
afterAll(() => {
  double.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('BUN_CONFIG_VERBOSE_FETCH', () => {
  test("a run's provider request never prints its API key on the server's output (curl and 1; OpenAI and Anthropic)", async () => {
    const openaiKey = `sk-openai-${crypto.randomUUID()}`
    const anthropicKey = `sk-ant-${crypto.randomUUID()}`
    for (const value of ['curl', '1']) {
      const db = join(dir, `${value}.db`)
      const env = {
        PATH: process.env.PATH,
        HOME: dir,
        TEAMDAY_DB: db,
        OPENAI_BASE_URL: double.openaiBaseUrl,
        OPENAI_API_KEY: openaiKey,
        ANTHROPIC_BASE_URL: double.anthropicBaseUrl,
        ANTHROPIC_API_KEY: anthropicKey,
        TEAMDAY_DEFAULT_MODEL: 'test-model',
        BUN_CONFIG_VERBOSE_FETCH: value,
      }
      const server = await startServer([process.execPath, 'src/main.ts', 'serve', '--host', '127.0.0.1', '--port', '0'], { cwd: root, env, ready: [SETUP_LINK], ms: 30_000 })
      try {
        const token = adminTokenVia([process.execPath, 'src/main.ts'], db, { cwd: root, env })
        const h = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
        const before = double.requests.length
        for (const model of ['test-model', 'claude-sonnet-4-5']) {
          const created: any = await (await fetch(`${server.origin}/api/v1/agents`, { method: 'POST', headers: h, body: JSON.stringify({ name: `Agent ${model}`, systemPrompt: 'Answer.', model }) })).json()
          const run = await fetch(`${server.origin}/api/v1/agents/${created.id}/execute`, { method: 'POST', headers: h, body: JSON.stringify({ message: 'hello', stream: false }) })
          expect({ model, status: run.status }).toEqual({ model, status: 200 })
        }
        // Both providers were asked (the keys had their chance to be printed).
        expect(double.requests.slice(before).map((r) => r.path).sort()).toEqual(['/v1/chat/completions', '/v1/messages'])
      } finally {
        server.proc.kill('SIGTERM')
        await server.exited(15_000)
      }
      const out = server.output()
      expect(out).toContain('listening on')
      expect({ value, openai: out.includes(openaiKey), anthropic: out.includes(anthropicKey) }).toEqual({ value, openai: false, anthropic: false })
    }
  }, 90_000)
})

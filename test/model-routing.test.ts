import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { resolve } from 'node:path'
import { loadConfig, ConfigError } from '../src/config'
import { agents } from '../src/db/schema'
import { globMatches, parseModelAliases, resolveAlias } from '../src/engine/model-aliases'
import { modelNotServed, type ModelProviders } from '../src/engine/providers'
import { newId } from '../src/ids'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { parseSse, startProviderDouble, type ProviderDouble } from './helpers/providers'
import { spawnCollected } from './helpers/spawn'

/**
 * Issue 14: routing by model. `claude-*` runs on Anthropic, everything else on the
 * OpenAI-compatible provider; TEAMDAY_MODEL_ALIASES maps ids; TEAMDAY_DEFAULT_MODEL serves agents
 * with none; a model no configured provider serves fails the execution (422, not a 5xx) naming
 * the model and the providers; the execution records the model id actually sent.
 */

let double: ProviderDouble
beforeAll(() => {
  double = startProviderDouble()
})
afterAll(() => double.stop())

/** TeamDay's CLI gives every agent it creates this model. */
const CLI_MODEL = 'claude-sonnet-4-5-20250929'

async function agent(t: TestApp, owner: Actor, model: string | null) {
  const now = new Date(t.clock.now())
  return await t.db
    .insert(agents)
    .values({ id: newId('char'), organizationId: owner.organizationId, userId: owner.userId, name: 'Agent', slug: `a-${Math.random()}`, visibility: 'organization', model, createdAt: now, updatedAt: now })
    .returning()
    .get()
}

const exec = (t: TestApp, a: Actor, id: string, body: object) => t.req('POST', `/api/v1/agents/${id}/execute`, { token: a.token, body })
const getExecution = async (t: TestApp, a: Actor, id: string) => (await t.req('GET', `/api/v1/executions/${id}`, { token: a.token })).body.execution
/** Requests the double received from now on. */
const since = () => {
  const n = double.requests.length
  return () => double.requests.slice(n)
}

describe('TEAMDAY_MODEL_ALIASES', () => {
  test('pattern=model pairs, comma-separated; * matches anything; the first match wins; case-insensitive', () => {
    const aliases = parseModelAliases(' claude-sonnet-4-5*=llama3.1:8b , gpt-4o*=qwen2.5:7b,claude-*=mistral ')
    expect(aliases).toEqual([
      { pattern: 'claude-sonnet-4-5*', target: 'llama3.1:8b' },
      { pattern: 'gpt-4o*', target: 'qwen2.5:7b' },
      { pattern: 'claude-*', target: 'mistral' },
    ])
    const list = aliases as Exclude<typeof aliases, string>
    expect(resolveAlias(list, CLI_MODEL)).toBe('llama3.1:8b')
    expect(resolveAlias(list, 'Claude-Sonnet-4-5')).toBe('llama3.1:8b')
    expect(resolveAlias(list, 'claude-opus-4')).toBe('mistral')
    expect(resolveAlias(list, 'gpt-4o-mini')).toBe('qwen2.5:7b')
    expect(resolveAlias(list, 'llama3.1:8b')).toBe('llama3.1:8b')
    // literal characters stay literal: "." is not "any character"
    expect(globMatches('gpt-4.1', 'gpt-401')).toBe(false)
    expect(globMatches('gpt-4.1', 'gpt-4.1')).toBe(true)
    expect(globMatches('*', 'anything')).toBe(true)
    expect(parseModelAliases('')).toEqual([])
  })

  // A pattern was matched with /^part.*part.*part$/i, which tries every way to place the parts: time
  // growing with the id's length to the power of the stars less one (an agent's model is anyone's
  // text of up to 200 characters). In a child process with a deadline of minutes' margin.
  test('a pattern of many stars against a long id is answered at once', async () => {
    const script = `
      const { globMatches } = await import(${JSON.stringify(resolve(import.meta.dir, '../src/engine/model-aliases.ts'))})
      const id = 'a'.repeat(5000)
      console.log(JSON.stringify([globMatches('*a*a*a*a*a*a*b', id), globMatches('*a*a*a*a*a*a*', id), globMatches('a*a*a*a*a*a*b', id + 'b')]))`
    const child = spawnCollected([process.execPath, '-e', script])
    const code = await child.exited(20_000)
    if (code === 'still running') child.proc.kill()
    expect([code, child.output().trim()]).toEqual([0, JSON.stringify([false, true, true])])
  }, 30_000)

  test('the same answers as the expression it replaces, for 200,000 patterns and ids (case, line breaks, look-alike letters)', () => {
    const old = (pattern: string, id: string) => new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i').test(id)
    // The Kelvin sign and the long s upper-case to ASCII letters, which the expression does not take for them.
    const letters = ['a', 'A', 'b', '-', '.', '(', '\\', 'k', 'K', '\u212a', 's', '\u017f', '\u00df', '\u0130', 'i', '\u00e9', '\u00c9', '\n', '\u2028', ' ', '\ud83d']
    let seed = 11
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
    const text = (n: number, extra: string[] = []) => Array.from({ length: random(n) }, () => [...letters, ...extra][random(letters.length + extra.length)]).join('')
    const swapCase = (s: string) => [...s].map((c) => (random(2) ? c.toUpperCase() : c.toLowerCase())).join('')
    let matched = 0
    for (let i = 0; i < 200_000; i++) {
      const pattern = text(8, ['*', '*', '*'])
      // Half the ids made from the pattern (its stars filled in, its letters' case changed), half at random.
      const id = random(2) ? pattern.split('*').map(swapCase).join(text(4)) : text(9)
      const expected = old(pattern, id)
      if (globMatches(pattern, id) !== expected) expect({ pattern, id, matches: globMatches(pattern, id) }).toEqual({ pattern, id, matches: expected })
      if (expected) matched++
    }
    expect(matched).toBeGreaterThan(20_000)
  })

  test('a malformed value stops the server at start with what is wrong', () => {
    for (const bad of ['claude', '=llama', 'claude-*=', 'a=b=c*', 'claude *=x'])
      expect(() => loadConfig({ TEAMDAY_MODEL_ALIASES: bad })).toThrow(ConfigError)
    expect(() => loadConfig({ TEAMDAY_MODEL_ALIASES: 'claude' })).toThrow('TEAMDAY_MODEL_ALIASES: "claude" is not pattern=model')
    expect(loadConfig({ TEAMDAY_MODEL_ALIASES: 'claude-*=llama3.1:8b' }).modelAliases).toEqual([{ pattern: 'claude-*', target: 'llama3.1:8b' }])
  })
})

describe('an OpenAI-compatible server only (Ollama, vLLM…)', () => {
  test("TeamDay's CLI model id, mapped by an alias, runs on it; the execution records the model sent", async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, modelAliases: parseModelAliases('claude-sonnet-4-5*=llama3.1:8b') as any } })
    const a = await makeActor(t)
    const ag = await agent(t, a, CLI_MODEL)
    const sent = since()
    const r = await exec(t, a, ag.id, { message: 'hello' })
    expect(r.status).toBe(200)
    expect(r.body.result).toBe('Echo: hello (user turns: 1)')
    expect(sent().map((q) => [q.path, q.body.model])).toEqual([['/v1/chat/completions', 'llama3.1:8b']])
    const e = await getExecution(t, a, r.body.executionId)
    expect(e).toMatchObject({ status: 'completed', model: 'llama3.1:8b', provider: 'openai' })
    const logs = (await t.req('GET', `/api/v1/executions/${e.id}/logs`, { token: a.token })).body.logs
    expect(logs[0]).toMatchObject({ event: 'started', data: { provider: 'openai', model: 'llama3.1:8b', requestedModel: CLI_MODEL } })
  })

  test('without an alias, a claude-* model fails the execution: 422 naming the model and the providers, no request to the provider', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl } })
    const a = await makeActor(t)
    const ag = await agent(t, a, CLI_MODEL)
    const sent = since()
    const r = await exec(t, a, ag.id, { message: 'hello' })
    expect(r.status).toBe(422)
    expect(r.body.code).toBe('model_not_served')
    expect(r.body.message).toContain(`Model "${CLI_MODEL}" is not served by this server`)
    expect(r.body.message).toContain('Providers configured: openai')
    expect(r.body.message).toContain('ANTHROPIC_API_KEY')
    expect(r.body.message).toContain('TEAMDAY_MODEL_ALIASES')
    expect(r.body.details).toMatchObject({ status: 'failed', model: CLI_MODEL })
    expect(sent()).toEqual([])
    // The execution is there, failed with the same message and the model it named.
    const e = await getExecution(t, a, r.body.details.executionId)
    expect(e).toMatchObject({ status: 'failed', model: CLI_MODEL, provider: null })
    expect(e.error).toContain(`Model "${CLI_MODEL}" is not served`)
    const list = await t.req('GET', `/api/v1/executions?agentId=${ag.id}`, { token: a.token })
    expect(list.body.map((x: any) => [x.id, x.status])).toEqual([[e.id, 'failed']])
    const logs = (await t.req('GET', `/api/v1/executions/${e.id}/logs`, { token: a.token })).body.logs
    expect(logs.map((l: any) => l.event)).toEqual(['failed'])
    // The server's log and metrics count it as every failed run (it was neither logged nor counted).
    const line = t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'execution_failed' && l.executionId === e.id)
    expect(line).toMatchObject({ level: 'error', errorCode: 'model_not_served' })
  })

  test('async (422 at once, as sync: it answered 202 "pending" for a run already failed) and stream (422 before any stream: it was a 200 stream holding one error event) fail the same way', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl } })
    const a = await makeActor(t)
    const ag = await agent(t, a, 'claude-opus-4')
    const accepted = await exec(t, a, ag.id, { message: 'x', async: true })
    expect([accepted.status, accepted.body.code]).toEqual([422, 'model_not_served'])
    expect(await getExecution(t, a, accepted.body.details.executionId)).toMatchObject({ status: 'failed', model: 'claude-opus-4' })
    const s = await exec(t, a, ag.id, { message: 'x', stream: true })
    expect([s.status, s.headers.get('content-type'), s.body.code]).toEqual([422, 'application/json', 'model_not_served'])
    expect(s.body.message).toContain('Model "claude-opus-4" is not served')
    expect(await getExecution(t, a, s.body.details.executionId)).toMatchObject({ status: 'failed', model: 'claude-opus-4' })
  })

  test('a sub-agent whose model is not served: its execution fails, the parent gets the reason as the tool result', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl } })
    const a = await makeActor(t)
    const child = await agent(t, a, CLI_MODEL)
    const parent = await agent(t, a, 'llama3.1:8b')
    t.db.update(agents).set({ subagentIds: [child.id] }).where(eq(agents.id, parent.id)).run()
    const r = await exec(t, a, parent.id, { message: `DELEGATE ${child.id} hi` })
    expect(r.status).toBe(200)
    expect(r.body.result).toContain(`Delegated: Error: the sub-agent's execution failed: Model "${CLI_MODEL}" is not served`)
    // Not the child's id: whoever may open the parent may not be one who may open the child.
    expect(r.body.result).not.toContain('exec_')
    const tree = (await t.req('GET', `/api/v1/executions/${r.body.executionId}/tree`, { token: a.token })).body.tree
    expect(tree.children[0]).toMatchObject({ agentId: child.id, status: 'failed', model: CLI_MODEL, provider: null, delegationDepth: 1 })
  })

  test('TEAMDAY_DEFAULT_MODEL serves agents with no model, through the aliases too', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'qwen2.5:7b' } })
    const a = await makeActor(t)
    const sent = since()
    const r = await exec(t, a, (await agent(t, a, null)).id, { message: 'hi' })
    expect(r.status).toBe(200)
    expect(sent().map((q) => q.body.model)).toEqual(['qwen2.5:7b'])
    const aliased = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'small', modelAliases: [{ pattern: 'small', target: 'llama3.2:1b' }] } })
    const b = await makeActor(aliased)
    const r2 = await exec(aliased, b, (await agent(aliased, b, null)).id, { message: 'hi' })
    expect(r2.status).toBe(200)
    expect((await getExecution(aliased, b, r2.body.executionId)).model).toBe('llama3.2:1b')
  })

  // The API refuses a model of only spaces now; one stored before (or by an older build) was sent
  // to the provider as the model's name, and one with spaces around it with them.
  test('an agent whose stored model is only spaces runs on TEAMDAY_DEFAULT_MODEL; spaces around a stored name are not sent', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'qwen2.5:7b' } })
    const a = await makeActor(t)
    const sent = since()
    const blank = await exec(t, a, (await agent(t, a, ' \t ')).id, { message: 'hi' })
    const padded = await exec(t, a, (await agent(t, a, ' llama3.2:1b ')).id, { message: 'hi' })
    expect([blank.status, padded.status]).toEqual([200, 200])
    expect(sent().map((q) => q.body.model)).toEqual(['qwen2.5:7b', 'llama3.2:1b'])
    expect((await getExecution(t, a, blank.body.executionId)).model).toBe('qwen2.5:7b')
  })

  test('TEAMDAY_PROVIDER=openai sends claude-* there too (a gateway that serves Claude ids)', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, provider: 'openai' } })
    const a = await makeActor(t)
    const sent = since()
    const r = await exec(t, a, (await agent(t, a, CLI_MODEL)).id, { message: 'hi' })
    expect(r.status).toBe(200)
    expect(sent().map((q) => [q.path, q.body.model])).toEqual([['/v1/chat/completions', CLI_MODEL]])
  })
})

describe('both providers, and Anthropic only', () => {
  test('claude-* goes to Anthropic, everything else to the OpenAI-compatible server', async () => {
    const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, anthropicApiKey: 'sk-ant-test', anthropicBaseUrl: double.anthropicBaseUrl } })
    const a = await makeActor(t)
    const sent = since()
    expect((await exec(t, a, (await agent(t, a, CLI_MODEL)).id, { message: 'a' })).status).toBe(200)
    expect((await exec(t, a, (await agent(t, a, 'llama3.1:8b')).id, { message: 'b' })).status).toBe(200)
    expect(sent().map((q) => [q.path, q.body.model])).toEqual([
      ['/v1/messages', CLI_MODEL],
      ['/v1/chat/completions', 'llama3.1:8b'],
    ])
  })

  test('with Anthropic only, a non-claude model is not served: the message says which providers there are', async () => {
    const t = await makeTestApp({ config: { anthropicApiKey: 'sk-ant-test', anthropicBaseUrl: double.anthropicBaseUrl } })
    const a = await makeActor(t)
    const r = await exec(t, a, (await agent(t, a, 'gpt-4o')).id, { message: 'x' })
    expect(r.status).toBe(422)
    expect(r.body.message).toContain('Model "gpt-4o" is not served by this server: models other than claude-* go to the OpenAI-compatible provider, which is not configured (OPENAI_BASE_URL)')
    expect(r.body.message).toContain('Providers configured: anthropic')
    // and the default model of an agent with none is a Claude model there
    expect((await exec(t, a, (await agent(t, a, null)).id, { message: 'y' })).status).toBe(200)
  })

  test('TEAMDAY_PROVIDER forcing a provider that is not configured: every execution fails saying so', async () => {
    const t = await makeTestApp({ config: { anthropicApiKey: 'sk-ant-test', anthropicBaseUrl: double.anthropicBaseUrl, provider: 'openai' } })
    const a = await makeActor(t)
    const r = await exec(t, a, (await agent(t, a, 'claude-test')).id, { message: 'x' })
    expect(r.status).toBe(422)
    expect(r.body.message).toContain('TEAMDAY_PROVIDER=openai sends every model to openai, which is not configured')
  })
})

describe('injected providers', () => {
  test("a provider set's own refusal is recorded the same way (the engine does not depend on the config's rules)", async () => {
    let asked: unknown
    const providers: ModelProviders = {
      select(model) {
        asked = model
        throw modelNotServed(model ?? 'none', 'mapped-id', 'openai', ['anthropic'], false)
      },
    }
    const t = await makeTestApp({ providers })
    const a = await makeActor(t)
    const r = await exec(t, a, (await agent(t, a, 'some-model')).id, { message: 'x' })
    expect(asked).toBe('some-model')
    expect(r.status).toBe(422)
    expect(r.body.message).toContain('Model "mapped-id" (TEAMDAY_MODEL_ALIASES maps "some-model" to it) is not served')
    expect(await getExecution(t, a, r.body.details.executionId)).toMatchObject({ status: 'failed', model: 'mapped-id', provider: null })
  })

  test('no provider configured at all is still 501 before anything is recorded', async () => {
    const t = await makeTestApp()
    const a = await makeActor(t)
    const r = await exec(t, a, (await agent(t, a, CLI_MODEL)).id, { message: 'x' })
    expect(r.status).toBe(501)
    expect(r.body.code).toBe('no_model_provider')
    expect((await t.req('GET', '/api/v1/executions', { token: a.token })).body).toEqual([])
  })
})

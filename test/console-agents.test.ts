import { afterAll, describe, expect, test } from 'bun:test'
import { makeTestApp, type Actor, type Res, type TestApp } from './helpers/app'
import { consoleClient, signedInPerson, type ConsoleClient } from './helpers/console'
import { startProviderDouble } from './helpers/providers'
import { until } from './helpers/scripted-provider'
import { recordAudit } from '../src/audit/log'

/**
 * Agents in the web console: the list (GET /api/v1/agents's service and visibility rule) and an
 * agent's chat page, the `chatUrl` POST /api/v1/agents answers: the person's own chats with it
 * (the chats service), a chat's messages oldest first, a running turn that refreshes, and the
 * form that sends a message through POST /api/v1/agents/{id}/execute's service (its permission,
 * its validation, its errors). Turns run on the provider double (test/helpers/providers.ts). On
 * SQLite, and on PostgreSQL with TEAMDAY_TEST_DATABASE=postgres.
 */
const double = startProviderDouble()
const t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
afterAll(async () => {
  await t.rt.close()
  double.stop()
})

const person = (role: 'admin' | 'member' | 'viewer', org: string, app: TestApp = t): Promise<{ a: Actor; c: ConsoleClient }> => signedInPerson(app, { role, org })

/** An agent made through the API; its `chatUrl` is the console's chat page. */
async function agent(owner: Actor, name: string, visibility: 'private' | 'organization' | 'public' | 'unlisted' = 'private', app: TestApp = t, extra: object = {}): Promise<string> {
  const r = await app.req('POST', '/api/v1/agents', { token: owner.token, body: { name, visibility, ...extra } })
  expect(r.status).toBe(201)
  expect(r.body.chatUrl).toBe(`/agents/${r.body.id}/chat`)
  return r.body.id as string
}

const names = (html: string) => [...html.matchAll(/<a href="\/agents\/(char_[A-Za-z0-9]+)\/chat">([^<]*)<\/a>/g)].map((m) => m[2]).sort()
const hasForm = (html: string) => /<form method="post" action="\/agents\/[^"?]+\/chat(?:\?chat=[^"]+)?" class="chat-form">/.test(html)
/** The messages of a chat page, in order: [who, text]. */
const messagesOf = (html: string) =>
  [...html.matchAll(/<li class="(user|assistant)"><bdi class="who">([^<]*)<\/bdi><time[^>]*>[^<]*<\/time><div class="text">([\s\S]*?)<\/div><\/li>/g)].map((m) => [m[1], m[3]])
/** The chat a 303 after a sent message leads to. */
const chatOf = (r: Res) => new URL(r.headers.get('location')!, 'http://localhost').searchParams.get('chat')!
const executionsOf = async (a: Actor, agentId: string) => (await t.req('GET', `/api/v1/executions?agentId=${agentId}&limit=200`, { token: a.token })).body as any[]
const ended = async (a: Actor, chatId: string) => (await t.req('GET', `/api/v1/chats/${chatId}`, { token: a.token })).body.chat.status !== 'working'

describe('Agents list', () => {
  test('the header entry; the agents one may see (own, organization, public and unlisted ones; admins all), as GET /api/v1/agents lists them; none archived, none of another organization', async () => {
    const owner = await person('member', 'list-org')
    const other = await person('member', 'list-org')
    const admin = await person('admin', 'list-org')
    const viewer = await person('viewer', 'list-org')
    const stranger = await person('admin', 'list-elsewhere')
    await agent(owner.a, 'Mine private')
    await agent(owner.a, 'Shared one', 'organization')
    await agent(owner.a, 'Open one', 'public')
    await agent(owner.a, 'Quiet one', 'unlisted')
    const archived = await agent(owner.a, 'Old one', 'organization')
    expect((await t.req('DELETE', `/api/v1/agents/${archived}`, { token: owner.a.token })).status).toBe(200)
    await agent(stranger.a, 'Elsewhere', 'public')

    const page = await other.c.get('/agents')
    expect(page.status).toBe(200)
    expect(page.headers.get('cache-control')).toBe('no-store')
    expect(page.text).toContain('<a href="/agents" aria-current="page">Agents</a>')
    expect(page.text).toContain('<h1>Agents</h1>')
    expect(names(page.text)).toEqual(['Open one', 'Quiet one', 'Shared one'])
    expect(names((await owner.c.get('/agents')).text)).toEqual(['Mine private', 'Open one', 'Quiet one', 'Shared one'])
    expect(names((await admin.c.get('/agents')).text)).toEqual(['Mine private', 'Open one', 'Quiet one', 'Shared one'])
    expect(names((await viewer.c.get('/agents')).text)).toEqual(['Open one', 'Quiet one', 'Shared one'])
    expect(names((await stranger.c.get('/agents')).text)).toEqual(['Elsewhere'])
    // The same agents as GET /api/v1/agents gives each person.
    for (const p of [owner, other, admin, viewer, stranger]) {
      const api = await t.req('GET', '/api/v1/agents', { token: p.a.token })
      expect(names((await p.c.get('/agents')).text)).toEqual(api.body.agents.map((x: { name: string }) => x.name).sort())
    }
    // The entry sits beside Spaces in every page's header.
    expect((await other.c.get('/spaces')).text).toContain('<li><a href="/agents">Agents</a></li><li><a href="/spaces" aria-current="page">Spaces</a></li>')
    // Every entry links to its chat page, the chatUrl of the API.
    const link = /<a href="(\/agents\/char_[A-Za-z0-9]+\/chat)">Shared one<\/a>/.exec(page.text)![1]!
    const chat = await other.c.get(link)
    expect(chat.status).toBe(200)
    expect(chat.text).toContain('<h1>Shared one</h1>')
    // A bad cursor is the service's error, not a 5xx.
    const bad = await other.c.get('/agents?cursor=nonsense')
    expect(bad.status).toBe(400)
    expect(bad.text).toContain('Invalid cursor')
  })

  test('pages of 100 in the API\'s order, total and cursors (either list\'s cursor pages the other); agents with full system prompts and lists are listed all the same', async () => {
    const owner = await person('member', 'paged-agents')
    const full = (k: number) => Array.from({ length: 100 }, (_, i) => `${k}-${i}-${'x'.repeat(150)}`)
    const made: string[] = []
    for (let i = 0; i < 103; i++) {
      // Three with everything at its maximum: a system prompt of 100,000 characters and seven full lists.
      const big = i < 3 ? { systemPrompt: 'p'.repeat(100_000), description: `Big ${i}`, tags: full(1), advanced_tools: full(2), allowedTools: full(3), disallowedTools: full(4), mcpTypes: full(5), mcpInstanceIds: full(6) } : {}
      made.push(await agent(owner.a, `Paged ${String(i).padStart(3, '0')}`, 'private', t, big))
    }
    const order = (html: string) => [...html.matchAll(/<a href="\/agents\/(char_[A-Za-z0-9]+)\/chat">/g)].map((m) => m[1])
    const more = (html: string) => /<a href="\/agents\?cursor=([^"]+)">More agents<\/a>/.exec(html)?.[1]
    const first = await owner.c.get('/agents')
    expect(first.status).toBe(200)
    const api = await t.req('GET', '/api/v1/agents?limit=100', { token: owner.a.token })
    expect(order(first.text)).toEqual(api.body.agents.map((x: { id: string }) => x.id))
    const cursor = decodeURIComponent(more(first.text)!)
    expect(cursor).toBe(api.body.nextCursor)
    const second = await owner.c.get(`/agents?cursor=${encodeURIComponent(cursor)}`)
    // The API's second page from the console's cursor: the same agents, the total of the first page.
    const apiSecond = await t.req('GET', `/api/v1/agents?limit=100&cursor=${encodeURIComponent(cursor)}`, { token: owner.a.token })
    expect(order(second.text)).toEqual(apiSecond.body.agents.map((x: { id: string }) => x.id))
    expect(more(second.text)).toBeUndefined()
    expect([...order(first.text), ...order(second.text)].sort()).toEqual([...made].sort())
    for (const i of [0, 1, 2]) expect(first.text + second.text).toContain(`<td>Big ${i}</td>`)
    expect([apiSecond.body.total, api.body.total]).toEqual([103, 103])
  }, 60_000)

  test('signed out: the sign-in page, coming back afterwards; nothing started', async () => {
    const anon = consoleClient(t)
    const r = await anon.get('/agents/char_x/chat?chat=chat_y')
    expect([r.status, r.headers.get('location')]).toEqual([303, `/login?next=${encodeURIComponent('/agents/char_x/chat?chat=chat_y')}`])
    expect((await anon.get('/agents')).headers.get('location')).toBe(`/login?next=${encodeURIComponent('/agents')}`)
    const p = await anon.post('/agents/char_x/chat', { message: 'hello' })
    expect(p.status).toBe(303)
    expect(p.headers.get('location')).toStartWith('/login')
  })
})

describe("an agent's chat page decides visibility and permission as the API does", () => {
  test('per role and agent: the page status is GET /api/v1/agents/{id}\'s; the form shows where POST …/execute would pass the role and the agent; another organization\'s agent and unknown ids are 404', async () => {
    const org = 'perm-org'
    const admin = await person('admin', org)
    const owner = await person('member', org)
    const other = await person('member', org)
    const viewer = await person('viewer', org)
    const foreign = await person('admin', 'perm-elsewhere')
    const ids = {
      private: await agent(owner.a, 'Private bot'),
      organization: await agent(owner.a, 'Team bot', 'organization'),
      public: await agent(owner.a, 'Open bot', 'public'),
      foreign: await agent(foreign.a, 'Foreign bot', 'organization'),
      unknown: 'char_nosuchagent00000000',
      slug: 'no-such-agent',
    }
    for (const [who, p] of Object.entries({ admin, owner, other, viewer })) {
      for (const [kind, id] of Object.entries(ids)) {
        const api = await t.req('GET', `/api/v1/agents/${id}`, { token: p.a.token })
        const res = await p.c.get(`/agents/${id}/chat`)
        expect({ who, kind, status: res.status }).toEqual({ who, kind, status: api.status })
        if (res.status === 404) {
          expect(res.text).toContain('<h1>Not found</h1>')
          expect(res.text).not.toContain('bot</h1>')
          expect(res.text).toContain('<a href="/agents">Back to the agents</a>')
        } else {
          expect(res.text).toContain(`<h1>${api.body.agent.name}</h1>`)
          // The form where the API would run it: an empty body is refused by validation (422) only once the role passes.
          const wouldRun = (await t.req('POST', `/api/v1/agents/${id}/execute`, { token: p.a.token, body: {} })).status
          expect({ who, kind, form: hasForm(res.text) }).toEqual({ who, kind, form: wouldRun === 422 })
        }
      }
    }
    // Spelled out: a viewer reads, but may not run (the API's rule: agents:execute).
    const v = await viewer.c.get(`/agents/${ids.organization}/chat`)
    expect(hasForm(v.text)).toBe(false)
    expect(v.text).toContain('Your role does not allow running agents')
    expect(v.text).toContain('<code>agents:execute</code>')
    expect((await admin.c.get(`/agents/${ids.foreign}/chat`)).status).toBe(404)
    expect((await other.c.get(`/agents/${ids.private}/chat`)).status).toBe(404)
    // By slug too, as every agent URL of the API.
    const slug = (await t.req('GET', `/api/v1/agents/${ids.organization}`, { token: owner.a.token })).body.agent.slug as string
    expect((await other.c.get(`/agents/${slug}/chat`)).text).toContain('<h1>Team bot</h1>')
    // An archived agent: its page shows (the API's GET does), without a form.
    await t.req('DELETE', `/api/v1/agents/${ids.public}`, { token: owner.a.token })
    const arch = await owner.c.get(`/agents/${ids.public}/chat`)
    expect(arch.status).toBe(200)
    expect(hasForm(arch.text)).toBe(false)
    expect(arch.text).toContain('This agent is archived')
  })

  test('a POST refused by role, visibility or archive: the API\'s status and message, nothing started', async () => {
    const org = 'refuse-org'
    const owner = await person('member', org)
    const other = await person('member', org)
    const viewer = await person('viewer', org)
    const foreign = await person('admin', 'refuse-elsewhere')
    const shared = await agent(owner.a, 'Shared bot', 'organization')
    const hidden = await agent(owner.a, 'Hidden bot')
    const theirs = await agent(foreign.a, 'Their bot', 'organization')
    const gone = await agent(owner.a, 'Gone bot', 'organization')
    await t.req('DELETE', `/api/v1/agents/${gone}`, { token: owner.a.token })
    // A viewer: the role's refusal, as the API words it, before the agent is looked up.
    const r = await viewer.c.post(`/agents/${shared}/chat`, { message: 'run it' })
    expect(r.status).toBe(403)
    expect(r.text).toContain('Forbidden: your role (viewer) does not allow agents:execute')
    expect(r.text).toContain('<h1>Shared bot</h1>')
    expect(hasForm(r.text)).toBe(false)
    const api = await t.req('POST', `/api/v1/agents/${shared}/execute`, { token: viewer.a.token, body: { message: 'run it' } })
    expect(r.text).toContain(Bun.escapeHTML(api.body.message))
    const rHidden = await viewer.c.post(`/agents/${hidden}/chat`, { message: 'run it' })
    expect(rHidden.status).toBe(403)
    expect(rHidden.text).not.toContain('Hidden bot')
    // A member on another member's private agent, another organization's, an archived one: 404 as the API answers.
    for (const [id, p] of [[hidden, other], [theirs, owner], [gone, owner]] as const) {
      const res = await p.c.post(`/agents/${id}/chat`, { message: 'run it' })
      const apiRes = await t.req('POST', `/api/v1/agents/${id}/execute`, { token: p.a.token, body: { message: 'run it', async: true } })
      expect([res.status, apiRes.status]).toEqual([404, 404])
    }
    const goneRes = await owner.c.post(`/agents/${gone}/chat`, { message: 'run it' })
    expect(goneRes.text).toContain('<h1>Gone bot</h1>')
    // The API's "not found (or archived, or not visible to you)" as the page words every not-found (src/console/i18n.ts NOT_FOUND).
    expect(goneRes.text).toContain(`Agent ${gone} not found (or archived), or you may not see it.`)
    expect((await other.c.post(`/agents/${hidden}/chat`, { message: 'run it' })).text).not.toContain('Hidden bot')
    for (const id of [shared, hidden, gone]) expect(await executionsOf(owner.a, id)).toEqual([])
  })
})

describe('chats on the page', () => {
  test('a completed turn started by the API: the chat is listed and shows its messages, oldest first; continued by the API it grows; chats are private', async () => {
    const { a, c } = await person('member', 'chat-org')
    const { a: colleague, c: cc } = await person('admin', 'chat-org')
    const id = await agent(a, 'Helper', 'organization', t, { description: 'Answers questions <fast>' })
    const first = await t.req('POST', `/api/v1/agents/${id}/execute`, { token: a.token, body: { message: 'hello <b>there</b>' } })
    expect(first.status).toBe(200)
    const chatId = first.body.chatId as string
    // (The test clock stands still: turns a second apart keep their order.)
    t.clock.advance(1000)
    const second = await t.req('POST', `/api/v1/agents/${id}/execute`, { token: a.token, body: { message: 'and again', chatId } })
    expect(second.status).toBe(200)

    const bare = await c.get(`/agents/${id}/chat`)
    expect(bare.status).toBe(200)
    expect(bare.text).toContain('<p>Answers questions &lt;fast&gt;</p>')
    expect(bare.text).toContain('Write a message to start a new chat')
    expect(bare.text).toContain('>Start chat</button>')
    expect(bare.text).not.toContain('name="chatId"')
    // Listed, linking to the chat.
    const link = `/agents/${id}/chat?chat=${chatId}`
    expect(bare.text).toContain(`<a href="${link.replace('&', '&amp;')}">hello &lt;b&gt;there&lt;/b&gt;</a>`)
    expect(bare.text).toMatch(/<td class="status-done">answered<\/td><td>4<\/td>/)

    const open = await c.get(link)
    expect(open.status).toBe(200)
    expect(open.text).toContain('<h2 id="conversation-title">hello &lt;b&gt;there&lt;/b&gt;</h2>')
    expect(messagesOf(open.text)).toEqual([
      ['user', 'hello &lt;b&gt;there&lt;/b&gt;'],
      ['assistant', 'Echo: hello &lt;b&gt;there&lt;/b&gt; (user turns: 1)'],
      ['user', 'and again'],
      ['assistant', 'Echo: and again (user turns: 2)'],
    ])
    expect(open.text).toContain('<bdi class="who">You</bdi>')
    expect(open.text).toContain('<bdi class="who">Helper</bdi>')
    expect(open.text).toContain(`<input type="hidden" name="chatId" value="${chatId}"/>`)
    expect(open.text).toContain('>Send</button>')
    expect(open.text).toContain('aria-current="page">hello')
    // Nothing runs: no refresh.
    expect(open.text).not.toContain('data-refresh')
    expect(open.text).not.toContain('http-equiv="refresh"')
    // The same messages as GET /api/v1/chats/{id}.
    const api = await t.req('GET', `/api/v1/chats/${chatId}`, { token: a.token })
    expect(messagesOf(open.text).map((m) => m[0])).toEqual(api.body.messages.map((m: { role: string }) => m.role))

    // Chats are private: an admin of the organization sees the agent, not the chat.
    expect((await cc.get(`/agents/${id}/chat`)).text).toContain('No chats with this agent yet.')
    const theirs = await cc.get(link)
    expect(theirs.status).toBe(404)
    expect(theirs.text).not.toContain('there')
    expect((await t.req('GET', `/api/v1/chats/${chatId}`, { token: colleague.token })).status).toBe(404)
    // Unknown chat ids, a chat of another agent, and ids no chat can have: 404.
    const elsewhere = await agent(a, 'Other helper', 'organization')
    for (const bad of ['chat_nosuchchat000000', encodeURIComponent('x'.repeat(300)), encodeURIComponent('<script>'), '-x', 'chat_%C3%BC']) {
      const r = await c.get(`/agents/${id}/chat?chat=${bad}`)
      expect({ bad, status: r.status }).toEqual({ bad, status: 404 })
    }
    const wrongAgent = await c.get(`/agents/${elsewhere}/chat?chat=${chatId}`)
    expect(wrongAgent.status).toBe(404)
    expect(wrongAgent.text).toContain(`Chat ${chatId} not found, or it is not yours.`)
  })

  test('POST sends a message: a turn through the execute service (303 to the chat), its answer on the page; a second message continues the chat; CSRF refused; empty messages refused with nothing started', async () => {
    const { a, c } = await person('member', 'send-org')
    const id = await agent(a, 'Echo bot', 'private')
    const sent = await c.post(`/agents/${id}/chat`, { message: 'hello console' })
    expect(sent.status).toBe(303)
    expect(sent.headers.get('cache-control')).toBe('no-store')
    const chatId = chatOf(sent)
    expect(sent.headers.get('location')).toBe(`/agents/${id}/chat?chat=${encodeURIComponent(chatId)}`)
    await until(() => ended(a, chatId))
    const page = await c.get(sent.headers.get('location')!)
    expect(messagesOf(page.text)).toEqual([
      ['user', 'hello console'],
      ['assistant', 'Echo: hello console (user turns: 1)'],
    ])
    // Started for this person, on this agent, by the console.
    const [run] = await executionsOf(a, id)
    expect(run).toMatchObject({ agentId: id, userId: a.userId, chatId, status: 'completed', message: 'hello console' })
    // Continue the chat: the chatId of the form. (The test clock stands still: turns a second apart keep their order.)
    t.clock.advance(1000)
    const again = await c.post(`/agents/${id}/chat`, { message: 'once more', chatId })
    expect([again.status, chatOf(again)]).toEqual([303, chatId])
    await until(() => ended(a, chatId))
    expect(messagesOf((await c.get(`/agents/${id}/chat?chat=${chatId}`)).text).map((m) => m[1])).toEqual([
      'hello console',
      'Echo: hello console (user turns: 1)',
      'once more',
      'Echo: once more (user turns: 2)',
    ])
    // By slug, the redirect names the agent's id.
    const slug = (await t.req('GET', `/api/v1/agents/${id}`, { token: a.token })).body.agent.slug as string
    const bySlug = await c.post(`/agents/${slug}/chat`, { message: 'slugged' })
    expect(bySlug.headers.get('location')).toStartWith(`/agents/${id}/chat?chat=chat_`)
    await until(() => ended(a, chatOf(bySlug)))
    expect((await executionsOf(a, id)).length).toBe(3)

    // Cross-site forms are refused (CSRF): nothing started.
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }]) {
      const r = await c.post(`/agents/${id}/chat`, { message: 'evil' }, headers)
      expect(r.status).toBe(403)
      expect(r.text).toContain('Cross-origin request refused')
    }
    const raw = await t.req('POST', `/agents/${id}/chat`, {
      headers: { cookie: c.cookie!, origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      raw: new URLSearchParams({ message: 'evil' }).toString(),
      ip: '127.0.0.1',
    })
    expect(raw.status).toBe(403)
    expect((await executionsOf(a, id)).length).toBe(3)

    // Empty (or blank) messages and bad chat ids: the validation error in the form, nothing started.
    const forms: Record<string, string>[] = [{ message: '' }, { message: '   \n ' }, {}, { message: 'x', chatId: '-bad' }, { message: 'x', chatId: 'a b' }, { message: 'x'.repeat(200_001) }]
    for (const form of forms) {
      const r = await c.post(`/agents/${id}/chat`, form)
      expect({ form: Object.keys(form), status: r.status }).toEqual({ form: Object.keys(form), status: 422 })
      expect(r.text).toContain('role="alert"')
      expect(r.text).toContain('Validation failed: ')
      expect(hasForm(r.text)).toBe(true)
    }
    expect((await c.post(`/agents/${id}/chat`, { message: '' })).text).toContain('Validation failed: &quot;Message&quot; must be a non-empty string of at most 200000 characters (it is required)')
    expect((await c.post(`/agents/${id}/chat`, { message: 'x', chatId: '-bad' })).text).toContain('Validation failed: chatId must be')
    // A refused message in an open chat keeps the chat open and the text typed.
    const kept = await c.post(`/agents/${id}/chat`, { message: ' ', chatId })
    expect(kept.text).toContain(`<input type="hidden" name="chatId" value="${chatId}"/>`)
    expect(messagesOf(kept.text).length).toBe(4)
    // Its chat id sent twice with different values: refused, and the page is the chat its address
    // names again, not "New chat".
    const twice = await c.post(`/agents/${id}/chat?chat=${chatId}`, { message: 'x', chatId: [chatId, 'chat_other'] })
    expect(twice.status).toBe(422)
    expect(twice.text).toContain('role="alert"')
    expect(twice.text).toContain(`<input type="hidden" name="chatId" value="${chatId}"/>`)
    expect(twice.text).toContain(`action="/agents/${id}/chat?chat=${chatId}"`)
    expect(twice.text).toContain('<title>hello console - Chat with')
    expect(messagesOf(twice.text).length).toBe(4)
    expect((await executionsOf(a, id)).length).toBe(3)
  })

  test('a running turn shows as running and the page refreshes itself; a cancelled and a failed turn show as the chats service reports them', async () => {
    const { a, c } = await person('member', 'run-org')
    const id = await agent(a, 'Slow bot', 'organization')
    const sent = await c.post(`/agents/${id}/chat`, { message: 'HANG please' })
    expect(sent.status).toBe(303)
    const chatId = chatOf(sent)
    await until(async () => (await executionsOf(a, id))[0]?.status === 'running')
    const running = await c.get(sent.headers.get('location')!)
    expect(running.text).toMatch(/<p class="notice" data-refresh="2" data-version="[^"]+">The agent is working on it\./)
    expect(running.text).toMatch(/<script src="\/console\/assets\/chat\.js\?v=[0-9a-z]+" defer><\/script>/)
    expect(running.text).toContain('<noscript><meta http-equiv="refresh" content="3"/></noscript>')
    expect(running.text).toMatch(/<td class="status-working">running<\/td>/)
    expect(messagesOf(running.text)).toEqual([['user', 'HANG please']])
    // The script is served like the console's other assets.
    const js = await c.get('/console/assets/chat.js')
    expect([js.status, js.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8'])
    expect(js.text).toContain('data-refresh')
    // Cancelled (through the API): the chat says so, as the chats service writes it; no refresh.
    const [run] = await executionsOf(a, id)
    expect((await t.req('POST', `/api/v1/executions/${run.id}/cancel`, { token: a.token })).status).toBe(200)
    await until(() => ended(a, chatId))
    const cancelled = await c.get(`/agents/${id}/chat?chat=${chatId}`)
    const api = (await t.req('GET', `/api/v1/chats/${chatId}`, { token: a.token })).body
    expect(messagesOf(cancelled.text)).toEqual(api.messages.map((m: { role: string; content: string }) => [m.role, Bun.escapeHTML(m.content)]))
    expect(messagesOf(cancelled.text)[1]![1]).toStartWith('[Cancelled: ')
    expect(cancelled.text).not.toContain('data-refresh')
    expect(cancelled.text).toMatch(/<td class="status-standby">cancelled<\/td>/)
    // A failed turn: the provider's error as the chats service reports it.
    t.clock.advance(1000)
    const failed = await c.post(`/agents/${id}/chat`, { message: 'FAIL now' })
    await until(() => ended(a, chatOf(failed)))
    const fp = await c.get(failed.headers.get('location')!)
    expect(messagesOf(fp.text)[1]![1]).toStartWith('[Failed: ')
    expect(fp.text).toMatch(/<td class="status-error">failed<\/td>/)
  })

  test('no model provider configured: the 501\'s message on the page, nothing started', async () => {
    const bare = await makeTestApp()
    try {
      const { a, c } = await person('member', 'bare-org', bare)
      const id = await agent(a, 'Idle bot', 'private', bare)
      const r = await c.post(`/agents/${id}/chat`, { message: 'anyone there?' })
      const api = await bare.req('POST', `/api/v1/agents/${id}/execute`, { token: a.token, body: { message: 'anyone there?' } })
      expect([r.status, api.status, api.body.code]).toEqual([501, 501, 'no_model_provider'])
      expect(r.text).toContain(Bun.escapeHTML(api.body.message))
      expect(r.text).toContain('role="alert"')
      expect(r.text).toContain('anyone there?</textarea>')
      // Nothing wrong with the message: described by the error, not marked invalid.
      const box = /<textarea name="message"[^>]*>/.exec(r.text)![0]
      expect(box).toContain('aria-describedby="chat-error"')
      expect(box).not.toContain('aria-invalid')
      expect((await bare.req('GET', `/api/v1/executions?agentId=${id}`, { token: a.token })).body).toEqual([])
    } finally {
      await bare.rt.close()
    }
  })

  test('hostile input on the agent routes: never a 5xx, a stack trace or unescaped markup', async () => {
    const { a, c } = await person('admin', 'hostile-org')
    const id = await agent(a, 'Target', 'organization')
    const VALUES = ['', '%00', '\u00ff\u0000', '..%2F..', '<script>alert(1)</script>', 'é€😀', '[]']
    const problems: string[] = []
    const check = (where: string, r: Res) => {
      if (r.status >= 500) problems.push(`${where} -> ${r.status}`)
      if (/\bat [^\n]*\.(ts|js|tsx):\d+/.test(r.text)) problems.push(`${where}: a stack trace`)
      if (r.text.replace(/="[^"]*"/g, '=""').includes('<script>alert(1)</script>')) problems.push(`${where}: unescaped`)
    }
    for (const seg of [id, 'nope', 'x'.repeat(3000), '%E0%A4%A', '%F0%9F%98%80', '..%2F..', 'char_' + 'A'.repeat(20)]) {
      check(`GET ${seg.slice(0, 20)}`, await c.get(`/agents/${seg}/chat`))
      for (const q of ['chat', 'cursor']) for (const v of VALUES) check(`GET ${seg.slice(0, 20)} ${q}=${v.slice(0, 10)}`, await c.get(`/agents/${seg}/chat?${q}=${encodeURIComponent(v)}`))
      for (const v of VALUES) check(`POST ${seg.slice(0, 20)} chatId=${v.slice(0, 10)}`, await c.post(`/agents/${seg}/chat`, { message: '', chatId: v }))
    }
    for (const v of VALUES) check(`GET /agents?cursor=${v.slice(0, 10)}`, await c.get(`/agents?cursor=${encodeURIComponent(v)}`))
    check('repeated fields', await c.post(`/agents/${id}/chat`, { message: ['', ''], chatId: ['a', 'b'] }))
    expect(problems).toEqual([])
    // A message sent to the agent is shown as text.
    const sent = await c.post(`/agents/${id}/chat`, { message: '<script>alert(1)</script>' })
    await until(() => ended(a, chatOf(sent)))
    check('the message shown', await c.get(sent.headers.get('location')!))
    expect(problems).toEqual([])
  }, 120_000)
})

describe('the live refresh asks cheaply (X-Chat-Version)', () => {
  const versionOf = (html: string) => /data-version="([^"]+)"/.exec(html)?.[1]
  test('while the chat is at the version the page shows: 204 without a body; once it changed, the whole page; a chat gone, hidden or not this agent\'s: 404; signed out: to sign-in', async () => {
    const { a, c } = await person('member', 'poll-org')
    const id = await agent(a, 'Poll bot', 'organization')
    // A chat with a large answer (about 2 MB on the page), then a turn that keeps running.
    const big = await c.post(`/agents/${id}/chat`, { message: 'x'.repeat(90_000) + ' <big>' })
    const chatId = chatOf(big)
    await until(() => ended(a, chatId))
    t.clock.advance(1000)
    const sent = await c.post(`/agents/${id}/chat`, { message: 'HANG on', chatId })
    expect(chatOf(sent)).toBe(chatId)
    await until(async () => (await executionsOf(a, id)).some((x) => x.status === 'running'))
    const href = `/agents/${id}/chat?chat=${chatId}`
    const full = await c.get(href)
    expect(full.status).toBe(200)
    expect(full.text.length).toBeGreaterThan(180_000)
    const version = versionOf(full.text)!
    expect(version).toBeDefined()

    const same = await c.get(href, { 'x-chat-version': version })
    expect([same.status, same.text]).toEqual([204, ''])
    expect(same.headers.get('cache-control')).toBe('no-store')
    expect(same.headers.get('x-frame-options')).toBe('DENY')
    // Another version (an older page): the whole page.
    const other = await c.get(href, { 'x-chat-version': 'stale' })
    expect(other.status).toBe(200)
    expect(versionOf(other.text)).toBe(version)
    // Only for this agent's chat, this person's, while they may see the agent.
    const elsewhere = await agent(a, 'Other bot', 'organization')
    expect((await c.get(`/agents/${elsewhere}/chat?chat=${chatId}`, { 'x-chat-version': version })).status).toBe(404)
    const { c: colleague } = await person('admin', 'poll-org')
    expect((await colleague.get(href, { 'x-chat-version': version })).status).toBe(404)
    expect((await c.get(`/agents/${id}/chat?chat=chat_nosuchchat000000`, { 'x-chat-version': version })).status).toBe(404)
    const anon = consoleClient(t)
    expect((await anon.get(href, { 'x-chat-version': version })).status).toBe(303)

    // The turn ends: the version changes, the whole page comes, without the refresh.
    const [run] = (await executionsOf(a, id)).filter((x) => x.status === 'running')
    expect((await t.req('POST', `/api/v1/executions/${run.id}/cancel`, { token: a.token })).status).toBe(200)
    await until(() => ended(a, chatId))
    const after = await c.get(href, { 'x-chat-version': version })
    expect(after.status).toBe(200)
    expect(after.text).not.toContain('data-refresh')
    expect(messagesOf(after.text).length).toBe(4)
  })
})

describe('the chat form and its page for assistive technology', () => {
  test('the message box has focus on a chat and after a refused message; the error is its description; a status region outside the refreshed part', async () => {
    const { a, c } = await person('member', 'a11y-org')
    const id = await agent(a, 'Focus bot', 'organization')
    const textarea = (html: string) => /<textarea name="message"[^>]*>/.exec(html)![0]
    // A new chat: nothing to answer yet, no focus taken.
    expect(textarea((await c.get(`/agents/${id}/chat`)).text)).not.toContain('autofocus')
    const sent = await c.post(`/agents/${id}/chat`, { message: 'hello' })
    const page = await c.get(sent.headers.get('location')!)
    // The page shown after a send: the focus on the message box.
    expect(textarea(page.text)).toContain(' autofocus')
    expect(textarea(page.text)).not.toContain('aria-invalid')
    // The status region: outside #conversation (the part the script swaps), polite, with its texts.
    const region = /<p id="chat-status" class="live" role="status" aria-live="polite"([^>]*)><\/p>/.exec(page.text)
    expect(region).not.toBeNull()
    expect(page.text.indexOf('id="chat-status"')).toBeGreaterThan(page.text.indexOf('</section>', page.text.indexOf('id="conversation"')))
    for (const k of ['answered', 'ended', 'sign-in', 'retrying', 'gone', 'failed']) expect(region![1]).toContain(`data-text-${k}="`)
    expect(region![1]).toContain('data-text-answered="The answer has arrived."')
    // A refused message: the error is the box's description, the box invalid and focused.
    const refused = await c.post(`/agents/${id}/chat`, { message: ' ', chatId: chatOf(sent) })
    expect(refused.status).toBe(422)
    expect(refused.text).toContain('<p class="error" role="alert" id="chat-error">Validation failed: ')
    expect(textarea(refused.text)).toContain('autofocus')
    expect(textarea(refused.text)).toContain('aria-invalid="true"')
    expect(textarea(refused.text)).toContain('aria-describedby="chat-error"')
    const refusedNew = await c.post(`/agents/${id}/chat`, { message: '' })
    expect(textarea(refusedNew.text)).toContain('aria-describedby="chat-error"')
  })
})

/**
 * Where text a person chose (a name, an e-mail, a browser's name) carrying a bidi override sits in
 * a page: inside <bdi>, between U+2068 and U+2069, in a form field's value, or alone in a block of
 * its own (a table cell, a heading, an option), maybe inside one link or code element there. Anywhere
 * else it would turn the text after it around (the message header's time, a sentence).
 */
function unisolated(html: string, mark: string): string[] {
  const BLOCKS = new Set(['td', 'th', 'h1', 'h2', 'h3', 'h4', 'p', 'dd', 'dt', 'li', 'option', 'textarea', 'div', 'pre'])
  const bad: string[] = []
  for (let i = html.indexOf(mark); i >= 0; i = html.indexOf(mark, i + 1)) {
    const before = html.slice(0, i)
    const where = JSON.stringify(html.slice(Math.max(0, i - 100), i + 40))
    if (before.lastIndexOf('\u2068') > before.lastIndexOf('\u2069')) continue
    const open = before.lastIndexOf('<')
    const close = before.lastIndexOf('>')
    if (open > close) {
      if (!/\svalue="[^"]*$/.test(before.slice(open))) bad.push(where)
      continue
    }
    if ((before.match(/<bdi\b/g)?.length ?? 0) > (before.match(/<\/bdi>/g)?.length ?? 0)) continue
    // Peel the elements the text is all of (a link, code) until a block or something else.
    let start = close + 1
    let end = html.indexOf('<', i)
    let alone = false
    for (;;) {
      const openTag = /<([a-z0-9]+)\b[^>]*>$/.exec(html.slice(0, start))
      const name = openTag?.[1]
      if (!name || !html.startsWith(`</${name}>`, end)) break
      if (BLOCKS.has(name)) {
        alone = true
        break
      }
      if (name !== 'a' && name !== 'code' && name !== 'span' && name !== 'strong') break
      start -= openTag[0].length
      end += name.length + 3
    }
    if (!alone) bad.push(where)
  }
  return bad
}

describe('bidi overrides in names stay in their names', () => {
  test('agent, chat and space names with U+202E (others refuse it), a token name in Hebrew: isolated wherever they sit next to other text, on every page that shows them', async () => {
    const RLO = '\u202E'
    const { a, c } = await person('admin', 'bidi-org')
    // (A person's name and a browser's cannot carry one: the profile refuses it, HTTP headers are Latin-1.)
    expect((await c.post('/settings/profile', { name: `Ada ${RLO}Lovelace`, email: a.email })).status).toBe(422)
    const id = await agent(a, `Support ${RLO}tob`, 'organization', t, { description: `Helps ${RLO}fast` })
    const sent = await c.post(`/agents/${id}/chat`, { message: `question ${RLO}one` })
    await until(() => ended(a, chatOf(sent)))
    const space = (await t.req('POST', '/api/v1/spaces', { token: a.token, body: { name: `Room ${RLO}one`, visibility: 'organization' } })).body.space.id as string
    // Token names refuse bidi controls; a right-to-left word is isolated the same way.
    expect((await c.post('/settings/tokens', { name: `CI ${RLO}pipeline`, expires: '30' })).status).toBe(422)
    const HEBREW = 'שלום'
    expect((await c.post('/settings/tokens', { name: `CI ${HEBREW} pipeline`, expires: '30' })).status).toBe(201)
    // No service writes a name into an event's details today; one that did would show it escaped.
    await recordAudit(t.ctx, { type: 'member.role_changed', organizationId: a.organizationId, details: { note: `Support ${RLO}tob` } })
    const pages: Record<string, string> = {
      agents: (await c.get('/agents')).text,
      chat: (await c.get(sent.headers.get('location')!)).text,
      newChat: (await c.get(`/agents/${id}/chat`)).text,
      spaces: (await c.get('/spaces')).text,
      space: (await c.get(`/spaces/${space}`)).text,
      profile: (await c.get('/settings/profile')).text,
      audit: (await c.get('/org/audit')).text,
    }
    // The probe's case: the message header, the agent's name then the time.
    expect(pages.chat).toContain(`<bdi class="who">Support ${RLO}tob</bdi><time`)
    expect(pages.chat).toContain(`<title>\u2068question ${RLO}one\u2069 - Chat with \u2068Support ${RLO}tob\u2069 - teamday</title>`)
    expect(pages.newChat).toContain(`<title>New chat with \u2068Support ${RLO}tob\u2069 - teamday</title>`)
    expect(pages.spaces).toContain(`<bdi><a href="/spaces/${space}">Room ${RLO}one</a></bdi>`)
    expect(pages.profile).toContain(`aria-label="Revoke token \u2068CI ${HEBREW} pipeline\u2069"`)
    expect({ unisolated: unisolated(pages.profile, HEBREW) }).toEqual({ unisolated: [] })
    expect(pages.audit).toContain('{&quot;note&quot;:&quot;Support \\u202etob&quot;}')
    for (const [name, html] of Object.entries(pages)) {
      if (name === 'profile') continue
      expect({ name, unisolated: unisolated(html, RLO) }).toEqual({ name, unisolated: [] })
    }
    // A name without such characters is written as it is.
    expect((await c.get('/settings/profile')).text).toContain('aria-label="Revoke token token ')
  })
})

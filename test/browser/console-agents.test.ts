import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { existsSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'
import { createApp } from '../../src/app'
import { loadConfig } from '../../src/config'
import { operatorContext } from '../../src/context'
import { SecretBox } from '../../src/crypto/secretbox'
import { createLogger } from '../../src/logger'
import { createToken } from '../../src/modules/tokens/service'
import { setPassword } from '../../src/modules/users/passwords'
import { createUser } from '../../src/modules/users/service'
import { createRuntime, type Runtime } from '../../src/runtime'
import { startProviderDouble, type ProviderDouble } from '../helpers/providers'

/**
 * An agent's chat page in Debian's Chromium, the `chatUrl` of POST /api/v1/agents: sign in →
 * Agents → the agent → send a message → the turn runs (the page says so and reads itself again,
 * the text being typed kept) → the answer appears → a second message continues the chat; in
 * English and in German (Agenten). Turns run on the provider double (test/helpers/providers.ts).
 * Without Chromium outside CI: one skipped test.
 */
setDefaultTimeout(90_000)
const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync']
const PASSWORD = 'correct horse battery staple'

if (!existsSync(CHROMIUM) && process.env.CI !== 'true') {
  test.skip(`browser suite: no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)`, () => {})
} else {
  let rt: Runtime
  let app: ReturnType<typeof createApp>
  let double: ProviderDouble
  let base: string
  let browser: Browser
  const agentIds: Record<string, string> = {}
  const problems: string[] = []

  beforeAll(async () => {
    double = startProviderDouble()
    const config = loadConfig({}, { dbPath: ':memory:', host: '127.0.0.1', port: 0, openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' })
    rt = await createRuntime(config, { log: createLogger('silent'), box: new SecretBox(crypto.getRandomValues(new Uint8Array(32))) })
    app = createApp(rt)
    app.listen({ hostname: '127.0.0.1', port: 0, development: false })
    base = `http://127.0.0.1:${app.server!.port}`
    const ctx = operatorContext(rt)
    const u = await createUser(ctx, { email: 'ada@example.com', orgSlug: 'bots', role: 'member' })
    await setPassword(ctx, u.user.id, PASSWORD)
    const token = (await createToken(ctx, { userId: u.user.id, organizationId: u.organization.id }, { name: 'setup' })).token
    for (const [name, description] of [['Helper', 'Answers questions'], ['Helfer', 'Beantwortet Fragen']]) {
      const r = await fetch(`${base}/api/v1/agents`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name, description, visibility: 'organization' }) })
      const body = (await r.json()) as { id: string; chatUrl: string }
      expect(body.chatUrl).toBe(`/agents/${body.id}/chat`)
      agentIds[name!] = body.id
    }
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true })
  })

  afterAll(async () => {
    await browser?.close()
    await app?.stop()
    await rt?.close()
    double?.stop()
  })

  async function newPage(locale: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1000, height: 720 }, timezoneId: 'Europe/Berlin', locale })
    const page = await context.newPage()
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${page.url()}: ${m.text()}`)
    })
    page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`))
    return page
  }

  const texts = {
    en: { email: 'E-mail', password: 'Password', signIn: 'Sign in', nav: 'Console', agents: 'Agents', agent: 'Helper', message: 'Message', start: 'Start chat', send: 'Send', running: 'The agent is working on it.', you: 'You', hello: 'hello there' },
    de: { email: 'E-Mail', password: 'Passwort', signIn: 'Anmelden', nav: 'Konsole', agents: 'Agenten', agent: 'Helfer', message: 'Nachricht', start: 'Chat beginnen', send: 'Senden', running: 'Der Agent arbeitet daran.', you: 'Sie', hello: 'Guten Tag' },
  } as const

  for (const lang of ['en', 'de'] as const) {
    const x = texts[lang]
    describe(`an agent's chat in Chromium (${lang})`, () => {
      test(`${x.agents} → ${x.agent} → send a message → the answer appears; a second message continues the chat`, async () => {
        const page = await newPage(lang === 'de' ? 'de-DE' : 'en-GB')
        const id = agentIds[x.agent]!
        await page.goto(`${base}/login`)
        await page.getByLabel(x.email).fill('ada@example.com')
        await page.getByLabel(x.password).fill(PASSWORD)
        await page.getByRole('button', { name: x.signIn }).click()
        await page.waitForURL(`${base}/settings/profile`)
        // Agents → the agent's chat page (the API's chatUrl).
        await page.getByRole('navigation', { name: x.nav }).getByRole('link', { name: x.agents, exact: true }).click()
        await page.waitForURL(`${base}/agents`)
        expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe(x.agents)
        await page.getByRole('link', { name: x.agent, exact: true }).click()
        await page.waitForURL(`${base}/agents/${id}/chat`)
        expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe(x.agent)
        // A message that takes a moment: the page says the agent works on it, then the answer appears by itself.
        const first = `PAUSE 2500 ${x.hello}`
        await page.getByRole('textbox', { name: x.message, exact: true }).fill(first)
        await page.getByRole('button', { name: x.start }).click()
        await page.waitForURL(new RegExp(`/agents/${id}/chat\\?chat=chat_`))
        const chatId = new URL(page.url()).searchParams.get('chat')!
        const messages = page.getByRole('list', { name: lang === 'de' ? 'Nachrichten' : 'Messages' })
        await page.getByRole('status').getByText(x.running).waitFor()
        // Typed while it runs: kept when the page reads itself again.
        await page.getByRole('textbox', { name: x.message, exact: true }).fill('half a thought')
        await messages.getByText(`Echo: ${first} (user turns: 1)`).waitFor({ timeout: 30_000 })
        expect(page.url()).toBe(`${base}/agents/${id}/chat?chat=${chatId}`)
        expect(await page.getByRole('status').count()).toBe(0)
        expect(await page.getByRole('textbox', { name: x.message, exact: true }).inputValue()).toBe('half a thought')
        expect(await messages.getByRole('listitem').count()).toBe(2)
        expect(await messages.getByRole('listitem').first().innerText()).toContain(x.you)
        // A second message: the same chat.
        await page.getByRole('textbox', { name: x.message, exact: true }).fill('and once more')
        await page.getByRole('button', { name: x.send }).click()
        await messages.getByText('Echo: and once more (user turns: 2)').waitFor({ timeout: 30_000 })
        expect(new URL(page.url()).searchParams.get('chat')).toBe(chatId)
        expect(await messages.getByRole('listitem').count()).toBe(4)
        // The chat is listed, current.
        const listed = page.locator('#chats').getByRole('link', { name: first })
        expect(await listed.getAttribute('aria-current')).toBe('page')
        await page.context().close()
        expect(problems).toEqual([])
      })
    })
  }
}

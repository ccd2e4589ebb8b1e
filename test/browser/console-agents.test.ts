import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { operatorContext } from '../../src/context'
import { createToken } from '../../src/modules/tokens/service'
import { setPassword } from '../../src/modules/users/passwords'
import { createUser } from '../../src/modules/users/service'
import type { Runtime } from '../../src/runtime'
import { browserSuitesRun, launchChromium, listeningApp, NO_CHROMIUM, submitSignIn, watchedPage } from '../helpers/browser'
import { PASSWORD } from '../helpers/console'
import { startProviderDouble, type ProviderDouble } from '../helpers/providers'

/**
 * An agent's chat page in Debian's Chromium, the `chatUrl` of POST /api/v1/agents: sign in →
 * Agents → the agent → send a message → the turn runs (the page says so and reads itself again,
 * the text being typed kept) → the answer appears → a second message continues the chat; in
 * English and in German (Agenten). Turns run on the provider double (test/helpers/providers.ts).
 * Without Chromium outside CI: one skipped test.
 */
setDefaultTimeout(90_000)

if (!browserSuitesRun) {
  test.skip(NO_CHROMIUM, () => {})
} else {
  let rt: Runtime
  let stop: (() => Promise<void>) | undefined
  let double: ProviderDouble
  let base: string
  let browser: Browser
  const agentIds: Record<string, string> = {}
  const problems: string[] = []
  let token: string

  beforeAll(async () => {
    double = startProviderDouble()
    ;({ rt, base, stop } = await listeningApp({ openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' }))
    const ctx = operatorContext(rt)
    const u = await createUser(ctx, { email: 'ada@example.com', orgSlug: 'bots', role: 'member' })
    await setPassword(ctx, u.user.id, PASSWORD)
    token = (await createToken(ctx, { userId: u.user.id, organizationId: u.organization.id }, { name: 'setup' })).token
    for (const [name, description] of [['Helper', 'Answers questions'], ['Helfer', 'Beantwortet Fragen'], ['Poller', 'Runs long'], ['Support \u202Etob', 'A bidi override in its name']]) {
      const r = await fetch(`${base}/api/v1/agents`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name, description, visibility: 'organization' }) })
      const body = (await r.json()) as { id: string; chatUrl: string }
      expect(body.chatUrl).toBe(`/agents/${body.id}/chat`)
      agentIds[name!] = body.id
    }
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await stop?.()
    double?.stop()
  })

  const newPage = (locale: string): Promise<Page> => watchedPage(browser, problems, { locale })

  const texts = {
    en: { nav: 'Console', agents: 'Agents', agent: 'Helper', message: 'Message', start: 'Start chat', send: 'Send', running: 'The agent is working on it.', you: 'You', hello: 'hello there', answered: 'The answer has arrived.' },
    de: { nav: 'Konsole', agents: 'Agenten', agent: 'Helfer', message: 'Nachricht', start: 'Chat beginnen', send: 'Senden', running: 'Der Agent arbeitet daran.', you: 'Sie', hello: 'Guten Tag', answered: 'Die Antwort ist da.' },
  } as const

  for (const lang of ['en', 'de'] as const) {
    const x = texts[lang]
    describe(`an agent's chat in Chromium (${lang})`, () => {
      test(`${x.agents} → ${x.agent} → send a message → the answer appears; a second message continues the chat`, async () => {
        const page = await newPage(lang === 'de' ? 'de-DE' : 'en-GB')
        const id = agentIds[x.agent]!
        await page.goto(`${base}/login`)
        await submitSignIn(page, 'ada@example.com', PASSWORD, lang)
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
        await page.locator('#conversation .notice').getByText(x.running).waitFor()
        // The page shown after the send has the focus on the message box.
        expect(await page.evaluate("document.activeElement && document.activeElement.getAttribute('name')")).toBe('message')
        // Typed while it runs: kept when the page reads itself again.
        await page.getByRole('textbox', { name: x.message, exact: true }).fill('half a thought')
        await messages.getByText(`Echo: ${first} (user turns: 1)`).waitFor({ timeout: 30_000 })
        expect(page.url()).toBe(`${base}/agents/${id}/chat?chat=${chatId}`)
        // The running notice is gone; the status region (outside the swapped part) says the answer arrived.
        expect(await page.locator('#conversation .notice').count()).toBe(0)
        await page.getByRole('status').getByText(x.answered, { exact: true }).waitFor()
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

  /** Signed in, on agent `name`'s chat page with a turn of `message` running (the page at ?chat=). */
  async function runningChat(name: string, message: string, locale = 'en-GB'): Promise<{ page: Page; chatId: string }> {
    const page = await newPage(locale)
    await page.goto(`${base}/login`)
    await submitSignIn(page, 'ada@example.com', PASSWORD, locale.startsWith('de') ? 'de' : 'en')
    await page.waitForURL(`${base}/settings/profile`)
    await page.goto(`${base}/agents/${agentIds[name]}/chat`)
    await page.getByRole('textbox', { name: locale.startsWith('de') ? 'Nachricht' : 'Message', exact: true }).fill(message)
    await page.locator('form.chat-form button[type=submit]').click()
    await page.waitForURL(/\?chat=chat_/)
    await page.locator('#conversation [data-refresh]').waitFor()
    return { page, chatId: new URL(page.url()).searchParams.get('chat')! }
  }

  /** Cancels the user's running turns through the API (the provider double's HANG never answers). */
  async function cancelRunning(): Promise<void> {
    const r = await fetch(`${base}/api/v1/executions?status=running`, { headers: { authorization: `Bearer ${token}` } })
    for (const x of (await r.json()) as { id: string }[]) {
      await fetch(`${base}/api/v1/executions/${x.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    }
  }

  /** The page's polls (requests carrying X-Chat-Version) with the time and status of their answers. */
  function polls(page: Page): { at: number; status: number | 'failed' }[] {
    const seen: { at: number; status: number | 'failed' }[] = []
    page.on('requestfinished', async (req) => {
      if (req.headers()['x-chat-version'] === undefined) return
      seen.push({ at: Date.now(), status: (await req.response())?.status() ?? 'failed' })
    })
    page.on('requestfailed', (req) => {
      if (req.headers()['x-chat-version'] !== undefined) seen.push({ at: Date.now(), status: 'failed' })
    })
    return seen
  }

  describe('the live refresh of a chat in Chromium', () => {
    test('while nothing changes the poll gets 204s and the conversation stays as it is; when the turn ends it is swapped in and announced', async () => {
      const { page } = await runningChat('Poller', 'HANG until cancelled')
      const seen = polls(page)
      await page.evaluate("window.conversationAtStart = document.getElementById('conversation'), true")
      await page.waitForTimeout(5000)
      expect(seen.length).toBeGreaterThanOrEqual(2)
      expect(seen.every((p) => p.status === 204)).toBe(true)
      expect(await page.evaluate("window.conversationAtStart === document.getElementById('conversation')")).toBe(true)
      await cancelRunning()
      await page.getByRole('status').getByText('The answer has arrived.', { exact: true }).waitFor({ timeout: 15_000 })
      expect(await page.evaluate("window.conversationAtStart === document.getElementById('conversation')")).toBe(false)
      expect(await page.locator('#conversation [data-refresh]').count()).toBe(0)
      expect(await page.locator('#conversation li.assistant').innerText()).toContain('[Cancelled: ')
      await page.context().close()
      expect(problems).toEqual([])
    })

    test('the session ends while a turn runs: the page says so in its language, links to sign in again, and stops asking', async () => {
      const { page, chatId } = await runningChat('Poller', 'HANG until signed out', 'de-DE')
      const seen = polls(page)
      await page.context().clearCookies()
      await page.getByRole('status').getByText('Ihre Sitzung wurde beendet', { exact: false }).waitFor({ timeout: 15_000 })
      const link = page.getByRole('status').getByRole('link', { name: 'Erneut anmelden' })
      expect(await link.getAttribute('href')).toBe(`/login?next=${encodeURIComponent(`/agents/${agentIds.Poller}/chat?chat=${chatId}`)}`)
      expect(await page.locator('#conversation [data-refresh]').count()).toBe(0)
      // Playwright reports a request finished after the page may have handled its answer (here the
      // poll's 303 and the sign-in page it was sent to): counted once no report came for a second.
      for (let n = -1, i = 0; n !== seen.length && i < 10; i++) {
        n = seen.length
        await page.waitForTimeout(1000)
      }
      expect(seen.some((p) => p.status === 303)).toBe(true)
      const asked = seen.length
      await page.waitForTimeout(5000)
      expect(seen.length).toBe(asked)
      await cancelRunning()
      await link.click()
      await page.waitForURL(/\/login\?next=/)
      await page.context().close()
      expect(problems).toEqual([])
    })

    test('429, 5xx and network errors: it says it retries, waits longer each time, and carries on when the server answers again', async () => {
      const { page } = await runningChat('Poller', 'HANG through the outage')
      const seen = polls(page)
      const failures: ('429' | '503' | 'abort')[] = ['429', '503', 'abort']
      await page.route(/\/agents\/[^/]+\/chat\?chat=/, async (route) => {
        if (route.request().headers()['x-chat-version'] === undefined) return route.continue()
        const next = failures.shift()
        if (next === undefined) return route.continue()
        if (next === 'abort') return route.abort('connectionreset')
        return route.fulfill({ status: Number(next), body: 'busy' })
      })
      await page.getByRole('status').getByText('The server cannot be reached right now', { exact: false }).waitFor({ timeout: 15_000 })
      // Still running: the notice stays while it retries.
      expect(await page.locator('#conversation [data-refresh]').count()).toBe(1)
      // Back to normal: the retry notice cleared (a 204 came).
      for (let i = 0; i < 300 && (await page.locator('#chat-status').textContent()) !== ''; i++) await page.waitForTimeout(100)
      expect(await page.locator('#chat-status').textContent()).toBe('')
      for (let i = 0; i < 50 && seen.length < 4; i++) await page.waitForTimeout(100)
      expect(seen.slice(0, 4).map((p) => p.status)).toEqual([429, 503, 'failed', 204])
      // Backed off: 2, 4 then 8 seconds between the tries (give or take the answers' time).
      const gaps = seen.slice(0, 4).map((p, i, a) => (i === 0 ? 0 : p.at - a[i - 1]!.at)).slice(1)
      expect(gaps[0]!).toBeGreaterThan(1500)
      expect(gaps[1]!).toBeGreaterThan(3500)
      expect(gaps[2]!).toBeGreaterThan(7000)
      await cancelRunning()
      await page.getByRole('status').getByText('The answer has arrived.', { exact: true }).waitFor({ timeout: 15_000 })
      await page.context().close()
      expect(problems).toEqual([])
    }, 90_000)

    test('the chat is gone (404): the page says so and stops asking', async () => {
      const { page } = await runningChat('Poller', 'HANG until gone')
      const seen = polls(page)
      await page.route(/\/agents\/[^/]+\/chat\?chat=/, (route) =>
        route.request().headers()['x-chat-version'] === undefined ? route.continue() : route.fulfill({ status: 404, contentType: 'text/html', body: '<!doctype html><p>Not found</p>' }),
      )
      await page.getByRole('status').getByText('This chat is no longer there', { exact: false }).waitFor({ timeout: 15_000 })
      expect(await page.locator('#conversation [data-refresh]').count()).toBe(0)
      // The 404 is recorded when Playwright reports its request finished, which may come after
      // the page has handled the answer: counted from there.
      for (let i = 0; i < 50 && !seen.some((p) => p.status === 404); i++) await page.waitForTimeout(100)
      expect(seen.at(-1)?.status).toBe(404)
      const asked = seen.length
      await page.waitForTimeout(5000)
      expect(seen.length).toBe(asked)
      await cancelRunning()
      await page.context().close()
      expect(problems).toEqual([])
    })
  })

  describe('names and refused forms in Chromium', () => {
    test("an agent named with a bidi override: the message header's time still reads left to right", async () => {
      const page = await newPage('en-GB')
      await page.goto(`${base}/login`)
      await submitSignIn(page, 'ada@example.com')
      await page.waitForURL(`${base}/settings/profile`)
      await page.goto(`${base}/agents/${agentIds['Support \u202Etob']}/chat`)
      await page.getByRole('textbox', { name: 'Message', exact: true }).fill('hello')
      await page.getByRole('button', { name: 'Start chat' }).click()
      await page.locator('#conversation li.assistant').waitFor({ timeout: 30_000 })
      // Where the first and the last character of the answer's time are drawn.
      const order = (await page.evaluate(`(() => {
        const text = document.querySelector('#conversation li.assistant time').firstChild
        const at = (i) => {
          const r = document.createRange()
          r.setStart(text, i)
          r.setEnd(text, i + 1)
          return r.getBoundingClientRect().left
        }
        return { first: at(0), last: at(text.length - 1), text: text.data }
      })()`)) as { first: number; last: number; text: string }
      expect(order.first).toBeLessThan(order.last)
      await page.context().close()
      expect(problems).toEqual([])
    })

    test('a message the server refuses before the page runs: a console page that says so, and Back to the form returns with the text', async () => {
      const page = await newPage('de-DE')
      await page.goto(`${base}/login`)
      await submitSignIn(page, 'ada@example.com', PASSWORD, 'de')
      await page.waitForURL(`${base}/settings/profile`)
      await page.goto(`${base}/agents/${agentIds.Helfer}/chat`)
      const text = 'vorher\u0000nachher: ein langer Text'
      const box = page.getByRole('textbox', { name: 'Nachricht', exact: true })
      await box.fill(text)
      const typed = await box.inputValue()
      await page.getByRole('button', { name: 'Chat beginnen' }).click()
      await page.getByRole('heading', { level: 1, name: 'Ungültige Eingabe' }).waitFor()
      expect(await page.locator('html').getAttribute('lang')).toBe('de')
      expect(await page.getByText('Ihr Formular wurde nicht gesendet', { exact: false }).count()).toBe(1)
      await page.getByRole('link', { name: 'Zurück zum Formular' }).click()
      await page.waitForURL(`${base}/agents/${agentIds.Helfer}/chat`)
      expect(await page.getByRole('textbox', { name: 'Nachricht', exact: true }).inputValue()).toBe(typed)
      await page.context().close()
      expect(problems).toEqual([])
    })
  })
}

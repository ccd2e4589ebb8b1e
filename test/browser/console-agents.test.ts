import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser, Locator, Page } from 'playwright-core'
import { operatorContext } from '../../src/context'
import { createToken } from '../../src/modules/tokens/service'
import type { Runtime } from '../../src/runtime'
import { browserSuitesRun, browserAndApp, NO_CHROMIUM, signIn, userWithPassword, watchedPage } from '../helpers/browser'
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
    ;({ rt, base, stop, browser } = await browserAndApp({ openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' }))
    const u = await userWithPassword(rt, { email: 'ada@example.com', orgSlug: 'bots', role: 'member' })
    token = (await createToken(operatorContext(rt), { userId: u.user.id, organizationId: u.organization.id }, { name: 'setup' })).token
    for (const [name, description] of [['Helper', 'Answers questions'], ['Helfer', 'Beantwortet Fragen'], ['Poller', 'Runs long'], ['Support \u202Etob', 'A bidi override in its name']]) {
      const r = await fetch(`${base}/api/v1/agents`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name, description, visibility: 'organization' }) })
      const body = (await r.json()) as { id: string; chatUrl: string }
      expect(body.chatUrl).toBe(`/agents/${body.id}/chat`)
      agentIds[name!] = body.id
    }
  })

  afterAll(async () => {
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
        const page = await clockedPage(lang === 'de' ? 'de-DE' : 'en-GB')
        const id = agentIds[x.agent]!
        await signIn(page, base, 'ada@example.com', { lang })
        // Agents → the agent's chat page (the API's chatUrl).
        await page.getByRole('navigation', { name: x.nav }).getByRole('link', { name: x.agents, exact: true }).click()
        await page.waitForURL(`${base}/agents`)
        expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe(x.agents)
        await page.getByRole('link', { name: x.agent, exact: true }).click()
        await page.waitForURL(`${base}/agents/${id}/chat`)
        expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe(x.agent)
        await pauseClock(page)
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
        await advanceUntil(page, messages.getByText(`Echo: ${first} (user turns: 1)`))
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
        await advanceUntil(page, messages.getByText('Echo: and once more (user turns: 2)'))
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

  /**
   * Records, in the page, each poll the chat script sends (a fetch carrying X-Chat-Version): the
   * page's time when sent, and what came back (the status, `→ /path` for an answer that
   * redirected, 'failed' for a network error); `__pending` counts those not answered yet.
   */
  const POLL_RECORDER = `(() => {
    const original = window.fetch
    window.__polls = []
    window.__pending = 0
    window.fetch = function (input, init) {
      if (!init || !init.headers || init.headers['x-chat-version'] === undefined) return original.apply(this, arguments)
      const poll = { at: Date.now(), status: null }
      window.__polls.push(poll)
      window.__pending++
      const answer = original.apply(this, arguments)
      answer.then(
        (r) => { poll.status = r.redirected ? '→ ' + new URL(r.url).pathname : r.status; window.__pending-- },
        () => { poll.status = 'failed'; window.__pending-- },
      )
      return answer
    }
  })()`

  type Poll = { at: number; status: number | string | null }
  const pollsOf = (page: Page) => page.evaluate('window.__polls') as Promise<Poll[]>

  /** One step of the page's clock: a poll's answer is handled (and the next poll timed) within the step it was sent in. */
  const STEP_MS = 250

  /**
   * Moves the page's clock on by `ms` (the chat script's timers fire as they fall due), a step at
   * a time, each step ending when every poll sent has its answer handled by the page.
   */
  async function advance(page: Page, ms: number): Promise<void> {
    for (let t = 0; t < ms; t += STEP_MS) {
      await page.clock.runFor(Math.min(STEP_MS, ms - t))
      for (let i = 0; (await page.evaluate('window.__pending')) !== 0; i++) {
        if (i > 1500) throw new Error('a poll got no answer within 15 s')
        await Bun.sleep(10)
      }
    }
  }

  /**
   * Moves the page's clock on until `shown` is there; fails after `ms` of real time (what the page
   * waits for may take real time: a turn the provider double pauses runs on the server's clock).
   */
  async function advanceUntil(page: Page, shown: Locator, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms
    while ((await shown.count()) === 0) {
      if (Date.now() > deadline) throw new Error(`not shown after ${ms} ms`)
      await advance(page, STEP_MS)
    }
  }

  /** A new page whose clock Playwright drives (running as usual until pauseClock) and whose polls are recorded (POLL_RECORDER). */
  async function clockedPage(locale: string): Promise<Page> {
    const page = await newPage(locale)
    await page.clock.install()
    await page.addInitScript(POLL_RECORDER)
    return page
  }

  /** From now on the page's clock moves only by `advance` (also in the pages it loads next). */
  const pauseClock = async (page: Page) => page.clock.pauseAt(((await page.evaluate('Date.now()')) as number) + 1000)

  /**
   * Signed in, on agent `name`'s chat page with a turn of `message` running (the page at ?chat=).
   * The page's clock stands still from before the chat page loads: its polls happen only as
   * `advance` moves the clock (no test waits the seconds the script waits between them).
   */
  async function runningChat(name: string, message: string, locale = 'en-GB'): Promise<{ page: Page; chatId: string }> {
    const page = await clockedPage(locale)
    await signIn(page, base, 'ada@example.com', { lang: locale.startsWith('de') ? 'de' : 'en' })
    await page.goto(`${base}/agents/${agentIds[name]}/chat`)
    await pauseClock(page)
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

  describe('the live refresh of a chat in Chromium', () => {
    test('while nothing changes the poll gets 204s and the conversation stays as it is; when the turn ends it is swapped in and announced', async () => {
      const { page } = await runningChat('Poller', 'HANG until cancelled')
      await page.evaluate("window.conversationAtStart = document.getElementById('conversation'), true")
      await advance(page, 5000)
      // Every 2 seconds of the page's time: 2 polls in 5 seconds, each a 204.
      expect((await pollsOf(page)).map((p) => p.status)).toEqual([204, 204])
      expect(await page.evaluate("window.conversationAtStart === document.getElementById('conversation')")).toBe(true)
      await cancelRunning()
      await advanceUntil(page, page.getByRole('status').getByText('The answer has arrived.', { exact: true }))
      expect(await page.evaluate("window.conversationAtStart === document.getElementById('conversation')")).toBe(false)
      expect(await page.locator('#conversation [data-refresh]').count()).toBe(0)
      expect(await page.locator('#conversation li.assistant').innerText()).toContain('[Cancelled: ')
      await page.context().close()
      expect(problems).toEqual([])
    })

    // A keyboard user on a link of the chat list while a turn ran: when the answer came, the list
    // was swapped for the server's new one and the focus fell to the page's body (the next Tab
    // started again at the top of the page, a screen reader lost its place).
    test('the focus on a link of the chat list stays on that link when the list is swapped in', async () => {
      const { page, chatId } = await runningChat('Poller', 'HANG while I tab')
      const link = page.locator(`#chats a[href$="chat=${chatId}"]`)
      await link.focus()
      await page.evaluate("window.listAtStart = document.getElementById('chats'), true")
      await cancelRunning()
      await advanceUntil(page, page.getByRole('status').getByText('The answer has arrived.', { exact: true }))
      expect(await page.evaluate("window.listAtStart === document.getElementById('chats')")).toBe(false)
      expect(await page.evaluate('document.activeElement.closest("#chats") ? document.activeElement.getAttribute("href") : document.activeElement.tagName')).toBe(await link.getAttribute('href'))
      await page.context().close()
      expect(problems).toEqual([])
    })

    test('the session ends while a turn runs: the page says so in its language, links to sign in again, and stops asking', async () => {
      const { page, chatId } = await runningChat('Poller', 'HANG until signed out', 'de-DE')
      // The server's answer to the poll, as Playwright reports it (the page sees where it led).
      const answers: number[] = []
      page.on('response', (r) => {
        if (r.request().headers()['x-chat-version'] !== undefined) answers.push(r.status())
      })
      await page.context().clearCookies()
      await advanceUntil(page, page.getByRole('status').getByText('Ihre Sitzung wurde beendet', { exact: false }))
      const link = page.getByRole('status').getByRole('link', { name: 'Erneut anmelden' })
      expect(await link.getAttribute('href')).toBe(`/login?next=${encodeURIComponent(`/agents/${agentIds.Poller}/chat?chat=${chatId}`)}`)
      expect(await page.locator('#conversation [data-refresh]').count()).toBe(0)
      expect((await pollsOf(page)).at(-1)?.status).toBe('→ /login')
      for (const end = Date.now() + 10_000; !answers.includes(303) && Date.now() < end; ) await Bun.sleep(50)
      expect(answers).toContain(303)
      // It stops asking: nothing more in 10 seconds of the page's time (5 polls' worth).
      const asked = (await pollsOf(page)).length
      await advance(page, 10_000)
      expect((await pollsOf(page)).length).toBe(asked)
      await cancelRunning()
      await link.click()
      await page.waitForURL(/\/login\?next=/)
      await page.context().close()
      expect(problems).toEqual([])
    })

    test('429, 5xx and network errors: it says it retries, waits longer each time, and carries on when the server answers again', async () => {
      const { page } = await runningChat('Poller', 'HANG through the outage')
      const failures: ('429' | '503' | 'abort')[] = ['429', '503', 'abort']
      await page.route(/\/agents\/[^/]+\/chat\?chat=/, async (route) => {
        if (route.request().headers()['x-chat-version'] === undefined) return route.continue()
        const next = failures.shift()
        if (next === undefined) return route.continue()
        if (next === 'abort') return route.abort('connectionreset')
        return route.fulfill({ status: Number(next), body: 'busy' })
      })
      await advanceUntil(page, page.getByRole('status').getByText('The server cannot be reached right now', { exact: false }))
      // Still running: the notice stays while it retries.
      expect(await page.locator('#conversation [data-refresh]').count()).toBe(1)
      // Back to normal: the fourth poll gets a 204 and the retry notice is cleared.
      for (let t = 0; (await pollsOf(page)).length < 4; t += STEP_MS) {
        if (t > 30_000) throw new Error(`${(await pollsOf(page)).length} polls in 30 s of the page's time`)
        await advance(page, STEP_MS)
      }
      const polls = (await pollsOf(page)).slice(0, 4)
      expect(polls.map((p) => p.status)).toEqual([429, 503, 'failed', 204])
      expect(await page.locator('#chat-status').textContent()).toBe('')
      // Backed off: 2, 4 then 8 seconds of the page's time between the tries (to a step of the clock).
      const gaps = polls.slice(1).map((p, i) => p.at - polls[i]!.at)
      for (const [i, wait] of [2000, 4000, 8000].entries()) {
        expect(gaps[i]!).toBeGreaterThanOrEqual(wait)
        expect(gaps[i]!).toBeLessThan(wait + STEP_MS)
      }
      await cancelRunning()
      await advanceUntil(page, page.getByRole('status').getByText('The answer has arrived.', { exact: true }))
      await page.context().close()
      expect(problems).toEqual([])
    })

    test('the chat is gone (404): the page says so and stops asking', async () => {
      const { page } = await runningChat('Poller', 'HANG until gone')
      await page.route(/\/agents\/[^/]+\/chat\?chat=/, (route) =>
        route.request().headers()['x-chat-version'] === undefined ? route.continue() : route.fulfill({ status: 404, contentType: 'text/html', body: '<!doctype html><p>Not found</p>' }),
      )
      await advanceUntil(page, page.getByRole('status').getByText('This chat is no longer there', { exact: false }))
      expect(await page.locator('#conversation [data-refresh]').count()).toBe(0)
      expect((await pollsOf(page)).map((p) => p.status)).toEqual([404])
      // It stops asking: nothing more in 10 seconds of the page's time (5 polls' worth).
      await advance(page, 10_000)
      expect((await pollsOf(page)).length).toBe(1)
      await cancelRunning()
      await page.context().close()
      expect(problems).toEqual([])
    })
  })

  describe('names and refused forms in Chromium', () => {
    test("an agent named with a bidi override: the message header's time still reads left to right", async () => {
      const page = await newPage('en-GB')
      await signIn(page, base, 'ada@example.com')
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
      await signIn(page, base, 'ada@example.com', { lang: 'de' })
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

// The whole CLI sign-in in a real browser (playwright-core driving Debian's Chromium): initiate
// (as the CLI does) → open authUrl → sign in → back to the approval page → Approve → the poll
// returns the tokens exactly once → the access token works on /api/v1/agents → refresh after
// expiry (injected clock) → revoke the CLI sign-in on the console's tokens page → both tokens
// 401. Then the deny and expiry paths. As test/browser/console.test.ts: without /usr/bin/chromium
// outside CI the suite is skipped (its one skipped test says so); in CI (.ci/run installs it) it runs.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Server } from 'bun'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { createApp } from '../../src/app'
import { makeActor, makeTestApp, type Actor, type TestApp } from '../helpers/app'
import { browserSuitesRun, launchChromium, NO_CHROMIUM, SHOTS, submitSignIn } from '../helpers/browser'
import { givePassword } from '../helpers/console'

if (!browserSuitesRun) test.skip(NO_CHROMIUM, () => {})
const suite = browserSuitesRun ? describe : () => {}

suite('CLI sign-in in Chromium', () => {
  let t: TestApp
  let server: Server<unknown>
  let base: string
  let browser: Browser
  let page: Page
  let alice: Actor

  beforeAll(async () => {
    t = await makeTestApp()
    t.clock.ms = Date.now()
    // The browser connects from this machine: the console's loopback rule lets it sign in over http.
    const app = createApp(t.rt, { peerAddress: () => '127.0.0.1' })
    server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (req) => app.handle(req) })
    base = `http://127.0.0.1:${server.port}`
    alice = await makeActor(t, { role: 'member' })
    await givePassword(t, alice.userId)
    browser = await launchChromium()
    page = await browser.newPage({ viewport: { width: 1000, height: 720 }, timezoneId: 'Europe/Berlin', locale: 'en-GB' })
    mkdirSync(SHOTS, { recursive: true })
    // Chromium's start (and its close below) took over 30 s on a two-core machine at load average 15+.
  }, 90_000)

  afterAll(async () => {
    await browser?.close()
    server?.stop(true)
  }, 90_000)

  /** What the CLI does: POST initiate with Content-Type: application/json and no body. */
  const initiate = async () => (await (await fetch(`${base}/api/auth/cli/initiate`, { method: 'POST', headers: { 'content-type': 'application/json', 'user-agent': 'teamday-cli/browser-test' } })).json()) as any
  const poll = async (code: string) => {
    const res = await fetch(`${base}/api/auth/cli/poll?code=${code}`)
    return { status: res.status, text: await res.text() }
  }
  const api = (path: string, token: string) => fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } })

  test('initiate → sign in → approve → tokens → refresh → revoke in the console → 401', async () => {
    const started = await initiate()
    expect((await poll(started.code)).text).toContain('"pending"')

    await page.goto(started.authUrl)
    expect(new URL(page.url()).pathname).toBe('/login')
    await submitSignIn(page, alice.email)
    await page.waitForURL(started.authUrl)
    const body = await page.textContent('main')
    expect(body).toContain(started.shortCode)
    expect(body).toContain('teamday-cli/browser-test')
    // The README's screenshot of the approval page.
    await page.screenshot({ path: join(SHOTS, 'cli-authorize.png') })
    // Approve is sent once the page has been in front for a second (the test below), and the
    // server takes it a second after it rendered the page (its clock is the test's).
    await page.locator('form[data-ready]').waitFor()
    t.clock.advance(1000)
    await page.getByRole('button', { name: 'Approve' }).click()
    await page.getByText('Return to your terminal').waitFor()

    const first = await poll(started.code)
    expect(first.status).toBe(200)
    const tokens = JSON.parse(first.text)
    expect(tokens.status).toBe('authorized')
    // A second poll would be refused and would revoke this sign-in (test/cli-login.test.ts).

    expect((await api('/api/v1/agents', tokens.accessToken)).status).toBe(200)
    t.clock.advance(15 * 60_000)
    expect((await api('/api/v1/agents', tokens.accessToken)).status).toBe(401)
    const refreshed = (await (await fetch(`${base}/api/auth/cli/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: tokens.refreshToken }) })).json()) as any
    expect((await api('/api/v1/agents', refreshed.accessToken)).status).toBe(200)

    await page.goto(`${base}/settings/profile`)
    const section = page.locator('#cli-sessions').locator('..')
    expect(await section.textContent()).toContain('teamday-cli/browser-test')
    await section.getByRole('button', { name: /Revoke the sign-in/ }).click()
    await page.getByText('CLI sign-in revoked').waitFor()
    expect((await api('/api/v1/agents', refreshed.accessToken)).status).toBe(401)
    const r = await fetch(`${base}/api/auth/cli/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken: tokens.refreshToken }) })
    expect(r.status).toBe(401)
  }, 60_000)

  test('deny: the page says so (and that TeamDay\'s CLI needs Ctrl-C); the poll is refused', async () => {
    const started = await initiate()
    await page.goto(started.authUrl)
    await page.getByRole('button', { name: 'Deny' }).click()
    await page.getByText('Ctrl-C').waitFor()
    const res = await poll(started.code)
    expect(res.status).toBe(400)
    expect(res.text).toContain('login_denied')
  }, 30_000)

  // Double-clickjacking: another site asks for a double-click and, at its first click, sends this
  // tab (or the window under its own, closing) to the approval page of a login it started, so that
  // the second click lands on Approve: its terminal got tokens for 90 days (found by driving it in
  // Chromium, the click 250 ms after the navigation). frame-ancestors cannot stop it.
  test('a click that lands on Approve as the page comes to the front (the second click of a double-click) approves nothing; a second later Approve works', async () => {
    const started = await initiate()
    const sent: string[] = []
    const onRequest = (r: { method(): string; url(): string }) => {
      if (r.method() === 'POST') sent.push(r.url())
    }
    page.on('request', onRequest)
    try {
      await page.goto(started.authUrl, { waitUntil: 'domcontentloaded' })
      const box = (await page.getByRole('button', { name: 'Approve' }).boundingBox())!
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2)
      // Held back in the browser (console.js: nothing sent), or, when the click came before the
      // deferred script had run (a loaded machine), refused by the server (the page again, the
      // server's clock not a second on): the same words either way, and nothing approved.
      await page.getByText('press Approve again').first().waitFor({ state: 'visible' })
      if (sent.length === 0) expect(await page.locator('#cli-too-soon').textContent()).toContain('press Approve again')
      expect((await poll(started.code)).text).toContain('"pending"')
      // In front for a second (and a second on the server's clock): Approve goes.
      await page.locator('form[data-ready]').waitFor()
      t.clock.advance(1000)
      await page.getByRole('button', { name: 'Approve' }).click()
      await page.getByText('Return to your terminal').waitFor()
      expect(JSON.parse((await poll(started.code)).text).status).toBe('authorized')
    } finally {
      page.off('request', onRequest)
    }
  }, 30_000)

  test('expiry: after 300 s the page says it expired and offers no buttons', async () => {
    const started = await initiate()
    t.clock.advance(301_000)
    await page.goto(started.authUrl)
    expect(await page.textContent('main')).toContain('expired')
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0)
    expect((await poll(started.code)).text).toContain('login_code_expired')
  }, 30_000)
})

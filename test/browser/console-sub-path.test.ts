import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { browserSuitesRun, launchChromium, listeningApp, NO_CHROMIUM, submitSignIn, userWithPassword, watchedPage } from '../helpers/browser'

/**
 * teamday under a sub-path (README "Hosting under a sub-path"), in Debian's Chromium: behind a
 * proxy that serves it at /teamday/ and strips the prefix (nginx `location /teamday/ {
 * proxy_pass http://127.0.0.1:PORT/; }`), here a few lines of Bun.serve that answer 404 anywhere
 * else, as such a site does. TEAMDAY_PUBLIC_URL names the prefix. Every link, form, redirect and
 * file of the console was the server's root's: the proxy's 404. Without Chromium outside CI: one
 * skipped test.
 */
setDefaultTimeout(90_000)

if (!browserSuitesRun) {
  test.skip(NO_CHROMIUM, () => {})
} else {
  let browser: Browser
  let served: Awaited<ReturnType<typeof listeningApp>>
  let proxy: ReturnType<typeof Bun.serve>
  /** Where browsers reach teamday: the proxy's /teamday. */
  let pub: string
  const problems: string[] = []
  /**
   * What the browser asked of the proxy's host and got a status of 400 or more for: a file or a
   * page it loaded by itself (a stylesheet, a script, the icon) from the root, the proxy's 404.
   * Chromium's console says only "Failed to load resource", which watchedPage passes over; and
   * its favicon requests reach no page event, so the proxy notes them (a browser's requests carry
   * Sec-Fetch-Mode, this file's own fetch calls do not).
   */
  const failedLoads: string[] = []

  beforeAll(async () => {
    let upstream = ''
    proxy = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      async fetch(request) {
        const res = await forward(request)
        if (res.status >= 400 && request.headers.has('sec-fetch-mode')) failedLoads.push(`${res.status} ${request.method} ${new URL(request.url).pathname}`)
        return res
      },
    })
    async function forward(request: Request): Promise<Response> {
      const u = new URL(request.url)
      if (u.pathname !== '/teamday' && !u.pathname.startsWith('/teamday/')) return new Response('Not Found (proxy)', { status: 404 })
      const headers = new Headers(request.headers)
      // Bun's fetch asks for compression itself, then decompresses the answer and keeps its
      // Content-Encoding: ask for none.
      headers.set('accept-encoding', 'identity')
      const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer()
      const res = await fetch(`${upstream}${u.pathname.slice('/teamday'.length) || '/'}${u.search}`, { method: request.method, headers, body, redirect: 'manual' })
      return new Response(res.body, { status: res.status, headers: res.headers })
    }
    pub = `http://127.0.0.1:${proxy.port}/teamday`
    served = await listeningApp({ publicUrl: pub })
    upstream = served.base
    await userWithPassword(served.rt, { email: 'ada@example.com', orgSlug: 'sub', role: 'admin' })
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await served?.stop()
    proxy?.stop(true)
  })

  describe('behind a proxy at /teamday/ that strips the prefix', () => {
    test('sign in, create a token, revoke it with the trash icon', async () => {
      const page = await watchedPage(browser, problems, { locale: 'en-GB' })
      page.on('response', (r) => {
        if (new URL(r.url()).origin === new URL(pub).origin && r.status() >= 400) failedLoads.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname} (page)`)
      })
      await page.goto(`${pub}/settings/profile`)
      await page.waitForURL(`${pub}/login?next=%2Fsettings%2Fprofile`)
      await submitSignIn(page, 'ada@example.com')
      await page.waitForURL(`${pub}/settings/profile`)
      // The stylesheet came through the prefix: the page is laid out by it.
      expect(await page.evaluate("getComputedStyle(document.querySelector('a.skip')).position")).not.toBe('static')

      const section = page.locator('#personal-access-tokens')
      await section.getByLabel(/^Name/).fill('behind the proxy')
      await section.getByRole('button', { name: 'Create Token' }).click()
      const token = (await page.locator('#new-token').innerText()).trim()
      expect(token).toMatch(/^td_[A-Za-z0-9]{43}$/)
      expect((await fetch(`${pub}/api/v1/tokens/self`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)

      await page.goto(`${pub}/settings/profile`)
      await page.getByRole('row', { name: /behind the proxy/ }).getByRole('button', { name: 'Revoke token behind the proxy' }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Revoke token' }).click()
      await page.getByText('Token revoked').waitFor()
      expect(page.url()).toStartWith(`${pub}/settings/profile?`)
      expect((await fetch(`${pub}/api/v1/tokens/self`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401)

      // The header's link to Swagger UI names the prefix (test/base-path.test.ts checks its page's
      // files and document; Swagger UI's rendering of the document takes seconds here).
      expect(await page.getByRole('link', { name: 'API docs' }).getAttribute('href')).toBe('/teamday/swagger')
      expect(problems).toEqual([])
      expect(failedLoads).toEqual([])
      await page.context().close()
    })
  })
}

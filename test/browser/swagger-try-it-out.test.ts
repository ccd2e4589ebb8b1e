import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { operatorContext } from '../../src/context'
import type { Runtime } from '../../src/runtime'
import { createToken } from '../../src/modules/tokens/service'
import { browserAndApp, browserSuitesRun, listeningApp, NO_CHROMIUM, userWithPassword, watchedPage } from '../helpers/browser'

/**
 * Swagger UI at /swagger as a user tries the API there, in Debian's Chromium: Authorize with a
 * pasted `td_…` token, then "Try it out" and Execute with the values the page fills in. The
 * request reaches this server and gets the documented status, the curl line the page shows
 * runs as it is, and the token is nowhere but in the page's memory (not in the address, the
 * storages or a cookie). Found by walking every operation against the compiled binary: a required
 * query parameter's example was not filled in (Execute refused), a page opened at another name of
 * the server than TEAMDAY_PUBLIC_URL sent every request cross-origin ("Failed to fetch"), dark
 * mode was white, and at 320 px an operation's responses table made the page scroll sideways.
 * Without Chromium outside CI: one skipped test.
 */
setDefaultTimeout(120_000)

type Json = any

if (!browserSuitesRun) {
  test.skip(NO_CHROMIUM, () => {})
} else {
  let stop: (() => Promise<void>) | undefined
  let base: string
  let browser: Browser
  let token: string
  let mint: (rt: Runtime) => Promise<string>
  let spec: Json
  const problems: string[] = []

  beforeAll(async () => {
    let rt
    ;({ base, stop, browser, rt } = await browserAndApp())
    mint = async (on: Runtime) => {
      const ada = await userWithPassword(on, { email: 'ada@example.com', orgSlug: 'swagger', role: 'admin' })
      return (await createToken(operatorContext(on), { userId: ada.user.id, organizationId: ada.organization.id }, { name: 'swagger' })).token
    }
    token = await mint(rt)
    spec = await (await fetch(`${base}/swagger/json`)).json()
  })

  afterAll(async () => {
    await stop?.()
  })

  /** Opens /swagger of `at` and authorizes with `tok` as a user does: Authorize, paste, Authorize, Close. */
  async function authorized(ctx: BrowserContext, at: string, tok: string): Promise<Page> {
    const page = await watchedPage(browser, problems, { ctx })
    await page.goto(`${at}/swagger`)
    await page.locator('.btn.authorize').first().click()
    await page.locator('.modal-ux input').first().fill(tok)
    await page.locator('.modal-ux button.authorize').click()
    await page.locator('.modal-ux .btn-done').click()
    return page
  }

  /** The operation's block (`opId`), opened, "Try it out" on, executed as filled in: its status, request URL and curl line. */
  async function tryItOut(page: Page, opId: string): Promise<{ block: Locator; status: string; url: string; curl: string; body: string }> {
    const [, op] = Object.values<Json>(spec.paths)
      .flatMap((ops) => Object.entries<Json>(ops))
      .find(([, o]) => o.operationId === opId)!
    const block = page.locator(`#operations-${op.tags[0].replace(/ /g, '_')}-${opId}`)
    await block.locator('.opblock-summary-control').click()
    await block.locator('.try-out__btn').click()
    await block.locator('.execute').click()
    const errors = block.locator('.validation-errors')
    const status = block.locator('.live-responses-table .response .response-col_status').first()
    await Promise.race([status.waitFor(), errors.waitFor()])
    if (await errors.count()) throw new Error(`${opId}: Execute refused: ${await errors.innerText()}`)
    return {
      block,
      status: (await status.innerText()).trim(),
      url: (await block.locator('.request-url pre').innerText()).trim(),
      curl: await block.locator('.curl-command .curl').innerText(),
      body: await block.locator('.live-responses-table .response-col_description pre').first().innerText(),
    }
  }

  describe('Swagger UI "Try it out"', () => {
    test('authorized with a pasted token: executes reach the server with the documented status; the curl line runs as shown; the token is kept nowhere', async () => {
      const ctx = await browser.newContext({ viewport: { width: 1000, height: 720 } })
      const page = await authorized(ctx, base, token)

      // A required query parameter is filled in with the document's example (it was empty: "Required field is not provided").
      const proof = await tryItOut(page, 'getApiHealthDatabaseProof')
      expect(proof.status).toBe('200')
      expect(Object.keys(JSON.parse(proof.body)).sort()).toEqual(['proof', 'salt'])

      const self = await tryItOut(page, 'getApiV1TokensSelf')
      expect([self.status, self.url]).toEqual(['200', `${base}/api/v1/tokens/self`])
      expect(JSON.parse(self.body).token.email).toBe('ada@example.com')
      // The curl line, pasted into a shell as it is: the same answer.
      expect(self.curl).toContain(`'Authorization: Bearer ${token}'`)
      // (Spawned, not spawnSync: the server answering it is in this process.)
      const curl = Bun.spawn(['sh', '-c', `${self.curl} --silent --max-time 10 --fail-with-body`], { stdout: 'pipe', stderr: 'pipe' })
      const [out, exit] = await Promise.all([new Response(curl.stdout).text(), curl.exited])
      expect([exit, JSON.parse(out).token.email]).toEqual([0, 'ada@example.com'])

      // A create with the example Swagger UI fills in.
      const created = await tryItOut(page, 'postApiV1Tokens')
      expect(created.status).toBe('201')
      expect(JSON.parse(created.body).token).toMatch(/^td_/)

      // The token is in no address, storage or cookie of the page (persistAuthorization is off).
      const kept = (await page.evaluate('[location.href, JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.cookie]')) as string[]
      for (const place of kept) expect(place).not.toContain(token)
      expect(JSON.stringify(await ctx.storageState())).not.toContain(token)
      await ctx.close()
      expect(problems).toEqual([])
    })

    test('on a page opened at another name of the server than TEAMDAY_PUBLIC_URL, requests go to the page\'s own origin (not cross-origin: CORS is off)', async () => {
      // The public URL names a host this browser is not on (the address a proxy shows, localhost
      // where the page is 127.0.0.1): `servers` lists it first and this page's origin second.
      const other = await listeningApp({ publicUrl: 'http://localhost:9' })
      try {
        const tok = await mint(other.rt)
        const doc = (await (await fetch(`${other.base}/swagger/json`)).json()) as Json
        expect(doc.servers.map((s: Json) => s.url)).toEqual(['http://localhost:9', other.base])
        const ctx = await browser.newContext({ viewport: { width: 1000, height: 720 } })
        const page = await authorized(ctx, other.base, tok)
        await expect(page.locator('.servers select').inputValue()).resolves.toBe(other.base)
        const self = await tryItOut(page, 'getApiV1TokensSelf')
        expect([self.status, self.url]).toEqual(['200', `${other.base}/api/v1/tokens/self`])
        await ctx.close()
      } finally {
        await other.stop()
      }
      expect(problems).toEqual([])
    })

    test('dark mode follows the system setting (Swagger UI\'s dark style); at 320 px an executed operation does not make the page scroll sideways', async () => {
      const ctx = await browser.newContext({ viewport: { width: 320, height: 640 }, colorScheme: 'dark' })
      // axe-core (the devDependency's script, no network), added as the debugger adds scripts.
      await ctx.addInitScript({ content: readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8') })
      const page = await authorized(ctx, base, token)
      expect(await page.evaluate("[document.documentElement.classList.contains('dark-mode'), getComputedStyle(document.documentElement).backgroundColor]")).toEqual([true, 'rgb(28, 32, 34)'])
      const self = await tryItOut(page, 'getApiV1TokensSelf')
      expect(self.status).toBe('200')
      // The responses' header tables (X-Request-Id, RateLimit-*, on every response): Swagger UI's
      // dark style leaves their cells at 1.5:1 (rgb(59,65,81) on rgb(24,37,54)); WCAG 1.4.3 asks 4.5.
      const contrast = (await page.evaluate(async () => {
        const r = await (globalThis as any).axe.run({ include: [['.opblock.is-open table.headers']] }, { runOnly: { type: 'rule', values: ['color-contrast'] }, resultTypes: ['violations'] })
        return r.violations.flatMap((v: any) => v.nodes.map((n: any) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`))
      })) as string[]
      expect(await page.locator('.opblock.is-open table.headers td').count()).toBeGreaterThan(0)
      expect(contrast).toEqual([])
      expect(await page.evaluate('[document.documentElement.scrollWidth, document.documentElement.clientWidth]')).toEqual([320, 320])
      // Switched while the page is open: it follows.
      await page.emulateMedia({ colorScheme: 'light' })
      await page.waitForFunction("!document.documentElement.classList.contains('dark-mode')", undefined, { timeout: 5000 })
      await ctx.close()
      expect(problems).toEqual([])
    })
  })
}

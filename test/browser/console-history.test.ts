import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import type { Runtime } from '../../src/runtime'
import { browserSuitesRun, CHROMIUM, FLAGS, listeningApp, NO_CHROMIUM, signIn, userWithPassword, watchedPage } from '../helpers/browser'

/**
 * The browser's history and caches after a secret or a session: Back, Forward, reload, the
 * address in a new tab, the profile's disk cache, and the back/forward cache (bfcache), which
 * Chromium keeps for `no-store` pages too. Playwright turns the bfcache off by default
 * (`--disable-back-forward-cache`); here it is on, as in the browser people use.
 */
setDefaultTimeout(90_000)

/** Every file under `dir` (the browser's profile) whose bytes hold `needle`. */
function filesHolding(dir: string, needle: string): string[] {
  const hits: string[] = []
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f)
      let s
      try {
        s = statSync(p)
      } catch {
        continue
      }
      if (s.isDirectory()) walk(p)
      else if (s.isFile() && readFileSync(p).includes(needle)) hits.push(p)
    }
  }
  walk(dir)
  return hits
}

/** History navigation that does not wait for a load event (a page restored from the bfcache fires none). */
async function back(page: Page) {
  await page.goBack({ waitUntil: 'commit', timeout: 20_000 }).catch(() => null)
  await page.waitForFunction(() => (globalThis as any).document.readyState === 'complete', undefined, { timeout: 20_000 }).catch(() => null)
}

if (!browserSuitesRun) {
  test.skip(NO_CHROMIUM, () => {})
} else {
  let rt: Runtime
  let base: string
  let stopApp: (() => Promise<void>) | undefined
  let browser: Browser
  const problems: string[] = []

  beforeAll(async () => {
    ;({ rt, base, stop: stopApp } = await listeningApp())
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true, ignoreDefaultArgs: ['--disable-back-forward-cache'] })
    await userWithPassword(rt, { email: 'ada@example.com', orgSlug: 'history', role: 'admin' })
  })

  afterAll(async () => {
    await browser?.close()
    await stopApp?.()
  })

  describe('signed out, Back shows no signed-in page (bfcache on)', () => {
    const ways: { name: string; signOut: (page: Page) => Promise<void> }[] = [
      { name: 'Sign out', signOut: (page) => page.getByRole('button', { name: 'Sign out', exact: true }).click() },
      { name: 'Sign out everywhere', signOut: (page) => page.getByRole('button', { name: 'Sign out everywhere', exact: true }).click() },
      { name: "ending this browser's session in the list", signOut: (page) => page.getByRole('button', { name: 'Sign out of this browser', exact: true }).click() },
    ]
    for (const way of ways) {
      test(way.name, async () => {
        const page = await watchedPage(browser, problems, { locale: 'en-GB' })
        await signIn(page, base, 'ada@example.com')
        // Settings → Profile, marked: Back after the sign-out returns to it (its form sent the sign-out).
        await page.evaluate(() => ((globalThis as any).keptInBfcache = true))
        await way.signOut(page)
        await page.waitForURL(`${base}/login`)
        await back(page)
        // Restored from the bfcache hidden, it asks the server and reloads: waited for (under load the
        // restored page was still there when looked at, 5.5 s into a parallel CI pass).
        await page.waitForURL((u) => u.href.startsWith(`${base}/login`), { timeout: 20_000, waitUntil: 'commit' })
        await page.waitForFunction(() => (globalThis as any).document.readyState === 'complete', undefined, { timeout: 20_000 })
        // Asked from the server again: its session is gone, so the sign-in page, nothing of Settings → Profile.
        expect(await page.evaluate(() => (globalThis as any).keptInBfcache ?? false)).toBe(false)
        expect(page.url()).toStartWith(`${base}/login`)
        expect(await page.content()).not.toContain('ada@example.com')
        await page.context().close()
        expect(problems).toEqual([])
      })
    }
  })

  test('still signed in, Back shows the page from the bfcache as it was left, what was typed kept', async () => {
    const page = await watchedPage(browser, problems, { locale: 'en-GB' })
    await signIn(page, base, 'ada@example.com')
    await page.evaluate(() => ((globalThis as any).keptInBfcache = true))
    await page.locator('#personal-access-tokens').getByLabel(/^Name/).fill('typed, not sent')
    await page.goto(`${base}/org/members`)
    await back(page)
    expect(page.url()).toBe(`${base}/settings/profile`)
    expect(await page.evaluate(() => (globalThis as any).keptInBfcache ?? false)).toBe(true)
    expect(await page.locator('#personal-access-tokens').getByLabel(/^Name/).inputValue()).toBe('typed, not sent')
    // Shown again once the server answered its address with the page.
    await page.waitForFunction(() => (globalThis as any).document.documentElement.style.visibility === '')
    expect(await page.locator('#personal-access-tokens').getByLabel(/^Name/).isVisible()).toBe(true)
    await page.context().close()
    expect(problems).toEqual([])
  })

  // A confirmed form was marked confirmed for good: back on the page from the bfcache, the same
  // trash icon posted at once, with no dialog (a second revocation, a second removal of a member).
  test('a confirm dialog once confirmed asks again on the page Back shows from the bfcache', async () => {
    const page = await watchedPage(browser, problems, { locale: 'en-GB' })
    await signIn(page, base, 'ada@example.com')
    const section = page.locator('#personal-access-tokens')
    for (const name of ['bf one', 'bf two']) {
      await section.getByLabel(/^Name/).fill(name)
      await section.getByRole('button', { name: 'Create Token' }).click()
      await page.locator('#new-token').waitFor()
      await page.goto(`${base}/settings/profile`)
    }
    await page.evaluate(() => ((globalThis as any).keptInBfcache = true))
    const trash = page.getByRole('button', { name: 'Revoke token bf one', exact: true })
    await trash.click()
    await page.locator('dialog[open]').getByRole('button', { name: 'Revoke token', exact: true }).click()
    await page.waitForURL(/\/settings\/profile/)
    await page.getByText('Token revoked', { exact: false }).first().waitFor()
    await back(page)
    expect(await page.evaluate(() => (globalThis as any).keptInBfcache ?? false)).toBe(true)
    await page.waitForFunction(() => (globalThis as any).document.documentElement.style.visibility === '')
    const posts: string[] = []
    page.on('request', (r) => {
      if (r.method() === 'POST') posts.push(r.url())
    })
    await trash.click()
    await page.locator('dialog[open]').waitFor({ timeout: 5000 })
    // Escape closes it without a choice: nothing is sent (the dialog's last choice, "confirm", is not taken again).
    await page.keyboard.press('Escape')
    await page.locator('dialog[open]').waitFor({ state: 'detached' })
    await Bun.sleep(500)
    expect(posts).toEqual([])
    expect(page.url()).toBe(`${base}/settings/profile`)
    await page.context().close()
    expect(problems).toEqual([])
  })

  test("a new token's plaintext: not in Back, Forward, a reload, a new tab, the disk cache or the bfcache", async () => {
    const profile = mkdtempSync(join(tmpdir(), 'teamday-profile-'))
    const { chromium } = await import('playwright-core')
    let ctx: BrowserContext | undefined
    try {
      ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: FLAGS, headless: true, ignoreDefaultArgs: ['--disable-back-forward-cache'], locale: 'en-GB' })
      const page = await ctx.newPage()
      await signIn(page, base, 'ada@example.com')
      const section = page.locator('#personal-access-tokens')
      await section.getByLabel(/^Name/).fill('shown once')
      await section.getByRole('button', { name: 'Create Token' }).click()
      const token = (await page.locator('#new-token').innerText()).trim()
      expect(token).toMatch(/^td_[A-Za-z0-9]{43}$/)
      // The address holds no secret.
      expect(page.url()).not.toContain(token.slice(3))
      // Done: back to the list, then Back to the page that showed it, and Forward again.
      await page.getByRole('link', { name: 'Done: back to your tokens' }).click()
      await page.waitForURL(/\/settings\/profile/)
      await back(page)
      expect(await page.content()).not.toContain(token)
      await page.goForward({ waitUntil: 'commit' }).catch(() => null)
      await back(page)
      expect(await page.content()).not.toContain(token)
      // A reload sends the form again: the first sending is named, nothing made or shown again.
      await page.reload({ waitUntil: 'commit' }).catch(() => null)
      await page.waitForFunction(() => (globalThis as any).document.readyState === 'complete').catch(() => null)
      expect(await page.content()).not.toContain(token)
      // The page's address in a new tab.
      const tab = await ctx.newPage()
      await tab.goto(`${base}/settings/tokens`)
      expect(await tab.content()).not.toContain(token)
      await ctx.close()
      ctx = undefined
      expect(filesHolding(profile, token)).toEqual([])
      expect(filesHolding(profile, token.slice(3))).toEqual([])
    } finally {
      await ctx?.close()
      rmSync(profile, { recursive: true, force: true })
    }
    expect(problems).toEqual([])
  })
}

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { messages } from '../../src/console/i18n'
import type { Runtime } from '../../src/runtime'
import { browserAndApp, browserSuitesRun, NO_CHROMIUM, signIn, submitSignIn, userWithPassword, watchedPage } from '../helpers/browser'

/**
 * Where the focus is after a token form, by keyboard only, in English and German: on the created
 * page, its "copy it now" warning (the next Tab is the Copy button); after a revocation, the
 * notice that says it was revoked. Both were on the page's body: a screen reader started at the
 * page's top and never heard either (a status present when a page loads is not announced).
 */
setDefaultTimeout(90_000)

if (!browserSuitesRun) {
  test.skip(NO_CHROMIUM, () => {})
} else {
  let rt: Runtime
  let base: string
  let browser: Browser
  let stop: (() => Promise<void>) | undefined
  const problems: string[] = []

  beforeAll(async () => {
    ;({ rt, base, browser, stop } = await browserAndApp())
    await userWithPassword(rt, { email: 'ada@example.com', orgSlug: 'focus', role: 'member' })
  })

  afterAll(async () => {
    await stop?.()
  })

  /** The focused element's text ('' for the page's body: nothing focused). */
  const focused = (page: Page) =>
    page.evaluate(() => {
      const d = (globalThis as any).document
      return (d.activeElement && d.activeElement !== d.body ? d.activeElement.textContent : '').trim() as string
    })
  /** Waits a while for `text` to be focused (the script focuses after the load). */
  const focusOn = (page: Page, text: string) =>
    page
      .waitForFunction(
        (text) => {
          const d = (globalThis as any).document
          return d.activeElement !== d.body && (d.activeElement?.textContent ?? '').includes(text)
        },
        text,
        { timeout: 10_000 },
      )
      .catch(() => null)
  const loaded = (page: Page) => page.waitForFunction(() => (globalThis as any).document.readyState === 'complete')

  for (const lang of ['en', 'de'] as const) {
    const t = messages(lang)
    describe(`focus after a token form (${lang})`, () => {
      test('create: the warning to copy it now, then Copy; revoke with the trash icon: the notice it was revoked', async () => {
        const page = await watchedPage(browser, problems, { locale: lang === 'de' ? 'de-DE' : 'en-GB' })
        await signIn(page, base, 'ada@example.com', { lang })
        const section = page.locator('#personal-access-tokens')
        await section.getByLabel(/^Name/).fill(`focus ${lang}`)
        await section.getByLabel(/^Name/).press('Enter')
        await page.locator('#new-token').waitFor()
        await loaded(page)
        await focusOn(page, t.copyNow)
        expect(await focused(page)).toContain(t.copyNow)
        await page.keyboard.press('Tab')
        expect(await focused(page)).toBe(t.copy)
        await page.getByRole('link', { name: t.backToTokens }).press('Enter')
        await page.waitForURL(/\/settings\/profile/)
        // The trash icon by keyboard, confirmed in its dialog.
        await page.getByRole('button', { name: t.revokeTokenLabel(`focus ${lang}`) }).press('Enter')
        await page.locator('dialog[open]').getByRole('button', { name: t.revokeConfirm }).press('Enter')
        await page.waitForURL(/revoked=1/)
        await loaded(page)
        await focusOn(page, t.noticeTokenRevoked)
        expect(await focused(page)).toBe(t.noticeTokenRevoked)
        await page.context().close()
        expect(problems).toEqual([])
      })

      test('a wrong password: the form again, 422 (a 401 needs a challenge no form has), the error focused and announced', async () => {
        const page = await watchedPage(browser, problems, { locale: lang === 'de' ? 'de-DE' : 'en-GB' })
        await page.goto(`${base}/login`)
        const answer = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/login'))
        await submitSignIn(page, 'ada@example.com', 'not the password at all', lang)
        const res = await answer
        expect(res.status()).toBe(422)
        expect(res.headers()['www-authenticate']).toBeUndefined()
        await loaded(page)
        await focusOn(page, t.wrongCredentials)
        expect(await focused(page)).toBe(t.wrongCredentials)
        expect(await page.locator('[role="alert"]').textContent()).toBe(t.wrongCredentials)
        await page.context().close()
        expect(problems).toEqual([])
      })
    })
  }
}

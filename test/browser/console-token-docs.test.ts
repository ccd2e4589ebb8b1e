import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import type { Runtime } from '../../src/runtime'
import { browserSuitesRun, browserAndApp, NO_CHROMIUM, signIn, userWithPassword } from '../helpers/browser'

/**
 * TeamDay's docs step by step in Chromium where the other browser suites do not go: the German
 * flow without JavaScript ("Einstellungen → API-Zugriff → Neues Token generieren", "Schritt 2:
 * Sicher speichern", the trash icon), where the trash icon posts at once and no dialog shows the
 * docs' warning; and with JavaScript, where the dialog shows it and the page does not repeat it.
 * Without Chromium outside CI: one skipped test.
 */
setDefaultTimeout(90_000)

if (!browserSuitesRun) {
  test.skip(NO_CHROMIUM, () => {})
} else {
  let rt: Runtime
  let stop: (() => Promise<void>) | undefined
  let base: string
  let browser: Browser

  beforeAll(async () => {
    ;({ rt, base, stop, browser } = await browserAndApp())
    await userWithPassword(rt, { email: 'grete@example.com', orgSlug: 'werkstatt', role: 'member' })
  })

  afterAll(async () => {
    await stop?.()
  })

  const api = async (token: string) => (await fetch(`${base}/api/v1/agents`, { headers: { authorization: `Bearer ${token}` } })).status

  describe('Personal Access Tokens as the docs say, in Chromium', () => {
    test('auf Deutsch ohne JavaScript: generieren, „Sicher speichern“ (Unix, PowerShell, .env), Organisation und Rolle; vor der Liste die Warnung, dann widerruft das Papierkorb-Symbol sofort', async () => {
      const ctx = await browser.newContext({ javaScriptEnabled: false, locale: 'de-DE', viewport: { width: 1000, height: 720 } })
      const page = await ctx.newPage()
      await signIn(page, base, 'grete@example.com', { lang: 'de' })
      await page.getByRole('link', { name: 'API-Zugriff', exact: true }).click()
      const section = page.getByRole('region', { name: 'API-Zugriff' })
      await section.getByLabel(/^Name/).fill('Ohne Skript')
      await section.getByRole('button', { name: 'Neues Token generieren' }).click()
      const token = (await page.locator('#new-token').innerText()).trim()
      expect(token).toMatch(/^td_[A-Za-z0-9]{43}$/)
      expect(await page.getByRole('heading', { name: 'Sicher speichern' }).isVisible()).toBe(true)
      expect(await page.getByText('In Umgebungsvariablen speichern:').isVisible()).toBe(true)
      expect(await page.getByRole('heading', { name: 'Windows (PowerShell)' }).isVisible()).toBe(true)
      expect(await page.getByText(`$env:TEAMDAY_TOKEN="${token}"`, { exact: true }).isVisible()).toBe(true)
      expect(await page.getByText(`TEAMDAY_TOKEN=${token}`, { exact: true }).isVisible()).toBe(true)
      expect(await page.getByText('Es gilt nur in der Organisation werkstatt, mit Ihrer Rolle dort (Mitglied)').isVisible()).toBe(true)
      await page.getByRole('link', { name: /zurück zu Ihren Tokens/ }).click()
      const row = page.getByRole('row', { name: /Ohne Skript/ })
      expect(await row.getByRole('cell', { name: 'Vollzugriff', exact: true }).count()).toBe(1)
      // No dialog without a script: the warning stands before the list, where the trash icons are
      // (in a <noscript>, whose text Playwright's getByText does not search: found by its element).
      const warning = section.locator('noscript p.notice.warning')
      expect(await warning.isVisible()).toBe(true)
      expect(await warning.innerText()).toStartWith('Das Papierkorb-Symbol neben einem Token widerruft es sofort. Wenn Sie ein Token widerrufen, funktionieren alle Skripte')
      await row.getByRole('button', { name: 'Token Ohne Skript widerrufen' }).click()
      await page.getByText('Token widerrufen: Anfragen damit werden ab sofort abgewiesen.').waitFor()
      expect(await api(token)).toBe(401)
      await ctx.close()
    })

    test('with JavaScript the dialog shows the warning before the trash icon revokes; the page does not say it twice', async () => {
      const ctx = await browser.newContext({ locale: 'en-GB', viewport: { width: 1000, height: 720 } })
      const page = await ctx.newPage()
      await signIn(page, base, 'grete@example.com')
      const section = page.getByRole('region', { name: 'Personal Access Tokens' })
      await section.getByLabel(/^Name/).fill('With script')
      await section.getByRole('button', { name: 'Create Token' }).click()
      const token = (await page.locator('#new-token').innerText()).trim()
      expect(await page.getByText('It works only in the organization werkstatt, with your role there (member)').isVisible()).toBe(true)
      await page.getByRole('link', { name: 'Done: back to your tokens' }).click()
      expect(await page.locator('noscript p.notice.warning').isVisible()).toBe(false)
      await page.getByRole('row', { name: /With script/ }).getByRole('button', { name: 'Revoke token With script' }).click()
      const dialog = page.getByRole('dialog')
      expect(await dialog.getByText('Revoking a token will break any scripts').isVisible()).toBe(true)
      await dialog.getByRole('button', { name: 'Revoke token' }).click()
      await page.getByText('Token revoked: requests with it are refused from now on.').waitFor()
      expect(await api(token)).toBe(401)
      await ctx.close()
    })
  })
}

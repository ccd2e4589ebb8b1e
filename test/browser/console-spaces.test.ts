import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { operatorContext } from '../../src/context'
import { resolveSecrets } from '../../src/modules/spaces/secrets'
import { createToken } from '../../src/modules/tokens/service'
import type { Runtime } from '../../src/runtime'
import { browserSuitesRun, browserAndApp, NO_CHROMIUM, signIn, submitSignIn, userWithPassword, watchedPage } from '../helpers/browser'
import { PASSWORD } from '../helpers/console'

/**
 * TeamDay's "Using Tokens in Virtual Environments" in Debian's Chromium: Spaces → a space →
 * Space Settings → Environment Variables → add TEAMDAY_TOKEN → listed by name (its value nowhere
 * in the page) → remove it with the confirm dialog; in English and in German (Spaces → ein Space →
 * Space-Einstellungen → Umgebungsvariablen). Without Chromium outside CI: one skipped test.
 */
setDefaultTimeout(90_000)

if (!browserSuitesRun) {
  test.skip(NO_CHROMIUM, () => {})
} else {
  let rt: Runtime
  let stop: (() => Promise<void>) | undefined
  let base: string
  let browser: Browser
  let orgId: string
  let token: string
  const spaceIds: Record<string, string> = {}
  const problems: string[] = []

  beforeAll(async () => {
    ;({ rt, base, stop, browser } = await browserAndApp())
    const ctx = operatorContext(rt)
    const u = await userWithPassword(rt, { email: 'ada@example.com', orgSlug: 'bots', role: 'member' })
    orgId = u.organization.id
    // The token the docs put in a space: made on Settings → Profile → Personal Access Tokens (here by the service).
    token = (await createToken(ctx, { userId: u.user.id, organizationId: orgId }, { name: 'agents in Deploy' })).token
    for (const name of ['Deploy', 'Einsatz']) {
      const r = await fetch(`${base}/api/v1/spaces`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
      spaceIds[name] = ((await r.json()) as { space: { id: string } }).space.id
    }
  })

  afterAll(async () => {
    await stop?.()
  })

  const newPage = (locale: string): Promise<Page> => watchedPage(browser, problems, { locale })

  const texts = {
    en: {
      nav: 'Console', spaces: 'Spaces', settings: 'Space Settings', env: 'Environment Variables',
      name: /^Name/, value: /^Value/, save: 'Save variable', saved: 'Environment variable saved.', remove: 'Remove environment variable TEAMDAY_TOKEN',
      warning: 'Agents running in this space will no longer get it.', confirm: 'Remove variable', removed: 'Environment variable removed.', empty: 'No environment variables yet.',
      hint: 'Settings → Profile → Personal Access Tokens', space: 'Deploy', error: 'keys must be UPPER_SNAKE_CASE',
    },
    de: {
      nav: 'Konsole', spaces: 'Spaces', settings: 'Space-Einstellungen', env: 'Umgebungsvariablen',
      name: /^Name/, value: /^Wert/, save: 'Variable speichern', saved: 'Umgebungsvariable gespeichert.', remove: 'Umgebungsvariable TEAMDAY_TOKEN entfernen',
      warning: 'Agenten in diesem Space erhalten sie dann nicht mehr.', confirm: 'Variable entfernen', removed: 'Umgebungsvariable entfernt.', empty: 'Noch keine Umgebungsvariablen.',
      hint: 'Einstellungen → API-Zugriff', space: 'Einsatz', error: 'Ein Name besteht aus Großbuchstaben',
    },
  } as const

  for (const lang of ['en', 'de'] as const) {
    const x = texts[lang]
    describe(`spaces in Chromium (${lang})`, () => {
      test(`Spaces → ${x.space} → ${x.settings} → ${x.env}: add TEAMDAY_TOKEN, listed by name, remove it`, async () => {
        const page = await newPage(lang === 'de' ? 'de-DE' : 'en-GB')
        await page.goto(`${base}/login`)
        expect(await page.getAttribute('html', 'lang')).toBe(lang)
        await submitSignIn(page, 'ada@example.com', PASSWORD, lang)
        await page.waitForURL(`${base}/settings/profile`)
        // Spaces → the space.
        await page.getByRole('navigation', { name: x.nav }).getByRole('link', { name: x.spaces, exact: true }).click()
        await page.waitForURL(`${base}/spaces`)
        expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe(x.spaces)
        await page.getByRole('link', { name: x.space, exact: true }).click()
        await page.waitForURL(`${base}/spaces/${spaceIds[x.space]}`)
        expect(await page.getByRole('heading', { level: 1 }).innerText()).toBe(x.space)
        // → Space Settings → Environment Variables.
        await page.getByRole('link', { name: x.settings, exact: true }).click()
        await page.waitForURL(`${base}/spaces/${spaceIds[x.space]}#space-settings`)
        const settings = page.getByRole('region', { name: x.settings })
        await settings.getByRole('heading', { name: x.settings }).waitFor()
        await page.getByRole('link', { name: x.env, exact: true }).click()
        await page.waitForURL(`${base}/spaces/${spaceIds[x.space]}#environment-variables`)
        const env = settings.getByRole('region', { name: x.env })
        await env.getByText(x.empty).waitFor()
        expect(await env.getByRole('link', { name: x.hint }).getAttribute('href')).toBe('/settings/profile#personal-access-tokens')
        const value = env.getByLabel(x.value)
        expect([await value.getAttribute('type'), await value.getAttribute('autocomplete')]).toEqual(['password', 'off'])
        // A wrong name first: the service's error in the section, the value field empty again.
        await env.getByLabel(x.name).fill('teamday_token')
        await value.fill(token)
        await env.getByRole('button', { name: x.save }).click()
        await page.getByRole('alert').getByText(x.error).waitFor()
        expect(await page.getByRole('region', { name: x.env }).getByLabel(x.value).inputValue()).toBe('')
        expect(await page.content()).not.toContain(token)
        // Add TEAMDAY_TOKEN.
        const again = page.getByRole('region', { name: x.env })
        await again.getByLabel(x.name).fill('TEAMDAY_TOKEN')
        await again.getByLabel(x.value).fill(token)
        await again.getByRole('button', { name: x.save }).click()
        await page.getByText(x.saved).waitFor()
        expect(page.url()).toBe(`${base}/spaces/${spaceIds[x.space]}?done=saved#environment-variables`)
        const row = page.getByRole('region', { name: x.env }).getByRole('row', { name: /TEAMDAY_TOKEN/ })
        expect((await row.innerText()).trim()).toBe('TEAMDAY_TOKEN')
        expect(await page.content()).not.toContain(token)
        expect(await page.getByRole('region', { name: x.env }).getByLabel(x.value).inputValue()).toBe('')
        // What agents in this space get.
        expect((await resolveSecrets(rt, orgId, spaceIds[x.space]!)).TEAMDAY_TOKEN).toBe(token)
        // Back and reload show no value either (no-store; the form is empty).
        await page.reload()
        expect(await page.content()).not.toContain(token)
        // Remove, with the confirm dialog; Cancel first keeps it.
        await row.getByRole('button', { name: x.remove }).click()
        const dialog = page.getByRole('dialog')
        await dialog.getByText(x.warning).waitFor()
        await dialog.getByRole('button', { name: lang === 'de' ? 'Abbrechen' : 'Cancel' }).click()
        expect(await row.count()).toBe(1)
        await row.getByRole('button', { name: x.remove }).click()
        await dialog.getByRole('button', { name: x.confirm }).click()
        await page.getByText(x.removed).waitFor()
        expect(page.url()).toBe(`${base}/spaces/${spaceIds[x.space]}?done=removed#environment-variables`)
        expect(await page.getByRole('region', { name: x.env }).getByRole('row', { name: /TEAMDAY_TOKEN/ }).count()).toBe(0)
        expect((await resolveSecrets(rt, orgId, spaceIds[x.space]!)).TEAMDAY_TOKEN).toBeUndefined()
        await page.context().close()
        expect(problems).toEqual([])
      })
    })
  }
}

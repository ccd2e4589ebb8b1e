import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import type { Browser, Page } from 'playwright-core'
import { operatorContext, systemContext } from '../../src/context'
import { messages } from '../../src/console/i18n'
import { sessions } from '../../src/db/schema'
import { CONFIRM_WINDOW_MS } from '../../src/console/sudo'
import { bootstrapIfEmpty } from '../../src/modules/users/bootstrap'
import { createToken } from '../../src/modules/tokens/service'
import { createUser } from '../../src/modules/users/service'
import type { Runtime } from '../../src/runtime'
import { browserSuitesRun, browserAndApp, listeningApp, NO_CHROMIUM, signIn, submitSignIn, userWithPassword, watchedPage } from '../helpers/browser'

/**
 * axe-core (the devDependency, its script read from node_modules: no network) over every console
 * page, in English and German, in its states: the sign-in and set-up pages (and refused), Settings
 * → Profile with no token and with a full list, a refused Create Token, the one-time token shown,
 * the revoke dialog open, members, audit log, agents, a chat, spaces, a space, the CLI sign-in
 * approval, and the error pages (404, 403, 429). Any violation of WCAG 2.0/2.1/2.2 A and AA rules
 * fails, named by rule, page and element. Without Chromium outside CI: one skipped test.
 */
setDefaultTimeout(90_000)

const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']
const LOCALES = { en: 'en-GB', de: 'de-DE' } as const
type Lang = keyof typeof LOCALES

if (!browserSuitesRun) {
  test.skip(NO_CHROMIUM, () => {})
} else {
  let rt: Runtime
  let stop: (() => Promise<void>) | undefined
  let base: string
  let browser: Browser
  let setupPath: string
  let agentId: string
  let spaceId: string
  /** A second server whose console budget is 2 requests a minute, for the 429 page. */
  let tight: Awaited<ReturnType<typeof listeningApp>>
  const problems: string[] = []

  beforeAll(async () => {
    ;({ rt, base, stop, browser } = await browserAndApp())
    const first = await bootstrapIfEmpty(systemContext(rt))
    if (first?.kind !== 'setup_link') throw new Error('no set-up link')
    setupPath = first.path
    const ctx = operatorContext(rt)
    const ada = await userWithPassword(rt, { email: 'ada@example.com', orgSlug: 'alpha', role: 'admin' })
    await createUser(ctx, { email: 'ada@example.com', orgSlug: 'beta', role: 'member' })
    await userWithPassword(rt, { email: 'mia@example.com', orgSlug: 'alpha', role: 'member' })
    const token = (await createToken(ctx, { userId: ada.user.id, organizationId: ada.organization.id }, { name: 'setup' })).token
    for (let i = 0; i < 12; i++) await createToken(ctx, { userId: ada.user.id, organizationId: ada.organization.id }, { name: `token ${i}` })
    const post = async (path: string, body: unknown) =>
      (await (await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any
    agentId = (await post('/api/v1/agents', { name: 'Helper', description: 'Answers', visibility: 'organization' })).id
    spaceId = (await post('/api/v1/spaces', { name: 'Room one', visibility: 'organization' })).space.id
    await post(`/api/v1/spaces/${spaceId}/secrets`, { secrets: { API_KEY: 'a value' } })
    tight = await listeningApp({ consoleRateLimit: { limit: 2, windowMs: 60_000 } })
    await userWithPassword(tight.rt, { email: 'ada@example.com', orgSlug: 'alpha', role: 'admin' })
  })

  afterAll(async () => {
    await stop?.()
    await tight?.stop()
  })

  /** axe's violations of the WCAG A/AA rules on the page as it is now, one line each. */
  async function violations(page: Page, state: string): Promise<string[]> {
    const found = (await page.evaluate(async (tags) => {
      const r = await (globalThis as any).axe.run((globalThis as any).document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] })
      return r.violations.map((v: any) => ({ id: v.id, nodes: v.nodes.map((n: any) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`) }))
    }, TAGS)) as { id: string; nodes: string[] }[]
    return found.flatMap((v) => v.nodes.map((n) => `${state}: ${v.id}: ${n}`))
  }

  async function pageIn(lang: Lang): Promise<Page> {
    const page = await watchedPage(browser, problems, { locale: LOCALES[lang] })
    // Added to each document as the debugger does, which the console's Content-Security-Policy does not govern (a <script> tag it refuses).
    await page.context().addInitScript({ content: AXE })
    return page
  }

  const found: string[] = []
  async function check(page: Page, state: string, lang: Lang) {
    // The page's lang attribute is the language it is written in.
    expect({ state, lang: await page.locator('html').getAttribute('lang') }).toEqual({ state, lang })
    found.push(...(await violations(page, `${lang} ${state}`)))
  }

  for (const lang of ['en', 'de'] as const) {
    describe(`axe, ${lang}`, () => {
      test('signed out: sign-in (and refused), the set-up link (and refused), an invalid link', async () => {
        found.length = 0
        const page = await pageIn(lang)
        await page.goto(`${base}/login`)
        await check(page, 'sign-in', lang)
        await submitSignIn(page, 'ada@example.com', 'wrong password', lang)
        await page.getByRole('alert').waitFor()
        await check(page, 'sign-in refused', lang)
        await page.goto(`${base}${setupPath}`)
        await check(page, 'set-up link', lang)
        await page.locator('input[name="password"]').fill('a long enough password 1')
        await page.locator('input[name="confirm"]').fill('a long enough password 2')
        await page.locator('form button[type="submit"], form button:not([type])').last().click()
        await page.getByRole('alert').waitFor()
        await check(page, 'set-up link refused', lang)
        await page.goto(`${base}/setup/not-a-link`)
        await check(page, 'invalid link', lang)
        await page.context().close()
        expect(found).toEqual([])
      })

      test('Settings → Profile: empty list, full list, refused, the new token, the revoke dialog', async () => {
        found.length = 0
        const mia = await pageIn(lang)
        await signIn(mia, base, 'mia@example.com', { lang })
        await check(mia, 'profile, no token', lang)
        // A member on an admin's page: 403.
        await mia.goto(`${base}/org/members`)
        await check(mia, '403', lang)
        await mia.context().close()

        const page = await pageIn(lang)
        await signIn(page, base, 'ada@example.com', { lang })
        await check(page, 'profile, tokens', lang)
        const section = page.locator('#personal-access-tokens')
        await section.locator('input[name="name"]').fill('   ')
        await section.locator('button[type="submit"]').first().click()
        await page.getByRole('alert').waitFor()
        await check(page, 'create token refused', lang)
        await page.locator('#personal-access-tokens input[name="name"]').fill(`axe ${lang}`)
        await page.locator('#personal-access-tokens button[type="submit"]').first().click()
        await page.locator('#new-token').waitFor()
        await check(page, 'one-time token', lang)
        await page.goto(`${base}/settings/profile`)
        await page.locator('form[data-confirm] button.icon').first().click()
        await page.locator('dialog[open]').waitFor()
        await check(page, 'revoke dialog', lang)
        // Confirm access (src/console/sudo.tsx): the session's sign-in made older than its window.
        await rt.db.update(sessions).set({ createdAt: new Date(Date.now() - CONFIRM_WINDOW_MS - 60_000) }).run()
        await page.goto(`${base}/settings/profile`)
        await page.locator('#personal-access-tokens input[name="name"]').fill(`confirmed ${lang}`)
        await page.locator('#personal-access-tokens button[type="submit"]').first().click()
        await page.locator('input[name="confirmAccessPassword"]').waitFor()
        await check(page, 'confirm access', lang)
        await page.locator('input[name="confirmAccessPassword"]').fill('not the password')
        await page.locator('main form button[type="submit"]').click()
        await page.getByRole('alert').waitFor()
        await check(page, 'confirm access refused', lang)
        await page.context().close()
        expect(found).toEqual([])
      })

      test('members, audit, agents, chat, spaces, a space, CLI approval, 404, 429', async () => {
        found.length = 0
        const page = await pageIn(lang)
        await signIn(page, base, 'ada@example.com', { lang })
        for (const [state, path] of [
          ['members', '/org/members'],
          ['audit log', '/org/audit'],
          ['agents', '/agents'],
          ['chat', `/agents/${agentId}/chat`],
          ['spaces', '/spaces'],
          ['space', `/spaces/${spaceId}`],
          ['404', '/agents/agent_nope/chat'],
          ['404 unknown page', '/settings/nope'],
        ] as const) {
          await page.goto(`${base}${path}`)
          await check(page, state, lang)
          if (state === 'space') {
            await page.locator('#environment-variables form[data-confirm] button').first().click()
            await page.locator('dialog[open]').waitFor()
            await check(page, 'remove variable dialog', lang)
          }
        }
        const started = (await (await fetch(`${base}/api/auth/cli/initiate`, { method: 'POST', headers: { 'content-type': 'application/json' } })).json()) as { authUrl: string }
        await page.goto(started.authUrl)
        await check(page, 'CLI approval', lang)
        await page.context().close()

        const busy = await pageIn(lang)
        await signIn(busy, tight.base, 'ada@example.com', { lang })
        let status = 0
        for (let i = 0; i < 4 && status !== 429; i++) status = (await busy.goto(`${tight.base}/agents`))!.status()
        expect(status).toBe(429)
        await check(busy, '429', lang)
        await busy.context().close()
        expect(found).toEqual([])
        expect(problems).toEqual([])
      })

      // A modal dialog is read out as its name and then the focused button (Cancel): the docs'
      // warning in the revoke dialog was never heard, nothing pointed to it (aria-describedby).
      test('the revoke dialog is described by its warning', async () => {
        const page = await pageIn(lang)
        await signIn(page, base, 'ada@example.com', { lang })
        await page.locator('form[data-confirm] button.icon').first().click()
        const dialog = page.locator('dialog[open]')
        await dialog.waitFor()
        const described = await dialog.evaluate((d: any) =>
          (d.getAttribute('aria-describedby') ?? '')
            .split(/\s+/)
            .filter(Boolean)
            .map((id: string) => d.ownerDocument.getElementById(id)?.textContent?.trim() ?? `(no #${id})`)
            .join(' '),
        )
        expect(described).toBe(messages(lang).revokeWarning)
        await page.context().close()
      })

      // WCAG 1.4.10: at 320 CSS px (a 1280 px window zoomed to 400 %) nothing but a data table
      // (which scrolls in its own box) is wider than the window. The CLI approval page's login
      // code, one 40-odd-character word, made the whole page scroll sideways (476 px).
      test('at 320 CSS px wide, no page scrolls sideways', async () => {
        const ctx = await browser.newContext({ viewport: { width: 320, height: 640 }, locale: LOCALES[lang] })
        const page = await watchedPage(browser, problems, { ctx })
        const wide: string[] = []
        const measure = async (state: string) => {
          const over = (await page.evaluate(() => {
            const d = (globalThis as any).document
            const width = d.documentElement.clientWidth
            const out: string[] = []
            d.querySelectorAll('body *').forEach((e: any) => {
              const r = e.getBoundingClientRect()
              if (r.width > 0 && r.right > width + 1 && !e.closest('.table-wrap')) out.push(`${e.tagName.toLowerCase()}${e.className ? '.' + e.className : ''} ends at ${Math.round(r.right)} px`)
            })
            return d.documentElement.scrollWidth > width ? [`the page is ${d.documentElement.scrollWidth} px wide`, ...out.slice(0, 3)] : []
          })) as string[]
          wide.push(...over.map((o) => `${state}: ${o}`))
        }
        await page.goto(`${base}/login`)
        await measure('sign-in')
        await signIn(page, base, 'ada@example.com', { lang })
        for (const path of ['/settings/profile', '/org/members', '/org/audit', '/agents', `/agents/${agentId}/chat`, '/spaces', `/spaces/${spaceId}`, '/settings/nope']) {
          await page.goto(`${base}${path}`)
          await measure(path)
        }
        const started = (await (await fetch(`${base}/api/auth/cli/initiate`, { method: 'POST', headers: { 'content-type': 'application/json' } })).json()) as { authUrl: string }
        await page.goto(started.authUrl)
        await measure('CLI approval')
        await ctx.close()
        expect(wide).toEqual([])
      })
    })
  }

  // WCAG 1.4.11: a text field's or a select's border, all that shows where it is, has 3:1
  // against the page (axe checks text only). The borders were the tables' light grey
  // (#d0d7de on white, 1.5:1; #30363d on #0d1117 in dark mode, 1.5:1): fields were hard to
  // find for a person with low vision.
  test('the borders of text fields and selects have 3:1 against the page, light and dark (the same in both languages)', async () => {
    const faint: string[] = []
    for (const colorScheme of ['light', 'dark'] as const) {
      const page = await pageIn('en')
      await page.emulateMedia({ colorScheme })
      await signIn(page, base, 'ada@example.com', { lang: 'en' })
      for (const path of ['/settings/profile', '/org/members', `/agents/${agentId}/chat`, `/spaces/${spaceId}`]) {
        await page.goto(`${base}${path}`)
        const low = (await page.evaluate(() => {
          const g = globalThis as any
          const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number)
          const lum = (c: string) => {
            const [r, gr, b] = rgb(c).map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4))
            return 0.2126 * r! + 0.7152 * gr! + 0.0722 * b!
          }
          const ratio = (a: string, b: string) => {
            const [x, y] = [lum(a), lum(b)].sort((m, n) => n - m)
            return (x! + 0.05) / (y! + 0.05)
          }
          const page = g.getComputedStyle(g.document.body).backgroundColor
          const out: string[] = []
          g.document.querySelectorAll('input[type=text], input[type=email], input[type=password], input[type=date], select, textarea').forEach((e: any) => {
            const r = e.getBoundingClientRect()
            if (r.width === 0) return
            const border = g.getComputedStyle(e).borderTopColor
            const x = ratio(border, page)
            if (x < 3) out.push(`${e.tagName.toLowerCase()}[name=${e.name}] border ${border} on ${page}: ${x.toFixed(2)}:1`)
          })
          return out
        })) as string[]
        faint.push(...low.map((l) => `${colorScheme} ${path}: ${l}`))
      }
      await page.context().close()
    }
    expect(faint).toEqual([])
  })
}

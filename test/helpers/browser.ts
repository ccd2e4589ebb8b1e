import { existsSync } from 'node:fs'
import type { Browser, BrowserContext, Page } from 'playwright-core'

/** Debian's Chromium (apt-get install chromium; .ci/run installs it): never a browser a tool downloads. */
export const CHROMIUM = '/usr/bin/chromium'

/** DESIGN.md's flags: headless, no sandbox (root in CI), nothing that reaches the network by itself. */
export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync']

/** Whether the browser suites run: Chromium is there, or CI (where its absence must fail, not skip). */
export const browserSuitesRun = existsSync(CHROMIUM) || process.env.CI === 'true'

/** The skipped test's title when they do not run (each browser file's line in test/skip-allowlist.txt). */
export const NO_CHROMIUM = `browser suite: no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)`

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core')
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true })
}

/**
 * A page whose script errors and console errors are collected into `problems` (a test expects it
 * empty at the end); in `ctx`, or a new context of the given locale (1000×720, Europe/Berlin).
 */
export async function watchedPage(browser: Browser, problems: string[], opts: { ctx?: BrowserContext; locale?: string } = {}): Promise<Page> {
  const context = opts.ctx ?? (await browser.newContext({ viewport: { width: 1000, height: 720 }, timezoneId: 'Europe/Berlin', ...(opts.locale ? { locale: opts.locale } : {}) }))
  const page = await context.newPage()
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${page.url()}: ${m.text()}`)
  })
  page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`))
  return page
}

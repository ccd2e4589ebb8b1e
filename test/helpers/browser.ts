import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { createApp } from '../../src/app'
import { loadConfig, type Config } from '../../src/config'
import { operatorContext } from '../../src/context'
import { SecretBox } from '../../src/crypto/secretbox'
import { createLogger } from '../../src/logger'
import { setPassword } from '../../src/modules/users/passwords'
import { createUser, type CreateUserResult } from '../../src/modules/users/service'
import { createRuntime, type Runtime } from '../../src/runtime'
import { PASSWORD } from './console'

/** Debian's Chromium (apt-get install chromium; .ci/run installs it): never a browser a tool downloads. */
export const CHROMIUM = '/usr/bin/chromium'

/** DESIGN.md's flags: headless, no sandbox (root in CI), nothing that reaches the network by itself. */
export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync']

/** Whether the browser suites run: Chromium is there, or CI (where its absence must fail, not skip). */
export const browserSuitesRun = existsSync(CHROMIUM) || process.env.CI === 'true'

/** The skipped test's title when they do not run (each browser file's line in test/skip-allowlist.txt). */
export const NO_CHROMIUM = `browser suite: no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)`

/**
 * Where the browser tests' screenshots go: the README's (docs/screenshots/) only on request
 * (TEAMDAY_SCREENSHOTS=1 bun test test/browser), otherwise a temporary folder, so a test run leaves the tree clean.
 */
export const SHOTS = process.env.TEAMDAY_SCREENSHOTS === '1' ? join(import.meta.dir, '../../docs/screenshots') : join(tmpdir(), 'teamday-screenshots')

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

/**
 * The app listening on a real port of 127.0.0.1, as the browser reaches a server, on an
 * in-memory database with `config` on top (silent logs, a random encryption key). `stop` ends
 * both, after the browser has closed.
 */
export async function listeningApp(config: Partial<Config> = {}): Promise<{ rt: Runtime; app: ReturnType<typeof createApp>; base: string; stop(): Promise<void> }> {
  const rt = await createRuntime(loadConfig({}, { dbPath: ':memory:', host: '127.0.0.1', port: 0, ...config }), {
    log: createLogger('silent'),
    box: new SecretBox(crypto.getRandomValues(new Uint8Array(32))),
  })
  const app = createApp(rt)
  app.listen({ hostname: '127.0.0.1', port: 0, development: false })
  const stop = async () => {
    await app.stop()
    await rt.close()
  }
  return { rt, app, base: `http://127.0.0.1:${app.server!.port}`, stop }
}

/**
 * listeningApp and Chromium, as a browser test file's set-up makes them: `stop` closes the
 * browser, then the app.
 */
export async function browserAndApp(config: Partial<Config> = {}): Promise<Awaited<ReturnType<typeof listeningApp>> & { browser: Browser }> {
  const served = await listeningApp(config)
  let browser: Browser
  try {
    browser = await launchChromium()
  } catch (e) {
    await served.stop()
    throw e
  }
  const stop = async () => {
    await browser.close()
    await served.stop()
  }
  return { ...served, browser, stop }
}

/** The sign-in form's labels and button in each language of the console. */
const SIGN_IN_FORM = {
  en: { email: 'E-mail', password: 'Password', submit: 'Sign in' },
  de: { email: 'E-Mail', password: 'Passwort', submit: 'Anmelden' },
} as const

/** Fills in the sign-in form the page shows, in the page's language, and sends it (where it leads is the caller's to wait for). */
export async function submitSignIn(page: Page, email: string, password: string = PASSWORD, lang: keyof typeof SIGN_IN_FORM = 'en'): Promise<void> {
  const form = SIGN_IN_FORM[lang]
  await page.getByLabel(form.email).fill(email)
  await page.getByLabel(form.password).fill(password)
  await page.getByRole('button', { name: form.submit }).click()
}

/** Signs in on `base`'s sign-in page (in `lang`, the page's language) and waits for Settings → Profile, where it leads. */
export async function signIn(page: Page, base: string, email: string, opts: { password?: string; lang?: keyof typeof SIGN_IN_FORM } = {}): Promise<void> {
  await page.goto(`${base}/login`)
  await submitSignIn(page, email, opts.password ?? PASSWORD, opts.lang ?? 'en')
  await page.waitForURL(`${base}/settings/profile`)
}

/** A user of organization `orgSlug` (made with it if new) who signs in with PASSWORD. */
export async function userWithPassword(rt: Runtime, user: { email: string; orgSlug: string; role: 'admin' | 'member' }): Promise<CreateUserResult> {
  const ctx = operatorContext(rt)
  const made = await createUser(ctx, user)
  await setPassword(ctx, made.user.id, PASSWORD)
  return made
}

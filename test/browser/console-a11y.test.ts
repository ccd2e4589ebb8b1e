import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser, Locator, Page } from 'playwright-core'
import { recordAudit } from '../../src/audit/log'
import { operatorContext } from '../../src/context'
import { createToken } from '../../src/modules/tokens/service'
import { createUser } from '../../src/modules/users/service'
import type { Runtime } from '../../src/runtime'
import { browserSuitesRun, browserAndApp, NO_CHROMIUM, signIn, userWithPassword, watchedPage } from '../helpers/browser'
import { PASSWORD } from '../helpers/console'
import { startProviderDouble, type ProviderDouble } from '../helpers/providers'

/**
 * What an accessibility review of the console asked for, in Debian's Chromium: a refused form's
 * error tied to the field it is about (aria-invalid, aria-describedby naming the error's text), the
 * e-mail form giving back what was typed (never the password), distinct names for the approval
 * page's two organization selects, a <title> naming each page and the product (a chat's its own),
 * and the audit log's way back to the newest events from an older page.
 * Without Chromium outside CI: one skipped test.
 */
setDefaultTimeout(90_000)

if (!browserSuitesRun) {
  test.skip(NO_CHROMIUM, () => {})
} else {
  let rt: Runtime
  let stop: (() => Promise<void>) | undefined
  let double: ProviderDouble
  let base: string
  let browser: Browser
  const problems: string[] = []
  let agentId: string
  let spaceId: string

  beforeAll(async () => {
    double = startProviderDouble()
    ;({ rt, base, stop, browser } = await browserAndApp({ openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' }))
    const ctx = operatorContext(rt)
    // An admin of two organizations: the header shows the organization switcher.
    const ada = await userWithPassword(rt, { email: 'ada@example.com', orgSlug: 'alpha', role: 'admin' })
    await createUser(ctx, { email: 'ada@example.com', orgSlug: 'beta', role: 'member' })
    await createUser(ctx, { email: 'taken@example.com', orgSlug: 'alpha', role: 'member' })
    const token = (await createToken(ctx, { userId: ada.user.id, organizationId: ada.organization.id }, { name: 'setup' })).token
    const post = async (path: string, body: unknown) =>
      (await (await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any
    agentId = (await post('/api/v1/agents', { name: 'Helper', description: 'Answers', visibility: 'organization' })).id
    spaceId = (await post('/api/v1/spaces', { name: 'Room one', visibility: 'organization' })).space.id
    // More than a page (50) of the audit log.
    for (let i = 0; i < 60; i++) await recordAudit(ctx, { type: 'member.role_changed', organizationId: ada.organization.id, details: { n: i } })
  })

  afterAll(async () => {
    await stop?.()
    double?.stop()
  })

  async function signedIn(locale = 'en-GB'): Promise<Page> {
    const page = await watchedPage(browser, problems, { locale })
    await signIn(page, base, 'ada@example.com', { lang: locale.startsWith('de') ? 'de' : 'en' })
    return page
  }

  /** A field as a screen reader gets it: invalid or not, and the text of what describes it. */
  const state = (field: Locator) =>
    field.evaluate((el: any) => ({
      invalid: el.getAttribute('aria-invalid'),
      description: (el.getAttribute('aria-describedby') ?? '')
        .split(/\s+/)
        .filter(Boolean)
        .map((id: string) => el.ownerDocument.getElementById(id)?.textContent?.trim() ?? `(no #${id})`)
        .join(' '),
    }))
  const untouched = { invalid: null, description: '' }

  describe('a refused form ties its error to the field it is about', () => {
    test('Create Token: a name of spaces, then a custom expiry without a date', async () => {
      const page = await signedIn()
      const section = page.locator('#personal-access-tokens')
      const name = section.getByRole('textbox', { name: /^Name/ })
      const date = section.getByLabel('Custom expiration date')
      await name.fill('   ')
      await section.getByRole('button', { name: 'Create Token' }).click()
      const error = await page.getByRole('alert').innerText()
      expect(error).toStartWith('Validation failed: "Name" must be')
      expect(await state(name)).toEqual({ invalid: 'true', description: error })
      expect(await state(date)).toEqual(untouched)

      await name.fill('custom without a date')
      await section.getByRole('radio', { name: /^Custom date/ }).check()
      await section.getByRole('button', { name: 'Create Token' }).click()
      await page.getByRole('alert').filter({ hasText: 'custom expiration date' }).waitFor()
      const dateError = await page.getByRole('alert').innerText()
      expect(await state(date)).toEqual({ invalid: 'true', description: dateError })
      expect(await state(name)).toEqual(untouched)
      // No scope: the scopes' group is described by the error (aria-invalid is for its boxes, not a group).
      await date.fill(new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10))
      await section.getByLabel(/Full access/).uncheck()
      await section.getByRole('button', { name: 'Create Token' }).click()
      await page.getByRole('alert').filter({ hasText: 'no scope chosen' }).waitFor()
      expect(await state(section.getByRole('group', { name: 'Scopes' }))).toEqual({ invalid: null, description: await page.getByRole('alert').innerText() })
      expect(await state(date)).toEqual(untouched)
      expect(problems).toEqual([])
      await page.context().close()
    })

    test('Profile: an invalid or taken e-mail, a wrong current password, new passwords that differ; what was typed comes back, never a password', async () => {
      const page = await signedIn()
      const profile = page.locator('form[action="/settings/profile"]')
      const email = profile.getByRole('textbox', { name: /^E-mail/ })
      const name = profile.getByRole('textbox', { name: 'Name', exact: true })
      const current = profile.getByLabel(/^Current password/)
      // The browser's own check would stop it first: as a browser without it (or an address it takes and the server does not).
      const sendProfile = async () => {
        await profile.evaluate((f: any) => (f.noValidate = true))
        await profile.getByRole('button', { name: 'Save' }).click()
        await page.getByRole('alert').waitFor()
        return page.getByRole('alert').innerText()
      }
      await name.fill('Ada L.')
      await email.fill('not an e-mail')
      await current.fill(PASSWORD)
      let error = await sendProfile()
      expect(error).toContain('not a valid e-mail address')
      expect(await state(email)).toEqual({ invalid: 'true', description: error })
      expect(await state(current)).toEqual(untouched)
      expect([await email.inputValue(), await name.inputValue(), await current.inputValue()]).toEqual(['not an e-mail', 'Ada L.', ''])

      await email.fill('ada.new@example.com')
      await current.fill('not my password')
      error = await sendProfile()
      expect(error).toBe('The current password is wrong.')
      expect(await state(current)).toEqual({ invalid: 'true', description: error })
      expect(await state(email)).toEqual(untouched)
      expect([await email.inputValue(), await current.inputValue()]).toEqual(['ada.new@example.com', ''])

      await email.fill('Taken@example.com')
      await current.fill(PASSWORD)
      error = await sendProfile()
      expect(error).toContain('belongs to another user')
      expect(await state(email)).toEqual({ invalid: 'true', description: error })
      expect(await email.inputValue()).toBe('Taken@example.com')

      const pw = page.locator('form[action="/settings/password"]')
      await pw.getByLabel('Current password', { exact: true }).fill(PASSWORD)
      await pw.getByLabel(/^New password/).fill('a new long password 1')
      await pw.getByLabel('Repeat the new password').fill('a new long password 2')
      await pw.getByRole('button', { name: 'Change password' }).click()
      await page.getByRole('alert').filter({ hasText: 'differ' }).waitFor()
      expect(await state(pw.getByLabel('Repeat the new password'))).toEqual({ invalid: 'true', description: await page.getByRole('alert').innerText() })
      expect(await state(pw.getByLabel(/^New password/))).toEqual(untouched)
      // The profile form, not sent this time, shows the stored address again.
      expect(await page.locator('form[action="/settings/profile"]').getByRole('textbox', { name: /^E-mail/ }).inputValue()).toBe('ada@example.com')
      expect(problems).toEqual([])
      await page.context().close()
    })

    test('Members: an invalid e-mail; a space variable: an invalid name', async () => {
      const page = await signedIn()
      await page.goto(`${base}/org/members`)
      const add = page.locator('form[action="/org/members"]')
      await add.evaluate((f: any) => (f.noValidate = true))
      await add.getByRole('textbox', { name: 'E-mail' }).fill('no at sign')
      await add.getByRole('button', { name: 'Add member' }).click()
      await page.getByRole('alert').waitFor()
      expect(await state(page.locator('form[action="/org/members"]').getByRole('textbox', { name: 'E-mail' }))).toEqual({ invalid: 'true', description: await page.getByRole('alert').innerText() })

      await page.goto(`${base}/spaces/${spaceId}`)
      const env = page.locator('#environment-variables form.stack')
      await env.getByRole('textbox', { name: /^Name/ }).fill('lower-case')
      await env.getByLabel(/^Value/).fill('secret value')
      await env.getByRole('button', { name: 'Save variable' }).click()
      await page.getByRole('alert').waitFor()
      const error = await page.getByRole('alert').innerText()
      expect(await state(env.getByRole('textbox', { name: /^Name/ }))).toEqual({ invalid: 'true', description: error })
      expect(await state(env.getByLabel(/^Value/))).toEqual(untouched)
      expect(await env.getByLabel(/^Value/).inputValue()).toBe('')
      expect(problems).toEqual([])
      await page.context().close()
    })
  })

  // Each row's role select was named for its member, but its Change and Password link buttons
  // were not: moving through the table's buttons, a screen reader said "Change", "Password link"
  // once per member, with nothing to tell whose role or link each was.
  test("Members: each row's role select and its buttons name the member of that row, in English and German", async () => {
    for (const [locale, names] of [
      ['en-GB', { role: 'Role of taken@example.com', change: 'Change the role of taken@example.com', link: 'Password link for taken@example.com', remove: 'Remove taken@example.com' }],
      ['de-DE', { role: 'Rolle von taken@example.com', change: 'Rolle von taken@example.com ändern', link: 'Passwort-Link für taken@example.com', remove: 'taken@example.com entfernen' }],
    ] as const) {
      const page = await signedIn(locale)
      await page.goto(`${base}/org/members`)
      const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'taken@example.com', exact: true }) })
      expect(await row.count()).toBe(1)
      expect(await row.getByRole('combobox', { name: names.role, exact: true }).count()).toBe(1)
      for (const name of [names.change, names.link, names.remove]) expect([locale, name, await row.getByRole('button', { name, exact: true }).count()]).toEqual([locale, name, 1])
      // The visible word stays in the name (WCAG 2.5.3, label in name), and no two of the table's controls share a name.
      expect(await row.getByRole('button', { name: names.change, exact: true }).innerText()).toBe(locale === 'en-GB' ? 'Change' : 'Ändern')
      const table = page.getByRole('table')
      const controls = await table.locator('button, select').evaluateAll((els: any[]) => els.map((el) => el.getAttribute('aria-label') ?? el.textContent.trim()))
      expect(controls.length).toBeGreaterThanOrEqual(4)
      expect(new Set(controls).size).toBe(controls.length)
      expect(problems).toEqual([])
      await page.context().close()
    }
  })

  test("CLI sign-in approval: the page's two organization selects say what each is for", async () => {
    const page = await signedIn()
    const started = (await (await fetch(`${base}/api/auth/cli/initiate`, { method: 'POST', headers: { 'content-type': 'application/json' } })).json()) as { authUrl: string }
    await page.goto(started.authUrl)
    await page.getByRole('button', { name: 'Approve' }).waitFor()
    const names = await page.getByRole('combobox').evaluateAll((els: any[]) => els.map((el) => [...el.labels].map((l: any) => l.textContent.trim()).join(' ') || el.getAttribute('aria-label')))
    expect(names).toHaveLength(2)
    expect(new Set(names).size).toBe(2)
    expect(await page.getByRole('combobox', { name: 'Organization', exact: true }).count()).toBe(0)
    expect(await page.getByRole('combobox', { name: 'Switch to organization', exact: true }).count()).toBe(1)
    expect(await page.locator('main').getByRole('combobox', { name: 'Organization to sign the tool in to', exact: true }).count()).toBe(1)
    expect(problems).toEqual([])
    await page.context().close()
  })

  // The header's switcher led to Settings → Profile: the approval page, and the terminal's link, were lost.
  test('CLI sign-in approval: switching organization in the header comes back to the approval page, its choice the organization switched to', async () => {
    const page = await signedIn()
    const started = (await (await fetch(`${base}/api/auth/cli/initiate`, { method: 'POST', headers: { 'content-type': 'application/json' } })).json()) as { authUrl: string }
    await page.goto(started.authUrl)
    const choice = page.locator('main').getByRole('combobox', { name: 'Organization to sign the tool in to', exact: true })
    expect(await choice.locator('option:checked').innerText()).toBe('alpha')
    await page.getByRole('combobox', { name: 'Switch to organization', exact: true }).selectOption({ label: 'beta' })
    await page.getByRole('button', { name: 'Switch', exact: true }).click()
    await page.waitForURL(started.authUrl)
    expect(await choice.locator('option:checked').innerText()).toBe('beta')
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(1)
    expect(problems).toEqual([])
    await page.context().close()
  })

  // Chromium's console said "[DOM] Password forms should have (optionally hidden) username fields"
  // on Settings → Profile (a verbose message, which watchedPage does not collect).
  test('Settings → Profile: no password form without a username field for password managers (English and German)', async () => {
    for (const locale of ['en-GB', 'de-DE']) {
      const page = await signedIn(locale)
      const said: string[] = []
      page.on('console', (m) => said.push(m.text()))
      await page.goto(`${base}/settings/profile`)
      await page.waitForLoadState('load')
      expect({ locale, said: said.filter((m) => m.includes('username')) }).toEqual({ locale, said: [] })
      expect(await page.locator('form[action="/settings/password"] input[autocomplete="username"]').inputValue({ timeout: 5000 })).toBe('ada@example.com')
      expect(problems).toEqual([])
      await page.context().close()
    }
  })

  test('every page has a <title> naming it and the product; each chat its own', async () => {
    const page = await signedIn()
    const titles: Record<string, string> = {}
    const visit = async (key: string, path: string) => {
      await page.goto(`${base}${path}`)
      titles[key] = await page.title()
    }
    // Two chats with the agent, started from its chat page.
    const chats: string[] = []
    for (const message of ['first question', 'second question']) {
      await page.goto(`${base}/agents/${agentId}/chat`)
      await page.getByRole('textbox', { name: 'Message', exact: true }).fill(message)
      await page.getByRole('button', { name: 'Start chat' }).click()
      await page.waitForURL(/\?chat=chat_/)
      chats.push(new URL(page.url()).searchParams.get('chat')!)
    }
    await visit('profile', '/settings/profile')
    await visit('agents', '/agents')
    await visit('newChat', `/agents/${agentId}/chat`)
    await visit('chat1', `/agents/${agentId}/chat?chat=${chats[0]}`)
    await visit('chat2', `/agents/${agentId}/chat?chat=${chats[1]}`)
    await visit('spaces', '/spaces')
    await visit('space', `/spaces/${spaceId}`)
    await visit('members', '/org/members')
    await visit('audit', '/org/audit')
    await visit('notFound', '/agents/agent_nope/chat')
    for (const [key, title] of Object.entries(titles)) expect({ key, title }).toEqual({ key, title: expect.stringMatching(/^\S.* - teamday$/) })
    expect(new Set(Object.values(titles)).size).toBe(Object.keys(titles).length)
    expect(titles.newChat).toBe('New chat with Helper - teamday')
    expect(titles.chat1).toBe('first question - Chat with Helper - teamday')
    expect(titles.chat2).toBe('second question - Chat with Helper - teamday')
    expect(problems).toEqual([])
    await page.context().close()
  })

  test('the audit log: from an older page, back to the newest events, the filter kept', async () => {
    const page = await signedIn()
    await page.goto(`${base}/org/audit?type=member.role_changed`)
    const pages = page.getByRole('navigation', { name: 'Pages of the audit log' })
    expect(await pages.getByRole('link').allInnerTexts()).toEqual(['Older events'])
    const newest = await page.locator('tbody tr').first().innerText()
    await pages.getByRole('link', { name: 'Older events' }).click()
    await page.waitForURL(/\/org\/audit\?type=member\.role_changed&cursor=/)
    expect(await page.locator('tbody tr').count()).toBe(10)
    expect(await pages.getByRole('link').allInnerTexts()).toEqual(['← Newest events'])
    await pages.getByRole('link', { name: '← Newest events' }).click()
    await page.waitForURL(`${base}/org/audit?type=member.role_changed`)
    expect(await page.locator('tbody tr').first().innerText()).toBe(newest)
    expect(await page.locator('tbody tr').count()).toBe(50)
    expect(problems).toEqual([])
    await page.context().close()
  })
}

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import type { Runtime } from '../../src/runtime'
import { seedMembers } from '../../bench/seed'
import { browserAndApp, browserSuitesRun, NO_CHROMIUM, signIn, userWithPassword, watchedPage } from '../helpers/browser'

/**
 * Organization → Members in Chromium: an admin on the second page (200 members a page) changes a
 * role and removes a member, and each time lands on that second page again, with its notice; it
 * led back to the first page, so working through a long list meant paging to it after every change.
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
    const made = await userWithPassword(rt, { email: 'ada@example.com', orgSlug: 'paging', role: 'admin' })
    // 203 members older than Ada: with her, 204; the 4 oldest are page 2.
    const db = (rt.connection as { sync: unknown }).sync
    await seedMembers(db as never, { organizationId: made.organization.id, userId: made.user.id }, 203, { now: Date.now() - 3_600_000, step: 7 })
  })

  afterAll(async () => {
    await stop?.()
  })

  describe('Members, page 2', () => {
    test('a role change and a removal there lead back to page 2', async () => {
      const page = await watchedPage(browser, problems, { locale: 'en-GB' })
      await signIn(page, base, 'ada@example.com')
      await page.goto(`${base}/org/members`)
      await page.getByRole('link', { name: 'More members' }).click()
      await page.waitForURL(/\/org\/members\?cursor=/)
      const page2 = page.url()
      const rows = page.getByRole('row', { name: /member-\d+-[a-z0-9]+@example\.com/ })
      expect(await rows.count()).toBe(4)
      const oldest = (await page.getByRole('cell', { name: /^member-0-[a-z0-9]+@example\.com$/ }).innerText()).trim()

      await page.getByLabel(`Role of ${oldest}`, { exact: true }).selectOption('viewer')
      await page.getByRole('row', { name: new RegExp(oldest) }).getByRole('button', { name: 'Change' }).click()
      await page.getByText('Role changed').waitFor()
      expect(new URL(page.url()).searchParams.get('cursor')).toBe(new URL(page2).searchParams.get('cursor'))
      expect(await rows.count()).toBe(4)
      expect(await page.getByLabel(`Role of ${oldest}`, { exact: true }).inputValue()).toBe('viewer')
      expect(await page.getByRole('cell', { name: 'ada@example.com' }).count()).toBe(0)

      await page.getByRole('button', { name: `Remove ${oldest}` }).click()
      await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click()
      await page.getByText('Member removed').waitFor()
      expect(new URL(page.url()).searchParams.get('cursor')).toBe(new URL(page2).searchParams.get('cursor'))
      expect(await rows.count()).toBe(3)
      expect(await page.getByRole('cell', { name: oldest }).count()).toBe(0)
      await page.context().close()
      expect(problems).toEqual([])
    })
  })
}

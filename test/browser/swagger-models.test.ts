import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser, Page } from 'playwright-core'
import { browserSuitesRun, browserAndApp, NO_CHROMIUM, watchedPage } from '../helpers/browser'

/**
 * The Swagger UI served at /swagger, in Debian's Chromium: its model view (the "Schemas" section)
 * labels each model by its type. The error models (TaskNotFound, Unauthorized…) were
 * `allOf: [$ref: Error]`, which Swagger UI labels "(any)" (the 401: "(any & object)"), as if an
 * error body could be anything; they are objects, and an expanded one lists the envelope's fields
 * with its own example values (a 404's statusCode 404). Without Chromium outside CI: one skipped
 * test.
 */
setDefaultTimeout(120_000)

type Json = any

if (!browserSuitesRun) {
  test.skip(NO_CHROMIUM, () => {})
} else {
  let stop: (() => Promise<void>) | undefined
  let base: string
  let browser: Browser
  let spec: Json
  const problems: string[] = []

  beforeAll(async () => {
    ;({ base, stop, browser } = await browserAndApp())
    spec = await (await fetch(`${base}/swagger/json`)).json()
  })

  afterAll(async () => {
    await stop?.()
  })

  /** The model view's articles (one per model); the list is virtualized: only those scrolled to exist. */
  const MODEL = 'section.models article[data-json-schema-level="0"]'

  /** Each model's name → the type label its collapsed row shows, scrolling the list to its end. */
  async function modelLabels(page: Page): Promise<Map<string, string>> {
    const list = page.locator('section.models .models-scroll')
    await list.scrollIntoViewIfNeeded()
    const labels = new Map<string, string>()
    for (let step = 0; step < 1000; step++) {
      const rows = await page.locator(`${MODEL} > .json-schema-2020-12-head`).evaluateAll((heads) =>
        heads.map((head) => [head.querySelector('.json-schema-2020-12__title')?.textContent ?? '', head.querySelector('.json-schema-2020-12__attribute--primary')?.textContent ?? '']),
      )
      for (const [name, label] of rows) labels.set(name!, label!)
      const atEnd = await list.evaluate((el) => {
        const before = el.scrollTop
        el.scrollTop += 300
        return el.scrollTop === before
      })
      if (atEnd) break
      await page.waitForTimeout(25)
    }
    return labels
  }

  /** The model view's article of model `name`, scrolled to (from the top of the list). */
  async function scrolledTo(page: Page, name: string) {
    await page.locator('section.models .models-scroll').evaluate((el) => {
      el.scrollTop = 0
    })
    const model = page.locator(MODEL).filter({ has: page.locator('.json-schema-2020-12__title', { hasText: new RegExp(`^${name}$`) }) })
    // A step at a time, each given its moment to render (the list is virtualized; scrolled on
    // without a pause on a busy machine, the model was passed before it was drawn).
    for (let step = 0; step < 1000 && (await model.count()) === 0; step++) {
      const atEnd = await page.locator('section.models .models-scroll').evaluate((el) => {
        const before = el.scrollTop
        el.scrollTop += 300
        return el.scrollTop === before
      })
      await page.waitForTimeout(atEnd ? 250 : 25)
      if (atEnd && (await model.count()) === 0) break
    }
    await model.first().scrollIntoViewIfNeeded()
    return model
  }

  describe('Swagger UI model view', () => {
    test('every error model is labelled object, none "(any)"; an expanded one shows its own example values', async () => {
      const page = await watchedPage(browser, problems, {})
      await page.goto(`${base}/swagger`)
      await page.locator('section.models .models-scroll').waitFor()
      const labels = await modelLabels(page)
      // The walk saw every model of the document.
      expect([...labels.keys()].sort()).toEqual(Object.keys(spec.components.schemas).sort())
      const errorModels = Object.entries<Json>(spec.components.schemas)
        .filter(([, s]) => ['statusCode', 'statusMessage', 'code', 'message', 'requestId'].every((k) => s.properties?.[k] !== undefined) || s.allOf !== undefined)
        .map(([name]) => name)
      expect(errorModels).toContain('TaskNotFound')
      expect(errorModels).toContain('Unauthorized')
      expect(errorModels.length).toBeGreaterThan(60)
      for (const name of errorModels) expect({ name, label: labels.get(name) }).toEqual({ name, label: 'object' })
      expect([...labels].filter(([, label]) => label.includes('(any'))).toEqual([])
      // A list model is labelled by what it holds: an envelope object, or (TaskList and
      // ExecutionList, bare arrays) an array of objects, not "array<any>" (its items are a $ref,
      // which a collapsed row does not resolve).
      const lists = [...labels].filter(([name]) => name.endsWith('List'))
      expect(lists.map(([name]) => name)).toEqual(expect.arrayContaining(['TaskList', 'ExecutionList']))
      for (const [name, label] of lists) expect({ name, label }).toEqual({ name, label: spec.components.schemas[name].type === 'array' ? 'array<object>' : 'object' })
      expect([...labels].filter(([, label]) => /\bany\b/.test(label))).toEqual([])

      // Expanded, the 404 model lists the envelope's fields, with a 404's values as examples.
      const model = await scrolledTo(page, 'TaskNotFound')
      await model.locator('.json-schema-2020-12-expand-deep-button').first().click()
      const text = await model.innerText()
      for (const field of ['statusCode', 'statusMessage', 'code', 'message', 'requestId', 'details']) expect(text).toContain(field)
      expect(text).toContain('"not_found"')
      expect(text).toContain('404')
      expect(text).not.toContain('token_expired')
      await page.context().close()
      expect(problems).toEqual([])
    })

    test('an expanded TaskList shows a task\'s fields (its items are the Task model)', async () => {
      const page = await watchedPage(browser, problems, {})
      await page.goto(`${base}/swagger`)
      await page.locator('section.models .models-scroll').waitFor()
      const model = await scrolledTo(page, 'TaskList')
      await model.locator('.json-schema-2020-12-expand-deep-button').first().click()
      const text = await model.innerText()
      for (const field of ['assigneeType', 'priority', 'spaceId']) expect(text).toContain(field)
      await page.context().close()
      expect(problems).toEqual([])
    })
  })
}

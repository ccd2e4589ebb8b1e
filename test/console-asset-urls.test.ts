import { afterAll, expect, test } from 'bun:test'
import { ASSETS } from '../src/console/assets'
import { versionedHref } from '../src/http/asset-href'
import { makeTestApp } from './helpers/app'
import { consoleClient, signedInPerson } from './helpers/console'

const t = await makeTestApp()
afterAll(() => t.rt.close())

// The console's files are kept by browsers for their max-age (an hour). Named by their paths
// alone, the stylesheet and script of the version before an upgrade served the new version's
// pages for up to that hour. Pages name them with a hash of their content instead.
test("pages name the console's stylesheet and scripts by a hash of their content; that address serves the same file, cacheable", async () => {
  const { c } = await signedInPerson(t, { role: 'admin' })
  const pages = [await consoleClient(t).get('/login'), await c.get('/settings/profile')]
  for (const res of pages) {
    expect(res.status).toBe(200)
    const named = [...res.text.matchAll(/(?:href|src)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&'))
    expect(named.map((u) => u.split('?')[0]).sort()).toEqual(['/console/assets/console.css', '/console/assets/console.js'])
    for (const href of named) {
      const asset = ASSETS.find((a) => a.path === href.split('?')[0])!
      expect(href).toMatch(/\?v=[0-9a-z]+$/)
      expect(href).toBe(versionedHref(asset.path, asset.body))
      const served = await t.req('GET', href)
      expect([href, served.status, served.headers.get('cache-control')]).toEqual([href, 200, 'public, max-age=3600'])
      expect(served.text).toBe(String(asset.body))
    }
  }
})

test('another content is another address, the same content the same one', () => {
  expect(versionedHref('/console/assets/console.js', 'a();')).toBe(versionedHref('/console/assets/console.js', 'a();'))
  expect(versionedHref('/console/assets/console.js', 'a();')).not.toBe(versionedHref('/console/assets/console.js', 'b();'))
})

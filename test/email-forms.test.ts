import { updateProfile } from '../src/modules/users/profile'
import { beforeEach, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { users } from '../src/db/schema'
import { createUser, findUserByEmail } from '../src/modules/users/service'
import { THROTTLE } from '../src/console/throttle'
import { emailKey } from '../src/text'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { consoleClient, givePassword } from './helpers/console'

/**
 * One form of an e-mail address (src/text.ts emailKey): the same address typed in upper case,
 * with a decomposed accent (NFD, as macOS file names and some keyboards give it) or in full-width
 * letters is one account, found at sign-in, refused as a second member, counted by one throttle.
 * On both backends: their unique indexes compare bytes, so the rule is the app's alone.
 */

let t: TestApp
let admin: Actor
let base: string

beforeEach(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin', email: 'root@acme.test' })
  base = `/api/v1/organizations/${admin.organizationId}/members`
})

const NFC = 'ren\u00e9@b\u00fcro.de' // rené@büro.de, composed
const NFD = NFC.normalize('NFD') // e + U+0301, u + U+0308
const WIDE = '\uff32\uff25\uff2e\u00c9\uff20\uff22\u00dc\uff32\uff2f\uff0e\uff24\uff25' // ＲＥＮÉ＠ＢÜＲＯ．ＤＥ

describe('emailKey', () => {
  test('composed, decomposed, full-width and upper case are one address; letters spelt otherwise stay apart', () => {
    expect(NFD).not.toBe(NFC)
    for (const typed of [NFC, NFD, NFC.toUpperCase(), NFD.toUpperCase(), WIDE, ` ${NFD}\u3000`]) expect(emailKey(typed)).toBe(NFC)
    expect(emailKey('\ufb01le@x.de')).toBe('file@x.de') // the ﬁ ligature
    expect(emailKey('STRA\u1e9eE@X.DE')).toBe('stra\u00dfe@x.de') // ẞ is ß, not ss
    expect(emailKey('stra\u00dfe@x.de')).not.toBe(emailKey('strasse@x.de'))
    expect(emailKey('\u039f\u0394\u039f\u03a3@x.de')).toBe('\u03bf\u03b4\u03bf\u03c2@x.de') // ΟΔΟΣ: a final ς, as written
    expect(emailKey('\u0131@x.de')).not.toBe(emailKey('i@x.de')) // dotless ı is another letter
    expect(emailKey('\u0130STANBUL@X.DE')).toBe('istanbul@x.de') // İ, as caps lock on a Turkish keyboard types i
  })
})

describe('members over the API', () => {
  test('the same address in another form is the member already (409), not a 422 or a second account', async () => {
    const first = await t.req('POST', base, { token: admin.token, body: { email: NFD, role: 'member' } })
    expect(first.status).toBe(201)
    expect(first.body.member.email).toBe(NFC)
    for (const again of [NFC, NFD.toUpperCase(), WIDE]) {
      const r = await t.req('POST', base, { token: admin.token, body: { email: again, role: 'member' } })
      expect(r.status).toBe(409)
      expect(r.body.code).toBe('already_member')
    }
    const list = await t.req('GET', base, { token: admin.token })
    expect(list.body.members.map((m: any) => m.email).sort()).toEqual([NFC, 'root@acme.test'])
    expect((await t.db.select().from(users).all()).length).toBe(2)
  })

  test('full-width letters are no second account beside the ASCII one', async () => {
    const wide = '\uff41\uff4e\uff4e\uff41@acme.test' // ａｎｎａ@acme.test
    expect((await t.req('POST', base, { token: admin.token, body: { email: 'anna@acme.test', role: 'member' } })).status).toBe(201)
    const r = await t.req('POST', base, { token: admin.token, body: { email: wide, role: 'viewer' } })
    expect(r.status).toBe(409)
    expect(r.body.code).toBe('already_member')
  })
})

describe('console sign-in', () => {
  test('finds the account however the address is typed', async () => {
    const u = await createUser(t.ctx, { email: NFC, orgSlug: 'acme', role: 'member' })
    await givePassword(t, u.user.id)
    for (const [i, typed] of [NFD, NFD.toUpperCase(), WIDE].entries()) {
      const r = await consoleClient(t, { ip: `127.0.0.${10 + i}` }).signIn(typed)
      expect(r.status).toBe(303)
    }
  })

  test(`failures in ${THROTTLE.accountFailures} forms of one address lock that one account`, async () => {
    const u = await createUser(t.ctx, { email: NFC, orgSlug: 'acme', role: 'member' })
    await givePassword(t, u.user.id)
    const forms = [NFC, NFD, NFC.toUpperCase(), WIDE, ` ${NFD.toUpperCase()} `]
    expect(forms.length).toBe(THROTTLE.accountFailures)
    for (const [i, typed] of forms.entries()) expect((await consoleClient(t, { ip: `127.0.1.${i}` }).signIn(typed, 'wrong password')).status).toBe(422)
    expect((await consoleClient(t, { ip: '127.0.2.1' }).signIn(NFC)).status).toBe(429)
  })

  test('an account stored before the rule, with full-width letters, is still found as it was typed; the form the rule gives it makes no twin (a member added, an address changed)', async () => {
    const legacy = '\uff41nna@acme.test' // ａnna@acme.test, as trim+lower-case kept it
    const { user } = await createUser(t.ctx, { email: 'someone@acme.test', orgSlug: 'acme', role: 'member' })
    const id = user.id
    await t.db.update(users).set({ email: legacy }).where(eq(users.id, id)).run()
    await givePassword(t, id)
    expect((await consoleClient(t, { ip: '127.0.3.1' }).signIn(legacy)).status).toBe(303)
    expect((await findUserByEmail(t.ctx, legacy))?.id).toBe(id)
    // The rule's form of it names that account: adding it (here to another organization) makes no
    // twin, whose address would then have been the one a sign-in found first (found by review).
    const plain = await createUser(t.ctx, { email: 'anna@acme.test', orgSlug: 'acme-two', role: 'member' })
    expect(plain.user.id).toBe(id)
    expect((await t.db.select().from(users).where(eq(users.email, 'anna@acme.test')).all()).length).toBe(0)
    expect((await consoleClient(t, { ip: '127.0.3.2' }).signIn(legacy)).status).toBe(303)
    // And the address it was added under finds it, for a sign-in and every look-up by address.
    expect((await findUserByEmail(t.ctx, 'anna@acme.test'))?.id).toBe(id)
    expect((await consoleClient(t, { ip: '127.0.3.3' }).signIn('Anna@acme.test')).status).toBe(303)
    // Nor can another person change their address to it (Settings → Profile).
    const other = await createUser(t.ctx, { email: 'bea@acme.test', orgSlug: 'acme', role: 'member' })
    await expect(updateProfile(t.ctx, other.user.id, { name: 'Bea', email: 'ANNA@acme.test' })).rejects.toThrow('belongs to another user')
    // Its owner typing it so changes nothing (the same address, kept as stored).
    await updateProfile(t.ctx, id, { name: 'Anna', email: 'anna@acme.test' })
    expect((await t.db.select().from(users).where(eq(users.id, id)).get())?.email).toBe(legacy)
  })
})

describe('Settings → Profile', () => {
  test('the address kept, typed in another form, is no change: no current password asked, the stored form kept', async () => {
    const u = await createUser(t.ctx, { email: NFC, orgSlug: 'acme', role: 'member' })
    await givePassword(t, u.user.id)
    const c = consoleClient(t, { ip: '127.0.4.1' })
    expect((await c.signIn(NFC)).status).toBe(303)
    for (const typed of [NFD, WIDE]) {
      const r = await c.post('/settings/profile', { name: 'Ren\u00e9', email: typed, current: '' })
      expect(r.status).toBe(303)
      expect(r.headers.get('location')).toBe('/settings/profile?saved=1')
      expect((await t.db.select().from(users).where(eq(users.id, u.user.id)).get())?.email).toBe(NFC)
    }
  })
})

describe('Turkish capital İ', () => {
  test('signs in to the account of the address with i, and is no second member', async () => {
    const u = await createUser(t.ctx, { email: 'istanbul@acme.test', orgSlug: 'acme', role: 'member' })
    await givePassword(t, u.user.id)
    expect((await consoleClient(t, { ip: '127.0.5.1' }).signIn('\u0130STANBUL@ACME.TEST')).status).toBe(303)
    const again = await t.req('POST', base, { token: admin.token, body: { email: '\u0130stanbul@acme.test', role: 'member' } })
    expect(again.status).toBe(409)
    expect(again.body.code).toBe('already_member')
  })
})

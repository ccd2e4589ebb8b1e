import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { and, eq } from 'drizzle-orm'
import { auditEvents, secrets } from '../src/db/schema'
import { AppError } from '../src/errors'
import { resolveSecrets } from '../src/modules/spaces/secrets'
import { openAuditFields } from '../src/audit/log'
import { makeActor, makeTestApp, type Actor, type TestApp, type Res } from './helpers/app'
import { atRestApp, expectNoPlaintext, plaintexts, readAtRest, SENSITIVE, sensitiveWorkload } from './helpers/at-rest'

const VALUE = 'sk-VerySecretValue-7f3a9c'

/** Records every response text, to prove no secret value ever comes back. */
function recorder(t: TestApp) {
  const texts: string[] = []
  const req: TestApp['req'] = async (...args) => {
    const res: Res = await t.req(...args)
    texts.push(res.text)
    return res
  }
  return { req, texts }
}

async function newSpace(t: TestApp, who: Actor, visibility = 'organization'): Promise<string> {
  return (await t.req('POST', '/api/v1/spaces', { token: who.token, body: { name: 'S', visibility } })).body.space.id
}

describe('space secrets', () => {
  let t: TestApp
  let owner: Actor, other: Actor, viewer: Actor, admin: Actor
  beforeAll(async () => {
    t = await makeTestApp()
    owner = await makeActor(t, { role: 'member' })
    other = await makeActor(t, { role: 'member' })
    viewer = await makeActor(t, { role: 'viewer' })
    admin = await makeActor(t, { role: 'admin' })
  }, 60_000)

  test('set → names → upsert → delete; values never in a response', async () => {
    const r = recorder(t)
    const id = await newSpace(t, owner)
    const set = await r.req('POST', `/api/v1/spaces/${id}/secrets`, { token: owner.token, body: { secrets: { OPENAI_API_KEY: VALUE, GITHUB_TOKEN: `${VALUE}-gh` } } })
    expect(set.status).toBe(200)
    expect(set.body).toEqual({ success: true, keys: ['GITHUB_TOKEN', 'OPENAI_API_KEY'] })

    const names = await r.req('GET', `/api/v1/spaces/${id}/secrets`, { token: other.token })
    expect(names.status).toBe(200)
    expect(names.body).toEqual({ success: true, spaceId: id, secrets: ['GITHUB_TOKEN', 'OPENAI_API_KEY'], count: 2 })
    expect((await r.req('GET', `/api/v1/spaces/${id}/secrets`, { token: viewer.token })).status).toBe(200)
    expect((await r.req('GET', `/api/v1/spaces/${id}`, { token: owner.token })).body.space.secretKeys).toEqual(['GITHUB_TOKEN', 'OPENAI_API_KEY'])
    expect((await r.req('GET', '/api/v1/spaces', { token: owner.token })).body.spaces[0].secretKeys).toEqual(['GITHUB_TOKEN', 'OPENAI_API_KEY'])

    const upsert = await r.req('POST', `/api/v1/spaces/${id}/secrets`, { token: owner.token, body: { secrets: { OPENAI_API_KEY: `${VALUE}-v2`, DB_URL: 'postgres://u:p@h/db' } } })
    expect(upsert.body.keys).toEqual(['DB_URL', 'OPENAI_API_KEY'])
    expect(await resolveSecrets(t.rt, owner.organizationId, id)).toEqual({ OPENAI_API_KEY: `${VALUE}-v2`, GITHUB_TOKEN: `${VALUE}-gh`, DB_URL: 'postgres://u:p@h/db' })

    const del = await r.req('DELETE', `/api/v1/spaces/${id}/secrets`, { token: owner.token, body: { keys: ['GITHUB_TOKEN', 'NEVER_SET'] } })
    expect(del.status).toBe(200)
    expect(del.body).toEqual({ success: true, deleted: ['GITHUB_TOKEN'] })
    expect((await r.req('GET', `/api/v1/spaces/${id}/secrets`, { token: owner.token })).body).toMatchObject({ secrets: ['DB_URL', 'OPENAI_API_KEY'], count: 2 })
    // Deleting only unknown names is a no-op success.
    expect((await r.req('DELETE', `/api/v1/spaces/${id}/secrets`, { token: owner.token, body: { keys: ['NEVER_SET'] } })).body).toEqual({ success: true, deleted: [] })

    for (const text of r.texts) {
      expect(text).not.toContain(VALUE)
      expect(text).not.toContain('postgres://')
    }
    expect(t.logs.join('\n')).not.toContain(VALUE)
  })

  test('who may write: the creator and admins; other members 403, viewers 403', async () => {
    const id = await newSpace(t, owner)
    const body = { secrets: { API_KEY: VALUE } }
    const byOther = await t.req('POST', `/api/v1/spaces/${id}/secrets`, { token: other.token, body })
    expect([byOther.status, byOther.body.code]).toEqual([403, 'forbidden'])
    expect(byOther.body.message).toStartWith('Forbidden: ')
    expect((await t.req('DELETE', `/api/v1/spaces/${id}/secrets`, { token: other.token, body: { keys: ['API_KEY'] } })).status).toBe(403)
    const byViewer = await t.req('POST', `/api/v1/spaces/${id}/secrets`, { token: viewer.token, body })
    expect([byViewer.status, byViewer.body.code]).toEqual([403, 'forbidden'])
    expect((await t.req('POST', `/api/v1/spaces/${id}/secrets`, { token: admin.token, body })).status).toBe(200)
    expect((await t.req('DELETE', `/api/v1/spaces/${id}/secrets`, { token: admin.token, body: { keys: ['API_KEY'] } })).body.deleted).toEqual(['API_KEY'])
  })

  test('validation: keys UPPER_SNAKE_CASE, an invalid one told by its position in the 422, never shown; values never echoed; limits', async () => {
    const id = await newSpace(t, owner)
    const post = (secrets: unknown) => t.req('POST', `/api/v1/spaces/${id}/secrets`, { token: owner.token, body: { secrets } })
    for (const key of ['api_key', 'api-key', '1KEY', '_KEY', 'KEY-1', 'Key', 'KEY ONE', 'K'.repeat(129)]) {
      const res = await post({ GOOD_KEY: 'fine', [key]: VALUE })
      expect(res.status).toBe(422)
      expect(res.body.code).toBe('validation_failed')
      expect(res.body.message).toStartWith('Validation failed: secrets has invalid key 2 of 2 (not shown')
      expect(res.text).not.toContain(JSON.stringify(key).slice(1, -1))
      expect(res.body.details).toEqual([{ field: 'secrets', message: 'key 2 of 2 must be UPPER_SNAKE_CASE, at most 128 characters' }])
      expect(res.body.message).not.toContain('GOOD_KEY')
      expect(res.text).not.toContain(VALUE)
    }
    // A provider key pasted into the name's field (space and organization secrets alike): neither
    // the answer nor the log has it; the positions of several are all told.
    const pasted = 'sk-live-4eC39HqLyjWDarjtT1zdp7dc'
    for (const path of [`/api/v1/spaces/${id}/secrets`, `/api/v1/organizations/${owner.organizationId}/env`]) {
      const admin = path.includes('/organizations/') ? await makeActor(t, { role: 'admin', org: owner.orgSlug }) : owner
      const res = await t.req('POST', path, { token: admin.token, body: { secrets: { [pasted]: 'x', FINE: 'y', [`${pasted}2`]: 'z' } } })
      expect(res.status).toBe(422)
      expect(res.body.message).toStartWith('Validation failed: secrets has invalid keys 1, 3 of 3 (not shown')
      expect(res.text).not.toContain('4eC39HqLyjWDarjtT1zdp7dc')
      const gone = await t.req('DELETE', path, { token: admin.token, body: { keys: [pasted] } })
      expect(gone.status).toBe(422)
      expect(gone.body.message).toStartWith('Validation failed: keys has invalid key (not shown')
      expect(gone.text).not.toContain('4eC39HqLyjWDarjtT1zdp7dc')
    }
    // …also when its value fails a rule that names a field by its path (validation's value check,
    // the NUL character, a lone surrogate, an inexact number, a key given twice; JSON and a form):
    // those named it `secrets.sk-live-…`. The name is told by its position first.
    for (const path of [`/api/v1/spaces/${id}/secrets`, `/api/v1/organizations/${owner.organizationId}/env`]) {
      const admin = path.includes('/organizations/') ? await makeActor(t, { role: 'admin', org: owner.orgSlug }) : owner
      const k = JSON.stringify(pasted)
      const raws = [
        `{"secrets":{${k}:123}}`,
        `{"secrets":{${k}:null}}`,
        `{"secrets":{${k}:{"a":1}}}`,
        `{"secrets":{${k}:"${'x'.repeat(64 * 1024 + 1)}"}}`,
        `{"secrets":{${k}:"a\\u0000b"}}`,
        `{"secrets":{${k}:"a\\ud800b"}}`,
        `{"secrets":{${k}:1e400}}`,
        `{"secrets":{${k}:"a",${k}:"b"}}`,
      ]
      for (const raw of raws) {
        const res = await t.req('POST', path, { token: admin.token, raw, headers: { 'content-type': 'application/json' } })
        expect({ raw: raw.slice(0, 80), status: res.status, message: res.body.message, details: res.body.details }).toEqual({
          raw: raw.slice(0, 80),
          status: 422,
          message: 'Validation failed: secrets has invalid key (not shown: it may be a value pasted as a name): keys must be UPPER_SNAKE_CASE (A-Z, 0-9, _; starting with a letter), at most 128 characters',
          details: [{ field: 'secrets', message: 'key 1 of 1 must be UPPER_SNAKE_CASE, at most 128 characters' }],
        })
        expect(res.text).not.toContain('4eC39HqLyjWDarjtT1zdp7dc')
      }
      const form = await t.req('POST', path, { token: admin.token, raw: `secrets[${pasted}]=${'x'.repeat(64 * 1024 + 1)}&secrets[FINE]=y`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
      expect(form.status).toBe(422)
      expect(form.body.details).toEqual([{ field: 'secrets', message: 'key 1 of 2 must be UPPER_SNAKE_CASE, at most 128 characters' }])
      expect(form.text).not.toContain('4eC39HqLyjWDarjtT1zdp7dc')
      // A form's value with a NUL or a bad percent-escape: refused before the form is parsed,
      // naming the form field, which held the pasted name (secrets[sk-live-…]).
      for (const value of ['a%00b', 'a%zzb', 'a%ED%A0%80b']) {
        const bad = await t.req('POST', path, { token: admin.token, raw: `secrets[${pasted}]=${value}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
        expect({ value, status: bad.status, details: bad.body.details }).toEqual({ value, status: 422, details: [{ field: 'secrets', message: 'key 1 of 1 must be UPPER_SNAKE_CASE, at most 128 characters' }] })
        expect(bad.text).not.toContain('4eC39HqLyjWDarjtT1zdp7dc')
      }
    }
    // A name alone stays the service's, after the access checks: a member's to the organization's
    // env is 403; a valid name's value error still names it.
    const member = await makeActor(t, { role: 'member', org: owner.orgSlug })
    const env = `/api/v1/organizations/${owner.organizationId}/env`
    expect((await t.req('POST', env, { token: member.token, body: { secrets: { [pasted]: 'x' } } })).status).toBe(403)
    const named = await post({ FINE: 123 })
    expect([named.status, named.body.details]).toEqual([422, [{ field: 'secrets.FINE', message: 'secrets values must be strings of at most 65536 bytes (64 KiB) in UTF-8' }]])
    await new Promise<void>((r) => setImmediate(r))
    expect(t.logs.join('\n')).not.toContain('4eC39HqLyjWDarjtT1zdp7dc')
    const nonString = await post({ API_KEY: 12345678 })
    expect(nonString.status).toBe(422)
    expect(nonString.body.message).toContain('secrets values must be strings')
    expect(nonString.text).not.toContain('12345678')
    const big = await post({ BIG: 'x'.repeat(64 * 1024 + 1) })
    expect(big.status).toBe(422)
    expect(big.body.message).toContain('at most 65536 bytes (64 KiB)')
    expect(big.body.details[0].field).toBe('secrets.BIG')
    expect(big.text).not.toContain('xxxxxxxx')
    expect((await post({ FIT: 'é'.repeat(32 * 1024) })).status).toBe(200) // 64 KiB in UTF-8 bytes exactly
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`K${i}`, 'v']))
    expect((await post(many)).body.message).toContain('at most 100 keys')
    expect((await post({})).body.message).toContain('secrets must name at least one key')
    expect((await t.req('POST', `/api/v1/spaces/${id}/secrets`, { token: owner.token, body: { API_KEY: VALUE } })).status).toBe(422)

    const del = (body: unknown) => t.req('DELETE', `/api/v1/spaces/${id}/secrets`, { token: owner.token, body })
    expect((await del({ keys: [] })).status).toBe(422)
    const badDelete = await del({ keys: ['GOOD_KEY', 'bad-key'] })
    expect(badDelete.body.message).toStartWith('Validation failed: keys has invalid key 2 of 2 (not shown')
    expect(badDelete.text).not.toContain('bad-key')
    expect((await t.req('DELETE', `/api/v1/spaces/${id}/secrets`, { token: owner.token })).status).toBe(422)
    // Nothing invalid was stored.
    expect((await t.req('GET', `/api/v1/spaces/${id}/secrets`, { token: owner.token })).body.secrets).toEqual(['FIT'])
  })
})

// `{"keys": [...]}` (the DELETE's shape) sent to set secrets was answered "secrets must be an
// object of KEY: "value" strings; keys Unexpected property": a field the route ignores, listed
// as an error, beside a message that did not say `secrets` was missing.
describe('a body to set secrets without `secrets`', () => {
  test('is 422 naming `secrets` alone, what it must be, on a space and on the organization; nothing is stored', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const space = await newSpace(t, admin)
    const said = 'secrets is required: an object of KEY: "value" strings, e.g. {"secrets": {"API_KEY": "value"}} (deleting takes {"keys": ["API_KEY"]} with DELETE)'
    for (const path of [`/api/v1/spaces/${space}/secrets`, `/api/v1/organizations/${admin.organizationId}/env`]) {
      for (const body of [{ keys: ['API_KEY'] }, { keys: { API_KEY: VALUE } }, { API_KEY: VALUE }, {}]) {
        const res = await t.req('POST', path, { token: admin.token, body })
        expect({ path, body, status: res.status, code: res.body.code, message: res.body.message, details: res.body.details }).toEqual({
          path,
          body,
          status: 422,
          code: 'validation_failed',
          message: `Validation failed: ${said}`,
          details: [{ field: 'secrets', message: said }],
        })
        expect(res.text).not.toContain(VALUE)
      }
    }
    expect((await t.req('GET', `/api/v1/spaces/${space}/secrets`, { token: admin.token })).body.secrets).toEqual([])
    expect((await t.req('GET', `/api/v1/organizations/${admin.organizationId}/env`, { token: admin.token })).body.secrets).toEqual([])
  })
})

describe('organization secrets (/organizations/{orgId}/env)', () => {
  let t: TestApp
  let admin: Actor, member: Actor, viewer: Actor, outsider: Actor
  beforeAll(async () => {
    t = await makeTestApp()
    admin = await makeActor(t, { role: 'admin' })
    member = await makeActor(t, { role: 'member' })
    viewer = await makeActor(t, { role: 'viewer' })
    outsider = await makeActor(t, { role: 'admin', org: 'globex' })
  }, 60_000)
  const env = (orgId: string) => `/api/v1/organizations/${orgId}/env`

  test('admins write; members and admins read names; values never returned', async () => {
    const org = admin.organizationId
    const set = await t.req('POST', env(org), { token: admin.token, body: { secrets: { ANTHROPIC_API_KEY: VALUE, SLACK_TOKEN: 'xoxb-1' } } })
    expect(set.status).toBe(200)
    expect(set.body).toEqual({ success: true, keys: ['ANTHROPIC_API_KEY', 'SLACK_TOKEN'] })
    for (const who of [admin, member]) {
      const res = await t.req('GET', env(org), { token: who.token })
      expect(res.status).toBe(200)
      expect(res.body).toEqual({ success: true, organizationId: org, secrets: ['ANTHROPIC_API_KEY', 'SLACK_TOKEN'], count: 2 })
      expect(res.text).not.toContain(VALUE)
    }
    const del = await t.req('DELETE', env(org), { token: admin.token, body: { keys: ['SLACK_TOKEN'] } })
    expect(del.body).toEqual({ success: true, deleted: ['SLACK_TOKEN'] })
    expect((await t.req('GET', env(org), { token: admin.token })).body.secrets).toEqual(['ANTHROPIC_API_KEY'])
    expect((await t.req('POST', env(org), { token: admin.token, body: { secrets: { 'bad key': VALUE } } })).status).toBe(422)
  })

  test('members may not write (403 Forbidden), viewers may not read or write (403)', async () => {
    const org = admin.organizationId
    for (const [who, method, body] of [
      [member, 'POST', { secrets: { X: 'y' } }],
      [member, 'DELETE', { keys: ['ANTHROPIC_API_KEY'] }],
      [viewer, 'GET', undefined],
      [viewer, 'POST', { secrets: { X: 'y' } }],
      [viewer, 'DELETE', { keys: ['X'] }],
    ] as const) {
      const res = await t.req(method, env(org), { token: who.token, body })
      expect([who.role, method, res.status, res.body.code]).toEqual([who.role, method, 403, 'forbidden'])
      expect(res.body.message).toStartWith('Forbidden: ')
    }
  })

  test('another organization\'s id (or an unknown one) → 403 "Access denied to this organization", even for admins', async () => {
    for (const orgId of [outsider.organizationId, 'org_doesNotExist']) {
      for (const [method, body] of [['GET', undefined], ['POST', { secrets: { X: 'y' } }], ['DELETE', { keys: ['X'] }]] as const) {
        const res = await t.req(method, env(orgId), { token: admin.token, body })
        expect([method, res.status, res.body.code]).toEqual([method, 403, 'forbidden'])
        expect(res.body.message).toStartWith('Access denied to this organization')
      }
    }
    expect((await t.req('GET', env(outsider.organizationId), { token: outsider.token })).body.secrets).toEqual([])
  })

  test("the organization's slug in the path: still 403, but the message says the path takes an id and gives the caller's", async () => {
    // "your token belongs to another organization" was all it said, for the very organization the token belongs to.
    const res = await t.req('GET', env(admin.orgSlug), { token: admin.token })
    expect([res.status, res.body.message]).toEqual([403, `Access denied to this organization: your token belongs to another organization (forbidden). The path takes an organization id (org_…): yours is ${admin.organizationId}.`])
    const members = await t.req('GET', `/api/v1/organizations/${admin.orgSlug}/members`, { token: admin.token })
    expect([members.status, members.body.message]).toEqual([404, `Organization ${admin.orgSlug} not found: the path takes an organization id (org_…), and yours is ${admin.organizationId}`])
    const alias = await t.req('GET', `/api/tokens/list?organizationId=${admin.orgSlug}`, { token: admin.token })
    expect([alias.status, alias.body.message]).toEqual([403, `Access denied to this organization: your token belongs to another organization (forbidden). organizationId takes an organization id (org_…): yours is ${admin.organizationId}.`])
  })
})

describe('resolveSecrets and the audit log', () => {
  test('org and space secrets merge, the space winning; other spaces and organizations stay apart', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const outsider = await makeActor(t, { role: 'admin', org: 'globex' })
    const org = admin.organizationId
    const s1 = await newSpace(t, admin)
    const s2 = await newSpace(t, admin)
    await t.req('POST', `/api/v1/organizations/${org}/env`, { token: admin.token, body: { secrets: { A: 'org-a', B: 'org-b' } } })
    await t.req('POST', `/api/v1/spaces/${s1}/secrets`, { token: admin.token, body: { secrets: { B: 'space-b', C: 'space-c' } } })
    await t.req('POST', `/api/v1/spaces/${s2}/secrets`, { token: admin.token, body: { secrets: { D: 'other-d' } } })
    await t.req('POST', `/api/v1/organizations/${outsider.organizationId}/env`, { token: outsider.token, body: { secrets: { A: 'globex-a', Z: 'globex-z' } } })

    expect(await resolveSecrets(t.rt, org, s1)).toEqual({ A: 'org-a', B: 'space-b', C: 'space-c' })
    expect(await resolveSecrets(t.rt, org, null)).toEqual({ A: 'org-a', B: 'org-b' })
    expect(await resolveSecrets(t.rt, org, s2)).toEqual({ A: 'org-a', B: 'org-b', D: 'other-d' })
    expect(await resolveSecrets(t.rt, outsider.organizationId, null)).toEqual({ A: 'globex-a', Z: 'globex-z' })
    // A space id of another organization brings nothing of it.
    expect(await resolveSecrets(t.rt, outsider.organizationId, s1)).toEqual({ A: 'globex-a', Z: 'globex-z' })
  })

  test('a ciphertext moved to another key does not open (the AAD binds org, scope and key)', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const org = admin.organizationId
    await t.req('POST', `/api/v1/organizations/${org}/env`, { token: admin.token, body: { secrets: { REAL: VALUE, DECOY: 'x' } } })
    const real = (await t.db.select().from(secrets).where(eq(secrets.key, 'REAL')).get())!
    expect(real.valueEnc).toStartWith('v1.')
    expect(real.valueEnc).not.toContain(VALUE)
    await t.db.update(secrets).set({ valueEnc: real.valueEnc }).where(and(eq(secrets.organizationId, org), eq(secrets.key, 'DECOY'))).run()
    let err: unknown
    try {
      await resolveSecrets(t.rt, org, null)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(AppError)
    expect((err as AppError).code).toBe('decryption_failed')
    expect((err as AppError).message).not.toContain(VALUE)
  })

  test('every change is audited with key names only', async () => {
    const t = await makeTestApp()
    const admin = await makeActor(t, { role: 'admin' })
    const org = admin.organizationId
    const space = await newSpace(t, admin)
    await t.req('POST', `/api/v1/organizations/${org}/env`, { token: admin.token, body: { secrets: { B_KEY: VALUE, A_KEY: VALUE } } })
    t.clock.advance(1000)
    await t.req('POST', `/api/v1/spaces/${space}/secrets`, { token: admin.token, body: { secrets: { S_KEY: VALUE } }, headers: { 'x-request-id': 'req_audit1' } })
    t.clock.advance(1000)
    await t.req('DELETE', `/api/v1/spaces/${space}/secrets`, { token: admin.token, body: { keys: ['S_KEY', 'MISSING'] } })
    await t.req('DELETE', `/api/v1/organizations/${org}/env`, { token: admin.token, body: { keys: ['MISSING'] } }) // nothing deleted: no event
    await t.req('POST', `/api/v1/organizations/${org}/env`, { token: admin.token, body: { secrets: { 'bad-key': VALUE } } }) // refused: no event
    const rows = (await t.db.select().from(auditEvents).orderBy(auditEvents.createdAt).all()).filter((r) => r.type.startsWith('secret.'))
    expect(rows.map((r) => [r.type, r.targetType, r.targetId, openAuditFields(t.rt.box, r).details])).toEqual([
      ['secret.set', 'organization', org, { keys: ['A_KEY', 'B_KEY'] }],
      ['secret.set', 'space', space, { keys: ['S_KEY'] }],
      ['secret.deleted', 'space', space, { keys: ['S_KEY'] }],
    ])
    for (const r of rows) {
      expect(r).toMatchObject({ organizationId: org, actorUserId: admin.userId, actorTokenId: admin.tokenId, source: 'api' })
    }
    expect(rows[1]!.requestId).toBe('req_audit1')
    expect(JSON.stringify(rows)).not.toContain(VALUE)
  })
})

describe('the database file holds no secret value in plaintext', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teamday-space-secrets-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('after setting, replacing and reading org and space secrets (with tokens, names and a user agent): none in the files or the logs', async () => {
    const t = await atRestApp(dir)
    const admin = await makeActor(t, { role: 'admin' })
    const work = await sensitiveWorkload(t, admin)
    // The values really were stored and can be opened with the key.
    expect(await resolveSecrets(t.rt, admin.organizationId, work.spaceId)).toEqual({ ORG_ONE: SENSITIVE.orgSecret, SPACE_ONE: SENSITIVE.spaceSecret })
    const found = await readAtRest(t, dir)
    expectNoPlaintext(found, plaintexts(work))
    // Sanity: the scan does read the database (key names and e-mails are stored in clear).
    expect(found.files).toContain('SPACE_ONE')
    expect(found.files).toContain(admin.email)
  }, 30_000)
})

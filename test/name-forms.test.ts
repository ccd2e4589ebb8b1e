import { beforeEach, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

/**
 * Names people choose are kept in NFC (src/text.ts cleanName): a name typed with a decomposed
 * accent (e and U+0301) is the same text as the composed one, found by the agent list's `q`
 * either way, on both backends (neither database's comparison treats the two forms as equal).
 */

let t: TestApp
let admin: Actor

beforeEach(async () => {
  t = await makeTestApp()
  admin = await makeActor(t, { role: 'admin' })
})

const NFC = 'Caf\u00e9 \u00dcbersetzer' // Café Übersetzer
const NFD = NFC.normalize('NFD')

describe('NFC and NFD forms of one name', () => {
  test('an agent created with a decomposed name is stored composed, and q finds it in either form and any case', async () => {
    const made = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: NFD, role: 'r', systemPrompt: 'p' } })
    expect(made.status).toBe(201)
    expect(made.body.name).toBe(NFC)
    const other = await t.req('POST', '/api/v1/agents', { token: admin.token, body: { name: NFC, role: 'r', systemPrompt: 'p' } })
    expect(other.status).toBe(201)
    for (const q of ['caf\u00e9', 'cafe\u0301', 'CAFE\u0301', '\u00fcbers', 'U\u0308BERS']) {
      const r = await t.req('GET', `/api/v1/agents?q=${encodeURIComponent(q)}`, { token: admin.token })
      expect(r.status).toBe(200)
      expect(r.body.agents.map((a: any) => a.name)).toEqual([NFC, NFC])
    }
    const renamed = await t.req('PATCH', `/api/v1/agents/${made.body.id}`, { token: admin.token, body: { name: `  ${NFD} 2 ` } })
    expect(renamed.status).toBe(200)
    expect(renamed.body.agent?.name ?? renamed.body.name).toBe(`${NFC} 2`)
  })

  test('spaces, tokens and a member added keep their names composed', async () => {
    const space = await t.req('POST', '/api/v1/spaces', { token: admin.token, body: { name: NFD } })
    expect(space.status).toBe(201)
    expect(space.body.name ?? space.body.space?.name).toBe(NFC)
    const token = await t.req('POST', '/api/v1/tokens', { token: admin.token, body: { name: NFD, scopes: ['agents:read'] } })
    expect(token.status).toBe(201)
    expect(token.body.token?.name ?? token.body.name).toBe(NFC)
    const member = await t.req('POST', `/api/v1/organizations/${admin.organizationId}/members`, { token: admin.token, body: { email: 'x@acme.test', role: 'viewer', name: NFD } })
    expect(member.status).toBe(201)
    expect(member.body.member.name).toBe(NFC)
  })
})

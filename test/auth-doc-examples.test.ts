import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'

/**
 * TeamDay's docs' examples, sent as people copy them before they work: the placeholders
 * (`td_your-token-here`, `td_your-actual-token-here`, the German page's sample token
 * `td_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdE`), `$TEAMDAY_TOKEN` that the shell did not
 * expand (single quotes) or expanded to nothing (unset), and a token kept in quotes (`"td_…"`, as
 * a Docker --env-file or a CI variable keeps them). Each was a 401 about the prefix or the length
 * ("it does not start with td_" for a token that does, inside its quotes); each now says what
 * happened and what to do, with its own `details.reason`. Never the token itself.
 */
let t: TestApp
let a: Actor
beforeAll(async () => {
  t = await makeTestApp()
  a = await makeActor(t, { role: 'member' })
})
afterAll(() => t.rt.close())

const send = (authorization: string) => t.req('GET', '/api/v1/agents', { headers: { authorization } })

describe("the docs' examples sent as they are", () => {
  test.each([
    ['Bearer td_your-token-here', 'placeholder'],
    ['Bearer td_your-actual-token-here', 'placeholder'],
    ['Bearer td_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdE', 'placeholder'],
  ])('%s: the placeholder of the docs, to be replaced by a token', async (header, reason) => {
    const r = await send(header)
    expect(r.status).toBe(401)
    expect(r.body.code).toBe('malformed_token')
    expect(r.body.details).toEqual({ reason })
    expect(r.body.message).toStartWith('Invalid token format: this is the example token of the docs, not a token: replace it with your own.')
  })

  test.each(['Bearer $TEAMDAY_TOKEN', 'Bearer ${TEAMDAY_TOKEN}', 'Bearer $env:TEAMDAY_TOKEN', 'Bearer %TEAMDAY_TOKEN%'])('%s: a variable the shell did not replace', async (header) => {
    const r = await send(header)
    expect(r.status).toBe(401)
    expect(r.body.code).toBe('malformed_token')
    expect(r.body.details).toEqual({ reason: 'unexpanded_variable' })
    expect(r.body.message).toStartWith('Invalid token format: the name of a variable was sent, not its value: the shell did not replace it (single quotes keep $TEAMDAY_TOKEN as it is written).')
    expect(r.body.message).toContain('"Authorization: Bearer $TEAMDAY_TOKEN" in double quotes')
  })

  test('"Bearer " alone (an unset variable expands to nothing): says the variable may be empty', async () => {
    const r = await send('Bearer ')
    expect(r.body.code).toBe('empty_bearer_token')
    expect(r.body.message).toContain('If the token comes from a variable ("Bearer $TEAMDAY_TOKEN"), it is empty or unset in this shell: export TEAMDAY_TOKEN="td_…" first.')
  })

  test('a real token in quotes: "in quotes", not "does not start with td_"; the token not echoed', async () => {
    for (const quoted of [`"${a.token}"`, `'${a.token}'`]) {
      const r = await send(`Bearer ${quoted}`)
      expect(r.status).toBe(401)
      expect(r.body.code).toBe('malformed_token')
      expect(r.body.details).toEqual({ reason: 'quoted' })
      expect(r.body.message).toStartWith('Invalid token format: the token is in quotes; send it without them')
      expect(r.text).not.toContain(a.token.slice(3))
    }
    // The token itself still works, and a malformed one keeps its old reason.
    expect((await send(`Bearer ${a.token}`)).status).toBe(200)
    expect((await send('Bearer td_short')).body.details).toEqual({ reason: 'wrong_length' })
    expect((await send('Bearer abc')).body.details).toEqual({ reason: 'missing_prefix' })
  })
})

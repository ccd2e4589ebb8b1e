import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { sqliteMigrations } from '../src/db/migrations.gen'
import { checkSlug, chooseSlug, deriveSlug, insertWithSlug, isSlug, isSlugConflict, SLUG_MAX, slugWrite } from '../src/modules/slugs'
import { makeActor, makeTestApp, type Actor, type TestApp } from './helpers/app'
import { startProviderDouble, type ProviderDouble } from './helpers/providers'

/** Issue 14: agents and spaces by slug. */

let double: ProviderDouble
let t: TestApp
let owner: Actor
let admin: Actor
let other: Actor
let outsider: Actor

beforeAll(async () => {
  double = startProviderDouble()
  t = await makeTestApp({ config: { openaiBaseUrl: double.openaiBaseUrl, defaultModel: 'test-model' } })
  owner = await makeActor(t, { role: 'member' })
  admin = await makeActor(t, { role: 'admin' })
  other = await makeActor(t, { role: 'member' })
  outsider = await makeActor(t, { role: 'admin', org: 'elsewhere' })
})
afterAll(() => double.stop())

const agent = async (body: Record<string, unknown>, who = owner) => t.req('POST', '/api/v1/agents', { token: who.token, body: { visibility: 'organization', ...body } })
const space = async (body: Record<string, unknown>, who = owner) => t.req('POST', '/api/v1/spaces', { token: who.token, body: { visibility: 'organization', ...body } })

describe('derivation', () => {
  test('lower-case ASCII, dashes, trimmed, capped at 64; a fallback when nothing is left', () => {
    expect(deriveSlug('Deploy Bot', 'agent')).toBe('deploy-bot')
    // Letters that are no letter and an accent were dropped: "Søren" was s-ren, "Łódź" d, "Straße" stra-e.
    expect([deriveSlug('Søren Bot', 'agent'), deriveSlug('Łódź', 'space'), deriveSlug('Straße', 'agent'), deriveSlug('Ærø Œuvre Þór Đorđe', 'agent'), deriveSlug('Ünïcødé 🤖', 'agent')]).toEqual(['soren-bot', 'lodz', 'strasse', 'aero-oeuvre-thor-dorde', 'unicode'])
    expect(deriveSlug('  --Café  Ünïcode__Crème!! ', 'agent')).toBe('cafe-unicode-creme')
    expect(deriveSlug('日本語', 'agent')).toBe('agent')
    expect(deriveSlug('!!!', 'space')).toBe('space')
    const long = deriveSlug(`${'a'.repeat(63)} b`, 'agent')
    expect(long).toBe('a'.repeat(63))
    expect(deriveSlug('x'.repeat(300), 'agent')).toHaveLength(64)
    for (const s of ['deploy-bot', 'a', '0', 'a-b-c']) expect(isSlug(s)).toBe(true)
    for (const s of ['', '-a', 'a-', 'A', 'a_b', 'char_8Kq2LmX9vB3nR8kT1wYz', 'a b', 'é', 'x'.repeat(65)]) expect(isSlug(s)).toBe(false)
  })

  test('create derives the slug from the name; a taken derived slug gets a short suffix', async () => {
    const first = await agent({ name: 'Deploy Bot' })
    expect(first.status).toBe(201)
    expect(first.body.agent.slug).toBe('deploy-bot')
    const second = await agent({ name: 'Deploy  BOT!' })
    expect(second.status).toBe(201)
    expect(second.body.agent.slug).toMatch(/^deploy-bot-[a-z0-9]{4}$/)
    // Another member's agent counts too: slugs are unique in the organization.
    const third = await agent({ name: 'deploy bot' }, other)
    expect(third.body.agent.slug).toMatch(/^deploy-bot-[a-z0-9]{4}$/)
    expect(new Set([first.body.agent.slug, second.body.agent.slug, third.body.agent.slug]).size).toBe(3)
    // Another organization has its own namespace.
    expect((await agent({ name: 'Deploy Bot' }, outsider)).body.agent.slug).toBe('deploy-bot')

    const s1 = await space({ name: 'Production' })
    expect(s1.body.space.slug).toBe('production')
    expect((await space({ name: 'production' })).body.space.slug).toMatch(/^production-[a-z0-9]{4}$/)
    expect((await space({ name: '日本' })).body.space.slug).toBe('space')
  })
})

describe('the slug functions, called directly (the body schemas check the pattern first over HTTP)', () => {
  test('checkSlug returns a valid slug and refuses any other with 422 naming slug, the value cut to 100 characters', () => {
    expect(checkSlug('deploy-bot')).toBe('deploy-bot')
    for (const bad of ['Deploy', 'a_b', '-a', '', 'x'.repeat(65)]) {
      let err: any
      try {
        checkSlug(bad)
      } catch (e) {
        err = e
      }
      expect(err).toMatchObject({ code: 'validation_failed', status: 422 })
      expect(err.details).toEqual([{ field: 'slug', message: expect.stringContaining(`got "${bad}"`) }])
    }
    const long = 'Y'.repeat(150)
    expect(() => checkSlug(long)).toThrow(`got "${'Y'.repeat(100)}"`)
    expect(() => checkSlug(long)).not.toThrow('Y'.repeat(101))
  })

  test('chooseSlug: an explicit slug is checked and refused when taken; a derived one is tried, then with a suffix until one is free', async () => {
    await expect(chooseSlug('space', 'prod', 'Production', async () => true)).rejects.toMatchObject({ code: 'slug_taken', message: expect.stringContaining('"prod" is already used by another space') })
    await expect(chooseSlug('space', 'Prod', 'Production', async () => false)).rejects.toMatchObject({ code: 'validation_failed' })
    expect(await chooseSlug('agent', 'prod', 'Production', async () => false)).toBe('prod')
    expect(await chooseSlug('agent', undefined, 'Deploy Bot', async () => false)).toBe('deploy-bot')

    // The first three suffixed candidates are taken too: the fourth (8 random characters) is the answer.
    const asked: string[] = []
    const got = await chooseSlug('agent', undefined, 'Deploy Bot', async (s) => (asked.push(s), asked.length <= 4))
    expect(asked).toHaveLength(5)
    expect(asked[0]).toBe('deploy-bot')
    for (const s of asked.slice(1, 4)) expect(s).toMatch(/^deploy-bot-[a-z0-9]{4}$/)
    expect(got).toBe(asked[4]!)
    expect(got).toMatch(/^deploy-bot-[a-z0-9]{8}$/)

    // Every candidate taken: 409, the name cut to 100 characters in the message.
    const name = 'Q'.repeat(150)
    const err: any = await chooseSlug('agent', undefined, name, async () => true).catch((e) => e)
    expect(err).toMatchObject({ code: 'slug_taken' })
    expect(err.message).toContain(`"${'Q'.repeat(100)}"`)
    expect(err.message).not.toContain('Q'.repeat(101))
  })

  test('a suffixed slug of a 64-character name is still a slug of at most 64 characters', async () => {
    for (const name of ['x'.repeat(64), `${'a'.repeat(54)} ${'b'.repeat(20)}`]) {
      const base = deriveSlug(name, 'agent')
      const got = await chooseSlug('agent', undefined, name, async (s) => s === base)
      expect(got.length).toBeLessThanOrEqual(SLUG_MAX)
      expect(isSlug(got)).toBe(true)
      expect(got.startsWith(base.slice(0, SLUG_MAX - 9).replace(/-+$/, ''))).toBe(true)
    }
  })

  test('suffixes are random lower-case letters and digits in every position', async () => {
    const seen = [new Set<string>(), new Set<string>(), new Set<string>(), new Set<string>()]
    for (let i = 0; i < 200; i++) {
      const s = await chooseSlug('agent', undefined, 'bot', async (x) => x === 'bot')
      expect(s).toMatch(/^bot-[a-z0-9]{4}$/)
      for (let j = 0; j < 4; j++) seen[j]!.add(s[4 + j]!)
    }
    // 36 symbols; 200 draws per position: far more than 20 distinct ones, letters among them.
    for (const chars of seen) {
      expect(chars.size).toBeGreaterThan(20)
      expect([...chars].some((c) => /[a-z]/.test(c))).toBe(true)
    }
  })
})

describe('explicit slugs', () => {
  test('settable on create and PATCH; a taken one is 409 slug_taken; the agent keeps its own', async () => {
    const a = await agent({ name: 'Release helper', slug: 'release' })
    expect(a.status).toBe(201)
    expect(a.body.agent.slug).toBe('release')
    const taken = await agent({ name: 'Other', slug: 'release' })
    expect(taken.status).toBe(409)
    expect(taken.body).toMatchObject({ code: 'slug_taken', details: [{ field: 'slug' }] })
    expect(taken.body.message).toContain('"release"')

    const b = await agent({ name: 'Other' })
    const clash = await t.req('PATCH', `/api/v1/agents/${b.body.id}`, { token: owner.token, body: { slug: 'release' } })
    expect(clash.status).toBe(409)
    expect(clash.body.code).toBe('slug_taken')
    // Its own slug again is no conflict; a new one is taken at once.
    expect((await t.req('PATCH', '/api/v1/agents/release', { token: owner.token, body: { slug: 'release', description: 'x' } })).status).toBe(200)
    const moved = await t.req('PATCH', `/api/v1/agents/${b.body.id}`, { token: owner.token, body: { slug: 'other-thing' } })
    expect(moved.body.agent.slug).toBe('other-thing')
    expect((await t.req('GET', '/api/v1/agents/other-thing', { token: owner.token })).body.agent.id).toBe(b.body.id)

    // Renaming keeps the slug.
    const renamed = await t.req('PATCH', '/api/v1/agents/release', { token: owner.token, body: { name: 'Completely different' } })
    expect(renamed.body.agent).toMatchObject({ name: 'Completely different', slug: 'release' })

    const s = await space({ name: 'Staging', slug: 'stage' })
    expect(s.body.space.slug).toBe('stage')
    expect((await space({ name: 'Stage 2', slug: 'stage' })).body.code).toBe('slug_taken')
    const s2 = await space({ name: 'Stage 2' })
    expect((await t.req('PATCH', `/api/v1/spaces/${s2.body.space.id}`, { token: owner.token, body: { slug: 'stage' } })).body.code).toBe('slug_taken')
    expect((await t.req('PATCH', `/api/v1/spaces/${s2.body.space.id}`, { token: owner.token, body: { slug: 'stage-two' } })).body.space.slug).toBe('stage-two')
  })

  test('an archived agent keeps its slug: taken for new agents, and it is still found by it', async () => {
    const a = await agent({ name: 'Old timer', slug: 'old-timer' })
    expect((await t.req('DELETE', '/api/v1/agents/old-timer', { token: owner.token })).status).toBe(200)
    expect((await agent({ name: 'x', slug: 'old-timer' })).body.code).toBe('slug_taken')
    expect((await agent({ name: 'Old timer' })).body.agent.slug).toMatch(/^old-timer-[a-z0-9]{4}$/)
    const got = await t.req('GET', '/api/v1/agents/old-timer', { token: owner.token })
    expect(got.body.agent).toMatchObject({ id: a.body.id, archived: true })
  })

  test('the pattern is enforced: 422 naming slug (upper case, underscore, dashes at the ends, too long, empty)', async () => {
    for (const slug of ['Deploy', 'deploy_bot', '-x', 'x-', 'x'.repeat(65), '', 'a b', 'café']) {
      const r = await agent({ name: 'Bad', slug })
      expect({ slug, status: r.status, code: r.body.code }).toEqual({ slug, status: 422, code: 'validation_failed' })
      expect(JSON.stringify(r.body.details)).toContain('slug')
      const s = await space({ name: 'Bad', slug })
      expect({ slug, status: s.status }).toEqual({ slug, status: 422 })
    }
    const a = await agent({ name: 'Good' })
    expect((await t.req('PATCH', `/api/v1/agents/${a.body.id}`, { token: owner.token, body: { slug: 'Not_OK' } })).status).toBe(422)
  })

  test("a slug can never be another agent's id: no hijack of an id-addressed URL", async () => {
    const victim = await agent({ name: 'Victim' }, other)
    const id = victim.body.id as string
    // Ids have an underscore; slugs may not: both ways of taking the id are refused.
    expect((await agent({ name: 'Attacker', slug: id })).status).toBe(422)
    expect((await agent({ name: 'Attacker', slug: id.toLowerCase() })).status).toBe(422)
    const mine = await agent({ name: 'Attacker' })
    expect((await t.req('PATCH', `/api/v1/agents/${mine.body.id}`, { token: owner.token, body: { slug: id } })).status).toBe(422)
    expect((await t.req('PATCH', `/api/v1/agents/${mine.body.id}`, { token: owner.token, body: { slug: id.replace('_', '-').toLowerCase() } })).status).toBe(200)
    // The id still names the victim.
    expect((await t.req('GET', `/api/v1/agents/${id}`, { token: admin.token })).body.agent.name).toBe('Victim')
    // Same for spaces.
    const vs = await space({ name: 'Victim space' }, other)
    expect((await space({ name: 'x', slug: vs.body.space.id })).status).toBe(422)
  })
})

describe('id or slug, on every route that names an agent or a space', () => {
  test('agents: GET, PATCH, execute, DELETE by slug; responses carry the id', async () => {
    const a = await agent({ name: 'Deployer', slug: 'deployer', systemPrompt: 'You deploy.' })
    const id = a.body.id as string
    const got = await t.req('GET', '/api/v1/agents/deployer', { token: owner.token })
    expect(got.status).toBe(200)
    expect(got.body.agent).toMatchObject({ id, slug: 'deployer' })
    expect(got.body).toEqual((await t.req('GET', `/api/v1/agents/${id}`, { token: owner.token })).body)

    const patched = await t.req('PATCH', '/api/v1/agents/deployer', { token: owner.token, body: { description: 'by slug' } })
    expect(patched.body.agent).toMatchObject({ id, description: 'by slug' })

    const prod = await space({ name: 'Production', slug: 'prod' })
    const run = await t.req('POST', '/api/v1/agents/deployer/execute', { token: owner.token, body: { message: 'Deploy 4f2a9c1 to production', spaceId: 'prod' } })
    expect(run.status).toBe(200)
    expect(run.body.status).toBe('completed')
    const exec = await t.req('GET', `/api/v1/executions/${run.body.executionId}`, { token: owner.token })
    expect(exec.body.execution ?? exec.body).toMatchObject({ agentId: id, spaceId: prod.body.space.id })

    const del = await t.req('DELETE', '/api/v1/agents/deployer', { token: owner.token })
    expect(del.status).toBe(200)
    expect((await t.req('GET', `/api/v1/agents/${id}`, { token: owner.token })).body.agent.archived).toBe(true)
    // Archived: not runnable, by slug or id.
    expect((await t.req('POST', '/api/v1/agents/deployer/execute', { token: owner.token, body: { message: 'x' } })).status).toBe(404)
  })

  test('spaces: GET, PATCH, secrets (list, set, delete), DELETE by slug', async () => {
    const s = await space({ name: 'Docs', slug: 'docs' })
    const id = s.body.space.id as string
    expect((await t.req('GET', '/api/v1/spaces/docs', { token: owner.token })).body.space).toMatchObject({ id, slug: 'docs' })
    expect((await t.req('PATCH', '/api/v1/spaces/docs', { token: owner.token, body: { description: 'by slug' } })).body.space).toMatchObject({ id, description: 'by slug' })
    const set = await t.req('POST', '/api/v1/spaces/docs/secrets', { token: owner.token, body: { secrets: { API_KEY: 'v' } } })
    expect(set.status).toBe(200)
    const names = await t.req('GET', '/api/v1/spaces/docs/secrets', { token: owner.token })
    expect(names.body).toMatchObject({ spaceId: id, secrets: ['API_KEY'] })
    expect((await t.req('GET', `/api/v1/spaces/${id}/secrets`, { token: owner.token })).body.secrets).toEqual(['API_KEY'])
    expect((await t.req('DELETE', '/api/v1/spaces/docs/secrets', { token: owner.token, body: { keys: ['API_KEY'] } })).body.deleted).toEqual(['API_KEY'])
    expect((await t.req('DELETE', '/api/v1/spaces/docs', { token: owner.token })).status).toBe(200)
    expect((await t.req('GET', `/api/v1/spaces/${id}`, { token: owner.token })).body.space.archived).toBe(true)
  })

  test('tasks: spaceId and an agent assignee by slug are stored as ids', async () => {
    const s = await space({ name: 'Tasks home', slug: 'tasks-home' })
    const a = await agent({ name: 'Task agent', slug: 'task-agent' })
    const r = await t.req('POST', '/api/v1/tasks', { token: owner.token, body: { title: 'Do it', spaceId: 'tasks-home', assignedTo: 'task-agent', assigneeType: 'agent' } })
    expect(r.status).toBe(201)
    const task = r.body.task ?? r.body
    expect(task).toMatchObject({ spaceId: s.body.space.id, assignedTo: a.body.id, assigneeType: 'agent' })
    const bad = await t.req('POST', '/api/v1/tasks', { token: owner.token, body: { title: 'x', spaceId: 'no-such-space' } })
    expect(bad.status).toBe(422)
    // The list filter too.
    const listed = await t.req('GET', '/api/v1/tasks?spaceId=tasks-home', { token: owner.token })
    const rows = Array.isArray(listed.body) ? listed.body : listed.body.tasks
    expect(rows.map((x: any) => x.id)).toEqual([task.id])
    const none = await t.req('GET', '/api/v1/tasks?spaceId=no-such-space', { token: owner.token })
    expect(Array.isArray(none.body) ? none.body : none.body.tasks).toEqual([])
  })

  test('executions list: agentId and spaceId filters by slug', async () => {
    const a = await agent({ name: 'Filtered', slug: 'filtered' })
    const s = await space({ name: 'Filter space', slug: 'filter-space' })
    const run = await t.req('POST', '/api/v1/agents/filtered/execute', { token: owner.token, body: { message: 'x', spaceId: 'filter-space' } })
    expect(run.status).toBe(200)
    await t.req('POST', '/api/v1/agents/filtered/execute', { token: owner.token, body: { message: 'y' } })
    const byAgent = await t.req('GET', '/api/v1/executions?agentId=filtered', { token: owner.token })
    expect(byAgent.body.map((e: any) => e.agentId)).toEqual([a.body.id, a.body.id])
    const bySpace = await t.req('GET', '/api/v1/executions?spaceId=filter-space', { token: owner.token })
    expect(bySpace.body.map((e: any) => [e.id, e.spaceId])).toEqual([[run.body.executionId, s.body.space.id]])
    expect((await t.req('GET', '/api/v1/executions?agentId=unknown-slug', { token: owner.token })).body).toEqual([])
  })

  test("the rule holds by slug: another member's private agent, another organization's slug, unknown slugs are 404", async () => {
    const priv = await agent({ name: 'Secret', slug: 'secret-agent', visibility: 'private' }, other)
    expect(priv.status).toBe(201)
    expect((await t.req('GET', '/api/v1/agents/secret-agent', { token: owner.token })).status).toBe(404)
    expect((await t.req('POST', '/api/v1/agents/secret-agent/execute', { token: owner.token, body: { message: 'x' } })).status).toBe(404)
    // An admin sees it, by slug too.
    expect((await t.req('GET', '/api/v1/agents/secret-agent', { token: admin.token })).status).toBe(200)
    // The outsider's organization has no such slug; its own "deploy-bot" is not ours.
    expect((await t.req('GET', '/api/v1/agents/secret-agent', { token: outsider.token })).status).toBe(404)
    const theirs = (await t.req('GET', '/api/v1/agents/deploy-bot', { token: outsider.token })).body.agent
    const ours = (await t.req('GET', '/api/v1/agents/deploy-bot', { token: owner.token })).body.agent
    expect(theirs.organizationId).toBe(outsider.organizationId)
    expect(ours.organizationId).toBe(owner.organizationId)
    expect(theirs.id).not.toBe(ours.id)
    const privSpace = await space({ name: 'Hidden', slug: 'hidden', visibility: 'private' }, other)
    expect(privSpace.status).toBe(201)
    expect((await t.req('GET', '/api/v1/spaces/hidden', { token: owner.token })).status).toBe(404)
    expect((await t.req('POST', '/api/v1/agents/deploy-bot/execute', { token: owner.token, body: { message: 'x', spaceId: 'hidden' } })).status).toBe(404)
    for (const path of ['/api/v1/agents/nope', '/api/v1/agents/NOT_A_SLUG', '/api/v1/spaces/nope', '/api/v1/spaces/nope/secrets', `/api/v1/agents/${'x'.repeat(100)}`]) {
      const r = await t.req('GET', path, { token: owner.token })
      expect({ path, status: r.status, code: r.body.code }).toEqual({ path, status: 404, code: 'not_found' })
    }
    expect((await t.req('GET', `/api/v1/agents/${'x'.repeat(101)}`, { token: owner.token })).status).toBe(422)
  })
})

describe('what a 409 slug_taken tells', () => {
  test("only that the slug is used in the caller's own organization (a private row's too, as GitHub's names in an account), nothing of the row; another organization's slugs never", async () => {
    const priv = await agent({ name: 'Quiet Plan', slug: 'quiet-plan', visibility: 'private' }, other)
    const privSpace = await space({ name: 'Quiet Room', slug: 'quiet-room', visibility: 'private' }, other)
    expect([priv.status, privSpace.status]).toEqual([201, 201])
    for (const [r, row] of [
      [await agent({ name: 'x', slug: 'quiet-plan' }), priv.body.agent],
      [await space({ name: 'x', slug: 'quiet-room' }), privSpace.body.space],
    ] as const) {
      expect([r.status, r.body.code]).toEqual([409, 'slug_taken'])
      const said = JSON.stringify(r.body)
      for (const hidden of [row.id, row.name, other.userId, other.email]) expect(said).not.toContain(hidden)
    }
    // Another organization's namespace is its own: the same slugs are free there, and its 409s name ours never.
    expect((await agent({ name: 'x', slug: 'quiet-plan' }, outsider)).status).toBe(201)
    expect((await space({ name: 'x', slug: 'quiet-room' }, outsider)).status).toBe(201)
  })
})

describe('a slug taken by a concurrent request', () => {
  test('the unique index is recognised as a conflict (SQLite and PostgreSQL messages)', () => {
    expect(isSlugConflict(new Error('UNIQUE constraint failed: agents.organization_id, agents.slug'))).toBe(true)
    expect(isSlugConflict(Object.assign(new Error('Failed query'), { cause: new Error('UNIQUE constraint failed: spaces.organization_id, spaces.slug') }))).toBe(true)
    expect(isSlugConflict(new Error('duplicate key value violates unique constraint "agents_org_slug_unique"'))).toBe(true)
    expect(isSlugConflict(new Error('UNIQUE constraint failed: users.email'))).toBe(false)
    // PostgreSQL: both halves are needed; another unique index of the table is not a slug conflict.
    expect(isSlugConflict(new Error('duplicate key value violates unique constraint "agents_pkey"'))).toBe(false)
    expect(isSlugConflict(new Error('relation "agents_org_slug_unique" does not exist'))).toBe(false)
  })

  test('two creates with the same explicit slug at once: one 201, one 409', async () => {
    const [x, y] = await Promise.all([agent({ name: 'Racer', slug: 'racer' }), agent({ name: 'Racer', slug: 'racer' })])
    expect([x.status, y.status].sort()).toEqual([201, 409])
  })

  /**
   * An insert (or update) whose first calls fail as scripted: 'conflict' breaks the slug index (the
   * winner of the race has the slug now: it is taken from then on), an Error is thrown as it is;
   * later calls succeed. Over HTTP on SQLite the twenty creates below never lose a race (each
   * request's look-up and insert run back to back), and on PostgreSQL how many do is luck: the
   * retry rules are checked on the functions.
   */
  function racingWrite(script: ('conflict' | Error)[]) {
    const tried: string[] = []
    const lost = new Set<string>()
    return {
      tried,
      taken: async (slug: string) => lost.has(slug),
      write: async (slug: string) => {
        const step = script[tried.length]
        tried.push(slug)
        if (step === 'conflict') {
          lost.add(slug)
          throw new Error('UNIQUE constraint failed: agents.organization_id, agents.slug')
        }
        if (step) throw step
        return `row with ${slug}`
      },
    }
  }

  test('insertWithSlug: a derived slug that lost the race is chosen again (then suffixed), three tries in all; a third loss is 409 naming its slug', async () => {
    const twice = racingWrite(['conflict', 'conflict'])
    expect(await insertWithSlug('agent', undefined, 'Deploy Bot', twice.taken, twice.write)).toBe(`row with ${twice.tried[2]}`)
    expect(twice.tried).toHaveLength(3)
    expect(twice.tried[0]).toBe('deploy-bot')
    for (const s of twice.tried.slice(1)) expect(s).toMatch(/^deploy-bot-[a-z0-9]{4}$/)
    const thrice = racingWrite(['conflict', 'conflict', 'conflict'])
    const err = await insertWithSlug('agent', undefined, 'Deploy Bot', thrice.taken, thrice.write).catch((e) => e)
    expect(thrice.tried).toHaveLength(3)
    expect(err).toMatchObject({ code: 'slug_taken', message: expect.stringContaining(`"${thrice.tried[2]}" is already used by another agent`) })
  })

  test('insertWithSlug: an explicit slug that lost the race is 409 after one insert; any other failure is thrown as it is, not retried', async () => {
    const explicit = racingWrite(['conflict'])
    await expect(insertWithSlug('space', 'chosen', 'Other', explicit.taken, explicit.write)).rejects.toMatchObject({ code: 'slug_taken', message: expect.stringContaining('"chosen" is already used by another space') })
    expect(explicit.tried).toEqual(['chosen'])
    const broken = new Error('disk I/O error')
    for (const slug of [undefined, 'chosen']) {
      const other = racingWrite([broken])
      expect([slug, await insertWithSlug('space', slug, 'Other', other.taken, other.write).catch((e) => e)]).toEqual([slug, broken])
      expect([slug, other.tried]).toEqual([slug, [slug ?? 'other']])
    }
  })

  test('slugWrite: an update that broke the slug index is 409 naming the slug; any other failure is thrown as it is; a success is returned', async () => {
    const lost = racingWrite(['conflict'])
    await expect(slugWrite('agent', 'racer', () => lost.write('racer'))).rejects.toMatchObject({ code: 'slug_taken', message: expect.stringContaining('"racer" is already used by another agent') })
    const broken = new Error('disk I/O error')
    const other = racingWrite([broken])
    expect(await slugWrite('space', 'racer', () => other.write('racer')).catch((e) => e)).toBe(broken)
    expect(await slugWrite('space', 'racer', async () => 'row')).toBe('row')
  })
})

describe('migration 0005 backfills existing rows', () => {
  test('spaces get unique derived slugs; duplicate agent slugs are made unique; the unique indexes hold', () => {
    const db = new Database(':memory:')
    const run = (tag: string) => {
      for (const stmt of sqliteMigrations.sql[tag]!.split('--> statement-breakpoint')) if (stmt.trim()) db.run(stmt)
    }
    const tags = sqliteMigrations.journal.entries.map((e: { tag: string }) => e.tag)
    const at = tags.findIndex((tag) => tag.startsWith('0005_'))
    expect(at).toBeGreaterThan(0)
    for (const tag of tags.slice(0, at)) run(tag)
    db.run(`INSERT INTO organizations (id, slug, name, created_at) VALUES ('org_a', 'a', 'a', 0), ('org_b', 'b', 'b', 0)`)
    db.run(`INSERT INTO users (id, email, name, created_at) VALUES ('user_1', 'u@x.y', null, 0)`)
    const spaceNames: [string, string, number][] = [
      ['space_AAAAAAAAAAAAAAAAAAA1', 'Production', 1],
      ['space_AAAAAAAAAAAAAAAAAAA2', 'production', 2],
      ['space_AAAAAAAAAAAAAAAAAAA3', '  Prod -- Ünï  !!', 3],
      ['space_AAAAAAAAAAAAAAAAAAA4', '日本', 4],
      ['space_AAAAAAAAAAAAAAAAAAA5', 'x'.repeat(150), 5],
      ['space_AAAAAAAAAAAAAAAAAAA6', 'Production', 6],
    ]
    for (const [id, name, n] of spaceNames) {
      db.run(`INSERT INTO spaces (id, organization_id, created_by, name, created_at, updated_at) VALUES (?, 'org_a', 'user_1', ?, ?, ?)`, [id, name, n, n])
    }
    db.run(`INSERT INTO spaces (id, organization_id, created_by, name, created_at, updated_at) VALUES ('space_BBBBBBBBBBBBBBBBBBB1', 'org_b', 'user_1', 'Production', 1, 1)`)
    for (const [id, org, slug, n] of [['char_AAAAAAAAAAAAAAAAAAA1', 'org_a', 'deploy-bot', 1], ['char_AAAAAAAAAAAAAAAAAAA2', 'org_a', 'deploy-bot', 2], ['char_BBBBBBBBBBBBBBBBBBB1', 'org_b', 'deploy-bot', 1]] as const) {
      db.run(`INSERT INTO agents (id, organization_id, user_id, name, slug, created_at, updated_at) VALUES (?, ?, 'user_1', 'Deploy Bot', ?, ?, ?)`, [id, org, slug, n, n])
    }
    run(tags[at]!)
    const spaces = Object.fromEntries((db.query('SELECT id, slug FROM spaces').all() as { id: string; slug: string }[]).map((r) => [r.id, r.slug]))
    expect(spaces['space_AAAAAAAAAAAAAAAAAAA1']).toBe('production')
    expect(spaces['space_AAAAAAAAAAAAAAAAAAA2']).toBe('production-aaaaaaa2')
    expect(spaces['space_AAAAAAAAAAAAAAAAAAA3']).toBe('prod-n')
    expect(spaces['space_AAAAAAAAAAAAAAAAAAA4']).toBe('space')
    expect(spaces['space_AAAAAAAAAAAAAAAAAAA5']).toBe('x'.repeat(64))
    expect(spaces['space_AAAAAAAAAAAAAAAAAAA6']).toBe('production-aaaaaaa6')
    expect(spaces['space_BBBBBBBBBBBBBBBBBBB1']).toBe('production')
    for (const slug of Object.values(spaces)) expect(isSlug(slug)).toBe(true)
    const agents = Object.fromEntries((db.query('SELECT id, slug FROM agents').all() as { id: string; slug: string }[]).map((r) => [r.id, r.slug]))
    expect(agents).toEqual({ char_AAAAAAAAAAAAAAAAAAA1: 'deploy-bot', char_AAAAAAAAAAAAAAAAAAA2: 'deploy-bot-aaaaaaa2', char_BBBBBBBBBBBBBBBBBBB1: 'deploy-bot' })
    expect(() => db.run(`UPDATE agents SET slug = 'deploy-bot' WHERE id = 'char_AAAAAAAAAAAAAAAAAAA2'`)).toThrow(/UNIQUE/)
    expect(() => db.run(`UPDATE spaces SET slug = 'production' WHERE id = 'space_AAAAAAAAAAAAAAAAAAA2'`)).toThrow(/UNIQUE/)
    db.close()
  })
})

describe('creates of the same name at once', () => {
  test.each([
    ['agents', 'agent'],
    ['spaces', 'space'],
  ] as const)('/%s: twenty at once all succeed with twenty slugs; twenty with one explicit slug: one 201, the others 409', async (path, key) => {
    const t = await makeTestApp()
    const a = await makeActor(t, { role: 'admin' })
    const derived = await Promise.all(Array.from({ length: 20 }, () => t.req('POST', `/api/v1/${path}`, { token: a.token, body: { name: 'Same Name' } })))
    expect(derived.map((r) => r.status)).toEqual(Array(20).fill(201))
    const slugs = derived.map((r) => (r.body[key] ?? r.body).slug)
    expect(new Set(slugs).size).toBe(20)
    expect(slugs).toContain('same-name')
    const explicit = await Promise.all(Array.from({ length: 20 }, () => t.req('POST', `/api/v1/${path}`, { token: a.token, body: { name: 'Other', slug: 'chosen' } })))
    expect(explicit.filter((r) => r.status === 201).length).toBe(1)
    expect(explicit.filter((r) => r.status === 409 && r.body.code === 'slug_taken').length).toBe(19)
  })
})

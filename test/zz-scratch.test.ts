import { test } from 'bun:test'
import { seedAgents, seedExecutions, seedSpaces, seedTasks } from '../bench/seed'
import { makeActor, makeTestApp } from './helpers/app'
test('seed', async () => {
  const t = await makeTestApp({ pg: { url: 'postgres://postgres@127.0.0.1:5432/pgcursor_plans', schema: 'public' } })
  const admin = await makeActor(t, { role: 'admin' })
  const member = await makeActor(t, { role: 'member' })
  const other = await makeActor(t, { role: 'admin', org: 'other' })
  const o = { now: t.clock.now(), step: 1000 }
  for (const owner of [admin, other]) {
    const agentIds = await seedAgents(t.db, owner, 4000, o)
    const spaceIds = await seedSpaces(t.db, owner, 1000, o)
    await seedTasks(t.db, owner, 15000, { ...o, agentIds: agentIds.slice(0, 5), spaceIds: spaceIds.slice(0, 5) })
    await seedExecutions(t.db, owner, 6000, { ...o, agentIds: agentIds.slice(0, 5) })
  }
  if (t.rt.connection.dialect === 'pg') await t.rt.connection.client.unsafe('ANALYZE')
  console.log(admin.organizationId, member.userId)
}, 120000)

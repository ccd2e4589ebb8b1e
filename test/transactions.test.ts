import { describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { withTx, type Ctx } from '../src/context'
import { settings } from '../src/db/schema'
import { readVersion, versionKey } from '../src/db/versions'
import { makeTestApp } from './helpers/app'
import { sqliteOnly } from './helpers/pg'

/**
 * withTx on the one SQLite connection (src/db/connection.ts): a transaction may await, and no
 * other statement runs inside it meanwhile; a statement that escapes it fails instead of
 * deadlocking; its handle works only inside it.
 */

const put = (ctx: Ctx, key: string, value: string) =>
  ctx.db.insert(settings).values({ key, value, updatedAt: new Date(0) }).onConflictDoUpdate({ target: settings.key, set: { value } }).run()
const read = async (ctx: Ctx, key: string) => (await ctx.db.select({ value: settings.value }).from(settings).where(eq(settings.key, key)).get())?.value ?? null

/** The message a promise rejects with: a failed statement's own (drizzle wraps it as the cause). */
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    return e instanceof Error && e.cause instanceof Error ? e.cause.message : String((e as Error)?.message ?? e)
  }
  return 'resolved'
}

function latch() {
  let open!: () => void
  const opened = new Promise<void>((r) => (open = r))
  return { open, opened }
}

describe('withTx', () => {
  test.skipIf(sqliteOnly('SQLite\'s one connection with its gate; on PostgreSQL a read outside runs on another connection and sees the last commit (MVCC)'))('statements outside a transaction that awaits wait for its end: they neither see its rows nor join it', async () => {
    const t = await makeTestApp()
    const hold = latch()
    const tx = withTx(t.ctx, async (tx) => {
      await put(tx, 'k', 'uncommitted')
      await hold.opened
      throw new Error('rolled back')
    })
    await Bun.sleep(5)
    // Another request, while the transaction awaits: a read and a write.
    let seen: string | null | undefined
    const reading = read(t.ctx, 'k').then((v) => (seen = v))
    const writing = put(t.ctx, 'other', 'outside')
    await Bun.sleep(20)
    expect(seen).toBeUndefined() // still waiting
    hold.open()
    await expect(tx).rejects.toThrow('rolled back')
    await Promise.all([reading, writing])
    expect(seen).toBeNull() // the rolled-back row was never visible
    expect(await read(t.ctx, 'k')).toBeNull()
    expect(await read(t.ctx, 'other')).toBe('outside') // not rolled back with the transaction
  })

  test.skipIf(sqliteOnly('SQLite\'s one connection with its gate; on PostgreSQL a read outside runs on another connection and sees the last commit (MVCC)'))('prepared queries (their synchronous path) wait for an open transaction too', async () => {
    const t = await makeTestApp()
    expect(await readVersion(t.ctx.db, 'x')).toBe('0')
    const hold = latch()
    const tx = withTx(t.ctx, async (tx) => {
      await tx.db.insert(settings).values({ key: versionKey('x'), value: '1', updatedAt: new Date(0) }).run()
      expect(await readVersion(tx.db, 'x')).toBe('1') // inside: its own write
      await hold.opened
      throw new Error('rolled back')
    })
    await Bun.sleep(5)
    let seen: string | undefined
    const reading = readVersion(t.ctx.db, 'x').then((v) => (seen = v))
    await Bun.sleep(20)
    expect(seen).toBeUndefined()
    hold.open()
    await expect(tx).rejects.toThrow('rolled back')
    await reading
    expect(seen).toBe('0')
  })

  test('transactions queue: a read-then-write under concurrency loses no update', async () => {
    const t = await makeTestApp()
    await put(t.ctx, 'n', '0')
    const increment = () =>
      withTx(t.ctx, async (tx) => {
        const n = Number(await read(tx, 'n'))
        await Bun.sleep(1)
        await put(tx, 'n', String(n + 1))
      })
    await Promise.all(Array.from({ length: 20 }, increment))
    expect(await read(t.ctx, 'n')).toBe('20')
  })

  test('commits what the function did with the context it was given; rolls it all back when it throws', async () => {
    const t = await makeTestApp()
    await withTx(t.ctx, async (tx) => {
      await put(tx, 'a', '1')
      await put(tx, 'b', '2')
    })
    expect([await read(t.ctx, 'a'), await read(t.ctx, 'b')]).toEqual(['1', '2'])
    await expect(
      withTx(t.ctx, async (tx) => {
        await put(tx, 'a', 'changed')
        // A nested withTx joins the outer transaction.
        await withTx(tx, async (inner) => put(inner, 'c', '3'))
        throw new Error('no')
      }),
    ).rejects.toThrow('no')
    expect([await read(t.ctx, 'a'), await read(t.ctx, 'c')]).toEqual(['1', null])
  })

  test('a write that escapes its transaction (the outer context) fails at once instead of waiting for it forever', async () => {
    const t = await makeTestApp()
    const outer = t.ctx
    const escaping = withTx(outer, async (tx) => {
      await put(tx, 'inside', 'yes')
      await put(outer, 'escaped', 'yes')
    })
    expect(await failure(escaping)).toContain('escapes its transaction')
    expect(await read(outer, 'inside')).toBeNull()
    expect(await read(outer, 'escaped')).toBeNull()
    // The connection works on afterwards.
    await put(outer, 'after', 'yes')
    expect(await read(outer, 'after')).toBe('yes')
  })

  test("a transaction's handle does not work once the transaction has ended", async () => {
    const t = await makeTestApp()
    let kept: Ctx | undefined
    await withTx(t.ctx, async (tx) => {
      kept = tx
    })
    expect(await failure(read(kept!, 'k'))).toContain('outside its transaction')
  })
})

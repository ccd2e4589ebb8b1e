import { and, eq, ne } from 'drizzle-orm'
import { type Ctx, audited } from '../../context'
import { users } from '../../db/schema'
import { AppError } from '../../errors'
import { checkNewEmail, validatePersonName } from '../members/service'
import { normalizeEmail } from './service'

/** A person's own name and e-mail (the console's Settings → Profile). */
export async function updateProfile(ctx: Ctx, userId: string, input: { name: string; email: string }): Promise<void> {
  const name = validatePersonName(input.name)
  const email = normalizeEmail(input.email)
  // A changed address is a new one: its syntax is checked as a new user's is (the one kept may predate that rule).
  const current = await ctx.db.select({ name: users.name, email: users.email }).from(users).where(eq(users.id, userId)).get()
  if (current?.email !== email) checkNewEmail(email)
  const taken = await ctx.db.select({ id: users.id }).from(users).where(and(eq(users.email, email), ne(users.id, userId))).get()
  if (taken) throw new AppError('conflict', `The e-mail ${email} belongs to another user`, { details: [{ field: 'email', message: 'belongs to another user' }] })
  if (!current || (current.name === name && current.email === email)) return
  // `user.profile_updated`, with the change: a changed e-mail is how an account is taken over
  // (password links go to it), so its old and new address are in the event (sealed, as every
  // event's details are).
  const changed = [...(current.name !== name ? ['name'] : []), ...(current.email !== email ? ['email'] : [])]
  await audited(
    ctx,
    (tx) => tx.db.update(users).set({ name, email }).where(eq(users.id, userId)).run(),
    () => ({ type: 'user.profile_updated', targetType: 'user', targetId: userId, details: { fields: changed, ...(changed.includes('email') && { email: { from: current.email, to: email } }) } }),
  )
}

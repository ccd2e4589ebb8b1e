import { and, eq, ne } from 'drizzle-orm'
import { type Ctx, audited } from '../../context'
import { users } from '../../db/schema'
import { AppError } from '../../errors'
import { checkNewEmail, legacyEmailTwin, validatePersonName } from '../members/service'
import { normalizeEmail } from './service'
import { emailKey } from '../../text'

/** A person's own name and e-mail (the console's Settings → Profile). */
export async function updateProfile(ctx: Ctx, userId: string, input: { name: string; email: string }): Promise<void> {
  const name = validatePersonName(input.name)
  const typed = normalizeEmail(input.email)
  let email = typed
  // Read, judged and written in one transaction (transactions run one at a time: BEGIN IMMEDIATE,
  // PostgreSQL's transaction lock): an address taken by another change at the same moment (two
  // people choosing it, a member added with it) is seen here, 409. Judged before it, both passed
  // and the second write broke the unique index: a 500 page.
  await audited(
    ctx,
    async (tx) => {
      const current = await tx.db.select({ name: users.name, email: users.email }).from(users).where(eq(users.id, userId)).get()
      // The address kept, typed another way (upper case, decomposed, full-width), is no change:
      // it stays as it is stored (one stored before emailKey's rule too).
      email = current && emailKey(current.email) === typed ? current.email : typed
      // A changed address is a new one: its syntax is checked as a new user's is (the one kept may predate that rule).
      if (current?.email !== email) checkNewEmail(email)
      // Taken as stored, or by an account stored before emailKey's rule in another form of it.
      const taken = (await tx.db.select({ id: users.id }).from(users).where(and(eq(users.email, email), ne(users.id, userId))).get()) ?? (current?.email !== email ? await legacyEmailTwin(tx.db, email, userId) : undefined)
      if (taken) throw new AppError('conflict', `The e-mail ${email} belongs to another user`, { details: [{ field: 'email', message: 'belongs to another user' }] })
      if (!current || (current.name === name && current.email === email)) return null
      await tx.db.update(users).set({ name, email }).where(eq(users.id, userId)).run()
      return current
    },
    // `user.profile_updated`, with the change: a changed e-mail is how an account is taken over
    // (password links go to it), so its old and new address are in the event (sealed, as every
    // event's details are).
    (current) => {
      if (!current) return null
      const changed = [...(current.name !== name ? ['name'] : []), ...(current.email !== email ? ['email'] : [])]
      return { type: 'user.profile_updated', targetType: 'user', targetId: userId, details: { fields: changed, ...(changed.includes('email') && { email: { from: current.email, to: email } }) } }
    },
  )
}

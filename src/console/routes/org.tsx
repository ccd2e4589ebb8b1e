import { Elysia, t } from 'elysia'
import { AppError } from '../../errors'
import { listAuditEvents } from '../../modules/audit/query'
import { echoedField, FormBody, field, hidden, pageRefusal, shown, typedField, type FormFields } from '../form'
import { page, redirect, type ConsoleKit } from '../http'
import { addMember, changeRole, listMembers, memberChoices, membersPath, passwordLink, removeMemberNow } from '../members-adapter'
import { switchOrganization, type SignedIn } from '../session'
import { AuditPage, ForbiddenPage, MembersPage } from '../views/org'
import { langOf, messages } from '../i18n'
import type { ErrorText } from '../views/layout'
import { errorOf, fieldErrorOf, navOf, settingsPage } from './settings'
import { SWITCHER } from '../views/layout'
import { HOME } from '../http'
import { cutText } from '../../text'
import { withConfirmedAccess, withoutPassword } from '../sudo'

const UserParams = t.Object({ userId: t.String() })

/** The Members page a request names (`?cursor=`: a later page), or undefined for the first. */
function pageCursor(query: Record<string, unknown>): string | undefined {
  return typeof query.cursor === 'string' && query.cursor ? query.cursor : undefined
}

/** Organization → Members and Audit log (admins), and the organization switcher. */
export function orgRoutes(kit: ConsoleKit) {

  // `cursor`: a later page of the list (its "More members" link); one that is not a cursor of it is
  // the page's error, 400, with the first page. A page left empty (its members removed since)
  // shows the first page: a table with no one in it and no way back is no page to land on.
  const members = async (who: SignedIn, request: Request, set: any, extra: { error?: ErrorText; notice?: string; link?: { email: string; url: string }; form?: { email: string; role: string } } = {}, status = 200, cursor?: string) => {
    const nav = await navOf(kit, who, request, set, '/org/members')
    if (who.role !== 'admin') return page(await (<ForbiddenPage nav={nav} message={nav.t.adminsOnly} />), { status: 403 })
    const ctx = kit.ctxOf(who, request, set)
    let listed
    try {
      listed = await listMembers(ctx, who, cursor)
    } catch (e) {
      if (!(e instanceof AppError) || cursor === undefined) throw e
      return members(who, request, set, { ...extra, error: errorOf(request, e) }, e.status)
    }
    if (cursor !== undefined && listed.members.length === 0) return members(who, request, set, extra, status)
    return page(await (<MembersPage nav={nav} who={who} members={listed.members} next={listed.next} cursor={cursor} {...extra} />), { status, secret: extra.link !== undefined })
  }

  /**
   * Runs a member action; an AppError re-renders the page with its message (`names`: the add
   * form's fields it can be about, refusedField; `form`: the add form as typed, a token left out).
   */
  const act = async (request: Request, set: any, body: unknown, fn: (who: SignedIn) => Promise<Response>, names: FormFields = {}, form?: { email: string; role: string }, cursor?: string) => {
    const who = await kit.signedIn(request)
    if (!who) return kit.toSignIn(request)
    try {
      // A field holding a token (src/http/secret-fields.ts), the hidden ones too: refused as the
      // service's refusals are, before anything is done; a field sent twice with different values,
      // a body that is no form, the same (src/http/page-form.ts).
      const pasted = pageRefusal(body)
      if (pasted) throw pasted
      return await fn(who)
    } catch (e) {
      if (e instanceof AppError) return members(who, request, set, { error: fieldErrorOf(request, e, names), form }, e.status, cursor)
      throw e
    }
  }

  // Adds its routes to the console's instance itself (a function plugin): a plugin instance
  // would have every route added twice more, once here and once by the console.
  return (app: Elysia) => app
    .get('/org/members', async ({ request, set, query }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const tx = messages(langOf(request))
      const notice = query.done === 'removed' ? tx.noticeMemberRemoved : query.done === 'role' ? tx.noticeRoleChanged : undefined
      return members(who, request, set, { notice }, 200, pageCursor(query))
    }, hidden)
    // Adding a member (access that outlives the session; with a password link, an account's keys)
    // asks for the admin's password when it was last proved too long ago (src/console/sudo.tsx), as creating a token does: the
    // form carried on, a refusal of the add itself said first. `body`: the form without that
    // password (never stored or shown).
    .post('/org/members', ({ request, set, body: sentBody }) => {
      const body = withoutPassword(sentBody)
      return act(request, set, body, async (who) => {
        const ctx = kit.ctxOf(who, request, set)
        const r = await withConfirmedAccess(kit, who, request, set, sentBody, membersPath({}), () => navOf(kit, who, request, set, '/org/members'), (proved) =>
          addMember(ctx, who, field(body, 'email'), field(body, 'role') || 'member', proved),
        )
        if (r instanceof Response) return r
        const added = messages(langOf(request)).added(r.email)
        const notice = r.noLink ? `${added} ${errorOf(request, new AppError('forbidden', r.noLink))}` : added
        return members(who, request, set, { notice, ...(r.link ? { link: { email: r.email, url: kit.publicBase(request) + r.link } } : {}) }, 201)
      }, { email: shown('email', (t) => t.email), role: shown('role', (t) => t.role) }, { email: echoedField(body, 'email', 320), role: typedField(body, 'role') })
    }, { ...hidden, body: FormBody })
    // A member's actions are sent from the page they were shown on (its `cursor`, in the form's
    // action: MembersPage) and lead back to it: they led to the first page, and an admin working
    // through a later page lost their place at each change.
    // Raising a role (to admin above all) asks for the admin's password as adding a member does;
    // lowering one does not (src/console/members-adapter.ts changeRole).
    .post('/org/members/:userId/role', ({ request, set, body: sentBody, params, query }) => {
      const body = withoutPassword(sentBody)
      return act(request, set, body, async (who) => {
        const ctx = kit.ctxOf(who, request, set)
        const r = await withConfirmedAccess(kit, who, request, set, sentBody, membersPath({}, pageCursor(query)), () => navOf(kit, who, request, set, '/org/members'), (proved) =>
          changeRole(ctx, who, params.userId, field(body, 'role'), proved),
        )
        if (r instanceof Response) return r
        return redirect(membersPath({ done: 'role' }, pageCursor(query)))
      }, { role: shown(`role.${params.userId}`, (t) => t.role) }, undefined, pageCursor(query))
    }, { ...hidden, body: FormBody, params: UserParams })
    .post('/org/members/:userId/remove', ({ request, set, params, body, query }) =>
      act(request, set, body, async (who) => {
        await removeMemberNow(kit.ctxOf(who, request, set), who, params.userId)
        return redirect(membersPath({ done: 'removed' }, pageCursor(query)))
      }, {}, undefined, pageCursor(query)), { ...hidden, body: FormBody, params: UserParams })
    // A password link asks for the admin's password as adding a member with one does.
    .post('/org/members/:userId/link', ({ request, set, params, body: sentBody, query }) => {
      const body = withoutPassword(sentBody)
      return act(request, set, body, async (who) => {
        const ctx = kit.ctxOf(who, request, set)
        const r = await withConfirmedAccess(kit, who, request, set, sentBody, membersPath({}, pageCursor(query)), () => navOf(kit, who, request, set, '/org/members'), (proved) =>
          passwordLink(ctx, who, params.userId, proved),
        )
        if (r instanceof Response) return r
        return members(who, request, set, { link: { email: r.email, url: kit.publicBase(request) + r.path } }, 200, pageCursor(query))
      }, {}, undefined, pageCursor(query))
    }, { ...hidden, body: FormBody, params: UserParams })
    .get('/org/audit', async ({ request, set, query }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      const nav = await navOf(kit, who, request, set, '/org/audit')
      if (who.role !== 'admin') return page(await (<ForbiddenPage nav={nav} message={nav.t.adminsOnly} />), { status: 403 })
      const ctx = kit.ctxOf(who, request, set)
      const type = typeof query.type === 'string' ? cutText(query.type, 64) : ''
      const person = typeof query.person === 'string' ? cutText(query.person, 64) : ''
      const cursor = typeof query.cursor === 'string' && query.cursor ? query.cursor : undefined
      const peopleOf = async (actors: (string | null)[]) =>
        (await memberChoices(ctx, who, [...(person ? [person] : []), ...actors.filter((a): a is string => a !== null)])).map((m) => ({ id: m.userId, email: m.email }))
      let people: { id: string; email: string }[] = []
      try {
        const r = await listAuditEvents(ctx, { type: type || undefined, userId: person || undefined, limit: 50, offset: 0, cursor })
        people = await peopleOf(r.events.map((e) => e.actorUserId))
        return page(await (<AuditPage nav={nav} events={r.events} people={people} type={type} person={person} next={r.nextCursor} paged={cursor !== undefined} />))
      } catch (e) {
        if (e instanceof AppError) return page(await (<AuditPage nav={nav} events={[]} people={people.length > 0 ? people : await peopleOf([])} type={type} person={person} next={null} paged={cursor !== undefined} error={errorOf(request, e)} />), { status: e.status })
        throw e
      }
    }, hidden)
    .post('/org/switch', async ({ request, set, body }) => {
      const who = await kit.signedIn(request)
      if (!who) return kit.toSignIn(request)
      // The header's switcher holding a token (src/http/secret-fields.ts): Settings → Profile
      // (where a switch leads) with the error, on the switcher (as for a switcher sent twice with
      // different values, or a body that is no form: src/http/page-form.ts).
      const pasted = pageRefusal(body)
      if (pasted) return settingsPage(kit, who, request, set, { profile: { error: fieldErrorOf(request, pasted, { organizationId: shown(SWITCHER, (t) => t.switchToOrganization) }) } }, pasted.status)
      await switchOrganization(kit.ctxOf(who, request, set), who.sessionId, who.user.id, field(body, 'organizationId'))
      // Back to the page it was sent from when that page asked (Nav.back): a same-origin path
      // only, by the sign-in's rule (safeNext); else Settings → Profile.
      return redirect(kit.safeNext(typedField(body, 'next')) ?? HOME)
    }, { ...hidden, body: FormBody })
}

import { ROLES } from '../../db/schema'
import type { PublicAuditEvent } from '../../modules/audit/query'
import { AUDIT_TYPES } from '../../modules/audit/model'
import { membersPath, type MemberRow } from '../members-adapter'
import type { SignedIn } from '../session'
import { roleLabel } from '../i18n'
import { ConfirmButton, CopyButton, ErrorBox, invalidField, Layout, Notice, PageOrganization, Table, When, type ErrorText, type Nav } from './layout'

export function MembersPage(props: { nav: Nav; who: SignedIn; members: MemberRow[]; next?: string | null; cursor?: string; error?: ErrorText; notice?: string | null; link?: { email: string; url: string } | null; form?: { email: string; role: string } }) {
  const { t } = props.nav
  // A member's actions name this page, to come back to it (src/console/routes/org.tsx).
  const here = props.cursor ? `?${new URLSearchParams({ cursor: props.cursor })}` : ''
  return (
    <Layout title={t.membersTitle} nav={props.nav}>
      <Notice message={props.notice} />
      <ErrorBox message={props.error} id="members-error" />
      {props.link ? (
        <div class="notice warning" role="status">
          <p safe>{t.handLink(props.link.email)}</p>
          <div class="token">
            <output id="member-link" safe>
              {props.link.url}
            </output>
            <CopyButton target="member-link" failed={t.copyFailedLink} t={t} />
          </div>
        </div>
      ) : (
        ''
      )}
      <h2>{t.addMemberHeading}</h2>
      <form method="post" action="/org/members" class="row">
        <PageOrganization who={props.who} />
        <label>
          {t.email}
          <input type="email" name="email" required value={props.form?.email ?? ''} {...invalidField(props.error, 'members-error', 'email')} />
        </label>
        <label>
          {t.role}
          <select name="role" {...invalidField(props.error, 'members-error', 'role')}>
            {ROLES.map((r) => (
              <option value={r} selected={r === (props.form && ROLES.includes(props.form.role as never) ? props.form.role : 'member')} safe>
                {roleLabel(t, r)}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="primary">
          {t.addMember}
        </button>
      </form>
      <h2>
        {t.membersOf}
        <bdi safe>{props.who.organization.name}</bdi>
      </h2>
      <Table head={[t.colEmail, t.colName, t.colRole, t.colMemberSince, t.colLastSignIn, { screenReader: t.colActions }]}>
            {props.members.map((m) => {
              const self = m.userId === props.who.user.id
              return (
                <tr>
                  <td safe>{m.email}</td>
                  <td safe>{m.name ?? ''}</td>
                  <td>
                    {self ? (
                      <span safe>{roleLabel(t, m.role)}</span>
                    ) : (
                      <form method="post" action={`/org/members/${m.userId}/role${here}`} class="row">
                        <PageOrganization who={props.who} />
                        <label>
                          <span class="sr-only" safe>
                            {t.roleOf(m.email)}
                          </span>
                          <select name="role" aria-label={t.roleOf(m.email)} {...invalidField(props.error, 'members-error', `role.${m.userId}`)}>
                            {ROLES.map((r) => (
                              <option value={r} selected={r === m.role} safe>
                                {roleLabel(t, r)}
                              </option>
                            ))}
                          </select>
                        </label>
                        <button type="submit" aria-label={t.changeRoleLabel(m.email)}>
                          {t.change}
                        </button>
                      </form>
                    )}
                  </td>
                  <td>
                    <When at={m.joinedAt} t={t} />
                  </td>
                  <td>
                    <When at={m.lastSignInAt} t={t} />
                  </td>
                  <td>
                    {self ? (
                      <span class="muted">{t.you}</span>
                    ) : (
                      <>
                        {m.linkAllowed ? (
                          <>
                            <form method="post" action={`/org/members/${m.userId}/link${here}`} class="inline">
                              <PageOrganization who={props.who} />
                              <button type="submit" aria-label={t.passwordLinkLabel(m.email)}>
                                {t.passwordLink}
                              </button>
                            </form>{' '}
                          </>
                        ) : null}
                        <ConfirmButton
                          action={`/org/members/${m.userId}/remove${here}`}
                          dialog={`remove-${m.userId}`}
                          button={{ text: t.remove, label: t.removeLabel(m.email) }}
                          question={
                            <>
                              {t.removeAsk1}
                              <bdi safe>{m.email}</bdi>
                              {t.removeAsk2}
                              <bdi safe>{props.who.organization.name}</bdi>
                              {t.removeAsk3}
                            </>
                          }
                          cancel={t.cancel}
                          confirm={t.remove}
                        >
                          <PageOrganization who={props.who} />
                        </ConfirmButton>
                      </>
                    )}
                  </td>
                </tr>
              )
            })}
      </Table>
      {props.next ? (
        <p>
          <a href={membersPath({}, props.next)}>{t.moreMembers}</a>
        </p>
      ) : (
        ''
      )}
    </Layout>
  )
}

/**
 * JSON with its bidi controls written as escapes (still the same JSON): a name in an event's
 * details with U+202E would otherwise turn the rest of the details around on the page.
 */
function visibleControls(json: string): string {
  return json.replace(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * Organization → Audit log, newest first, paged by cursor (`next`: the cursor of the older events
 * after this page); `paged`: the page was asked with a cursor, so it links back to the newest
 * events of the same filters (a cursor leads one way: to older events).
 */
export function AuditPage(props: { nav: Nav; events: PublicAuditEvent[]; people: { id: string; email: string }[]; type: string; person: string; next: string | null; paged: boolean; error?: string | null }) {
  const emailOf = new Map(props.people.map((p) => [p.id, p.email]))
  const { t } = props.nav
  const qs = (cursor?: string, person = props.person) => {
    const q = new URLSearchParams({ ...(props.type ? { type: props.type } : {}), ...(person ? { person } : {}), ...(cursor ? { cursor } : {}) }).toString()
    return `/org/audit${q ? `?${q}` : ''}`
  }
  return (
    <Layout title={t.auditTitle} nav={props.nav}>
      <ErrorBox message={props.error} />
      <form method="get" action="/org/audit" class="row">
        <label>
          {t.type}
          <select name="type">
            <option value="">{t.all}</option>
            {AUDIT_TYPES.map((t) => (
              <option value={t} selected={t === props.type} safe>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t.person}
          <select name="person">
            <option value="">{t.anyone}</option>
            {props.people.map((p) => (
              <option value={p.id} selected={p.id === props.person} safe>
                {p.email}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">{t.filter}</button>
      </form>
      {props.events.length === 0 ? (
        <p class="muted">{t.noEvents}</p>
      ) : (
        <Table head={[t.colWhen, t.colEvent, t.colWho, t.colVia, t.colTarget, t.colIp, t.colDetails]} label={t.auditTitle}>
              {props.events.map((e) => (
                <tr>
                  <td>
                    <When at={e.createdAt} t={t} />
                  </td>
                  <td>
                    <code safe>{e.type}</code>
                  </td>
                  {/* The person filter offers the newest members only (PEOPLE_CHOICES): anyone the log
                      names is one click from their own events, whenever they joined. */}
                  {e.actorUserId && e.actorUserId !== props.person ? (
                    <td>
                      <a href={qs(undefined, e.actorUserId)} safe>
                        {emailOf.get(e.actorUserId) ?? e.actorUserId}
                      </a>
                    </td>
                  ) : (
                    <td safe>{e.actorUserId ? (emailOf.get(e.actorUserId) ?? e.actorUserId) : '-'}</td>
                  )}
                  <td safe>{e.actorTokenId ? `${e.source} (${e.actorTokenId})` : e.source}</td>
                  <td safe>{e.targetId ? `${e.targetType ?? ''} ${e.targetId}` : '-'}</td>
                  <td class="mono" safe>
                    {e.ip ?? '-'}
                  </td>
                  <td>
                    <code safe>{e.details ? visibleControls(JSON.stringify(e.details)) : ''}</code>
                  </td>
                </tr>
              ))}
        </Table>
      )}
      {props.paged || props.next ? (
        <nav aria-label={t.auditPages} class="row">
          {props.paged ? (
            <a href={qs()} rel="first">
              {t.newestEvents}
            </a>
          ) : (
            ''
          )}
          {props.next ? (
            <a href={qs(props.next)} rel="next">
              {t.olderEvents}
            </a>
          ) : (
            ''
          )}
        </nav>
      ) : (
        ''
      )}
    </Layout>
  )
}

export function ForbiddenPage(props: { nav: Nav; message: string }) {
  return (
    <Layout title={props.nav.t.notAllowedTitle} nav={props.nav}>
      <p safe>{props.message}</p>
    </Layout>
  )
}

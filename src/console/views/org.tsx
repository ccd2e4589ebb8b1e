import { ROLES } from '../../db/schema'
import type { PublicAuditEvent } from '../../modules/audit/query'
import { AUDIT_TYPES } from '../../modules/audit/model'
import type { MemberRow } from '../members-adapter'
import type { SignedIn } from '../session'
import { ErrorBox, Layout, When, type Nav } from './layout'

export function MembersPage(props: { nav: Nav; who: SignedIn; members: MemberRow[]; error?: string | null; notice?: string | null; link?: { email: string; url: string } | null }) {
  return (
    <Layout title="Members" nav={props.nav}>
      {props.notice ? (
        <p class="notice" role="status" safe>
          {props.notice}
        </p>
      ) : (
        ''
      )}
      <ErrorBox message={props.error} />
      {props.link ? (
        <div class="notice warning" role="status">
          <p safe>{`Hand this one-time link to ${props.link.email} (it works once, for 72 hours; it is shown only now):`}</p>
          <div class="token">
            <output id="member-link" safe>
              {props.link.url}
            </output>
            <button type="button" data-copy="member-link" hidden>
              Copy
            </button>
          </div>
        </div>
      ) : (
        ''
      )}
      <h2>Add a member</h2>
      <form method="post" action="/org/members" class="row">
        <label>
          E-mail
          <input type="email" name="email" required />
        </label>
        <label>
          Role
          <select name="role">
            {ROLES.map((r) => (
              <option value={r} selected={r === 'member'} safe>
                {r}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" class="primary">
          Add member
        </button>
      </form>
      <h2>
        Members of <bdi safe>{props.who.organization.name}</bdi>
      </h2>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">E-mail</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Member since</th>
              <th scope="col">Last sign-in</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {props.members.map((m) => {
              const self = m.userId === props.who.user.id
              return (
                <tr>
                  <td safe>{m.email}</td>
                  <td safe>{m.name ?? ''}</td>
                  <td>
                    {self ? (
                      <span safe>{m.role}</span>
                    ) : (
                      <form method="post" action={`/org/members/${m.userId}/role`} class="row">
                        <label>
                          <span class="sr-only" safe>{`Role of ${m.email}`}</span>
                          <select name="role" aria-label={`Role of ${m.email}`}>
                            {ROLES.map((r) => (
                              <option value={r} selected={r === m.role} safe>
                                {r}
                              </option>
                            ))}
                          </select>
                        </label>
                        <button type="submit">Change</button>
                      </form>
                    )}
                  </td>
                  <td>
                    <When at={m.joinedAt} />
                  </td>
                  <td>
                    <When at={m.lastSignInAt} />
                  </td>
                  <td>
                    {self ? (
                      <span class="muted">you</span>
                    ) : (
                      <>
                        {m.linkAllowed ? (
                          <>
                            <form method="post" action={`/org/members/${m.userId}/link`} class="inline">
                              <button type="submit">Password link</button>
                            </form>{' '}
                          </>
                        ) : null}
                        <form method="post" action={`/org/members/${m.userId}/remove`} data-confirm={`remove-${m.userId}`} class="inline">
                          <button type="submit" class="danger" aria-label={`Remove ${m.email}`}>
                            Remove
                          </button>
                        </form>
                        <dialog id={`remove-${m.userId}`}>
                          <form method="dialog">
                            <p>
                              Remove <bdi safe>{m.email}</bdi> from <bdi safe>{props.who.organization.name}</bdi>? Their tokens and sessions for this organization stop working at once.
                            </p>
                            <div class="row">
                              <button value="cancel" autofocus>
                                Cancel
                              </button>
                              <button value="confirm" class="danger">
                                Remove
                              </button>
                            </div>
                          </form>
                        </dialog>
                      </>
                    )}
                  </td>
                </tr>
              )
            })}
          </tbody>
        </table>
      </div>
    </Layout>
  )
}

export function AuditPage(props: { nav: Nav; events: PublicAuditEvent[]; people: { id: string; email: string }[]; type: string; person: string; next: string | null; error?: string | null }) {
  const emailOf = new Map(props.people.map((p) => [p.id, p.email]))
  const qs = (cursor: string) => `/org/audit?${new URLSearchParams({ ...(props.type ? { type: props.type } : {}), ...(props.person ? { person: props.person } : {}), cursor }).toString()}`
  return (
    <Layout title="Audit log" nav={props.nav}>
      <ErrorBox message={props.error} />
      <form method="get" action="/org/audit" class="row">
        <label>
          Type
          <select name="type">
            <option value="">all</option>
            {AUDIT_TYPES.map((t) => (
              <option value={t} selected={t === props.type} safe>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Person
          <select name="person">
            <option value="">anyone</option>
            {props.people.map((p) => (
              <option value={p.id} selected={p.id === props.person} safe>
                {p.email}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      {props.events.length === 0 ? (
        <p class="muted">No events.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">Who</th>
                <th scope="col">Via</th>
                <th scope="col">Target</th>
                <th scope="col">IP</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {props.events.map((e) => (
                <tr>
                  <td>
                    <When at={e.createdAt} />
                  </td>
                  <td safe>{e.type}</td>
                  <td safe>{e.actorUserId ? (emailOf.get(e.actorUserId) ?? e.actorUserId) : '-'}</td>
                  <td safe>{e.actorTokenId ? `${e.source} (${e.actorTokenId})` : e.source}</td>
                  <td safe>{e.targetId ? `${e.targetType ?? ''} ${e.targetId}` : '-'}</td>
                  <td class="mono" safe>
                    {e.ip ?? '-'}
                  </td>
                  <td class="mono" safe>
                    {e.details ? JSON.stringify(e.details) : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {props.next ? (
        <p>
          <a href={qs(props.next)}>Older events</a>
        </p>
      ) : (
        ''
      )}
    </Layout>
  )
}

export function ForbiddenPage(props: { nav: Nav; message: string }) {
  return (
    <Layout title="Not allowed" nav={props.nav}>
      <p safe>{props.message}</p>
    </Layout>
  )
}

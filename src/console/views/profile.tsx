import { MIN_PASSWORD_LENGTH } from '../../modules/users/passwords'
import type { SessionView, SignedIn } from '../session'
import { ErrorBox, Layout, When, WhenFrom, type Nav } from './layout'

export function ProfilePage(props: { nav: Nav; who: SignedIn; sessions: SessionView[]; error?: string | null; notice?: string | null }) {
  const u = props.who.user
  return (
    <Layout title="Profile" nav={props.nav}>
      {props.notice ? (
        <p class="notice" role="status" safe>
          {props.notice}
        </p>
      ) : (
        ''
      )}
      <ErrorBox message={props.error} />
      <p>
        <span safe>{props.who.role}</span> of <bdi safe>{props.who.organization.name}</bdi>.{' '}
        <a href="/settings/tokens">Personal Access Tokens</a>
      </p>
      <h2>Name and e-mail</h2>
      <form method="post" action="/settings/profile" class="stack">
        <label>
          Name
          <input type="text" name="name" maxlength="100" autocomplete="name" value={u.name ?? ''} />
        </label>
        <label>
          E-mail <span class="muted">(you sign in with it)</span>
          <input type="email" name="email" required autocomplete="email" value={u.email} />
        </label>
        <label>
          Current password <span class="muted">(needed to change the e-mail)</span>
          <input type="password" name="current" autocomplete="current-password" />
        </label>
        <div>
          <button type="submit" class="primary">
            Save
          </button>
        </div>
      </form>
      <h2>Change password</h2>
      <p class="muted">
        Last changed: <When at={u.passwordChangedAt} /> . Changing it signs you out everywhere else.
      </p>
      <form method="post" action="/settings/password" class="stack">
        <label>
          Current password
          <input type="password" name="current" autocomplete="current-password" required />
        </label>
        <label>
          New password <span class="muted" safe>{`(at least ${MIN_PASSWORD_LENGTH} characters)`}</span>
          <input type="password" name="password" autocomplete="new-password" minlength={String(MIN_PASSWORD_LENGTH)} required />
        </label>
        <label>
          Repeat the new password
          <input type="password" name="confirm" autocomplete="new-password" minlength={String(MIN_PASSWORD_LENGTH)} required />
        </label>
        <div>
          <button type="submit" class="primary">
            Change password
          </button>
        </div>
      </form>
      <section aria-labelledby="sessions">
        <h2 id="sessions">Sessions</h2>
        <p class="muted">Browsers signed in to this console as you. End one you do not recognise, or one on a computer you no longer use.</p>
        <table>
          <thead>
            <tr>
              <th scope="col">Browser</th>
              <th scope="col">Signed in</th>
              <th scope="col">Last active</th>
              <th scope="col">Ends</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {props.sessions.map((s) => (
              <tr>
                <td>
                  <span safe>{s.userAgent ?? 'unknown browser'}</span>
                  {s.current ? <strong> (this browser)</strong> : ''}
                </td>
                <td>
                  <WhenFrom at={s.createdAt} ip={s.ip} />
                </td>
                <td>
                  <When at={s.lastSeenAt} />
                </td>
                <td>
                  <When at={s.endsAt} />
                </td>
                <td>
                  <form method="post" action={`/settings/sessions/${s.id}/end`} class="inline">
                    <button type="submit" aria-label={s.current ? 'Sign out of this browser' : `End the session of ${s.userAgent ?? 'that browser'}`}>
                      {s.current ? 'Sign out' : 'End'}
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <form method="post" action="/logout/everywhere">
          <button type="submit">Sign out everywhere</button>
        </form>
      </section>
    </Layout>
  )
}

import type { LoginRequest, PublicCliSession } from '../../modules/cli-auth/service'
import type { SignedIn } from '../session'
import { ErrorBox, Layout, When, WhenFrom } from './layout'

/** The approval page of a CLI sign-in (`authUrl`): what asks, and Approve / Deny. */
export function AuthorizePage(props: { who: SignedIn; req: LoginRequest; organizations: { id: string; name: string; slug: string }[]; error?: string | null }) {
  const { req, who, organizations } = props
  return (
    <Layout title="Sign in a command-line tool?" nav={{ who }}>
      <ErrorBox message={props.error} />
      <p>
        A command-line tool asks to act as <strong safe>{who.user.email}</strong>. Approve only if you started it yourself, just now, and the terminal shows the same code.
      </p>
      <dl class="details">
        <dt>Code</dt>
        <dd>
          <strong class="code" safe>
            {req.shortCode}
          </strong>{' '}
          <span class="muted">
            (<code safe>{req.code}</code>)
          </span>
        </dd>
        <dt>Requested from</dt>
        <dd safe>{req.requestIp ?? 'unknown address'}</dd>
        <dt>Program</dt>
        <dd safe>{req.userAgent ?? 'unknown'}</dd>
        <dt>Requested at</dt>
        <dd>
          <When at={req.createdAt} />
        </dd>
        <dt>Expires</dt>
        <dd>
          <When at={req.expiresAt} />
        </dd>
      </dl>
      <form method="post" action={`/cli/authorize/${req.code}`} class="stack">
        {organizations.length > 1 ? (
          <label>
            Organization
            <select name="organizationId" required>
              {organizations.map((o) => (
                <option value={o.id} selected={o.id === who.organization.id} safe>
                  {o.name}
                </option>
              ))}
            </select>
          </label>
        ) : (
          <input type="hidden" name="organizationId" value={organizations[0]?.id ?? who.organization.id} />
        )}
        <p class="muted">
          It gets access tokens of 15 minutes, renewed for up to 90 days, with your role in that organization. You can revoke it at any time on the Personal Access Tokens page, under CLI sign-ins.
        </p>
        <div class="row">
          <button type="submit" name="decision" value="approve" class="primary">
            Approve
          </button>
          <button type="submit" name="decision" value="deny">
            Deny
          </button>
        </div>
      </form>
    </Layout>
  )
}

const DONE: Record<string, { title: string; message: string }> = {
  approved: { title: 'Approved', message: 'Return to your terminal: it finishes signing in within a few seconds. You can close this page.' },
  delivered: { title: 'Signed in', message: 'The command-line tool is signed in. You can close this page; revoke it at any time under CLI sign-ins.' },
  denied: {
    title: 'Denied',
    message:
      'Nothing was signed in. `teamday login` stops at once. TeamDay\'s CLI (`teamday auth login`) does not notice and keeps waiting until its 5 minutes are up: press Ctrl-C in that terminal.',
  },
  expired: {
    title: 'Expired',
    message: 'This sign-in request expired (requests last 5 minutes) and can no longer be approved. Start again from your terminal (Ctrl-C, then sign in again).',
  },
}

/** A request that is no longer pending: what happened, never its details. */
export function AuthorizeDonePage(props: { who: SignedIn; state: string }) {
  const d = DONE[props.state] ?? DONE.expired!
  return (
    <Layout title={d.title} nav={{ who: props.who }}>
      <p role="status" safe>
        {d.message}
      </p>
      <p>
        <a href="/settings/tokens#cli-sessions">CLI sign-ins</a>
      </p>
    </Layout>
  )
}

/** The CLI sessions of the signed-in person: device, created, last used, with Revoke. */
export function CliSessionsSection(props: { sessions: PublicCliSession[] }) {
  const active = props.sessions.filter((s) => s.status === 'active')
  return (
    <section aria-labelledby="cli-sessions">
      <h2 id="cli-sessions">CLI sign-ins</h2>
      <p class="muted">
        Terminals signed in through the browser (<code>teamday login</code>, TeamDay's <code>teamday auth login</code>). Revoking one stops its access and refresh tokens at once.
      </p>
      {active.length === 0 ? (
        <p>No command-line tool is signed in.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Signed in</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {active.map((s) => (
              <tr>
                <td safe>{s.device ?? 'unknown program'}</td>
                <td>
                  <WhenFrom at={s.createdAt} ip={s.createdIp} />
                </td>
                <td>
                  <WhenFrom at={s.lastUsedAt} ip={s.lastUsedIp} />
                </td>
                <td>
                  <form method="post" action={`/settings/cli-sessions/${s.id}/revoke`} class="inline">
                    <button type="submit" aria-label={`Revoke the sign-in of ${s.device ?? 'this program'}`}>
                      Revoke
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  )
}

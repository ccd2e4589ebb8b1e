import type { LoginRequest, PublicCliSession } from '../../modules/cli-auth/service'
import { roleLabel, type Messages } from '../i18n'
import type { SignedIn } from '../session'
import { ErrorBox, invalidField, Layout, Table, When, WhenFrom, type ErrorText, type Nav } from './layout'
import { ViewFields, tokensHref, type TokenView } from './token-view'

/**
 * The approval page of a CLI sign-in (`authUrl`): what asks, and Approve / Deny. `chosen`: the
 * organization picked in the form this page answers (shown again after a refusal, it stays
 * picked; one not among the person's is ignored); else the console's current one. Approve is
 * sent only once the page has been in front for a moment (console.js, `data-deliberate`): a
 * click meant for another window must not land on it (double-clickjacking); #cli-too-soon says so.
 * `shownAt`: when the server rendered it (routes/cli.tsx), which refuses an Approve sent sooner.
 */
export function AuthorizePage(props: { nav: Nav; who: SignedIn; req: LoginRequest; organizations: { id: string; name: string; slug: string }[]; error?: ErrorText; chosen?: string; shownAt: string }) {
  const { req, who, organizations } = props
  const { t } = props.nav
  const picked = organizations.some((o) => o.id === props.chosen) ? props.chosen : who.organization.id
  return (
    <Layout title={t.cliAuthorizeTitle} nav={props.nav}>
      <ErrorBox message={props.error} id="cli-error" />
      <p>
        {t.cliAsks1}
        <strong>
          <bdi safe>{who.user.email}</bdi>
        </strong>
        {t.cliAsks2}
      </p>
      <dl class="details">
        <dt>{t.code}</dt>
        <dd>
          <strong class="code" safe>
            {req.shortCode}
          </strong>{' '}
          <span class="muted">
            (<code safe>{req.code}</code>)
          </span>
        </dd>
        <dt>{t.requestedFrom}</dt>
        <dd safe>{req.requestIp ?? t.unknownAddress}</dd>
        <dt>{t.program}</dt>
        <dd safe>{req.userAgent ?? t.unknown}</dd>
        <dt>{t.requestedAt}</dt>
        <dd>
          <When at={req.createdAt} t={t} />
        </dd>
        <dt>{t.expires}</dt>
        <dd>
          <When at={req.expiresAt} t={t} />
        </dd>
      </dl>
      <p class="error" role="alert" id="cli-too-soon" hidden></p>
      <form method="post" action={`/cli/authorize/${req.code}`} class="stack" data-deliberate="cli-too-soon" data-text-early={t.cliTooSoon}>
        {organizations.length > 1 ? (
          <label>
            {t.cliOrganization}
            <select name="organizationId" required {...invalidField(props.error, 'cli-error', 'organizationId')}>
              {organizations.map((o) => (
                <option value={o.id} selected={o.id === picked} safe>
                  {o.name}
                </option>
              ))}
            </select>
          </label>
        ) : (
          <input type="hidden" name="organizationId" value={organizations[0]?.id ?? who.organization.id} />
        )}
        <input type="hidden" name="shownAt" value={props.shownAt} />
        <p class="muted">{t.cliGets}</p>
        <div class="row">
          <button type="submit" name="decision" value="approve" class="primary">
            {t.approve}
          </button>
          <button type="submit" name="decision" value="deny">
            {t.deny}
          </button>
        </div>
      </form>
    </Layout>
  )
}

const DONE = {
  approved: { title: 'cliApprovedTitle', message: 'cliApproved' },
  delivered: { title: 'cliDeliveredTitle', message: 'cliDelivered' },
  denied: { title: 'cliDeniedTitle', message: 'cliDenied' },
  expired: { title: 'cliExpiredTitle', message: 'cliExpired' },
} as const

/**
 * A request that is no longer pending: what happened, never its details; `into`: for an approval,
 * to the person who gave it, the organization the terminal was signed in to and their role there.
 */
export function AuthorizeDonePage(props: { nav: Nav; state: string; into?: { name: string; role: string } }) {
  const { t } = props.nav
  const d = DONE[props.state as keyof typeof DONE] ?? DONE.expired
  return (
    <Layout title={t[d.title]} nav={props.nav}>
      <p role="status">{t[d.message]}</p>
      {props.into ? <p safe>{t.cliSignedInto(props.into.name, roleLabel(t, props.into.role))}</p> : ''}
      <p>
        <a href={tokensHref({ all: false, inactive: false, page: 1 }, {}, 'cli-sessions')}>{t.cliTitle}</a>
      </p>
    </Layout>
  )
}

/** The CLI sessions of the signed-in person: device, created, last used, with Revoke. */
export function CliSessionsSection(props: { sessions: PublicCliSession[]; view: TokenView; t: Messages }) {
  const { t } = props
  const active = props.sessions.filter((s) => s.status === 'active')
  return (
    <section aria-labelledby="cli-sessions">
      <h3 id="cli-sessions">{t.cliTitle}</h3>
      <p class="muted">
        {t.cliIntro1}
        <code>teamday login</code>
        {t.cliIntro2}
        <code>teamday auth login</code>
        {t.cliIntro3}
      </p>
      {active.length === 0 ? (
        <p>{t.noCliSessions}</p>
      ) : (
        <Table head={[t.colDevice, t.colSignedIn, t.colLastUsed, { screenReader: t.colActions }]}>
          {active.map((s) => (
            <tr>
              <td safe>{s.device ?? t.unknownProgram}</td>
              <td>
                <WhenFrom at={s.createdAt} ip={s.createdIp} t={t} />
              </td>
              <td>
                <WhenFrom at={s.lastUsedAt} ip={s.lastUsedIp} t={t} />
              </td>
              <td>
                <form method="post" action={`/settings/cli-sessions/${s.id}/revoke`} class="inline">
                  <ViewFields view={props.view} />
                  <button type="submit" aria-label={t.revokeCliLabel(s.device ?? t.thisProgram)}>
                    {t.revoke}
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </Table>
      )}
    </section>
  )
}

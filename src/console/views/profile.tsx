import { MIN_PASSWORD_LENGTH } from '../../modules/users/passwords'
import { roleLabel } from '../i18n'
import type { SessionView, SignedIn } from '../session'
import { ErrorBox, invalidField, Layout, Notice, Table, When, WhenFrom, type ErrorText, type Nav } from './layout'
import { TOKENS_ANCHOR, TokensSection, type TokensSectionProps } from './tokens'

/** The name and e-mail form as it was sent, shown again when it was refused (never the password). */
export interface ProfileForm {
  name: string
  email: string
}

/**
 * The account a form's password belongs to, for password managers: a hidden field holding the
 * e-mail one signs in with (autocomplete="username"), as they expect in a form with a password
 * and no visible username (Chromium's console warned of each such form). No name: never sent.
 */
function AccountName(props: { email: string }) {
  return <input type="email" autocomplete="username" value={props.email} hidden readonly />
}

/** The id of the page's error (profile and password forms), which the field it is about points at. */
export const PROFILE_ERROR = 'profile-error'

/**
 * Settings → Profile: name and e-mail, password, Personal Access Tokens (German: API-Zugriff,
 * with the CLI sign-ins), and the browsers signed in. A table of contents at the top leads to
 * each section, so "Settings → Profile → Personal Access Tokens" (TeamDay's docs) and
 * "Einstellungen → API-Zugriff" (its German docs) are both a click each.
 */
export function ProfilePage(props: {
  nav: Nav
  who: SignedIn
  sessions: SessionView[]
  /** A refused form's error; its field: profile.name, profile.email, profile.current, password.current, password.password or password.confirm. */
  error?: ErrorText
  notice?: string | null
  /** The name and e-mail form as sent, when it was refused. */
  form?: ProfileForm
  tokens: Omit<TokensSectionProps, 't' | 'who'>
}) {
  const { t } = props.nav
  const u = props.who.user
  const bad = (field: string) => invalidField(props.error, PROFILE_ERROR, field)
  return (
    <Layout title={t.profileTitle} nav={props.nav}>
      <nav aria-label={t.navSettings} class="subnav">
        <ul>
          <li>
            <a href="/settings/profile" aria-current="page">
              {t.profileTitle}
            </a>
          </li>
          <li>
            <a href={`#${TOKENS_ANCHOR}`}>{t.patTitle}</a>
          </li>
          <li>
            <a href="#cli-sessions">{t.cliTitle}</a>
          </li>
          <li>
            <a href="#sessions">{t.sessionsTitle}</a>
          </li>
        </ul>
      </nav>
      <Notice message={props.notice} />
      <ErrorBox message={props.error} id={PROFILE_ERROR} />
      <p>
        <span safe>{roleLabel(t, props.who.role)}</span>
        {t.roleIn}
        <bdi safe>{props.who.organization.name}</bdi>.
      </p>
      <h2>{t.nameAndEmail}</h2>
      <form method="post" action="/settings/profile" class="stack">
        <label>
          {t.name}
          <input type="text" name="name" maxlength="100" autocomplete="name" value={props.form ? props.form.name : (u.name ?? '')} {...bad('profile.name')} />
        </label>
        <label>
          <span>
            {t.email} <span class="muted">{t.emailHint}</span>
          </span>
          <input type="email" name="email" required autocomplete="email" value={props.form ? props.form.email : u.email} {...bad('profile.email')} />
        </label>
        <label>
          <span>
            {t.currentPassword} <span class="muted">{t.currentPasswordHint}</span>
          </span>
          <input type="password" name="current" autocomplete="current-password" {...bad('profile.current')} />
        </label>
        <div>
          <button type="submit" class="primary">
            {t.save}
          </button>
        </div>
      </form>
      <h2>{t.changePassword}</h2>
      <p class="muted">
        {t.lastChanged} <When at={u.passwordChangedAt} t={t} />. {t.changeSignsOut}
      </p>
      <form method="post" action="/settings/password" class="stack">
        <AccountName email={u.email} />
        <label>
          {t.currentPassword}
          <input type="password" name="current" autocomplete="current-password" required {...bad('password.current')} />
        </label>
        <label>
          <span>
            {t.newPassword}{' '}
            <span class="muted" safe>
              {t.atLeastChars(MIN_PASSWORD_LENGTH)}
            </span>
          </span>
          <input type="password" name="password" autocomplete="new-password" minlength={String(MIN_PASSWORD_LENGTH)} required {...bad('password.password')} />
        </label>
        <label>
          {t.repeatNewPassword}
          <input type="password" name="confirm" autocomplete="new-password" minlength={String(MIN_PASSWORD_LENGTH)} required {...bad('password.confirm')} />
        </label>
        <div>
          <button type="submit" class="primary">
            {t.changePassword}
          </button>
        </div>
      </form>
      <TokensSection {...props.tokens} t={t} who={props.who} />
      <section aria-labelledby="sessions">
        <h2 id="sessions">{t.sessionsTitle}</h2>
        <p class="muted">{t.sessionsIntro}</p>
        <Table head={[t.colBrowser, t.colSignedIn, t.colLastActive, t.colEnds, { screenReader: t.colActions }]}>
          {props.sessions.map((s) => (
            <tr>
              <td>
                <bdi safe>{s.userAgent ?? t.unknownBrowser}</bdi>
                {s.current ? <strong>{t.thisBrowser}</strong> : ''}
              </td>
              <td>
                <WhenFrom at={s.createdAt} ip={s.ip} t={t} />
              </td>
              <td>
                <When at={s.lastSeenAt} t={t} />
              </td>
              <td>
                <When at={s.endsAt} t={t} />
              </td>
              <td>
                <form method="post" action={`/settings/sessions/${s.id}/end`} class="inline">
                  <button type="submit" aria-label={s.current ? t.signOutThisBrowser : t.endSessionOf(s.userAgent ?? t.thatBrowser)}>
                    {s.current ? t.signOut : t.endSession}
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </Table>
        <form method="post" action="/logout/everywhere">
          <button type="submit">{t.signOutEverywhere}</button>
        </form>
      </section>
    </Layout>
  )
}

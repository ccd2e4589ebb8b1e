import { MIN_PASSWORD_LENGTH } from '../../modules/users/passwords'
import { ErrorBox, invalidField, Layout, Notice, type ErrorText, type Nav } from './layout'

export function SignInPage(props: { nav: Nav; next: string | null; email?: string; error?: ErrorText; notice?: string | null }) {
  const { t } = props.nav
  return (
    <Layout title={t.signInTitle} nav={props.nav}>
      <Notice message={props.notice} />
      <ErrorBox message={props.error} id="sign-in-error" />
      <form method="post" action="/login" class="stack">
        {props.next ? <input type="hidden" name="next" value={props.next} /> : ''}
        <label>
          {t.email}
          <input type="email" name="email" autocomplete="username" required value={props.email ?? ''} autofocus {...invalidField(props.error, 'sign-in-error', 'email')} />
        </label>
        <label>
          {t.password}
          <input type="password" name="password" autocomplete="current-password" required />
        </label>
        <div>
          <button type="submit" class="primary">
            {t.signInButton}
          </button>
        </div>
      </form>
      <p class="muted">
        {t.noPasswordYet} <code>teamday users set-password --email E</code>
      </p>
    </Layout>
  )
}

/** The first start's set-up page and a member's "set your password" page: one form. */
export function SetPasswordPage(props: { nav: Nav; action: string; email: string; title: string; intro: string; withName?: boolean; error?: ErrorText }) {
  const { t } = props.nav
  const bad = (field: string) => invalidField(props.error, 'set-password-error', field)
  return (
    <Layout title={props.title} nav={props.nav}>
      <p safe>{props.intro}</p>
      <ErrorBox message={props.error} id="set-password-error" />
      <form method="post" action={props.action} class="stack">
        <label>
          {t.email}
          <input type="email" name="email" value={props.email} autocomplete="username" readonly />
        </label>
        {props.withName ? (
          <label>
            {t.yourName}
            <input type="text" name="name" autocomplete="name" maxlength="100" {...bad('name')} />
          </label>
        ) : (
          ''
        )}
        <label>
          <span>
            {t.newPassword}{' '}
            <span class="muted" safe>
              {t.atLeastChars(MIN_PASSWORD_LENGTH)}
            </span>
          </span>
          <input type="password" name="password" autocomplete="new-password" minlength={String(MIN_PASSWORD_LENGTH)} required {...bad('password')} />
        </label>
        <label>
          {t.repeatPassword}
          <input type="password" name="confirm" autocomplete="new-password" minlength={String(MIN_PASSWORD_LENGTH)} required {...bad('confirm')} />
        </label>
        <div>
          <button type="submit" class="primary">
            {t.setPasswordButton}
          </button>
        </div>
      </form>
    </Layout>
  )
}

export function MessagePage(props: { nav: Nav; title: string; message: string; link?: { href: string; label: string } }) {
  return (
    <Layout title={props.title} nav={props.nav}>
      <p safe>{props.message}</p>
      {props.link ? (
        <p>
          <a href={props.link.href} safe>
            {props.link.label}
          </a>
        </p>
      ) : (
        ''
      )}
    </Layout>
  )
}

/** A form posted from another site (the cross-origin check). */
export function RefusedPage(props: { nav: Nav }) {
  const { t } = props.nav
  return (
    <Layout title={t.refusedHeading} nav={props.nav}>
      <p>{t.refusedText}</p>
    </Layout>
  )
}

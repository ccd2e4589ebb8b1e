import { MIN_PASSWORD_LENGTH } from '../../modules/users/passwords'
import { ErrorBox, Layout } from './layout'

export function SignInPage(props: { next: string | null; email?: string; error?: string | null; notice?: string | null }) {
  return (
    <Layout title="Sign in" nav={{ who: null }}>
      {props.notice ? (
        <p class="notice" role="status" safe>
          {props.notice}
        </p>
      ) : (
        ''
      )}
      <ErrorBox message={props.error} />
      <form method="post" action="/login" class="stack">
        {props.next ? <input type="hidden" name="next" value={props.next} /> : ''}
        <label>
          E-mail
          <input type="email" name="email" autocomplete="username" required value={props.email ?? ''} autofocus />
        </label>
        <label>
          Password
          <input type="password" name="password" autocomplete="current-password" required />
        </label>
        <div>
          <button type="submit" class="primary">
            Sign in
          </button>
        </div>
      </form>
      <p class="muted">No password yet? Ask an administrator for a set-password link, or on the server run: teamday users set-password --email E</p>
    </Layout>
  )
}

/** The first start's set-up page and a member's "set your password" page: one form. */
export function SetPasswordPage(props: { action: string; email: string; title: string; intro: string; withName?: boolean; error?: string | null }) {
  return (
    <Layout title={props.title} nav={{ who: null }}>
      <p safe>{props.intro}</p>
      <ErrorBox message={props.error} />
      <form method="post" action={props.action} class="stack">
        <label>
          E-mail
          <input type="email" name="email" value={props.email} autocomplete="username" readonly />
        </label>
        {props.withName ? (
          <label>
            Your name
            <input type="text" name="name" autocomplete="name" maxlength="100" />
          </label>
        ) : (
          ''
        )}
        <label>
          New password <span class="muted" safe>{`(at least ${MIN_PASSWORD_LENGTH} characters)`}</span>
          <input type="password" name="password" autocomplete="new-password" minlength={String(MIN_PASSWORD_LENGTH)} required />
        </label>
        <label>
          Repeat the password
          <input type="password" name="confirm" autocomplete="new-password" minlength={String(MIN_PASSWORD_LENGTH)} required />
        </label>
        <div>
          <button type="submit" class="primary">
            Set password
          </button>
        </div>
      </form>
    </Layout>
  )
}

export function MessagePage(props: { title: string; message: string; link?: { href: string; label: string } }) {
  return (
    <Layout title={props.title} nav={{ who: null }}>
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

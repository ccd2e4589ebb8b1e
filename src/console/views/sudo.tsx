import { ErrorBox, invalidField, Layout, type ErrorText, type Nav } from './layout'

/**
 * "Confirm access" (src/console/sudo.tsx): the password, then the form that asked goes on as it
 * was sent (`fields`, carried as hidden fields: never the password). Works without JavaScript.
 */
export function ConfirmAccessPage(props: { nav: Nav; email: string; action: string; fields: [string, string][]; cancel: string; error?: ErrorText }) {
  const { t } = props.nav
  const errorId = 'confirm-access-error'
  const failed = Boolean(props.error)
  return (
    <Layout title={t.confirmAccessTitle} nav={props.nav}>
      <p>{t.confirmAccessIntro}</p>
      <p safe>{t.confirmAccessAs(props.email)}</p>
      <ErrorBox message={props.error} id={errorId} />
      <form method="post" action={props.action} class="stack">
        {props.fields.map(([name, value]) => (
          <input type="hidden" name={name} value={value} />
        ))}
        <label>
          {t.password}
          {/* The error, when there is one, has the focus (ErrorBox); else the field. */}
          <input type="password" name="confirmAccessPassword" autocomplete="current-password" required {...(failed ? {} : { autofocus: true })} {...invalidField(props.error, errorId, 'confirmAccessPassword')} />
        </label>
        <div>
          <button type="submit" class="primary">
            {t.confirmAccessButton}
          </button>{' '}
          <a href={props.cancel}>{t.cancel}</a>
        </div>
      </form>
    </Layout>
  )
}

import { Layout, type Nav } from './layout'

/**
 * An error raised before or outside a console page's own handling (the URL's rules, the body
 * limit, validation of its parameters, a server error): its message in the page's language, the
 * request id, and a link back. `form`: a refused form (a POST), which was not sent; its link goes
 * back in the browser's history when it can (console.js: the form comes back with what was typed).
 */
export function ErrorPage(props: { nav: Nav; title: string; message: string; requestId: string; back: string; form: boolean }) {
  const { t } = props.nav
  return (
    <Layout title={props.title} nav={props.nav}>
      <p class="error" role="alert" safe>
        {props.message}
      </p>
      {props.form ? <p>{t.formNotSent}</p> : ''}
      <p>
        {props.form ? (
          <a href={props.back} data-back="">
            {t.backToForm}
          </a>
        ) : (
          <a href={props.back}>{t.backToConsole}</a>
        )}
      </p>
      <p class="muted">
        {t.requestIdLabel} <code safe>{props.requestId}</code>
      </p>
    </Layout>
  )
}

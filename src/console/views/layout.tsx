import type { Children } from '@kitajs/html'
import { isolate, type Lang, type Messages } from '../i18n'
import type { SignedIn } from '../session'
import { ASSET_HREF } from '../assets'

export interface Nav {
  who: SignedIn | null
  /** The page's language and its texts (src/console/i18n.ts). */
  lang: Lang
  t: Messages
  /** Organizations the person belongs to (the switcher shows when there are several). */
  organizations?: { id: string; slug: string; name: string }[]
  current?: string
  /** The id of the page's error when it is about the header's organization switcher (SWITCHER): its aria-describedby. */
  switcherError?: string
  /**
   * The page the header's organization switcher comes back to (its `next`, POST /org/switch):
   * a page that shows the same thing in any organization, such as the CLI approval page. Without
   * it a switch leads back to the list the page belongs to when every member may see that list in
   * any organization (Agents, Spaces: SWITCH_BACK), else to Settings → Profile (HOME): a space or a
   * chat of one organization is another organization's 404, and the organization's own pages are
   * for its admins.
   */
  back?: string
}

/** The header entries whose list a switch comes back to (a page under them: its list). */
const SWITCH_BACK = new Set(['/agents', '/spaces'])

/** Where the organization switcher leads: the page's own `back`, or its list (SWITCH_BACK), or none (HOME). */
export function switchBack(nav: Pick<Nav, 'back' | 'current'>): string | undefined {
  return nav.back ?? (nav.current && SWITCH_BACK.has(nav.current) ? nav.current : undefined)
}

/** FormError.field of a refusal of the header's organization switcher (POST /org/switch). */
export const SWITCHER = 'org.switch'

/**
 * The header's entries. "Agents" lists the agents one may see, each with its chat page (the
 * `chatUrl` of POST /api/v1/agents). "Spaces" lists the spaces one may see, each with its Space
 * Settings → Environment Variables. "Settings" leads to Settings → Profile, whose Personal Access
 * Tokens section ("API-Zugriff" in German) holds the tokens, as TeamDay's docs say.
 */
const LINKS = [
  { href: '/agents', label: 'navAgents', admin: false },
  { href: '/spaces', label: 'navSpaces', admin: false },
  { href: '/settings/profile', label: 'navSettings', admin: false },
  { href: '/org/members', label: 'navMembers', admin: true },
  { href: '/org/audit', label: 'navAudit', admin: true },
] as const

/**
 * Every console page: one stylesheet, one script, a header with the navigation. `script`: a
 * further same-origin script of the page (the CSP allows no inline code). `refresh`: the page
 * refreshes itself every that many seconds without JavaScript (its script does it more gently).
 * `documentTitle`: the <title> before the product's name when the heading (`title`) does not
 * name the page alone (a chat: its title and its agent), people's texts in it isolated.
 */
export function Layout(props: { title: string; nav: Nav; children?: Children; script?: string; refresh?: number; documentTitle?: string }) {
  const { who, organizations = [], current, t } = props.nav
  return (
    <html lang={props.nav.lang}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title safe>{`${props.documentTitle ?? isolate(props.title)} - teamday`}</title>
        <link rel="stylesheet" href={ASSET_HREF['/console/assets/console.css']} />
        {/* Named, not left to the browser's guess at the root: under a sub-path, the root is another site's (src/http/base-path.ts). */}
        <link rel="icon" href={ASSET_HREF['/favicon.ico']} />
        <script src={ASSET_HREF['/console/assets/console.js']} defer></script>
        {props.script ? <script src={props.script} defer></script> : ''}
        {props.refresh ? (
          <noscript>
            <meta http-equiv="refresh" content={String(props.refresh)} />
          </noscript>
        ) : (
          ''
        )}
      </head>
      <body>
        <a class="skip" href="#main">
          {t.skipToContent}
        </a>
        <header>
          <span class="brand">teamday</span>
          {who ? (
            <>
              <nav aria-label={t.navLabel}>
                <ul>
                  {LINKS.filter((l) => !l.admin || who.role === 'admin').map((l) => (
                    <li>
                      <a href={l.href} aria-current={current === l.href ? 'page' : undefined}>
                        {t[l.label]}
                      </a>
                    </li>
                  ))}
                  <li>
                    <a href="/swagger">{t.navApiDocs}</a>
                  </li>
                </ul>
              </nav>
              {organizations.length > 1 ? (
                <form method="post" action="/org/switch" class="row">
                  {switchBack(props.nav) ? <input type="hidden" name="next" value={switchBack(props.nav)} /> : ''}
                  <label>
                    <span class="sr-only">{t.switchToOrganization}</span>
                    <select name="organizationId" {...(props.nav.switcherError ? { 'aria-invalid': 'true', 'aria-describedby': props.nav.switcherError } : {})}>
                      {organizations.map((o) => (
                        <option value={o.id} selected={o.id === who.organization.id} safe>
                          {o.name}
                        </option>
                      ))}
                    </select>
                  </label>
                  <button type="submit">{t.switchOrg}</button>
                </form>
              ) : (
                <bdi class="muted" safe>
                  {who.organization.name}
                </bdi>
              )}
              <form method="post" action="/logout" class="inline">
                <button type="submit">{t.signOut}</button>
              </form>
            </>
          ) : (
            ''
          )}
        </header>
        <main id="main">
          <h1 safe>{props.title}</h1>
          {props.children as 'safe'}
        </main>
      </body>
    </html>
  )
}

/** A date in the viewer's time zone (the script rewrites it), ISO in the title; "never" for null. */
export function When(props: { at: string | Date | null; t: Messages }) {
  if (props.at === null) return <span>{props.t.never}</span>
  const iso = typeof props.at === 'string' ? props.at : props.at.toISOString()
  return (
    <time datetime={iso} title={iso} safe>
      {iso.replace('T', ' ').slice(0, 16) + ' UTC'}
    </time>
  )
}

/** When, and from which address when known (a sign-in, a last use). */
export function WhenFrom(props: { at: string | Date | null; ip: string | null; t: Messages }) {
  return (
    <>
      <When at={props.at} t={props.t} />
      {props.ip ? (
        <>
          {' '}
          <span class="muted">
            {props.t.from} <span safe>{props.ip}</span>
          </span>
        </>
      ) : (
        ''
      )}
    </>
  )
}

/** A refusal's message; `id`: for the field it is about (aria-describedby). */
/**
 * The Copy button of a secret shown once (`target`: the id of the element that holds it), hidden
 * until console.js shows it; and the status line (a polite live region) where the script says
 * "Copied" for screen readers, or, shown, that the browser refused the copy (`failed`), having
 * selected the text for a copy by hand.
 */
export function CopyButton(props: { target: string; failed: string; t: Messages }) {
  const { t } = props
  return (
    <>
      <button type="button" data-copy={props.target} data-copied={t.copied} data-text-failed={t.copyFailedShort} data-status={`${props.target}-copy-status`} hidden>
        {t.copy}
      </button>
      <span id={`${props.target}-copy-status`} role="status" data-text-failed={props.failed}></span>
    </>
  )
}

/**
 * A refused form's message, and the field it is about when it is about one: `field` is a key the
 * page's view gives that field (its name, or form.name where two forms of a page share one).
 */
export interface FormError {
  message: string
  field?: string | null
}

/** What a view is given for a form's error: the message alone (about no field), with its field, or none. */
export type ErrorText = FormError | string | null | undefined

function formErrorOf(error: ErrorText): FormError | null {
  if (!error) return null
  return typeof error === 'string' ? { message: error } : error.message ? error : null
}

/**
 * The attributes of a form field as its form's error leaves it: aria-invalid and
 * aria-describedby naming the error's text (`id`, as its ErrorBox was given) on the field the
 * error is about (`field`, a key of FormError.field; several for a group such as a fieldset,
 * which gets the description only: aria-invalid is for the controls), nothing on the others.
 * A screen reader then says the error on the field itself.
 */
export function invalidField(error: ErrorText, id: string, field: string, opts: { group?: boolean } = {}): { 'aria-invalid'?: 'true'; 'aria-describedby'?: string } {
  const e = formErrorOf(error)
  if (!e || e.field !== field) return {}
  return opts.group ? { 'aria-describedby': id } : { 'aria-invalid': 'true', 'aria-describedby': id }
}

/**
 * A form's error, announced (role=alert) and focused when the page loads, so that a keyboard or
 * screen-reader user starts there and the next Tab goes on into the form (focus stayed on the
 * page, the header's links before it). `id`: the error's id, which the field it is about points
 * at (invalidField). `focus: 'field'`: that field takes the focus instead (the chat's message box).
 */
export function ErrorBox(props: { message?: ErrorText; id?: string; focus?: 'box' | 'field' }) {
  const e = formErrorOf(props.message)
  if (!e) return ''
  return props.focus === 'field' ? (
    <p class="error" role="alert" id={props.id} safe>
      {e.message}
    </p>
  ) : (
    // autofocus is a global attribute (HTML), which the JSX types allow on form fields only.
    <p class="error" role="alert" id={props.id} tabindex="-1" {...{ autofocus: true }} safe>
      {e.message}
    </p>
  )
}

/**
 * What a form did (a token revoked, a profile saved), on the page it leads to: focused when the
 * page loads (console.js, where no form's error is), as ErrorBox, so that a keyboard or
 * screen-reader user hears it and goes on from there (it stayed on the page's body: a status
 * present when a page loads is not announced, and the fragment's scroll moves no focus).
 */
export function Notice(props: { message?: string | null }) {
  if (!props.message) return ''
  return (
    <p class="notice" role="status" tabindex="-1" safe>
      {props.message}
    </p>
  )
}

/** A column heading of Table: its text, an action column named for screen readers only, or none (a column not shown). */
export type Heading = string | { screenReader: string } | null | false

/**
 * The console's table: the column headings (catalogue texts, escaped), then the rows it is given,
 * scrolled sideways inside `table-wrap` on a narrow screen. `label`: for a table whose cells hold
 * nothing focusable (the audit log), its scroll area is a named region keyboard users can focus
 * and scroll (axe: scrollable-region-focusable); elsewhere a link or button in it takes the focus.
 */
export function Table(props: { head: Heading[]; children?: Children; label?: string }) {
  return (
    <div class="table-wrap" {...(props.label ? { role: 'region', 'aria-label': props.label, tabindex: '0' } : {})}>
      <table>
        <thead>
          <tr>
            {props.head.map((h) =>
              h === null || h === false ? (
                ''
              ) : typeof h === 'string' ? (
                <th scope="col" safe>
                  {h}
                </th>
              ) : (
                <th scope="col">
                  <span class="sr-only" safe>
                    {h.screenReader}
                  </span>
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>{props.children as 'safe'}</tbody>
      </table>
    </div>
  )
}

function TrashIcon() {
  return (
    <svg aria-hidden="true" width="16" height="16" viewBox="0 0 16 16" fill="currentColor">
      <path d="M6 1h4a1 1 0 0 1 1 1v1h3v1.5H2V3h3V2a1 1 0 0 1 1-1zm1 2h2V2.5H7zM3.5 6h9l-.7 8.1a1 1 0 0 1-1 .9H5.2a1 1 0 0 1-1-.9z" />
    </svg>
  )
}

/** The button of ConfirmButton: the trash icon with a tooltip, or a word; `label` names it for screen readers (what, and whom). */
export type ConfirmButtonFace = { label: string } & ({ trash: true; title: string } | { text: string })

/**
 * A button that posts a form only once its dialog is confirmed (revoke a token, remove a space's
 * variable, remove a member). The console's script (src/console/assets.ts) opens the dialog for a
 * form marked data-confirm and submits the form when "confirm" closes it; without JavaScript the
 * button posts the form at once, with its hidden fields (`children`). The dialog is named by its
 * question, a heading (`title`) or a paragraph (`question`), in which the caller puts each name
 * in <bdi>; then an optional warning and note, which describe it (aria-describedby: read out
 * when it opens), and the two buttons, Cancel first (focused).
 */
/**
 * The organization a page was shown for, in a form whose action acts on "the current
 * organization" (members, a new token): a form sent from a tab left open on another organization
 * is refused instead of acting on the one switched to since (src/console/index.ts).
 */
export const PAGE_ORGANIZATION = 'pageOrganization'
export function PageOrganization(props: { who: SignedIn }) {
  return <input type="hidden" name={PAGE_ORGANIZATION} value={props.who.organization.id} />
}

export function ConfirmButton(
  props: {
    action: string
    /** The dialog's id, unique on the page. */
    dialog: string
    button: ConfirmButtonFace
    warning?: string
    note?: string | null
    cancel: string
    confirm: string
    children?: Children
  } & ({ title: Children } | { question: Children }),
) {
  const b = props.button
  const questionId = `${props.dialog}-${'title' in props ? 'title' : 'question'}`
  // Read out with the dialog's name when it opens (the focus goes to Cancel, so nothing else would be).
  const warningId = `${props.dialog}-warning`
  const noteId = `${props.dialog}-note`
  const describedBy = [props.warning ? warningId : null, props.note ? noteId : null].filter((id) => id !== null).join(' ') || undefined
  return (
    <>
      <form method="post" action={props.action} data-confirm={props.dialog} class="inline">
        {props.children as 'safe'}
        {'trash' in b ? (
          <button type="submit" class="icon danger" aria-label={b.label} title={b.title}>
            <TrashIcon />
          </button>
        ) : (
          <button type="submit" class="danger" aria-label={b.label} safe>
            {b.text}
          </button>
        )}
      </form>
      <dialog id={props.dialog} aria-labelledby={questionId} aria-describedby={describedBy}>
        <form method="dialog">
          {'title' in props ? (
            <h2 id={questionId}>{props.title as 'safe'}</h2>
          ) : (
            <p id={questionId}>{props.question as 'safe'}</p>
          )}
          {props.warning ? (
            <p class="notice warning" id={warningId} safe>
              {props.warning}
            </p>
          ) : (
            ''
          )}
          {props.note ? (
            <p id={noteId} safe>
              {props.note}
            </p>
          ) : (
            ''
          )}
          <div class="row">
            <button value="cancel" autofocus safe>
              {props.cancel}
            </button>
            <button value="confirm" class="danger" safe>
              {props.confirm}
            </button>
          </div>
        </form>
      </dialog>
    </>
  )
}


import { PERMISSIONS } from '../../auth/roles'
import type { PublicToken } from '../../modules/tokens/service'
import { DAY_MS } from '../../modules/tokens/validation'
import { messages, type Messages } from '../i18n'
import type { SignedIn } from '../session'
import type { PublicCliSession } from '../../modules/cli-auth/service'
import { CliSessionsSection } from './cli'
import { TOKENS_ANCHOR, TOKENS_PAGE_SIZE, tokensHref, ViewFields, type TokenView } from './token-view'
import { ConfirmButton, CopyButton, ErrorBox, Layout, Notice, PageOrganization, Table, When, type Nav } from './layout'
import { FormKey } from '../form-once'

/** The expiry choices of TeamDay's docs (7, 30, 90 recommended, 180, 365 days), with their catalogue labels. */
export const EXPIRY_CHOICES = [
  { days: 7, label: 'expiry7' },
  { days: 30, label: 'expiry30' },
  { days: 90, label: 'expiry90' },
  { days: 180, label: 'expiry180' },
  { days: 365, label: 'expiry365' },
] as const

// The section's anchor and list view live in ./token-view (the CLI sign-ins section uses them
// too, and this file uses that section: one module for both avoids an import cycle).
export { formView, TOKENS_ANCHOR, TOKENS_PAGE_SIZE, tokensHref, viewOf, ViewFields, type TokenView } from './token-view'

const RESOURCES = [...new Set(PERMISSIONS.map((p) => p.split(':')[0]!))]
const ACTIONS = [
  { action: 'read', label: 'actionRead' },
  { action: 'write', label: 'actionWrite' },
  { action: 'execute', label: 'actionExecute' },
] as const

function ScopeTable(props: { checked: string[]; t: Messages }) {
  const { t } = props
  const full = props.checked.includes('*')
  return (
    <fieldset>
      <legend>{t.scopes}</legend>
      {/* Sent whatever is ticked: no box ticked is then a choice the server refuses, not a form without scopes. */}
      <input type="hidden" name="scope" value="" />
      <label class="row">
        <input type="checkbox" name="scope" value="*" checked={full} /> {t.fullAccess}
      </label>
      <p class="muted">{t.orPerResource}</p>
      <Table head={[t.colResource, ...ACTIONS.map((a) => t[a.label])]}>
            {RESOURCES.map((r) => (
              <tr>
                <th scope="row">
                  <code safe>{r}</code>
                </th>
                {ACTIONS.map(({ action, label }) => {
                  const scope = `${r}:${action}`
                  return (PERMISSIONS as readonly string[]).includes(scope) ? (
                    <td>
                      <input type="checkbox" name="scope" value={scope} aria-label={`${r}: ${t[label]}`} checked={!full && props.checked.includes(scope)} />
                    </td>
                  ) : (
                    <td></td>
                  )
                })}
              </tr>
            ))}
      </Table>
    </fieldset>
  )
}

/**
 * How long an active token has left, as the catalogue says it: whole days from a day on (rounded:
 * a 90-day token made a second ago has 90), else hours and minutes (rounded up: 30 seconds left
 * is 1 minute). `stops`: a rotated token in its grace period, which stops at the period's end.
 */
export function remainingText(t: Messages, stopsAt: string, now: number, stops: boolean): string {
  const ms = Date.parse(stopsAt) - now
  if (ms <= 0) return t.expired
  let days = 0
  let hours = 0
  let minutes = 0
  if (ms >= DAY_MS) days = Math.round(ms / DAY_MS)
  else {
    const total = Math.ceil(ms / 60_000)
    if (total >= 24 * 60) days = 1
    else [hours, minutes] = [Math.floor(total / 60), total % 60]
  }
  const remaining = t.remaining(days, hours, minutes)
  return stops ? t.stopsIn(remaining) : t.expiresIn(remaining)
}

/**
 * The Expires cell: an active token's end and how long it has left; a revoked one's revocation
 * and an expired one's expiry, in the past (never "expires in 90 days" for a revoked token).
 */
function ExpiresCell(props: { token: PublicToken; now: number; pending: boolean; t: Messages }) {
  const { t, token: tk } = props
  if (tk.status === 'revoked') {
    return (
      <>
        {t.revokedOn} <When at={tk.revokedAt} t={t} />
      </>
    )
  }
  if (tk.status === 'expired') {
    return (
      <>
        {t.expiredOn} <When at={tk.expiresAt} t={t} />
      </>
    )
  }
  return (
    <>
      <When at={tk.expiresAt} t={t} />
      <br />
      <span class="muted" safe>
        {remainingText(t, tk.expiresAt, props.now, props.pending)}
      </span>
    </>
  )
}

function statusText(t: Messages, status: PublicToken['status']): string {
  return status === 'active' ? t.statusActive : status === 'expired' ? t.statusExpired : t.statusRevoked
}

function TokenRow(props: { token: PublicToken; now: number; showOwner: boolean; mine: boolean; view: TokenView; t: Messages }) {
  const { t, token: tk } = props
  // A rotated token in its grace period: active until its scheduled revocation. It keeps the
  // trash icon (revoking it stops it now) but cannot be rotated again (its successor can).
  const pending = tk.status === 'active' && tk.revokedAt !== null
  return (
    <tr>
      <td safe>{tk.name}</td>
      {props.showOwner ? <td safe>{tk.userEmail}</td> : ''}
      <td>
        <When at={tk.createdAt} t={t} />
      </td>
      <td>
        <When at={tk.lastUsedAt} t={t} />
        {tk.lastUsedIp ? (
          <>
            {' '}
            {t.from}{' '}
            <span class="mono" safe>
              {tk.lastUsedIp}
            </span>
          </>
        ) : (
          ''
        )}
      </td>
      <td>
        <ExpiresCell token={tk} now={props.now} pending={pending} t={t} />
      </td>
      <td class="mono" safe>
        {tk.maskedToken}
      </td>
      <td safe>{tk.scopes.join(', ')}</td>
      <td class={`status-${tk.status}`}>
        {pending ? (
          <>
            {t.activeUntil} <When at={tk.revokedAt} t={t} /> {t.rotatedNote}
          </>
        ) : (
          <span safe>{statusText(t, tk.status)}</span>
        )}
      </td>
      <td>
        {tk.status === 'active' ? (
          <>
            <ConfirmButton
              action={`/settings/tokens/${tk.id}/revoke`}
              dialog={`revoke-${tk.id}`}
              button={{ trash: true, label: t.revokeTokenLabel(tk.name), title: t.revokeTitle }}
              title={
                <>
                  {t.revokeAsk1}
                  <bdi safe>{tk.name}</bdi>
                  {t.revokeAsk2}
                </>
              }
              warning={t.revokeWarning}
              note={pending ? t.revokeGraceNote : null}
              cancel={t.cancel}
              confirm={t.revokeConfirm}
            >
              <ViewFields view={props.view} />
            </ConfirmButton>
            {!props.mine || pending ? (
              ''
            ) : (
              <form method="post" action={`/settings/tokens/${tk.id}/rotate`} class="row">
                <FormKey />
                <ViewFields view={props.view} />
                <label>
                  <span class="sr-only" safe>
                    {t.graceFor(tk.name)}
                  </span>
                  <select name="grace" aria-label={t.graceLabel(tk.name)}>
                    <option value="0">{t.graceNone}</option>
                    <option value="3600">{t.graceHour}</option>
                    <option value="86400">{t.graceDay}</option>
                  </select>
                </label>
                <button type="submit">{t.rotate}</button>
              </form>
            )}
          </>
        ) : (
          ''
        )}
      </td>
    </tr>
  )
}

export interface TokenForm {
  name: string
  expires: string
  date: string
  scopes: string[]
}

export interface TokenPaging {
  total: number
  estimate: boolean
  more: boolean
}

/** Which tokens of how many the page shows (nothing when the list is empty). */
function TokenCount(props: { t: Messages; view: TokenView; paging: TokenPaging; shown: number }) {
  if (props.shown === 0) return ''
  const from = (props.view.page - 1) * TOKENS_PAGE_SIZE + 1
  return (
    <p class="muted" safe>
      {props.t.tokensShown(from, from + props.shown - 1, props.paging.total, props.paging.estimate)}
    </p>
  )
}

/** Links to the pages before and after this one, the view kept; nothing when the list has one page. */
function TokenPages(props: { t: Messages; view: TokenView; paging: TokenPaging }) {
  const { t, view, paging } = props
  if (view.page === 1 && !paging.more) return ''
  return (
    <nav aria-label={t.tokenPages} class="row">
      {view.page > 1 ? (
        <a href={tokensHref({ ...view, page: view.page - 1 })} rel="prev">
          {t.previousPage}
        </a>
      ) : (
        ''
      )}
      <span class="muted" safe>
        {t.pageNumber(view.page)}
      </span>
      {paging.more ? (
        <a href={tokensHref({ ...view, page: view.page + 1 })} rel="next">
          {t.nextPage}
        </a>
      ) : (
        ''
      )}
    </nav>
  )
}

export interface TokensSectionProps {
  t: Messages
  who: SignedIn
  tokens: PublicToken[]
  now: number
  view: TokenView
  error?: string | null
  notice?: string | null
  form?: TokenForm
  /** The list's size (TOKENS_PAGE_SIZE a page): how many match (at least, when `estimate`), and whether a page follows this one. */
  paging: TokenPaging
  /** The person's CLI sign-ins (browser sign-in of `teamday login` / TeamDay's `auth login`), with Revoke. */
  cliSessions: PublicCliSession[]
}

/**
 * Settings → Profile → Personal Access Tokens (German: Einstellungen → API-Zugriff): Create
 * Token, the list (masked), revoke with the trash icon, rotate, and the CLI sign-ins. The only
 * token UI of the console; /settings/tokens leads here.
 */
export function TokensSection(props: TokensSectionProps) {
  const { t, view } = props
  const f = props.form ?? { name: '', expires: '90', date: '', scopes: ['*'] }
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)
  const all = view.all && props.who.role === 'admin'
  return (
    <section aria-labelledby={`${TOKENS_ANCHOR}-title`} id={TOKENS_ANCHOR}>
      <h2 id={`${TOKENS_ANCHOR}-title`}>{t.patTitle}</h2>
      <p class="muted">{t.patIntro}</p>
      <Notice message={props.notice} />
      <ErrorBox message={props.error} />
      <h3>{t.createToken}</h3>
      <form method="post" action={`/settings/tokens#${TOKENS_ANCHOR}`} class="stack">
        <PageOrganization who={props.who} />
        <FormKey />
        <ViewFields view={view} />
        <label>
          <span>
            {t.name} <span class="muted">{t.tokenNameHint}</span>
          </span>
          <input type="text" name="name" maxlength="100" required value={f.name} />
        </label>
        <fieldset>
          <legend>{t.expiration}</legend>
          {EXPIRY_CHOICES.map((c) => (
            <label class="row">
              <input type="radio" name="expires" value={String(c.days)} checked={f.expires === String(c.days)} />
              <span>{t[c.label]}</span>
            </label>
          ))}
          <label class="row">
            <input type="radio" name="expires" value="custom" checked={f.expires === 'custom'} /> {t.customDate}
          </label>
          <label>
            <span class="sr-only">{t.customDateLabel}</span>
            <input type="date" name="date" value={f.date} min={day(props.now + 7 * DAY_MS)} max={day(props.now + 365 * DAY_MS)} aria-label={t.customDateLabel} />
          </label>
        </fieldset>
        <ScopeTable checked={f.scopes} t={t} />
        <div>
          <button type="submit" class="primary">
            {t.createToken}
          </button>
        </div>
      </form>
      <h3>{all ? t.allTokens : t.yourTokens}</h3>
      <p>
        {props.who.role === 'admin' ? (
          <>
            {all ? <a href={tokensHref({ ...view, all: false, page: 1 })}>{t.showOnlyMine}</a> : <a href={tokensHref({ ...view, all: true, page: 1 })}>{t.showAllOfOrg}</a>}
            {' · '}
          </>
        ) : (
          ''
        )}
        {view.inactive ? <a href={tokensHref({ ...view, inactive: false, page: 1 })}>{t.hideInactive}</a> : <a href={tokensHref({ ...view, inactive: true, page: 1 })}>{t.showInactive}</a>}
      </p>
      <TokenCount t={t} view={view} paging={props.paging} shown={props.tokens.length} />
      {props.tokens.length === 0 ? (
        <p class="muted">{view.inactive ? t.noTokensYet : t.noActiveTokens}</p>
      ) : (
        <Table head={[t.colName, all && t.colOwner, t.colCreated, t.colLastUsed, t.colExpires, t.colToken, t.colScopes, t.colStatus, { screenReader: t.colActions }]}>
              {props.tokens.map((tk) => (
                <TokenRow token={tk} now={props.now} showOwner={all} mine={tk.userId === props.who.user.id} view={view} t={t} />
              ))}
        </Table>
      )}
      <TokenPages t={t} view={view} paging={props.paging} />
      <CliSessionsSection sessions={props.cliSessions} view={view} t={t} />
    </section>
  )
}

/** The new token, shown once (the page is sent with Cache-Control: no-store). */
export function TokenCreatedPage(props: { nav: Nav; token: string; name: string; expiresAt: string; base: string; view: TokenView; rotatedFrom?: string | null }) {
  const { t } = props.nav
  return (
    <Layout title={props.rotatedFrom ? t.tokenRotatedTitle : t.tokenCreatedTitle} nav={props.nav}>
      <p class="notice warning" role="status">
        <strong>{t.copyNow}</strong> {t.hashOnly}
      </p>
      <p>
        {props.nav.lang === 'de' ? '„' : '"'}
        <bdi safe>{props.name}</bdi>
        {t.createdExpires} <When at={props.expiresAt} t={t} />
        {props.rotatedFrom ? <span safe>{t.replaces(props.rotatedFrom)}</span> : ''}.
      </p>
      <div class="token">
        <output id="new-token" aria-label={t.yourNewToken} safe>
          {props.token}
        </output>
        <CopyButton target="new-token" failed={t.copyFailedToken} t={t} />
      </div>
      <h2>{t.useIt}</h2>
      <pre id="token-env" safe>{`export TEAMDAY_TOKEN="${props.token}"

curl -H "Authorization: Bearer $TEAMDAY_TOKEN" \\
     ${props.base}/api/v1/agents`}</pre>
      <h2>{t.securityGuidelines}</h2>
      <ul>
        {t.guidelines.map((g) => (
          <li>{g}</li>
        ))}
      </ul>
      <p>
        <a href={tokensHref(props.view)}>{t.backToTokens}</a>
      </p>
    </Layout>
  )
}

/** The warning of TeamDay's docs in the revoke dialog (English; German in the catalogue). */
export const REVOKE_WARNING: string = messages('en').revokeWarning

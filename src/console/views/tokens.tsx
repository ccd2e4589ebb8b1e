import { PERMISSIONS } from '../../auth/roles'
import type { PublicToken } from '../../modules/tokens/service'
import { DAY_MS } from '../../modules/tokens/validation'
import { roleLabel, type Messages } from '../i18n'
import type { SignedIn } from '../session'
import type { PublicCliSession } from '../../modules/cli-auth/service'
import { CliSessionsSection } from './cli'
import { TOKEN_ERROR, TokenRow } from './token-row'
import { TOKENS_ANCHOR, TokenCount, TokenPages, tokensHref, ViewFields, type TokenPaging, type TokenView } from './token-view'
import { CopyButton, ErrorBox, invalidField, Layout, Notice, PageOrganization, Table, When, type ErrorText, type Nav } from './layout'
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
export { formView, TOKENS_ANCHOR, TOKENS_PAGE_SIZE, tokensHref, viewOf, ViewFields, type TokenPaging, type TokenView } from './token-view'

/**
 * The id of the "Custom date" choice, which a date typed into the field beside it ticks (the page's
 * script; a period chosen after it empties the field): a date is used only when "Custom date" is
 * chosen, and the server refuses a date sent with a period.
 */
const CUSTOM_EXPIRY = 'expires-custom'

const RESOURCES = [...new Set(PERMISSIONS.map((p) => p.split(':')[0]!))]
const ACTIONS = [
  { action: 'read', label: 'actionRead' },
  { action: 'write', label: 'actionWrite' },
  { action: 'execute', label: 'actionExecute' },
] as const

function ScopeTable(props: { checked: string[]; t: Messages; error: ErrorText }) {
  const { t } = props
  const full = props.checked.includes('*')
  return (
    <fieldset {...invalidField(props.error, TOKEN_ERROR, 'scope', { group: true })}>
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

export interface TokenForm {
  name: string
  expires: string
  date: string
  scopes: string[]
}

export interface TokensSectionProps {
  t: Messages
  who: SignedIn
  tokens: PublicToken[]
  now: number
  view: TokenView
  /** A refused create form's error; its field: name, expires, date or scope. */
  error?: ErrorText
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
      <ErrorBox message={props.error} id={TOKEN_ERROR} />
      <h3>{t.createToken}</h3>
      <form method="post" action={`/settings/tokens#${TOKENS_ANCHOR}`} class="stack">
        <PageOrganization who={props.who} />
        <FormKey />
        <ViewFields view={view} />
        <label>
          <span>
            {t.name} <span class="muted">{t.tokenNameHint}</span>
          </span>
          <input type="text" name="name" maxlength="100" required value={f.name} {...invalidField(props.error, TOKEN_ERROR, 'name')} />
        </label>
        <fieldset {...invalidField(props.error, TOKEN_ERROR, 'expires', { group: true })}>
          <legend>{t.expiration}</legend>
          {EXPIRY_CHOICES.map((c) => (
            <label class="row">
              <input type="radio" name="expires" value={String(c.days)} checked={f.expires === String(c.days)} />
              <span>{t[c.label]}</span>
            </label>
          ))}
          <label class="row">
            <input type="radio" name="expires" value="custom" id={CUSTOM_EXPIRY} checked={f.expires === 'custom'} /> {t.customDate}
          </label>
          <label>
            <span class="sr-only">{t.customDateLabel}</span>
            <input type="date" name="date" data-choose={CUSTOM_EXPIRY} value={f.date} min={day(props.now + 7 * DAY_MS)} max={day(props.now + 365 * DAY_MS)} aria-label={t.customDateLabel} {...invalidField(props.error, TOKEN_ERROR, 'date')} />
          </label>
        </fieldset>
        <ScopeTable checked={f.scopes} t={t} error={props.error} />
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
      {/*
        Without JavaScript the trash icon posts at once: no dialog shows the docs' warning, so it
        is said before the list (only when the list has a token to revoke).
      */}
      {props.tokens.some((tk) => tk.status === 'active') ? (
        <noscript>
          <p class="notice warning">
            {t.revokeAtOnce} {t.revokeWarning}
          </p>
        </noscript>
      ) : (
        ''
      )}
      {props.tokens.length === 0 ? (
        <p class="muted">{view.inactive ? t.noTokensYet : t.noActiveTokens}</p>
      ) : (
        <Table head={[t.colName, all && t.colOwner, t.colCreated, t.colLastUsed, t.colExpires, t.colToken, t.colScopes, t.colStatus, { screenReader: t.colActions }]}>
              {props.tokens.map((tk) => (
                <TokenRow token={tk} now={props.now} showOwner={all} mine={tk.userId === props.who.user.id} view={view} t={t} error={props.error} />
              ))}
        </Table>
      )}
      <TokenPages t={t} view={view} paging={props.paging} />
      <CliSessionsSection sessions={props.cliSessions} view={view} t={t} />
    </section>
  )
}

/**
 * The token a rotation replaced, as its list showed it (its masked value: its id means nothing to
 * the reader), and when it stops working (now, or at the end of its grace period).
 */
export interface RotatedFrom {
  masked: string
  stopsAt: number
  now: number
}

/** The new token, shown once (the page is sent with Cache-Control: no-store). */
export function TokenCreatedPage(props: { nav: Nav; token: string; name: string; expiresAt: string; base: string; view: TokenView; rotatedFrom?: RotatedFrom | null }) {
  const { t, who } = props.nav
  return (
    <Layout title={props.rotatedFrom ? t.tokenRotatedTitle : t.tokenCreatedTitle} nav={props.nav}>
      {/* Focused when the page loads (console.js): read first, and the next Tab is Copy. */}
      <p class="notice warning" role="status" tabindex="-1">
        <strong>{t.copyNow}</strong> {t.hashOnly}
      </p>
      <p>
        {props.nav.lang === 'de' ? '„' : '"'}
        <bdi safe>{props.name}</bdi>
        {t.createdExpires} <When at={props.expiresAt} t={t} />
        {props.rotatedFrom ? <span safe>{t.replaces(props.rotatedFrom.masked)}</span> : ''}.
        {props.rotatedFrom ? (
          props.rotatedFrom.stopsAt > props.rotatedFrom.now ? (
            <>
              {' '}
              {t.oldWorksUntil} <When at={new Date(props.rotatedFrom.stopsAt)} t={t} />.
            </>
          ) : (
            <> {t.oldStopsNow}</>
          )
        ) : (
          ''
        )}
      </p>
      <div class="token">
        <output id="new-token" aria-label={t.yourNewToken} safe>
          {props.token}
        </output>
        <CopyButton target="new-token" failed={t.copyFailedToken} t={t} />
      </div>
      {who ? (
        <p safe>{t.tokenWorksIn(who.organization.name, roleLabel(t, who.role))}</p>
      ) : (
        ''
      )}
      {/* TeamDay's German docs, "Schritt 2: Sicher speichern", and the English "Storage Recommendations". */}
      <h2>{t.storeSecurely}</h2>
      <p>{t.storeInEnv}</p>
      <h3>{t.storeUnix}</h3>
      <pre id="token-env" safe>{`export TEAMDAY_TOKEN="${props.token}"`}</pre>
      <h3>{t.storeWindows}</h3>
      <pre safe>{`$env:TEAMDAY_TOKEN="${props.token}"`}</pre>
      <h3>{t.storeDotenv}</h3>
      <pre safe>{`TEAMDAY_TOKEN=${props.token}`}</pre>
      <p>{t.storeElsewhere}</p>
      <h2>{t.useIt}</h2>
      <pre safe>{`export TEAMDAY_TOKEN="${props.token}"

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

import { PERMISSIONS } from '../../auth/roles'
import type { PublicToken } from '../../modules/tokens/service'
import { DAY_MS } from '../../modules/tokens/validation'
import type { SignedIn } from '../session'
import type { PublicCliSession } from '../../modules/cli-auth/service'
import { CliSessionsSection } from './cli'
import { ErrorBox, Layout, When, type Nav } from './layout'

export const EXPIRY_CHOICES = [
  { days: 7, note: 'for testing and short-term use' },
  { days: 30, note: 'for monthly automation' },
  { days: 90, note: 'recommended' },
  { days: 180, note: 'for long-running integrations' },
  { days: 365, note: 'maximum' },
] as const

/** The warning of the TeamDay docs, shown in the revoke dialog. */
export const REVOKE_WARNING = 'Revoking a token will break any scripts, CI/CD pipelines, or integrations using it. Make sure to update those systems before revoking.'

const RESOURCES = [...new Set(PERMISSIONS.map((p) => p.split(':')[0]!))]
const ACTIONS = ['read', 'write', 'execute'] as const

function ScopeTable(props: { checked: string[] }) {
  const full = props.checked.length === 0 || props.checked.includes('*')
  return (
    <fieldset>
      <legend>Scopes</legend>
      <label class="row">
        <input type="checkbox" name="scope" value="*" checked={full} /> Full access: everything your role allows (default)
      </label>
      <p class="muted">Or untick full access and choose per resource:</p>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Resource</th>
              {ACTIONS.map((a) => (
                <th scope="col" safe>
                  {a}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {RESOURCES.map((r) => (
              <tr>
                <th scope="row" safe>
                  {r}
                </th>
                {ACTIONS.map((a) => {
                  const scope = `${r}:${a}`
                  return (PERMISSIONS as readonly string[]).includes(scope) ? (
                    <td>
                      <input type="checkbox" name="scope" value={scope} aria-label={scope} checked={!full && props.checked.includes(scope)} />
                    </td>
                  ) : (
                    <td></td>
                  )
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </fieldset>
  )
}

function expiresText(expiresAt: string, now: number): string {
  const ms = Date.parse(expiresAt) - now
  if (ms <= 0) return 'expired'
  // Rounded up: a 90-day token made a second ago "expires in 90 days", one with an hour left in 1 day.
  const days = Math.ceil(ms / DAY_MS)
  return `expires in ${days} day${days === 1 ? '' : 's'}`
}

function TrashIcon() {
  return (
    <svg aria-hidden="true" width="16" height="16" viewBox="0 0 16 16" fill="currentColor">
      <path d="M6 1h4a1 1 0 0 1 1 1v1h3v1.5H2V3h3V2a1 1 0 0 1 1-1zm1 2h2V2.5H7zM3.5 6h9l-.7 8.1a1 1 0 0 1-1 .9H5.2a1 1 0 0 1-1-.9z" />
    </svg>
  )
}

function TokenRow(props: { token: PublicToken; now: number; showOwner: boolean; mine: boolean }) {
  const tk = props.token
  const dialog = `revoke-${tk.id}`
  const pending = tk.status === 'active' && tk.revokedAt !== null
  return (
    <tr>
      <td safe>{tk.name}</td>
      {props.showOwner ? <td safe>{tk.userEmail}</td> : ''}
      <td>
        <When at={tk.createdAt} />
      </td>
      <td>
        <When at={tk.lastUsedAt} />
        {tk.lastUsedIp ? (
          <>
            {' from '}
            <span class="mono" safe>
              {tk.lastUsedIp}
            </span>
          </>
        ) : (
          ''
        )}
      </td>
      <td>
        <When at={tk.expiresAt} />
        <br />
        <span class="muted" safe>
          {expiresText(tk.expiresAt, props.now)}
        </span>
      </td>
      <td class="mono" safe>
        {tk.maskedToken}
      </td>
      <td safe>{tk.scopes.join(', ')}</td>
      <td class={`status-${tk.status}`} safe>
        {pending ? `active until ${tk.revokedAt}` : tk.status}
      </td>
      <td>
        {tk.status === 'active' && !pending ? (
          <>
            <form method="post" action={`/settings/tokens/${tk.id}/revoke`} data-confirm={dialog} class="inline">
              <button type="submit" class="icon danger" aria-label={`Revoke token ${tk.name}`} title="Revoke">
                <TrashIcon />
              </button>
            </form>
            <dialog id={dialog} aria-labelledby={`${dialog}-title`}>
              <form method="dialog">
                <h2 id={`${dialog}-title`}>
                  Revoke "<bdi safe>{tk.name}</bdi>"?
                </h2>
                <p class="notice warning" safe>
                  {REVOKE_WARNING}
                </p>
                <div class="row">
                  <button value="cancel" autofocus>
                    Cancel
                  </button>
                  <button value="confirm" class="danger">
                    Revoke token
                  </button>
                </div>
              </form>
            </dialog>
            {!props.mine ? (
              ''
            ) : (
              <form method="post" action={`/settings/tokens/${tk.id}/rotate`} class="row">
                <label>
                  <span class="sr-only" safe>{`Grace period for ${tk.name}`}</span>
                  <select name="grace" aria-label={`Old token keeps working for (rotating ${tk.name})`}>
                    <option value="0">old stops now</option>
                    <option value="3600">old works 1 more hour</option>
                    <option value="86400">old works 1 more day</option>
                  </select>
                </label>
                <button type="submit">Rotate</button>
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

export interface TokensPageProps {
  nav: Nav
  who: SignedIn
  tokens: PublicToken[]
  now: number
  all: boolean
  /** Revoked and expired tokens listed too (`?inactive=1`); by default a revoked token is gone from the list, as the TeamDay docs say. */
  inactive?: boolean
  error?: string | null
  notice?: string | null
  form?: { name: string; expires: string; date: string; scopes: string[] }
  /** The person's CLI sign-ins (browser sign-in of `teamday login` / TeamDay's `auth login`), with Revoke. */
  cliSessions?: PublicCliSession[]
}

/** The tokens page with its two choices: every token of the organization (admins), and revoked and expired ones too. */
function tokensHref(all: boolean, inactive: boolean): string {
  const q = [all ? 'all=1' : '', inactive ? 'inactive=1' : ''].filter(Boolean).join('&')
  return q ? `/settings/tokens?${q}` : '/settings/tokens'
}

export function TokensPage(props: TokensPageProps) {
  const f = props.form ?? { name: '', expires: '90', date: '', scopes: ['*'] }
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10)
  return (
    <Layout title="Personal Access Tokens" nav={props.nav}>
      <p class="muted">Settings → Profile → Personal Access Tokens (German: Einstellungen → API-Zugriff). Tokens authenticate the API: send one as Authorization: Bearer td_…</p>
      {props.notice ? (
        <p class="notice" role="status" safe>
          {props.notice}
        </p>
      ) : (
        ''
      )}
      <ErrorBox message={props.error} />
      <h2>Create Token</h2>
      <form method="post" action="/settings/tokens" class="stack">
        <label>
          Name <span class="muted">(e.g. "CI Pipeline", "Production Automation")</span>
          <input type="text" name="name" maxlength="100" required value={f.name} />
        </label>
        <fieldset>
          <legend>Expiration</legend>
          {EXPIRY_CHOICES.map((c) => (
            <label class="row">
              <input type="radio" name="expires" value={String(c.days)} checked={f.expires === String(c.days)} />
              <span safe>{`${c.days} days${c.note === 'recommended' ? ' (recommended)' : ` - ${c.note}`}`}</span>
            </label>
          ))}
          <label class="row">
            <input type="radio" name="expires" value="custom" checked={f.expires === 'custom'} /> Custom date (7-365 days from today)
          </label>
          <label>
            <span class="sr-only">Custom expiration date</span>
            <input type="date" name="date" value={f.date} min={day(props.now + 7 * DAY_MS)} max={day(props.now + 365 * DAY_MS)} aria-label="Custom expiration date" />
          </label>
        </fieldset>
        <ScopeTable checked={f.scopes} />
        <div>
          <button type="submit" class="primary">
            Create Token
          </button>
        </div>
      </form>
      <h2>{props.all ? 'All tokens of the organization' : 'Your tokens'}</h2>
      <p>
        {props.who.role === 'admin' ? (
          <>
            {props.all ? <a href={tokensHref(false, !!props.inactive)}>Show only mine</a> : <a href={tokensHref(true, !!props.inactive)}>Show every token of the organization</a>}
            {' · '}
          </>
        ) : (
          ''
        )}
        {props.inactive ? <a href={tokensHref(props.all, false)}>Hide revoked and expired tokens</a> : <a href={tokensHref(props.all, true)}>Show revoked and expired tokens</a>}
      </p>
      {props.tokens.length === 0 ? (
        <p class="muted">{props.inactive ? 'No tokens yet.' : 'No active tokens.'}</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                {props.all ? <th scope="col">Owner</th> : ''}
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">Token</th>
                <th scope="col">Scopes</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {props.tokens.map((tk) => (
                <TokenRow token={tk} now={props.now} showOwner={props.all} mine={tk.userId === props.who.user.id} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {props.cliSessions ? <CliSessionsSection sessions={props.cliSessions} /> : ''}
    </Layout>
  )
}

/** The new token, shown once (the page is sent with Cache-Control: no-store). */
export function TokenCreatedPage(props: { nav: Nav; token: string; name: string; expiresAt: string; base: string; rotatedFrom?: string | null }) {
  return (
    <Layout title={props.rotatedFrom ? 'Token rotated' : 'Token created'} nav={props.nav}>
      <p class="notice warning" role="status">
        <strong>Copy the token immediately - it will only be shown once!</strong> teamday keeps only its SHA-256 hash.
      </p>
      <p>
        "<bdi safe>{props.name}</bdi>", expires <When at={props.expiresAt} />
        {props.rotatedFrom ? <span safe>{`; it replaces ${props.rotatedFrom}`}</span> : ''}.
      </p>
      <div class="token">
        <output id="new-token" aria-label="Your new token" safe>
          {props.token}
        </output>
        <button type="button" data-copy="new-token" hidden>
          Copy
        </button>
      </div>
      <h2>Use it</h2>
      <pre id="token-env" safe>{`export TEAMDAY_TOKEN="${props.token}"

curl -H "Authorization: Bearer $TEAMDAY_TOKEN" \\
     ${props.base}/api/v1/agents`}</pre>
      <h2>Security guidelines</h2>
      <ul>
        <li>Never commit tokens to version control - use environment variables or secret managers</li>
        <li>Rotate tokens regularly - set appropriate expiration dates</li>
        <li>Use separate tokens per integration - makes revocation easier</li>
        <li>Name tokens descriptively - know where each token is used</li>
        <li>Revoke unused tokens immediately - reduce security surface area</li>
        <li>Never share tokens - each team member should have their own</li>
      </ul>
      <p>
        <a href="/settings/tokens">Done: back to your tokens</a>
      </p>
    </Layout>
  )
}

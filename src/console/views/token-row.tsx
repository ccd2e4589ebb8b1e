import type { PublicToken } from '../../modules/tokens/service'
import { DAY_MS } from '../../modules/tokens/validation'
import type { Messages } from '../i18n'
import { FormKey } from '../form-once'
import { ConfirmButton, invalidField, When, type ErrorText } from './layout'

/** The rotate form's grace periods (seconds the old token keeps working), with their catalogue labels: the only values the form takes. */
export const GRACE_CHOICES = [
  { seconds: 0, label: 'graceNone' },
  { seconds: 3600, label: 'graceHour' },
  { seconds: 86400, label: 'graceDay' },
] as const

/** The id of the Personal Access Tokens section's error, which the field it is about points at. */
export const TOKEN_ERROR = 'token-error'
import { ViewFields, type TokenView } from './token-view'

/**
 * How long an active token has left, as the catalogue says it: whole days from a day on (rounded:
 * a 90-day token made a second ago has 90), else hours and minutes (rounded up: 30 seconds left
 * is 1 minute). `stops`: a rotated token in its grace period, which stops at the period's end.
 */
function remainingText(t: Messages, stopsAt: string, now: number, stops: boolean): string {
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

/**
 * A row of Settings → Profile → Personal Access Tokens: a token's name, owner (every token of the
 * organization), dates, what it has left or when it stopped, masked value, scopes, status, and
 * its revoke and rotate forms.
 */
export function TokenRow(props: { token: PublicToken; now: number; showOwner: boolean; mine: boolean; view: TokenView; t: Messages; error?: ErrorText }) {
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
      <td safe>{tk.scopes.includes('*') ? t.scopeFullAccess : tk.scopes.join(', ')}</td>
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
              button={{ trash: true, label: t.revokeTokenLabel(tk.name, props.mine ? undefined : tk.userEmail), title: t.revokeTitle }}
              title={
                <>
                  {t.revokeAsk1}
                  <bdi safe>{tk.name}</bdi>
                  {t.revokeAsk2}
                </>
              }
              warning={t.revokeWarning}
              note={[props.mine ? null : t.revokeOwnerNote(tk.userEmail), pending ? t.revokeGraceNote : null].filter((n) => n !== null).join(' ') || null}
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
                {/* One accessible name, its label's (it had an aria-label too, which was read instead): what the choice is, for which token. */}
                <label>
                  <span class="sr-only" safe>
                    {t.graceLabel(tk.name)}
                  </span>
                  <select name="grace" {...invalidField(props.error, TOKEN_ERROR, `grace.${tk.id}`)}>
                    {GRACE_CHOICES.map((c) => (
                      <option value={String(c.seconds)}>{t[c.label]}</option>
                    ))}
                  </select>
                </label>
                <button type="submit" aria-label={t.rotateTokenLabel(tk.name)}>
                  {t.rotate}
                </button>
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

import type { PublicSpace, SpaceSummary } from '../../modules/spaces/service'
import { MAX_KEY_LENGTH } from '../../modules/spaces/secrets'
import type { Messages } from '../i18n'
import { ConfirmButton, ErrorBox, invalidField, Layout, Notice, Table, When, type ErrorText, type Nav } from './layout'
import { TOKENS_ANCHOR } from './tokens'

/** The id of a space page's Space Settings section, and of its Environment Variables part (TeamDay's docs: "Space Settings → Environment Variables"). */
export const SPACE_SETTINGS_ANCHOR = 'space-settings'
export const ENV_ANCHOR = 'environment-variables'

/** A space's page, by its id. */
export const spaceHref = (id: string) => `/spaces/${encodeURIComponent(id)}`

/** The space's page at its Environment Variables, with a notice (`done`) when one is given. */
export function envHref(ref: string, done?: 'saved' | 'removed' | 'absent' | { line: string }): string {
  // `line`: saved with "NAME=" taken off the front of the value (the docs' line pasted whole).
  const query = done === undefined ? '' : typeof done === 'string' ? `?done=${done}` : `?done=line&key=${encodeURIComponent(done.line)}`
  return `${spaceHref(ref)}${query}#${ENV_ANCHOR}`
}

function visibilityText(t: Messages, v: PublicSpace['visibility']): string {
  return v === 'private' ? t.visibilityPrivate : v === 'organization' ? t.visibilityOrganization : t.visibilityPublic
}

/** Spaces: the spaces the person may see (GET /api/v1/spaces), archived ones on request. */
export function SpacesPage(props: { nav: Nav; spaces: SpaceSummary[]; archived: boolean; next: string | null; error?: string | null }) {
  const { t } = props.nav
  const q = (extra: Record<string, string>) => {
    const p = new URLSearchParams(extra)
    const s = p.toString()
    return `/spaces${s ? `?${s}` : ''}`
  }
  return (
    <Layout title={t.spacesTitle} nav={props.nav}>
      <p class="muted">{t.spacesIntro}</p>
      <ErrorBox message={props.error} />
      <p>{props.archived ? <a href="/spaces">{t.hideArchived}</a> : <a href={q({ archived: '1' })}>{t.showArchived}</a>}</p>
      {props.spaces.length === 0 ? (
        <p class="muted">{t.noSpaces}</p>
      ) : (
        <Table head={[t.colName, t.colSlug, t.colVisibility, t.colVariables, t.colCreated]}>
              {props.spaces.map((s) => (
                <tr>
                  <td>
                    <bdi>
                      <a href={spaceHref(s.id)} safe>
                        {s.name}
                      </a>
                    </bdi>
                    {s.archived ? <span class="muted"> ({t.archivedLabel})</span> : ''}
                  </td>
                  <td>
                    <code safe>{s.slug}</code>
                  </td>
                  <td safe>{visibilityText(t, s.visibility)}</td>
                  <td safe>{String(s.secretCount)}</td>
                  <td>
                    <When at={s.createdAt} t={t} />
                  </td>
                </tr>
              ))}
        </Table>
      )}
      {props.next ? (
        <p>
          <a href={q({ ...(props.archived ? { archived: '1' } : {}), cursor: props.next })}>{t.moreSpaces}</a>
        </p>
      ) : (
        ''
      )}
    </Layout>
  )
}

export interface EnvSection {
  /** A refused form's error; its field: name or value (the add form's). */
  error?: ErrorText
  notice?: string | null
  /** The name sent with a refused form (never its value). */
  name?: string
}

/**
 * A space: its details, and Space Settings → Environment Variables (German:
 * Space-Einstellungen → Umgebungsvariablen): the names of its secrets, never a value; for those
 * who may write them (POST/DELETE /api/v1/spaces/{id}/secrets), a form to add or replace one and
 * a remove button with a confirm dialog.
 */
export function SpacePage(props: { nav: Nav; space: PublicSpace; canWrite: boolean; env?: EnvSection }) {
  const { t } = props.nav
  const s = props.space
  const env = props.env ?? {}
  const action = (path: string) => `${spaceHref(s.id)}${path}#${ENV_ANCHOR}`
  return (
    <Layout title={s.name} nav={props.nav}>
      <nav aria-label={t.spaceSettings} class="subnav">
        <ul>
          <li>
            <a href="/spaces">{t.spacesTitle}</a>
          </li>
          <li>
            <a href={`#${SPACE_SETTINGS_ANCHOR}`}>{t.spaceSettings}</a>
          </li>
          <li>
            <a href={`#${ENV_ANCHOR}`}>{t.envTitle}</a>
          </li>
        </ul>
      </nav>
      {s.description ? <p safe>{s.description}</p> : ''}
      <dl>
        <dt>{t.spaceId}</dt>
        <dd>
          <code safe>{s.id}</code>
        </dd>
        <dt>{t.colSlug}</dt>
        <dd>
          <code safe>{s.slug}</code>
        </dd>
        <dt>{t.colVisibility}</dt>
        <dd safe>{visibilityText(t, s.visibility) + (s.archived ? ` (${t.archivedLabel})` : '')}</dd>
        <dt>{t.colCreated}</dt>
        <dd>
          <When at={s.createdAt} t={t} />
        </dd>
      </dl>
      <section aria-labelledby={`${SPACE_SETTINGS_ANCHOR}-title`} id={SPACE_SETTINGS_ANCHOR}>
        <h2 id={`${SPACE_SETTINGS_ANCHOR}-title`}>{t.spaceSettings}</h2>
        <section aria-labelledby={`${ENV_ANCHOR}-title`} id={ENV_ANCHOR}>
          <h3 id={`${ENV_ANCHOR}-title`}>{t.envTitle}</h3>
          <p class="muted">{t.envIntro}</p>
          <Notice message={env.notice} />
          <ErrorBox message={env.error} id="env-error" />
          {s.secretKeys.length === 0 ? (
            <p class="muted">{t.noEnvVars}</p>
          ) : (
            <Table head={[t.envName, props.canWrite && { screenReader: t.colActions }]}>
                  {s.secretKeys.map((key) => (
                    <tr>
                      <td>
                        <code safe>{key}</code>
                      </td>
                      {props.canWrite ? (
                        <td>
                          <ConfirmButton
                            action={action('/secrets/remove')}
                            dialog={`remove-env-${key}`}
                            button={{ trash: true, label: t.removeEnvLabel(key), title: t.remove }}
                            title={
                              <>
                                {t.removeEnvAsk1}
                                <bdi safe>{key}</bdi>
                                {t.removeEnvAsk2}
                              </>
                            }
                            warning={t.removeEnvWarning}
                            cancel={t.cancel}
                            confirm={t.removeEnvConfirm}
                          >
                            <input type="hidden" name="name" value={key} />
                          </ConfirmButton>
                        </td>
                      ) : (
                        ''
                      )}
                    </tr>
                  ))}
            </Table>
          )}
          {props.canWrite ? (
            <>
              <h4>{t.envAddHeading}</h4>
              <form method="post" action={action('/secrets')} class="stack" autocomplete="off">
                <label>
                  <span>
                    {t.envName}{' '}
                    <span class="muted">
                      {t.envNameHint} <code>TEAMDAY_TOKEN</code>)
                    </span>
                  </span>
                  <input type="text" name="name" required maxlength={String(MAX_KEY_LENGTH)} autocomplete="off" autocapitalize="characters" spellcheck="false" class="mono" value={env.name ?? ''} {...invalidField(env.error, 'env-error', 'name')} />
                </label>
                <label>
                  <span>
                    {t.envValue} <span class="muted">{t.envValueHint}</span>
                  </span>
                  <input type="password" name="value" autocomplete="off" {...invalidField(env.error, 'env-error', 'value')} />
                </label>
                <div>
                  <button type="submit" class="primary">
                    {t.envSave}
                  </button>
                </div>
              </form>
              <p class="muted">
                {t.envHint1}
                <a href={`/settings/profile#${TOKENS_ANCHOR}`}>{t.envHintLink}</a>
                {t.envHint2}
                <code>TEAMDAY_TOKEN</code>
                {t.envHint3}
              </p>
            </>
          ) : (
            <p class="muted">{t.envReadOnly}</p>
          )}
        </section>
      </section>
    </Layout>
  )
}

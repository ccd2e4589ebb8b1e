/** The id of the Personal Access Tokens section of Settings → Profile ("API-Zugriff" in German). */
export const TOKENS_ANCHOR = 'personal-access-tokens'

/**
 * The list's two choices (every token of the organization for admins; revoked and expired ones
 * too), kept in the URL and carried by every form of the section, so that a create, revoke,
 * rotate or CLI sign-in revoke comes back to the list as the person left it.
 */
export interface TokenView {
  all: boolean
  inactive: boolean
}

export function viewOf(source: { all?: unknown; inactive?: unknown }): TokenView {
  return { all: source.all === '1', inactive: source.inactive === '1' }
}

/** Settings → Profile with this view of the token list, extra query fields, and an anchor. */
export function tokensHref(view: TokenView, extra: Record<string, string> = {}, anchor = TOKENS_ANCHOR): string {
  const q = new URLSearchParams()
  if (view.all) q.set('all', '1')
  if (view.inactive) q.set('inactive', '1')
  for (const [k, v] of Object.entries(extra)) q.set(k, v)
  const qs = q.toString()
  return `/settings/profile${qs ? `?${qs}` : ''}#${anchor}`
}

/** The view as hidden fields of a form. */
export function ViewFields(props: { view: TokenView }) {
  return (
    <>
      {props.view.all ? <input type="hidden" name="all" value="1" /> : ''}
      {props.view.inactive ? <input type="hidden" name="inactive" value="1" /> : ''}
    </>
  )
}

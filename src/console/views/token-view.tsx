import { typedField } from '../form'
import type { Messages } from '../i18n'

/** The id of the Personal Access Tokens section of Settings → Profile ("API-Zugriff" in German). */
export const TOKENS_ANCHOR = 'personal-access-tokens'

/** Tokens on one page of the section's list. */
export const TOKENS_PAGE_SIZE = 100

/**
 * The furthest page a URL may ask for (a page past the list's end shows its last page): the list
 * is paged by offset, which the database walks, so an absurd page number is not walked.
 */
export const MAX_TOKENS_PAGE = 10_000

/**
 * The list's two choices (every token of the organization for admins; revoked and expired ones
 * too) and its page (1 = the newest tokens), kept in the URL and carried by every form of the
 * section, so that a create, revoke, rotate or CLI sign-in revoke comes back to the list as the
 * person left it.
 */
export interface TokenView {
  all: boolean
  inactive: boolean
  page: number
}

export function viewOf(source: { all?: unknown; inactive?: unknown; page?: unknown }): TokenView {
  return { all: source.all === '1', inactive: source.inactive === '1', page: pageOf(source.page) }
}

/**
 * The view a form of the section carries (ViewFields); a field of it that held a token is left
 * out (the form's page refuses it: src/console/form.ts typedField), the list shown as without it.
 */
export function formView(body: unknown): TokenView {
  return viewOf({ all: typedField(body, 'all'), inactive: typedField(body, 'inactive'), page: typedField(body, 'page') })
}

/** A page number as the URL or a form gives it: a whole number from 1 to MAX_TOKENS_PAGE, else the first page. */
function pageOf(raw: unknown): number {
  if (typeof raw !== 'string' || !/^[1-9]\d{0,8}$/.test(raw)) return 1
  return Math.min(Number(raw), MAX_TOKENS_PAGE)
}

/** Settings → Profile with this view of the token list, extra query fields, and an anchor. */
export function tokensHref(view: TokenView, extra: Record<string, string> = {}, anchor = TOKENS_ANCHOR): string {
  const q = new URLSearchParams()
  if (view.all) q.set('all', '1')
  if (view.inactive) q.set('inactive', '1')
  if (view.page > 1) q.set('page', String(view.page))
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
      {props.view.page > 1 ? <input type="hidden" name="page" value={String(props.view.page)} /> : ''}
    </>
  )
}

/** The list's size: how many match (at least, when `estimate`), and whether a page follows this one. */
export interface TokenPaging {
  total: number
  estimate: boolean
  more: boolean
}

/** Which tokens of how many the page shows (nothing when the list is empty). */
export function TokenCount(props: { t: Messages; view: TokenView; paging: TokenPaging; shown: number }) {
  if (props.shown === 0) return ''
  const from = (props.view.page - 1) * TOKENS_PAGE_SIZE + 1
  return (
    <p class="muted" safe>
      {props.t.tokensShown(from, from + props.shown - 1, props.paging.total, props.paging.estimate)}
    </p>
  )
}

/** Links to the pages before and after this one, the view kept; nothing when the list has one page. */
export function TokenPages(props: { t: Messages; view: TokenView; paging: TokenPaging }) {
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
